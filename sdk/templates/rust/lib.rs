//! {{name}}: a taskbox task. `taskbox build .` makes `plugins/{{name}}.wasm`.

use serde::{Deserialize, Serialize};
use taskbox_sdk::{Context, info};

/// The config's params (`{}` when it has none).
#[derive(Deserialize)]
struct Params {
    #[serde(default = "world")]
    name: String,
}

fn world() -> String {
    "world".into()
}

/// What a run returns: stored as the execution's JSON result.
#[derive(Serialize)]
struct Greeting {
    greeting: String,
    attempt: u32,
}

/// One run. An `Err` is a failure with its text.
fn run(ctx: &Context, params: Params) -> Result<Greeting, String> {
    info!("{} runs for config {:?}", ctx.task_type, ctx.config_id);
    if params.name.is_empty() {
        return Err("params: `name` must not be empty".into());
    }
    Ok(Greeting { greeting: format!("hello, {}", params.name), attempt: ctx.attempt })
}

taskbox_sdk::task!(run);
