//! `taskbox run`: one task, once, outcome as JSON on stdout. A plugin
//! granted key-value buckets or secrets gets them from the deployment the
//! settings name (`TASKBOX_*` over `taskbox.toml`), as under `taskbox serve`.

use clap::Args;
use serde::Serialize;
use std::process::ExitCode;
use std::time::Duration;

use super::{PluginDirArgs, exit, fail};
use crate::executor::{Doors, Grants, Outcome, RunContext, RunRequest};
use crate::plugins::registry::{MAX_MEMORY_MB, is_valid_task_type};

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The task type: the plugin file's name without `.wasm`.
    task_type: String,
    /// The task's parameters, as JSON.
    #[arg(long, default_value = "{}")]
    params: String,
    /// Deadline in seconds (fractions allowed); default: the plugin's
    /// sidecar, else 60.
    #[arg(long, value_parser = parse_timeout)]
    timeout: Option<Duration>,
    /// Memory cap in MiB; default: the plugin's sidecar, else 128.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_MEMORY_MB))]
    memory_mb: Option<u64>,
    #[command(flatten)]
    dirs: PluginDirArgs,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 7.0 * 24.0 * 3600.0) {
        return Err(format!("{s} must be above 0 and at most a week"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[derive(Serialize)]
struct Printed<'a> {
    task_type: &'a str,
    execution_id: &'a str,
    #[serde(flatten)]
    outcome: &'a Outcome,
}

pub(crate) async fn run(args: RunArgs) -> ExitCode {
    if !is_valid_task_type(&args.task_type) {
        return fail(format!("unknown task type {:?}: task types match [a-z0-9_-]+", args.task_type));
    }
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&args.params) {
        return fail(format!("--params is not valid JSON: {e}"));
    }
    let path = args.dirs.plugin_dir.join(format!("{}.wasm", args.task_type));
    if !path.is_file() {
        return fail(format!("unknown task type {:?}: there is no {}", args.task_type, path.display()));
    }
    let executor = match super::executor() {
        Ok(executor) => executor,
        Err(code) => return code,
    };
    let loader = args.dirs.loader(executor.clone());
    let entry = match tokio::task::spawn_blocking(move || loader.load(&path)).await {
        Ok(entry) => entry,
        Err(e) => return fail(format!("loading the plugin panicked: {e}")),
    };
    let Some(plugin) = entry.plugin else {
        let error = entry.info.error.unwrap_or_default();
        return fail(format!("plugin {:?} failed to load: {error}", args.task_type));
    };
    let doors = match doors(&plugin.runnable.grants).await {
        Ok(doors) => doors,
        Err(code) => return code,
    };
    let request = RunRequest {
        context: RunContext::ad_hoc(),
        params: args.params,
        limits: plugin.limits(args.timeout, args.memory_mb),
        doors,
    };
    let execution_id = request.context.execution_id.clone();
    let outcome = executor.run(&plugin.runnable, request).await;
    let printed = Printed { task_type: &args.task_type, execution_id: &execution_id, outcome: &outcome };
    println!("{}", serde_json::to_string(&printed).expect("an outcome always serialises"));
    if outcome.is_success { ExitCode::SUCCESS } else { ExitCode::from(exit::FAILED) }
}

/// The key-value store and secrets the plugin's grants name, from the
/// deployment the settings name; nothing is opened for a plugin without
/// such grants.
pub(crate) async fn doors(grants: &Grants) -> Result<Doors, ExitCode> {
    if grants.buckets.is_empty() && grants.secrets.is_empty() {
        return Ok(Doors::default());
    }
    let settings =
        crate::server::settings::Settings::load(std::path::Path::new("taskbox.toml")).map_err(fail)?;
    let mut doors = Doors::default();
    if !grants.secrets.is_empty() {
        let secrets = super::secret::open(&settings).await?;
        doors.secrets = secrets.resolve(&grants.secrets).await.map_err(fail)?;
    }
    if !grants.buckets.is_empty() {
        let opened = crate::store::open(&settings.database_url).await.map_err(fail)?;
        let redis = settings.redis();
        let plan = crate::backends::Plan::sharded(
            redis.as_ref(),
            &settings.redis_prefix,
            settings.redis_shards,
            &opened,
        )
        .await
        .map_err(fail)?;
        doors.kv = Some(plan.connect().await.map_err(fail)?.kv);
    }
    Ok(doors)
}
