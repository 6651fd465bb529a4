//! `sleep`: waits `params.ms` milliseconds (default 100), then succeeds.
//!
//! Useful to see deadlines and concurrency at work: a sleeping run does not
//! hold a host thread.

wit_bindgen::generate!({ path: "../../wit", world: "task" });

use std::time::{Duration, Instant};

struct Sleep;

impl Guest for Sleep {
    fn run(_ctx: Context, params: String) -> Result<String, String> {
        let params: serde_json::Value = serde_json::from_str(&params).map_err(|e| format!("params: {e}"))?;
        let ms = params.get("ms").and_then(|v| v.as_u64()).unwrap_or(100);
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(ms));
        let slept = start.elapsed().as_millis() as u64;
        Ok(serde_json::json!({ "slept_ms": slept }).to_string())
    }
}

export!(Sleep);
