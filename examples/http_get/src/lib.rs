//! `http_get`: fetches a URL from its params and returns the status and the
//! body's length. Its sidecar (`http_get.toml`) must list the host in
//! `allowed_outbound_hosts`; anything else is refused by the host.
//!
//! `taskbox run http_get --params '{"url": "https://example.com/"}'`
//! → `{"status": 200, "body_length": 1256}`.

use serde::{Deserialize, Serialize};
use taskbox_sdk::{Context, http};

#[derive(Deserialize)]
struct Params {
    url: String,
}

#[derive(Serialize)]
struct Fetched {
    url: String,
    status: u16,
    body_length: usize,
}

fn run(_ctx: &Context, Params { url }: Params) -> Result<Fetched, String> {
    let (status, body) = http::request("GET", &url, &[], b"")?;
    Ok(Fetched { url, status, body_length: body.len() })
}

taskbox_sdk::task!(run);
