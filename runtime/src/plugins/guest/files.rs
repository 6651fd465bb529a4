//! The files compiled into the binary: the WIT contract, the three SDKs and
//! the project templates, each with the path it is written to.

use std::path::Path;

use super::{GuestError, io};

/// One embedded file: where it goes (relative) and its text.
pub(super) struct File {
    pub path: &'static str,
    pub text: &'static str,
}

macro_rules! embed {
    ($($to:literal => $from:literal),* $(,)?) => {
        &[$(File { path: $to, text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../", $from)) }),*]
    };
}

/// `wit/` as the guests build against it.
pub(super) const WIT: &[File] = embed! {
    "task.wit" => "wit/task.wit",
    "deps/keyvalue/atomic.wit" => "wit/deps/keyvalue/atomic.wit",
    "deps/keyvalue/batch.wit" => "wit/deps/keyvalue/batch.wit",
    "deps/keyvalue/store.wit" => "wit/deps/keyvalue/store.wit",
    "deps/keyvalue/watch.wit" => "wit/deps/keyvalue/watch.wit",
    "deps/keyvalue/world.wit" => "wit/deps/keyvalue/world.wit",
    "deps/cli/cli.wit" => "wit/deps/cli/cli.wit",
    "deps/clocks/clocks.wit" => "wit/deps/clocks/clocks.wit",
    "deps/filesystem/filesystem.wit" => "wit/deps/filesystem/filesystem.wit",
    "deps/http/http.wit" => "wit/deps/http/http.wit",
    "deps/io/io.wit" => "wit/deps/io/io.wit",
    "deps/random/random.wit" => "wit/deps/random/random.wit",
    "deps/sockets/sockets.wit" => "wit/deps/sockets/sockets.wit",
};

/// The Python SDK (a package and the component's entry module).
pub(super) const PYTHON_SDK: &[File] = embed! {
    "taskbox/__init__.py" => "sdk/python/taskbox/__init__.py",
    "taskbox/http.py" => "sdk/python/taskbox/http.py",
    "taskbox/kv.py" => "sdk/python/taskbox/kv.py",
    "taskbox/log.py" => "sdk/python/taskbox/log.py",
    "taskbox_entry.py" => "sdk/python/taskbox_entry.py",
};

/// The JavaScript SDK (a module and the component's entry module).
pub(super) const JS_SDK: &[File] = embed! {
    "taskbox.js" => "sdk/js/taskbox.js",
    "taskbox_entry.js" => "sdk/js/taskbox_entry.js",
};

/// The Rust SDK crate, vendored into a new Rust project (its `wit/` beside).
pub(super) const RUST_SDK: &[File] = embed! {
    "Cargo.toml" => "sdk/rust/Cargo.toml",
    "src/lib.rs" => "sdk/rust/src/lib.rs",
    "src/http.rs" => "sdk/rust/src/http.rs",
};

pub(super) const RUST_TASK: &[File] = embed! {
    "Cargo.toml" => "sdk/templates/rust/Cargo.toml",
    "src/lib.rs" => "sdk/templates/rust/lib.rs",
};

pub(super) const RUST_COMMAND: &[File] = embed! {
    "Cargo.toml" => "sdk/templates/rust-command/Cargo.toml",
    "src/main.rs" => "sdk/templates/rust-command/main.rs",
};

pub(super) const PYTHON_TASK: &[File] = embed! {
    "app.py" => "sdk/templates/python/app.py",
    "pyproject.toml" => "sdk/templates/python/pyproject.toml",
};

pub(super) const JS_TASK: &[File] = embed! {
    "app.js" => "sdk/templates/js/app.js",
    "package.json" => "sdk/templates/js/package.json",
};

/// Every project's README (its `{{language}}` and `{{toolchain}}` filled in).
pub(super) const README: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk/templates/common/README.md"));

/// Every project's sidecar, `NAME.toml`, with the doors commented out.
pub(super) const SIDECAR: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk/templates/common/sidecar.toml"));

/// Writes `files` under `dir`, replacing each `{{key}}` by its value.
pub(super) fn write_all(dir: &Path, files: &[File], vars: &[(&str, &str)]) -> Result<(), GuestError> {
    for file in files {
        write(&dir.join(file.path), file.text, vars)?;
    }
    Ok(())
}

/// Writes one file (and its parent directories), filling in `vars`.
pub(super) fn write(path: &Path, text: &str, vars: &[(&str, &str)]) -> Result<(), GuestError> {
    let text = vars.iter().fold(text.to_owned(), |t, (k, v)| t.replace(&format!("{{{{{k}}}}}"), v));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::write(path, text).map_err(io(path))
}
