//! `fail`: always fails, with `params.message` or a default message.
//!
//! Shows how a task reports failure: return `Err(message)`; the execution is
//! recorded with `is_success: false` and that message.

wit_bindgen::generate!({ path: "../../wit", world: "task" });

use taskbox::plugin::host::{Level, log};

struct Fail;

impl Guest for Fail {
    fn run(ctx: Context, params: String) -> Result<String, String> {
        let message = serde_json::from_str::<serde_json::Value>(&params)
            .ok()
            .and_then(|p| p.get("message")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| "this task always fails".to_owned());
        log(Level::Warn, &format!("attempt {} is about to fail", ctx.attempt));
        Err(message)
    }
}

export!(Fail);
