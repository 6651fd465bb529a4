//! `taskbox new` and `taskbox build`: thin wrappers over [`crate::plugins::guest`].

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

use super::fail;
use crate::plugins::guest::{self, Lang, ProjectShape};

#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// The task type the project builds ([a-z0-9_-]+); also its directory.
    name: String,
    /// The language.
    #[arg(long, value_enum)]
    lang: Lang,
    /// The plugin shape: the `task` world through the SDK, or a plain WASI
    /// command (Rust only).
    #[arg(long, value_enum, default_value_t)]
    shape: ProjectShape,
    /// Where to create the project's directory.
    #[arg(long, default_value = ".")]
    r#in: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// The project's directory.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where to write the component (default: ./plugins/NAME.wasm); the
    /// project's sidecar NAME.toml is copied beside it.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub(crate) fn new(args: NewArgs) -> ExitCode {
    match guest::create(&args.r#in, &args.name, args.lang, args.shape) {
        Ok(dir) => {
            println!("created {} ({} {:?})", dir.display(), args.lang.name(), args.shape);
            println!("build it into plugins/{}.wasm with: taskbox build {}", args.name, dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

pub(crate) fn build(args: BuildArgs) -> ExitCode {
    match guest::build(&args.dir, args.out.as_deref()) {
        Ok(built) => {
            let sidecar = built.sidecar.map(|s| format!(" and {}", s.display())).unwrap_or_default();
            println!(
                "built {}{sidecar} ({}, {:.1} MB) in {:.1} s",
                built.file.display(),
                built.lang.name(),
                built.bytes as f64 / 1e6,
                built.took.as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
