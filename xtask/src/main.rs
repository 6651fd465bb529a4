//! Developer commands for this repository, run as `cargo xtask <command>`:
//!
//! - `plugins` — build every guest in `examples/` into `plugins/` (the
//!   default plugin directory), and the test suite's components in
//!   `tests/components/` into `target/test-components/`: the Rust ones for
//!   `wasm32-wasip2` (adding the target through rustup if it is missing),
//!   the Python and JavaScript ones with `taskbox build` where their
//!   toolchain is installed (it says which it skipped), and the WASI
//!   preview-1 programs of their `preview1/` folders as plain modules
//!   (Rust for `wasm32-wasip1`, C and Zig with Zig: `preview1.rs`).
//! - `toolchains` — install the pinned Python, JavaScript and Zig
//!   toolchains (componentize-py, componentize-js, ziglang) into
//!   `target/toolchains/`, and the
//!   typed-client tools (openapi-spec-validator, openapi-python-client)
//!   into `target/openapi/` (`clients.rs`).
//! - `serve [ARGS]` — `plugins`, then `taskbox serve [ARGS]` from a release
//!   build: the embedded default (SQLite `taskbox.db`, local backend,
//!   `./plugins` watched for changes).
//! - `test [ARGS]` — `toolchains` (both kinds), `plugins`, makes sure PostgreSQL and Redis answer
//!   (starting local ones that are installed but down) and starts the
//!   suite's Redis Cluster (`cluster.rs`), then the whole test
//!   suite (`cargo test --release --workspace [ARGS]`); with no ARGS, then
//!   the `schemathesis` step. When tests fail, it repeats why each failed
//!   at the end of its output (`digest.rs`).
//! - `schemathesis` — the API contract step alone: schemathesis with every
//!   check against a real server of each deployment (`schemathesis.rs`).
//! - `docs` — the book in `docs/`, built with the pinned mdBook (installed
//!   into `target/tools/` on first use) into `target/book/`, every link
//!   checked (`docs.rs`).
//!
//! Plain `std` only: this crate must build in a second.

mod clients;
mod cluster;
mod digest;
mod docs;
mod guests;
mod packages;
mod preview1;
mod schemathesis;
mod services;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const GUEST_TARGET: &str = "wasm32-wasip2";

fn install_toolchains() -> Result<(), String> {
    let root = root();
    guests::install(&root).and_then(|()| preview1::install(&root)).and_then(|()| clients::install(&root))
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let result = match args.next().as_deref() {
        Some("plugins") => build_plugins(),
        Some("toolchains") => install_toolchains(),
        Some("serve") => build_plugins().and_then(|()| serve(args.collect())),
        Some("test") => install_toolchains()
            .and_then(|()| build_plugins())
            .and_then(|()| services::ensure())
            .and_then(|()| packages::ensure())
            .and_then(|()| {
                // Stopped when the suite ends, if this run started it.
                let _cluster = cluster::ensure(&root())?;
                test(args.collect())
            }),
        Some("docs") => docs::build(&root()),
        Some("schemathesis") => {
            build_plugins().and_then(|()| services::ensure()).and_then(|()| schemathesis::run(&root()))
        }
        _ => Err("usage: cargo xtask <plugins | toolchains | serve [serve args] | test [cargo test args] | schemathesis | docs>"
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

/// Adds the guest targets to the toolchain `rust-toolchain.toml` names, if
/// it lacks them. A fresh rustup installs the file's targets with the
/// toolchain; one that has the toolchain already does not add them.
fn ensure_guest_targets() -> Result<(), String> {
    ensure_target(GUEST_TARGET).and_then(|()| ensure_target(preview1::TARGET))
}

fn ensure_target(target: &str) -> Result<(), String> {
    let libdir = Command::new("rustc")
        .current_dir(root())
        .args(["--print", "target-libdir", "--target", target])
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    let path = String::from_utf8_lossy(&libdir.stdout).trim().to_owned();
    if libdir.status.success() && Path::new(&path).is_dir() {
        return Ok(());
    }
    eprintln!("xtask: adding the {target} target (rustup target add {target})");
    run(Command::new("rustup").current_dir(root()).args(["target", "add", target])).map_err(|e| {
        format!("{e}\nxtask: the example plugins need the {target} target: install rustup, or run `rustup target add {target}`")
    })
}

/// Builds the examples into `plugins/` and the test components into
/// `target/test-components/`.
fn build_plugins() -> Result<(), String> {
    ensure_guest_targets()?;
    let root = root();
    let mut built = build_guests(&root, &root.join("examples"), &root.join("plugins"))?;
    built.sort();
    eprintln!("xtask: plugins/ now holds {}", built.join(", "));
    let tests = root.join("target/test-components");
    let mut built = build_guests(&root, &root.join("tests/components"), &tests)?;
    built.sort();
    eprintln!("xtask: {} now holds {}", tests.display(), built.join(", "));
    Ok(())
}

/// Builds the guests of `dir` (its Cargo workspace's members, and its
/// Python and JavaScript guests) into `out`, each with its sidecar
/// (`dir/<name>/<name>.toml`); the names of the files written.
fn build_guests(root: &Path, dir: &Path, out: &Path) -> Result<Vec<String>, String> {
    let target_dir = root.join("target");
    run(cargo()
        .current_dir(dir)
        .args(["build", "--release", "--target", GUEST_TARGET, "--target-dir"])
        .arg(&target_dir))?;
    let built = target_dir.join(GUEST_TARGET).join("release");
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut copied = Vec::new();
    for name in members(dir)? {
        let file = format!("{name}.wasm");
        // Copy then rename, so a watcher never sees a half-written file.
        let tmp = out.join(format!(".{file}.tmp"));
        std::fs::copy(built.join(&file), &tmp)
            .map_err(|e| format!("{}: {e}", built.join(&file).display()))?;
        std::fs::rename(&tmp, out.join(&file)).map_err(|e| e.to_string())?;
        copied.push(file);
        let sidecar = dir.join(&name).join(format!("{name}.toml"));
        if sidecar.is_file() {
            std::fs::copy(&sidecar, out.join(format!("{name}.toml")))
                .map_err(|e| format!("{}: {e}", sidecar.display()))?;
            copied.push(format!("{name}.toml"));
        }
    }
    copied.extend(guests::build(root, dir, out)?);
    copied.extend(preview1::build(root, &dir.join("preview1"), out)?);
    Ok(copied)
}

/// The members of the Cargo workspace in `dir` (its `members = [...]`).
fn members(dir: &Path) -> Result<Vec<String>, String> {
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let list = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("members = ["))
        .and_then(|l| l.strip_suffix(']'))
        .ok_or_else(|| format!("{}: no one-line `members = [...]`", manifest.display()))?;
    Ok(list.split(',').map(|m| m.trim().trim_matches('"').to_owned()).filter(|m| !m.is_empty()).collect())
}

/// Runs the whole suite in release mode: wasm compilation is ~13x slower in
/// a debug build, and release shares its dependency build with the binary.
/// With no arguments (the whole suite), the API contract step follows.
fn test(extra: Vec<String>) -> Result<(), String> {
    let whole = extra.is_empty();
    digest::run(cargo().current_dir(root()).args(["test", "--release", "--workspace"]).args(extra))?;
    if whole { schemathesis::run(&root()) } else { Ok(()) }
}

/// Runs the server from the repository root, so `./plugins` and
/// `taskbox.db` are the defaults it finds.
fn serve(extra: Vec<String>) -> Result<(), String> {
    run(cargo().current_dir(root()).args(["run", "--release", "--quiet", "--", "serve"]).args(extra))
}
