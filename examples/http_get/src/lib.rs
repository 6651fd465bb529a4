//! `http_get`: fetches a URL from its params and returns the status and the
//! body's length. Its sidecar (`http_get.toml`) must list the host in
//! `allowed_outbound_hosts`; anything else is refused by the host.
//!
//! `taskbox run http_get --params '{"url": "https://example.com/"}'`
//! → `{"status": 200, "body_length": 1256}`.

wit_bindgen::generate!({ path: "../../wit", world: "task" });

use serde_json::{Value, json};

struct HttpGet;

impl Guest for HttpGet {
    fn run(_ctx: Context, params: String) -> Result<String, String> {
        let p: Value = serde_json::from_str(&params).map_err(|e| format!("params: {e}"))?;
        let url = p.get("url").and_then(Value::as_str).ok_or("params: `url` (a string) is required")?;
        let (status, body) = outbound::request("GET", url, &[], b"")?;
        Ok(json!({ "url": url, "status": status, "body_length": body.len() }).to_string())
    }
}

export!(HttpGet);
