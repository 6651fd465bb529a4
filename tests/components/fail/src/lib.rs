//! `fail`: always fails, with `params.message` or a default message.
//!
//! Shows how a task reports failure: return `Err(message)`; the execution is
//! recorded with `is_success: false` and that message.

use serde::Deserialize;
use taskbox_sdk::{Context, warn};

#[derive(Deserialize)]
struct Params {
    message: Option<String>,
}

fn run(ctx: &Context, p: Params) -> Result<(), String> {
    warn!("attempt {} is about to fail", ctx.attempt);
    Err(p.message.unwrap_or_else(|| "this task always fails".to_owned()))
}

taskbox_sdk::task!(run);
