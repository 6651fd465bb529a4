//! `taskbox plugin list|check|push`: what is in the plugin directory,
//! whether one file would load, and uploading one to a server as the new
//! current version of its task type on every node.

use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

use super::client::{CallError, Client, ServerArgs};
use super::{PluginDirArgs, exit, fail};
use crate::plugins::registry::{PluginInfo, Registry};

#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// List the plugins in the plugin directory: name, shape, digest, size,
    /// and the load error of any that failed.
    List {
        /// Print JSON (one array) instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dirs: PluginDirArgs,
    },
    /// Check that one file would load as a plugin; prints what was found.
    Check {
        /// The `.wasm` file.
        file: PathBuf,
        #[command(flatten)]
        dirs: PluginDirArgs,
    },
    /// Upload a component to a server: it becomes the current version of
    /// its task type on every node (prints the version as JSON).
    Push {
        /// The `.wasm` file; its sidecar `FILE.toml` goes with it if present.
        file: PathBuf,
        /// The task type (default: the file's name without `.wasm`).
        #[arg(long)]
        name: Option<String>,
        /// The sidecar to send instead of the one beside the file.
        #[arg(long)]
        sidecar: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub(crate) async fn run(cmd: PluginCommand) -> ExitCode {
    if let PluginCommand::Push { file, name, sidecar, server } = cmd {
        return push(file, name, sidecar, server).await;
    }
    let executor = match super::executor() {
        Ok(executor) => executor,
        Err(code) => return code,
    };
    match cmd {
        PluginCommand::List { json, dirs } => {
            let registry = Registry::new(&dirs.plugin_dir, dirs.loader(executor));
            let catalog = match registry.scan().await {
                Ok(catalog) => catalog,
                Err(e) => return fail(format!("cannot read {}: {e}", dirs.plugin_dir.display())),
            };
            let infos: Vec<&PluginInfo> = catalog.values().map(|e| &e.info).collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&infos).expect("infos serialise"));
            } else {
                print_table(&infos);
            }
            ExitCode::SUCCESS
        }
        PluginCommand::Check { file, dirs } => {
            if !file.is_file() {
                return fail(format!("{} is not a file", file.display()));
            }
            let loader = dirs.loader(executor);
            let entry = match tokio::task::spawn_blocking(move || loader.load(&file)).await {
                Ok(entry) => entry,
                Err(e) => return fail(format!("loading panicked: {e}")),
            };
            println!("{}", serde_json::to_string_pretty(&entry.info).expect("info serialises"));
            match entry.info.error {
                None => ExitCode::SUCCESS,
                Some(error) => {
                    eprintln!("taskbox: {}: {error}", entry.info.file.display());
                    ExitCode::from(exit::FAILED)
                }
            }
        }
        PluginCommand::Push { .. } => unreachable!("answered above"),
    }
}

async fn push(file: PathBuf, name: Option<String>, sidecar: Option<PathBuf>, server: ServerArgs) -> ExitCode {
    use base64::Engine as _;
    let name = name
        .unwrap_or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
    let bytes = match std::fs::read(&file) {
        Ok(bytes) => bytes,
        Err(e) => return fail(format!("cannot read {}: {e}", file.display())),
    };
    let sidecar_path = sidecar.clone().unwrap_or_else(|| file.with_extension("toml"));
    let sidecar_text = match std::fs::read_to_string(&sidecar_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && sidecar.is_none() => None,
        Err(e) => return fail(format!("cannot read {}: {e}", sidecar_path.display())),
    };
    let client = Client::new(&server);
    let mut request = client
        .request(reqwest::Method::PUT, &format!("/plugins/{name}"))
        .header("content-type", "application/wasm")
        .body(bytes);
    if let Some(text) = sidecar_text {
        request = request.header("taskbox-sidecar", base64::engine::general_purpose::STANDARD.encode(text));
    }
    match client.send(request).await {
        Ok(response) => {
            let version: serde_json::Value = response.json().await.unwrap_or_default();
            println!("{}", serde_json::to_string_pretty(&version).expect("JSON prints"));
            ExitCode::SUCCESS
        }
        Err(CallError::Refused { status, message }) if status.as_u16() == 422 => {
            eprintln!("taskbox: the server refused {}: {message}", file.display());
            ExitCode::from(exit::FAILED)
        }
        Err(e) => fail(e),
    }
}

fn print_table(infos: &[&PluginInfo]) {
    println!("{:<20} {:<8} {:<12} {:>9}  STATUS", "NAME", "SHAPE", "DIGEST", "SIZE");
    for info in infos {
        let shape = info.shape.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
        let digest = info.digest.as_deref().map(|d| &d[..12]).unwrap_or("-");
        let status = match &info.error {
            Some(error) => format!("error: {error}"),
            None => "ok".to_owned(),
        };
        println!("{:<20} {:<8} {:<12} {:>9}  {status}", info.name, shape, digest, info.size);
    }
}
