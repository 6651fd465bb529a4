//! `notify`: posts a JSON message to a webhook whose URL is a secret (so it
//! never sits in a config, a record or a log), e.g. a Slack incoming webhook.
//!
//! Params: `text` (the message). Environment: `NOTIFY_WEBHOOK`, granted by
//! the sidecar's `secrets`; the sidecar's `allowed_outbound_hosts` must list
//! the webhook's host. Returns `{"status": <the webhook's answer>}`.
//!
//! `printf %s "$URL" | taskbox secret set NOTIFY_WEBHOOK`, then
//! `taskbox run notify --params '{"text": "deploy done"}'`.

use serde::Deserialize;
use serde_json::{Value, json};
use taskbox_sdk::{Context, http};

#[derive(Deserialize)]
struct Params {
    text: String,
}

fn run(_ctx: &Context, Params { text }: Params) -> Result<Value, String> {
    let url = std::env::var("NOTIFY_WEBHOOK").map_err(|_| "NOTIFY_WEBHOOK is not set: grant the secret")?;
    let body = json!({ "text": text }).to_string();
    let (status, _) = http::request("POST", &url, &[("content-type", "application/json")], body.as_bytes())?;
    if !(200..300).contains(&status) {
        return Err(format!("the webhook answered {status}"));
    }
    Ok(json!({ "status": status }))
}

taskbox_sdk::task!(run);
