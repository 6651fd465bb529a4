//! `notify`: posts a JSON message to a webhook whose URL is a secret (so it
//! never sits in a config, a record or a log), e.g. a Slack incoming webhook.
//!
//! Params: `text` (the message). Environment: `NOTIFY_WEBHOOK`, granted by
//! the sidecar's `secrets`; the sidecar's `allowed_outbound_hosts` must list
//! the webhook's host. Returns `{"status": <the webhook's answer>}`.
//!
//! `printf %s "$URL" | taskbox secret set NOTIFY_WEBHOOK`, then
//! `taskbox run notify --params '{"text": "deploy done"}'`.

wit_bindgen::generate!({ path: "../../wit", world: "task" });

use serde_json::{Value, json};

struct Notify;

impl Guest for Notify {
    fn run(_ctx: Context, params: String) -> Result<String, String> {
        let p: Value = serde_json::from_str(&params).map_err(|e| format!("params: {e}"))?;
        let text = p.get("text").and_then(Value::as_str).ok_or("params: `text` (a string) is required")?;
        let url =
            std::env::var("NOTIFY_WEBHOOK").map_err(|_| "NOTIFY_WEBHOOK is not set: grant the secret")?;
        let body = json!({ "text": text }).to_string();
        let (status, _) =
            outbound::request("POST", &url, &[("content-type", "application/json")], body.as_bytes())?;
        if !(200..300).contains(&status) {
            return Err(format!("the webhook answered {status}"));
        }
        Ok(json!({ "status": status }).to_string())
    }
}

export!(Notify);
