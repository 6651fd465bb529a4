//! Developer commands for this repository, run as `cargo xtask <command>`:
//!
//! - `plugins` — build every guest in `examples/` into `plugins/` (the
//!   default plugin directory): the Rust ones for `wasm32-wasip2` (adding
//!   the target through rustup if it is missing), the Python and JavaScript
//!   ones with `taskbox build` where their toolchain is installed (it says
//!   which it skipped).
//! - `toolchains` — install the pinned Python and JavaScript toolchains
//!   (componentize-py, componentize-js) into `target/toolchains/`.
//! - `serve [ARGS]` — `plugins`, then `taskbox serve [ARGS]` from a release
//!   build: the embedded default (SQLite `taskbox.db`, local backend,
//!   `./plugins` watched for changes).
//! - `test [ARGS]` — `toolchains`, `plugins`, makes sure PostgreSQL and Redis answer
//!   (starting local ones that are installed but down), then the whole test
//!   suite (`cargo test --release --workspace [ARGS]`); with no ARGS, then
//!   the `schemathesis` step.
//! - `schemathesis` — the API contract step alone: schemathesis with every
//!   check against a real server of each deployment (`schemathesis.rs`).
//!
//! Plain `std` only: this crate must build in a second.

mod browser;
mod guests;
mod schemathesis;
mod services;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const GUEST_TARGET: &str = "wasm32-wasip2";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let result = match args.next().as_deref() {
        Some("plugins") => build_plugins(),
        Some("toolchains") => guests::install(&root()),
        Some("serve") => build_plugins().and_then(|()| serve(args.collect())),
        Some("test") => guests::install(&root())
            .and_then(|()| build_plugins())
            .and_then(|()| services::ensure())
            .and_then(|()| browser::ensure())
            .and_then(|()| test(args.collect())),
        Some("schemathesis") => {
            build_plugins().and_then(|()| services::ensure()).and_then(|()| schemathesis::run(&root()))
        }
        _ => Err("usage: cargo xtask <plugins | toolchains | serve [serve args] | test [cargo test args] | schemathesis>"
            .into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_owned()
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{cmd:?} failed: {status}")) }
}

/// Installs `requirement` with pip into the virtualenv `venv` (made with
/// `python3 -m venv`); `for_what` says who needs it if python3 cannot.
fn pip_install(venv: &Path, requirement: &str, for_what: &str) -> Result<(), String> {
    eprintln!("xtask: installing {requirement} into {}", venv.display());
    run(Command::new("python3").args(["-m", "venv"]).arg(venv))
        .map_err(|e| format!("{e}\nxtask: {for_what}: python3 with the venv module is needed"))?;
    run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", requirement]))
}

/// Adds the guest target to the toolchain `rust-toolchain.toml` names, if
/// it lacks it. A fresh rustup installs the file's targets with the
/// toolchain; one that has the toolchain already does not add them.
fn ensure_guest_target() -> Result<(), String> {
    let libdir = Command::new("rustc")
        .current_dir(root())
        .args(["--print", "target-libdir", "--target", GUEST_TARGET])
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    let path = String::from_utf8_lossy(&libdir.stdout).trim().to_owned();
    if libdir.status.success() && Path::new(&path).is_dir() {
        return Ok(());
    }
    eprintln!("xtask: adding the {GUEST_TARGET} target (rustup target add {GUEST_TARGET})");
    run(Command::new("rustup").current_dir(root()).args(["target", "add", GUEST_TARGET])).map_err(|e| {
        format!("{e}\nxtask: the example plugins need the {GUEST_TARGET} target: install rustup, or run `rustup target add {GUEST_TARGET}`")
    })
}

/// Builds the example guests and copies their components into `plugins/`.
fn build_plugins() -> Result<(), String> {
    ensure_guest_target()?;
    let root = root();
    let target_dir = root.join("target");
    run(cargo()
        .current_dir(root.join("examples"))
        .args(["build", "--release", "--target", GUEST_TARGET, "--target-dir"])
        .arg(&target_dir))?;
    let built = target_dir.join(GUEST_TARGET).join("release");
    let plugins = root.join("plugins");
    std::fs::create_dir_all(&plugins).map_err(|e| format!("{}: {e}", plugins.display()))?;
    let mut copied = Vec::new();
    for entry in std::fs::read_dir(&built).map_err(|e| format!("{}: {e}", built.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            let name = path.file_name().expect("a file has a name");
            // Copy then rename, so a watcher never sees a half-written file.
            let tmp = plugins.join(format!(".{}.tmp", name.to_string_lossy()));
            std::fs::copy(&path, &tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
            std::fs::rename(&tmp, plugins.join(name)).map_err(|e| e.to_string())?;
            copied.push(name.to_string_lossy().into_owned());
        }
    }
    // An example's sidecar (examples/<name>/<name>.toml) goes beside it.
    for name in copied.clone() {
        let stem = name.trim_end_matches(".wasm");
        let sidecar = root.join("examples").join(stem).join(format!("{stem}.toml"));
        if sidecar.is_file() {
            std::fs::copy(&sidecar, plugins.join(format!("{stem}.toml")))
                .map_err(|e| format!("{}: {e}", sidecar.display()))?;
            copied.push(format!("{stem}.toml"));
        }
    }
    copied.extend(guests::build(&root, &plugins)?);
    copied.sort();
    eprintln!("xtask: plugins/ now holds {}", copied.join(", "));
    Ok(())
}

/// Runs the whole suite in release mode: wasm compilation is ~13x slower in
/// a debug build, and release shares its dependency build with the binary.
/// With no arguments (the whole suite), the API contract step follows.
fn test(extra: Vec<String>) -> Result<(), String> {
    let whole = extra.is_empty();
    run(cargo().current_dir(root()).args(["test", "--release", "--workspace"]).args(extra))?;
    if whole { schemathesis::run(&root()) } else { Ok(()) }
}

/// Runs the server from the repository root, so `./plugins` and
/// `taskbox.db` are the defaults it finds.
fn serve(extra: Vec<String>) -> Result<(), String> {
    run(cargo().current_dir(root()).args(["run", "--release", "--quiet", "--", "serve"]).args(extra))
}
