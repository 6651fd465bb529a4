//! The Python and JavaScript examples: their pinned toolchains, installed
//! into `target/toolchains/` (cached there, as CI caches `target/`), and
//! building each example with `taskbox build`, as a user would.
//!
//! An example is a directory of `examples/` holding `app.py` (Python) or
//! `app.js` (JavaScript); the Rust examples are the Cargo workspace there.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The versions `taskbox build` names in its install hints (guest/toolchain.rs).
const COMPONENTIZE_PY: &str = "0.25.1";
const COMPONENTIZE_JS: &str = "0.23.0";

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
    let version = Command::new(tool(root, &PYTHON)).arg("--version").output();
    version.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(COMPONENTIZE_PY))
}

fn js_installed(root: &Path) -> bool {
    let manifest = toolchains(root).join("js/node_modules/@bytecodealliance/componentize-js/package.json");
    tool(root, &JS).is_file()
        && std::fs::read_to_string(manifest)
            .is_ok_and(|m| m.contains(&format!("\"version\": \"{COMPONENTIZE_JS}\"")))
}

/// Installs componentize-py (PyPI, into a virtualenv) and componentize-js
/// (npm) at their pinned versions, unless they are there already.
pub fn install(root: &Path) -> Result<(), String> {
    if !py_installed(root) {
        let venv = toolchains(root).join("py");
        crate::pip_install(&venv, &format!("componentize-py=={COMPONENTIZE_PY}"), "the Python examples")?;
    }
    if !js_installed(root) {
        let dir = toolchains(root).join("js");
        eprintln!("xtask: installing componentize-js {COMPONENTIZE_JS} into {}", dir.display());
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::write(dir.join("package.json"), "{\"private\": true}\n").map_err(|e| e.to_string())?;
        crate::run(Command::new("npm").current_dir(&dir).args([
            "install",
            "--save-exact",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            &format!("@bytecodealliance/componentize-js@{COMPONENTIZE_JS}"),
        ]))
        .map_err(|e| format!("{e}\nxtask: the JavaScript examples need Node.js 20+ with npm"))?;
    }
    Ok(())
}

/// Builds every Python and JavaScript example whose toolchain is installed
/// into `plugins/` (skipping those already newer than their sources), and
/// says which languages it skipped.
pub fn build(root: &Path, plugins: &Path) -> Result<Vec<String>, String> {
    let mut built = Vec::new();
    let mut taskbox = None;
    for (lang, present) in [(&PYTHON, py_installed(root)), (&JS, js_installed(root))] {
        let examples = examples(root, lang)?;
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
            let out = plugins.join(format!("{name}.wasm"));
            let sources = [root.join("examples").join(&name), root.join(lang.sdk), root.join("wit")];
            let fresh = modified(&out).is_some_and(|at| sources.iter().all(|s| newest(s) <= Some(at)));
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
                        .arg(root.join("examples").join(&name))
                        .arg("--out")
                        .arg(&out),
                )?;
            }
            built.push(format!("{name}.wasm"));
            if plugins.join(format!("{name}.toml")).is_file() {
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

/// The examples of one language, by name.
fn examples(root: &Path, lang: &Lang) -> Result<Vec<String>, String> {
    let dir = root.join("examples");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.join(lang.entry).is_file() {
            names.push(path.file_name().expect("an entry has a name").to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of a file or of anything under a directory.
fn newest(path: &Path) -> Option<SystemTime> {
    let own = modified(path);
    let Ok(entries) = std::fs::read_dir(path) else { return own };
    entries.filter_map(Result::ok).map(|e| newest(&e.path())).fold(own, |a, b| a.max(b))
}
