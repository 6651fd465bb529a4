//! `taskbox build`: a task project into a component, with the language's
//! own toolchain, written atomically (a watcher never sees half a file)
//! with the project's sidecar beside it.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::files;
use super::{GuestError, Lang, io, toolchain};
use crate::plugins::registry::is_valid_task_type;

/// What a build produced.
#[derive(Debug)]
pub struct Built {
    pub lang: Lang,
    pub file: PathBuf,
    pub bytes: u64,
    /// The sidecar copied beside the component, if the project has one.
    pub sidecar: Option<PathBuf>,
    pub took: Duration,
}

/// Builds the project in `dir` into `out` (default `./plugins/NAME.wasm`,
/// NAME being the project's name).
pub fn build(dir: &Path, out: Option<&Path>) -> Result<Built, GuestError> {
    let started = Instant::now();
    let lang = detect(dir)?;
    let name = project_name(dir, lang);
    let out = match out {
        Some(out) => out.to_owned(),
        None if is_valid_task_type(&name) => Path::new("plugins").join(format!("{name}.wasm")),
        None => return Err(GuestError::InvalidName(name)),
    };
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let stem = out.file_stem().unwrap_or_default().to_string_lossy().into_owned();
    let tmp = parent.join(format!(".{stem}.wasm.{}.tmp", std::process::id()));
    let result = match lang {
        Lang::Rust => rust(dir, &tmp),
        Lang::Python => python(dir, &tmp),
        Lang::Js => js(dir, &tmp),
    };
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let bytes = std::fs::metadata(&tmp).map_err(io(&tmp))?.len();
    // The sidecar first: a watching server then loads the new component
    // with the grants written for it.
    let sidecar = copy_sidecar(&dir.join(format!("{name}.toml")), &out.with_extension("toml"));
    if sidecar.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    let sidecar = sidecar?;
    std::fs::rename(&tmp, &out).map_err(io(&out))?;
    Ok(Built { lang, file: out, bytes, sidecar, took: started.elapsed() })
}

/// Which language a project is in, by the file that defines it.
fn detect(dir: &Path) -> Result<Lang, GuestError> {
    if dir.join("Cargo.toml").is_file() {
        Ok(Lang::Rust)
    } else if dir.join("app.py").is_file() {
        Ok(Lang::Python)
    } else if dir.join("app.js").is_file() {
        Ok(Lang::Js)
    } else {
        Err(GuestError::NotAProject(dir.to_owned()))
    }
}

/// The name in the project's manifest (Cargo.toml, pyproject.toml,
/// package.json), else the directory's name.
fn project_name(dir: &Path, lang: Lang) -> String {
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).ok();
    let from_toml = |text: String, table: &str| {
        let doc: toml::Table = text.parse().ok()?;
        doc.get(table)?.get("name")?.as_str().map(str::to_owned)
    };
    let named = match lang {
        Lang::Rust => read("Cargo.toml").and_then(|t| from_toml(t, "package")),
        Lang::Python => read("pyproject.toml").and_then(|t| from_toml(t, "project")),
        Lang::Js => read("package.json").and_then(|t| {
            serde_json::from_str::<serde_json::Value>(&t).ok()?.get("name")?.as_str().map(str::to_owned)
        }),
    };
    named.unwrap_or_else(|| {
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
        dir.file_name().unwrap_or_default().to_string_lossy().into_owned()
    })
}

fn copy_sidecar(from: &Path, to: &Path) -> Result<Option<PathBuf>, GuestError> {
    if !from.is_file() {
        return Ok(None);
    }
    let tmp = to.with_extension(format!("toml.{}.tmp", std::process::id()));
    std::fs::copy(from, &tmp).map_err(io(from))?;
    std::fs::rename(&tmp, to).map_err(io(to))?;
    Ok(Some(to.to_owned()))
}

/// Runs a toolchain; all it prints goes to our stderr (our stdout is the
/// one-line summary).
fn run(tool: &'static str, cmd: &mut Command) -> Result<(), GuestError> {
    let status = cmd.stdout(std::io::stderr()).status().map_err(io(cmd.get_program()))?;
    if status.success() { Ok(()) } else { Err(GuestError::Failed { tool, status }) }
}

/// `cargo build --release --target wasm32-wasip2`; the component is the
/// `.wasm` artifact cargo reports.
fn rust(dir: &Path, out: &Path) -> Result<(), GuestError> {
    let cargo = toolchain::cargo(dir)?;
    let mut child = Command::new(cargo)
        .current_dir(dir)
        .args([
            "build",
            "--release",
            "--target",
            toolchain::RUST_TARGET,
            "--message-format=json-render-diagnostics",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(io(dir))?;
    let mut artifact = None;
    for line in std::io::BufReader::new(child.stdout.take().expect("stdout is piped")).lines() {
        let Ok(line) = line else { break };
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if message["reason"] == "compiler-artifact" {
            let mut files = message["filenames"].as_array().into_iter().flatten().filter_map(|f| f.as_str());
            if let Some(wasm) = files.rfind(|f| f.ends_with(".wasm")) {
                artifact = Some(PathBuf::from(wasm));
            }
        }
    }
    let status = child.wait().map_err(io(dir))?;
    if !status.success() {
        return Err(GuestError::Failed { tool: "cargo", status });
    }
    let artifact = artifact.ok_or(GuestError::NoComponent { tool: "cargo" })?;
    std::fs::copy(&artifact, out).map_err(io(&artifact))?;
    Ok(())
}

/// componentize-py against the `stateful-http-task` world, with the SDK and
/// the entry module from the binary.
fn python(dir: &Path, out: &Path) -> Result<(), GuestError> {
    let tool = toolchain::componentize_py(dir)?;
    let work = scratch()?;
    let (wit, sdk) = (work.path().join("wit"), work.path().join("sdk"));
    files::write_all(&wit, files::WIT, &[])?;
    files::write_all(&sdk, files::PYTHON_SDK, &[])?;
    run(
        "componentize-py",
        Command::new(tool)
            .arg("-d")
            .arg(&wit)
            .args(["-w", "stateful-http-task", "componentize", "taskbox_entry", "-p"])
            .arg(dir)
            .arg("-p")
            .arg(&sdk)
            .arg("-o")
            .arg(out),
    )
}

/// componentize-js (its defaults: `fetch` over wasi:http) against the
/// `stateful-env-task` world, on a copy of the project's sources with the SDK
/// and the entry module from the binary beside them.
fn js(dir: &Path, out: &Path) -> Result<(), GuestError> {
    let tool = toolchain::componentize_js(dir)?;
    let work = scratch()?;
    let (wit, src) = (work.path().join("wit"), work.path().join("src"));
    files::write_all(&wit, files::WIT, &[])?;
    copy_sources(dir, &src)?;
    files::write_all(&src, files::JS_SDK, &[])?;
    run(
        "componentize-js",
        Command::new(tool)
            .arg("--wit")
            .arg(&wit)
            .args(["-n", "stateful-env-task", "-o"])
            .arg(out)
            .arg(src.join("taskbox_entry.js")),
    )
}

fn scratch() -> Result<tempfile::TempDir, GuestError> {
    tempfile::Builder::new().prefix("taskbox-build-").tempdir().map_err(io(std::env::temp_dir()))
}

/// Copies a JS project's sources (not `node_modules`, hidden entries or
/// built plugins) into `to`.
fn copy_sources(from: &Path, to: &Path) -> Result<(), GuestError> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || ["node_modules", "plugins", "target"].contains(&name.as_ref()) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_sources(&path, &to.join(&*name))?;
        } else if [".js", ".mjs", ".json"].iter().any(|ext| name.ends_with(ext)) {
            std::fs::copy(&path, to.join(&*name)).map_err(io(&path))?;
        }
    }
    Ok(())
}
