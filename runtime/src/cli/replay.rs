//! `taskbox replay ID`: a recorded execution run again on this machine,
//! in the same sandbox, with the exact component its record names (by
//! digest), its parameters, its context (config id, execution id, attempt,
//! scheduled time) and its limits. The record and the component come from
//! a server (`--server`, `--token`) or straight from the database
//! (`--database-url`). A plugin granted buckets or secrets gets them from
//! the deployment the settings name, as `taskbox run` does.
//!
//! Prints the new outcome and the recorded one as JSON; exits 0 when
//! `is_success` and the result match, 1 when they differ, 2 when it cannot
//! replay (with the reason).

use clap::Args;
use serde::Serialize;
use std::process::ExitCode;
use std::time::Duration;

use super::client::{Client, ServerArgs};
use super::{PluginDirArgs, exit, fail};
use crate::app::RecordRef;
use crate::app::replay::{not_kept, replayable};
use crate::executor::{Outcome, RunContext, RunRequest};
use crate::plugins::registry::Origin;
use crate::store::{PluginVersion, StoredExecution, VersionSource};

#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// The execution record's id (`GET /api/v1/executions/{id}`), or the
    /// execution id `POST /configs/{id}/run` answered (its latest attempt).
    id: String,
    /// Read the record and the component from this database instead of a server.
    #[arg(long, conflicts_with_all = ["server", "token"])]
    database_url: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    dirs: PluginDirArgs,
}

/// What was recorded, to compare with.
#[derive(Serialize)]
struct Recorded<'a> {
    is_success: bool,
    result: &'a Option<serde_json::Value>,
    error_message: &'a Option<String>,
}

#[derive(Serialize)]
struct Printed<'a> {
    id: i64,
    task_type: &'a str,
    plugin_digest: &'a str,
    /// Do `is_success` and `result` match the record's?
    matches: bool,
    recorded: Recorded<'a>,
    outcome: &'a Outcome,
}

pub(crate) async fn replay(args: ReplayArgs) -> ExitCode {
    let (stored, version, bytes) = match fetch(&args).await {
        Ok(found) => found,
        Err(reason) => return fail(format!("cannot replay execution {}: {reason}", args.id)),
    };
    let record = &stored.record;
    let executor = match super::executor() {
        Ok(executor) => executor,
        Err(code) => return code,
    };
    let loader = args.dirs.loader(executor.clone());
    let (name, dir) = (record.task_type.clone(), args.dirs.plugin_dir.clone());
    let sidecar = version.sidecar.clone();
    let origin = match version.source {
        VersionSource::Directory => Origin::Directory,
        VersionSource::Upload => Origin::Upload,
    };
    let loaded = tokio::task::spawn_blocking(move || {
        loader.load_bytes(&name, &dir.join(format!("{name}.wasm")), &bytes, sidecar.as_deref(), &dir, origin)
    })
    .await;
    let Some(plugin) = loaded.ok().and_then(|e| e.plugin.ok_or(e.info.error).ok()) else {
        return fail(format!(
            "cannot replay execution {}: version {} does not load here",
            args.id, version.digest
        ));
    };
    let doors = match super::run::doors(&plugin.runnable.grants).await {
        Ok(doors) => doors,
        Err(code) => return code,
    };
    let params = record.parameters.as_ref().map(|p| p.to_string()).unwrap_or_default();
    let request = RunRequest {
        context: RunContext {
            config_id: record.config_id.map(|id| id.to_string()).unwrap_or_default(),
            execution_id: record.execution_id.to_string(),
            attempt: record.attempt as u32,
            scheduled_at: record.scheduled_at,
        },
        params,
        limits: plugin.limits(record.timeout_seconds.map(Duration::from_secs_f64), None),
        doors,
    };
    let outcome = executor.run(&plugin.runnable, request).await;
    let matches = outcome.is_success == record.is_success && outcome.result == record.result;
    let printed = Printed {
        id: stored.id,
        task_type: &record.task_type,
        plugin_digest: &version.digest,
        matches,
        recorded: Recorded {
            is_success: record.is_success,
            result: &record.result,
            error_message: &record.error_message,
        },
        outcome: &outcome,
    };
    println!("{}", serde_json::to_string_pretty(&printed).expect("an outcome always serialises"));
    if matches { ExitCode::SUCCESS } else { ExitCode::from(exit::FAILED) }
}

/// The record, its version and the version's component, or why not.
async fn fetch(args: &ReplayArgs) -> Result<(StoredExecution, PluginVersion, Vec<u8>), String> {
    let (stored, version, bytes) = match &args.database_url {
        Some(url) => {
            let opened = crate::store::open(url).await.map_err(|e| e.to_string())?;
            let configs = opened.configs();
            let stored = match args.id.parse() {
                Ok(RecordRef::Id(id)) => configs.get_execution(id).await,
                Ok(RecordRef::Run(run)) => configs.latest_attempt(run).await,
                Err(()) => return Err("give a record id or an execution id".into()),
            };
            let stored = stored.map_err(|e| e.to_string())?;
            let stored = stored.ok_or("there is no such execution record")?;
            let (task_type, digest, _) = replayable(&stored.record)?;
            let versions = opened.plugins();
            let version = versions.version(task_type, digest).await.map_err(|e| e.to_string())?;
            let bytes = versions.blob(digest).await.map_err(|e| e.to_string())?;
            (stored, version, bytes)
        }
        None => {
            let client = Client::new(&args.server);
            let stored: StoredExecution =
                client.get_json(&format!("/executions/{}", args.id)).await.map_err(|e| e.to_string())?;
            let (task_type, digest, _) = replayable(&stored.record)?;
            let path = format!("/plugins/{task_type}/versions/{digest}");
            let version = client.get_json::<PluginVersion>(&path).await.map_err(|e| e.to_string())?;
            let bytes = client.get_bytes(&format!("{path}/component")).await.map_err(|e| e.to_string())?;
            (stored, Some(version), Some(bytes))
        }
    };
    let record = &stored.record;
    let gone = || not_kept(&record.task_type, record.plugin_digest.as_deref().unwrap_or_default());
    let version = version.ok_or_else(gone)?;
    let bytes = bytes.ok_or_else(gone)?;
    Ok((stored, version, bytes))
}
