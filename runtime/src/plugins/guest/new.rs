//! `taskbox new`: a buildable project from the templates in the binary.

use std::path::{Path, PathBuf};

use super::files::{self, File};
use super::{GuestError, Lang, ProjectShape, toolchain};
use crate::plugins::registry::is_valid_task_type;

/// Writes project `name` in `parent/name` and returns its directory. The
/// directory must not exist or be empty; nothing is written on a refusal.
pub fn create(parent: &Path, name: &str, lang: Lang, shape: ProjectShape) -> Result<PathBuf, GuestError> {
    if !is_valid_task_type(name) {
        return Err(GuestError::InvalidName(name.to_owned()));
    }
    if shape == ProjectShape::Command && lang != Lang::Rust {
        return Err(GuestError::ShapeUnsupported(lang.name()));
    }
    let dir = parent.join(name);
    if std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(GuestError::Exists(dir));
    }
    let vars = [("name", name), ("componentize_js", toolchain::pinned("componentize-js"))];
    let (template, ignore): (&[File], &str) = match (lang, shape) {
        (Lang::Rust, ProjectShape::Task) => (files::RUST_TASK, "target/\n"),
        (Lang::Rust, ProjectShape::Command) => (files::RUST_COMMAND, "target/\n"),
        (Lang::Python, _) => (files::PYTHON_TASK, "__pycache__/\n"),
        (Lang::Js, _) => (files::JS_TASK, "node_modules/\n"),
    };
    files::write_all(&dir, template, &vars)?;
    if (lang, shape) == (Lang::Rust, ProjectShape::Task) {
        // The SDK crate finds the contract in its own `wit/`.
        let sdk = dir.join("taskbox-sdk");
        files::write_all(&sdk, files::RUST_SDK, &[])?;
        files::write_all(&sdk.join("wit"), files::WIT, &[])?;
    }
    let readme_vars = [("name", name), ("language", lang.name()), ("toolchain", &toolchain::needs(lang))];
    files::write(&dir.join("README.md"), files::README, &readme_vars)?;
    files::write(&dir.join(format!("{name}.toml")), files::SIDECAR, &vars)?;
    files::write(&dir.join(".gitignore"), ignore, &[])?;
    Ok(dir)
}
