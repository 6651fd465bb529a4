//! Task projects in Rust, Python and JavaScript: what one is, how
//! `taskbox new` writes one from the templates compiled into this binary
//! (`new`), and how `taskbox build` turns one into a component with the
//! language's own toolchain (`build`, `toolchain`). It owns the SDKs and the
//! WIT shipped inside the binary (`files`). It never loads or runs a plugin.

mod build;
mod files;
mod new;
mod toolchain;

use std::path::PathBuf;

pub use build::{Built, build};
pub use new::create;

/// A language tasks are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

impl Lang {
    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        }
    }
}

/// Which plugin shape a new project targets (see wit/README.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProjectShape {
    /// The `task` world through the language's SDK.
    #[default]
    Task,
    /// A plain WASI command (params in `TASKBOX_PARAMS`, result on stdout).
    Command,
}

#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    #[error("{0:?} is not a task type name: use [a-z0-9_-]+, at most 64 characters")]
    InvalidName(String),
    #[error("{} already exists and is not empty", .0.display())]
    Exists(PathBuf),
    #[error(
        "the command shape is for Rust; a {0} task uses the task shape (its SDK maps params, results and errors)"
    )]
    ShapeUnsupported(&'static str),
    #[error("{} is not a task project: it has no Cargo.toml, app.py or app.js (start one with `taskbox new`)", .0.display())]
    NotAProject(PathBuf),
    #[error("{tool} is needed to build a {lang} task and was not found: {install}")]
    Missing { tool: &'static str, lang: &'static str, install: String },
    #[error("{tool} failed ({status}); its messages are above")]
    Failed { tool: &'static str, status: std::process::ExitStatus },
    #[error("{tool} finished but produced no component")]
    NoComponent { tool: &'static str },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// Attaches the path to an I/O error.
fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> GuestError {
    let path = path.into();
    move |source| GuestError::Io { path, source }
}
