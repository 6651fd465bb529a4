//! The WASI preview-1 guests: plain programs built the way their own
//! toolchains build them, not components. A guest is a directory of
//! `examples/preview1/` (or `tests/components/preview1/`) named after it,
//! holding one of:
//!
//! - `Cargo.toml`: built with `cargo build --release --target wasm32-wasip1`;
//! - `<name>.rs`: a std-only Rust program, `rustc --target wasm32-wasip1`;
//! - `<name>.c`: `zig cc --target=wasm32-wasi`;
//! - `<name>.zig`: `zig build-exe -target wasm32-wasi`.
//!
//! Zig (which also compiles the C) is the `ziglang` package of PyPI at the
//! version `sdk/toolchains.txt` pins, installed into `target/toolchains/zig`
//! by `cargo xtask toolchains`; without it the C and Zig guests are skipped
//! (and said so), as the Python and JavaScript ones are without theirs.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const TARGET: &str = "wasm32-wasip1";

fn venv(root: &Path) -> PathBuf {
    root.join("target/toolchains/zig")
}

fn zig_installed(root: &Path) -> bool {
    let Ok(pin) = crate::guests::pinned(root, "ziglang") else { return false };
    let version = Command::new(venv(root).join("bin/python")).args(["-m", "ziglang", "version"]).output();
    version.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == pin)
}

/// Installs Zig (the `ziglang` package) at its pinned version, unless it
/// is there already.
pub fn install(root: &Path) -> Result<(), String> {
    if zig_installed(root) {
        return Ok(());
    }
    let pin = crate::guests::pinned(root, "ziglang")?;
    crate::pip_install(&venv(root), &format!("ziglang=={pin}"), "the C and Zig examples")
}

/// `python -m ziglang ARGS`, its caches kept under `target/toolchains`.
fn zig(root: &Path) -> Command {
    let mut command = Command::new(venv(root).join("bin/python"));
    let cache = root.join("target/toolchains/zig-cache");
    command.args(["-m", "ziglang"]).env("ZIG_GLOBAL_CACHE_DIR", &cache).env("ZIG_LOCAL_CACHE_DIR", &cache);
    command
}

/// Builds the preview-1 guests in `dir` (if it exists) into `out`, skipping
/// those newer than their sources; the names of the files there.
pub fn build(root: &Path, dir: &Path, out: &Path) -> Result<Vec<String>, String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut built = Vec::new();
    let zig_present = zig_installed(root);
    for name in names {
        let source = dir.join(&name);
        let wasm = out.join(format!("{name}.wasm"));
        let needs_zig = ["c", "zig"].iter().any(|ext| source.join(format!("{name}.{ext}")).is_file());
        if needs_zig && !zig_present {
            eprintln!(
                "xtask: skipped the preview-1 guest {name}: Zig is not installed; \
                 `cargo xtask toolchains` installs it into target/toolchains"
            );
            continue;
        }
        let fresh = crate::guests::modified(&wasm)
            .is_some_and(|at| crate::guests::newest(&source).is_some_and(|s| s <= at));
        if !fresh {
            build_one(root, &source, &name, &wasm)?;
        }
        built.push(format!("{name}.wasm"));
    }
    Ok(built)
}

fn build_one(root: &Path, source: &Path, name: &str, wasm: &Path) -> Result<(), String> {
    let tmp = wasm.with_file_name(format!(".{name}.wasm.tmp"));
    if source.join("Cargo.toml").is_file() {
        let target_dir = root.join("target");
        crate::run(
            crate::cargo()
                .current_dir(source)
                .args(["build", "--release", "--quiet", "--target", TARGET, "--target-dir"])
                .arg(&target_dir),
        )?;
        let file = target_dir.join(TARGET).join("release").join(format!("{name}.wasm"));
        std::fs::copy(&file, &tmp).map_err(|e| format!("{}: {e}", file.display()))?;
    } else if source.join(format!("{name}.rs")).is_file() {
        crate::run(
            Command::new("rustc")
                .current_dir(root)
                .args(["--edition", "2024", "--target", TARGET, "-O", "-C", "strip=symbols"])
                .arg(source.join(format!("{name}.rs")))
                .arg("-o")
                .arg(&tmp),
        )?;
    } else if source.join(format!("{name}.c")).is_file() {
        crate::run(
            zig(root)
                .args(["cc", "--target=wasm32-wasi", "-O2", "-s"])
                .arg(source.join(format!("{name}.c")))
                .arg("-o")
                .arg(&tmp),
        )?;
    } else if source.join(format!("{name}.zig")).is_file() {
        crate::run(
            zig(root)
                .current_dir(root.join("target/toolchains"))
                .args(["build-exe", "-target", "wasm32-wasi", "-O", "ReleaseSmall"])
                .arg(source.join(format!("{name}.zig")))
                .arg(format!("-femit-bin={}", tmp.display())),
        )?;
    } else {
        return Err(format!(
            "{}: a preview-1 guest holds Cargo.toml, {name}.rs, {name}.c or {name}.zig",
            source.display()
        ));
    }
    std::fs::rename(&tmp, wasm).map_err(|e| format!("{}: {e}", wasm.display()))
}
