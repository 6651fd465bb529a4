//! `fetch`: `http_get` as a plain WASI command (no taskbox bindings): the
//! URL comes from `TASKBOX_PARAMS`, the result goes to stdout, a failure is
//! a non-zero exit. Outbound HTTP is linked for both plugin shapes, and the
//! sidecar's `allowed_outbound_hosts` governs both alike.
//!
//! `taskbox run fetch --params '{"url": "https://example.com/"}'`

use serde_json::{Value, json};

fn main() {
    let params: Value =
        serde_json::from_str(&std::env::var("TASKBOX_PARAMS").unwrap_or_default()).unwrap_or_default();
    let url = params.get("url").and_then(Value::as_str).unwrap_or_default();
    match taskbox_sdk::http::request("GET", url, &[], b"") {
        Ok((status, body)) => {
            println!("{}", json!({ "url": url, "status": status, "body_length": body.len() }))
        }
        Err(e) => {
            eprintln!("fetching {url}: {e}");
            std::process::exit(1);
        }
    }
}
