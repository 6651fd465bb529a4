//! The Python and JavaScript guests: their pinned toolchains (the versions
//! `sdk/toolchains.txt` names), installed into `target/toolchains/`
//! (cached there, as CI caches `target/`), and building each guest with
//! `taskbox build`, as a user would.
//!
//! A guest is a directory of `examples/` (or `tests/components/`) holding
//! `app.py` (Python) or `app.js` (JavaScript); the Rust guests are the
//! Cargo workspace there.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The version `sdk/toolchains.txt` pins `tool` to (`taskbox build` reads
/// the same file).
pub(crate) fn pinned(root: &Path, tool: &str) -> Result<String, String> {
    let path = root.join("sdk/toolchains.txt");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|l| l.split_once(' ').filter(|(name, _)| *name == tool).map(|(_, v)| v.trim().to_owned()))
        .ok_or_else(|| format!("{} pins no {tool}", path.display()))
}

struct Lang {
    name: &'static str,
    entry: &'static str,
    sdk: &'static str,
    env: &'static str,
    /// The toolchain's program, under `target/toolchains/`.
    tool: &'static str,
}

const PYTHON: Lang = Lang {
    name: "Python",
    entry: "app.py",
    sdk: "sdk/python",
    env: "TASKBOX_COMPONENTIZE_PY",
    tool: "py/bin/componentize-py",
};
const JS: Lang = Lang {
    name: "JavaScript",
    entry: "app.js",
    sdk: "sdk/js",
    env: "TASKBOX_COMPONENTIZE_JS",
    tool: "js/node_modules/.bin/componentize-js",
};

fn toolchains(root: &Path) -> PathBuf {
    root.join("target/toolchains")
}

fn tool(root: &Path, lang: &Lang) -> PathBuf {
    toolchains(root).join(lang.tool)
}

fn py_installed(root: &Path) -> bool {
    let Ok(pin) = pinned(root, "componentize-py") else { return false };
    let version = Command::new(tool(root, &PYTHON)).arg("--version").output();
    version.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&pin))
}

fn js_installed(root: &Path) -> bool {
    let Ok(pin) = pinned(root, "componentize-js") else { return false };
    let manifest = toolchains(root).join("js/node_modules/@bytecodealliance/componentize-js/package.json");
    tool(root, &JS).is_file()
        && std::fs::read_to_string(manifest).is_ok_and(|m| m.contains(&format!("\"version\": \"{pin}\"")))
}

/// Installs componentize-py (PyPI, into a virtualenv) and componentize-js
/// (npm) at their pinned versions, unless they are there already.
pub fn install(root: &Path) -> Result<(), String> {
    if !py_installed(root) {
        let venv = toolchains(root).join("py");
        let pin = pinned(root, "componentize-py")?;
        crate::pip_install(&venv, &format!("componentize-py=={pin}"), "the Python examples")?;
    }
    if !js_installed(root) {
        let dir = toolchains(root).join("js");
        let pin = pinned(root, "componentize-js")?;
        eprintln!("xtask: installing componentize-js {pin} into {}", dir.display());
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::write(dir.join("package.json"), "{\"private\": true}\n").map_err(|e| e.to_string())?;
        crate::run(Command::new("npm").current_dir(&dir).args([
            "install",
            "--save-exact",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            &format!("@bytecodealliance/componentize-js@{pin}"),
        ]))
        .map_err(|e| format!("{e}\nxtask: the JavaScript examples need Node.js 20+ with npm"))?;
    }
    Ok(())
}

/// Builds every Python and JavaScript guest of `dir` whose toolchain is
/// installed into `out` (skipping those already newer than their
/// sources), and says which languages it skipped.
pub fn build(root: &Path, dir: &Path, out: &Path) -> Result<Vec<String>, String> {
    let mut built = Vec::new();
    let mut taskbox = None;
    for (lang, present) in [(&PYTHON, py_installed(root)), (&JS, js_installed(root))] {
        let examples = guests(dir, lang)?;
        if examples.is_empty() {
            continue;
        }
        if !present {
            eprintln!(
                "xtask: skipped the {} examples ({}): their toolchain is not installed; \
                 `cargo xtask toolchains` installs it into target/toolchains",
                lang.name,
                examples.join(", ")
            );
            continue;
        }
        for name in examples {
            let wasm = out.join(format!("{name}.wasm"));
            let sources = [dir.join(&name), root.join(lang.sdk), root.join("wit")];
            let fresh = modified(&wasm).is_some_and(|at| sources.iter().all(|s| newest(s) <= Some(at)));
            if !fresh {
                let taskbox = match &taskbox {
                    Some(path) => path,
                    None => taskbox.insert(build_taskbox(root)?),
                };
                crate::run(
                    Command::new(taskbox)
                        .current_dir(root)
                        .env(lang.env, tool(root, lang))
                        .arg("build")
                        .arg(dir.join(&name))
                        .arg("--out")
                        .arg(&wasm),
                )?;
            }
            built.push(format!("{name}.wasm"));
            if out.join(format!("{name}.toml")).is_file() {
                built.push(format!("{name}.toml"));
            }
        }
    }
    Ok(built)
}

fn build_taskbox(root: &Path) -> Result<PathBuf, String> {
    crate::run(crate::cargo().current_dir(root).args(["build", "--release", "--quiet", "-p", "taskbox"]))?;
    Ok(root.join("target/release/taskbox"))
}

/// The guests of one language in `dir`, by name.
fn guests(dir: &Path, lang: &Lang) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.join(lang.entry).is_file() {
            names.push(path.file_name().expect("an entry has a name").to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

pub(crate) fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of a file or of anything under a directory.
pub(crate) fn newest(path: &Path) -> Option<SystemTime> {
    let own = modified(path);
    let Ok(entries) = std::fs::read_dir(path) else { return own };
    entries.filter_map(Result::ok).map(|e| newest(&e.path())).fold(own, |a, b| a.max(b))
}
