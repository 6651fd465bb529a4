//! `taskbox plugin list|check`: what is in the plugin directory, and whether
//! one file would load.

use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{PluginDirArgs, exit, fail};
use crate::registry::{PluginInfo, Registry};

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
}

pub(crate) async fn run(cmd: PluginCommand) -> ExitCode {
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
