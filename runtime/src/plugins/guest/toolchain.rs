//! Finding each language's toolchain, and saying how to install the one
//! that is missing. The versions are the ones taskbox is tested with, read
//! from `sdk/toolchains.txt` (which `cargo xtask toolchains` installs).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{GuestError, Lang};

/// `sdk/toolchains.txt`: one `tool version` a line, `#` comments.
const PINS: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk/toolchains.txt"));

/// The version of `tool` taskbox is tested with.
pub(super) fn pinned(tool: &str) -> &'static str {
    PINS.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|l| l.split_once(' ').filter(|(name, _)| *name == tool).map(|(_, v)| v.trim()))
        .unwrap_or_else(|| panic!("sdk/toolchains.txt pins no {tool}"))
}

/// The Rust target guests build for.
pub(super) const RUST_TARGET: &str = "wasm32-wasip2";

/// One sentence for a project's README: what building it needs.
pub(super) fn needs(lang: Lang) -> String {
    let (py, js) = (pinned("componentize-py"), pinned("componentize-js"));
    match lang {
        Lang::Rust => format!(
            "It needs Rust (https://rustup.rs) with the `{RUST_TARGET}` target: `rustup target add {RUST_TARGET}`."
        ),
        Lang::Python => format!(
            "It needs componentize-py {py} (it carries CPython; nothing else is downloaded): \
             `pip install componentize-py=={py}` (or set `TASKBOX_COMPONENTIZE_PY` to the program)."
        ),
        Lang::Js => format!(
            "It needs Node.js and componentize-js {js}: `npm install` here (package.json pins it), \
             or set `TASKBOX_COMPONENTIZE_JS` to the program."
        ),
    }
}

/// `cargo`, checked to have the guest target.
pub(super) fn cargo(project: &Path) -> Result<PathBuf, GuestError> {
    let cargo =
        std::env::var_os("CARGO").map(PathBuf::from).or_else(|| on_path("cargo")).ok_or_else(|| {
            GuestError::Missing {
                tool: "cargo",
                lang: "Rust",
                install: "install Rust from https://rustup.rs".into(),
            }
        })?;
    // The target's library directory exists once the target is installed
    // (for the toolchain this project selects).
    let libdir = Command::new("rustc")
        .current_dir(project)
        .args(["--print", "target-libdir", "--target", RUST_TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if !libdir.is_some_and(|dir| dir.is_dir()) {
        return Err(GuestError::Missing {
            tool: "the wasm32-wasip2 target",
            lang: "Rust",
            install: format!("run `rustup target add {RUST_TARGET}`"),
        });
    }
    Ok(cargo)
}

/// `componentize-py`: `$TASKBOX_COMPONENTIZE_PY`, the project's `.venv`, or the PATH.
pub(super) fn componentize_py(project: &Path) -> Result<PathBuf, GuestError> {
    find("TASKBOX_COMPONENTIZE_PY", &[project.join(".venv/bin/componentize-py")], "componentize-py")
        .ok_or_else(|| GuestError::Missing {
            tool: "componentize-py",
            lang: "Python",
            install: format!(
                "`pip install componentize-py=={}`, or set TASKBOX_COMPONENTIZE_PY to the program",
                pinned("componentize-py")
            ),
        })
}

/// `componentize-js`: `$TASKBOX_COMPONENTIZE_JS`, the project's
/// `node_modules`, or the PATH.
pub(super) fn componentize_js(project: &Path) -> Result<PathBuf, GuestError> {
    find("TASKBOX_COMPONENTIZE_JS", &[project.join("node_modules/.bin/componentize-js")], "componentize-js")
        .ok_or_else(|| GuestError::Missing {
            tool: "componentize-js",
            lang: "JavaScript",
            install: format!(
                "`npm install -E @bytecodealliance/componentize-js@{}` in the project \
                 (Node.js 20 or later), or set TASKBOX_COMPONENTIZE_JS to the program",
                pinned("componentize-js")
            ),
        })
}

fn find(env: &str, local: &[PathBuf], program: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env).filter(|v| !v.is_empty()) {
        // Named explicitly: use it or say it is missing, never fall back.
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    local.iter().find(|p| p.is_file()).cloned().or_else(|| on_path(program))
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(program)).find(|p| p.is_file())
}
