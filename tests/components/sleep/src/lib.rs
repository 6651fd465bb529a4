//! `sleep`: waits `params.ms` milliseconds (default 100), then succeeds,
//! answering `params.split` as it is when given (a list to fan out over).
//!
//! Useful to see deadlines and concurrency at work: a sleeping run does not
//! hold a host thread.

use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use taskbox_sdk::Context;

#[derive(Deserialize)]
struct Params {
    #[serde(default = "default_ms")]
    ms: u64,
    /// Answer this array instead (after sleeping): the list a workflow's
    /// `for_each` step runs over.
    #[serde(default)]
    split: Option<Vec<Value>>,
}

fn default_ms() -> u64 {
    100
}

fn run(_ctx: &Context, p: Params) -> Result<Value, String> {
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(p.ms));
    if let Some(items) = p.split {
        return Ok(Value::Array(items));
    }
    Ok(json!({ "slept_ms": start.elapsed().as_millis() as u64 }))
}

taskbox_sdk::task!(run);
