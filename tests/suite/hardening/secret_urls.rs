//! A secret holding a URL must not leak through a refusal line: the line
//! names only what the allowlist judged (scheme, host, port), and redaction
//! covers a granted value's URL forms (without fragment or query,
//! percent-encoded) as well as its JSON escapes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

use crate::support::*;

/// Secrets shaped like what teams keep: a webhook address with a token in
/// its path and a fragment, a bearer token in a query string, a value that
/// JSON must escape.
const SECRETS: [(&str, &str); 3] = [
    ("SLACK_HOOK", "https://hooks.example.com/services/T0001/B0002/XsecretpathX#frag-secret"),
    ("TOKEN_URL", "https://api.example.com/v1/items?token=QsecretqueryQ&page=2"),
    ("ODD", "w\"ith\\es/caped üñí"),
];

/// Every form of `value` that must not appear in what a run leaves behind.
fn forms(value: &str) -> Vec<String> {
    let mut out = vec![value.to_owned()];
    if let Ok(url) = reqwest::Url::parse(value) {
        let mut bare = url.clone();
        bare.set_fragment(None);
        out.push(bare.to_string());
        bare.set_query(None);
        out.push(bare.to_string());
        out.push(url.path().to_owned());
        if let Some(q) = url.query() {
            out.push(q.to_owned());
        }
    }
    let encoded: String = url_encode(value);
    out.push(encoded);
    let json = serde_json::to_string(value).unwrap();
    out.push(json[1..json.len() - 1].to_owned());
    out.retain(|f| f.len() > 3 && f != "/");
    out
}

fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_url_never_reaches_a_record_through_a_refusal(d) {
    let app = spawn_app(d).await;
    for (name, value) in SECRETS {
        let (status, body) = app.call(Method::PUT, &format!("/secrets/{name}"), Some(json!({"value": value}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let sidecar = "secrets = [\"SLACK_HOOK\", \"TOKEN_URL\", \"ODD\"]\nallowed_outbound_hosts = [\"https://allowed.example.org\"]\n";
    let (status, body) = app.upload("probe", std::fs::read(built_plugin("probe")).unwrap(), Some(sidecar)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut records: Vec<Value> = Vec::new();
    for params in [
        json!({"action": "http", "url_env": "SLACK_HOOK"}),
        json!({"action": "http", "url_env": "TOKEN_URL"}),
        json!({"action": "leak", "name": "ODD"}),
        json!({"action": "leak", "name": "SLACK_HOOK"}),
    ] {
        let id = app.create_id(json!({"name": format!("p{}", records.len()), "task_type": "probe",
            "scheduler_type": "manual", "parameters": params})).await;
        records.push(app.run_and_wait(&id, Duration::from_secs(20)).await);
    }
    // The refusals were made, and say what was judged.
    let logs = records[0]["logs"].as_str().unwrap();
    assert!(logs.contains("https://hooks.example.com:443"), "the refusal names scheme, host and port: {logs}");
    assert!(records[1]["logs"].as_str().unwrap().contains("https://api.example.com:443"), "{}", records[1]);
    for record in &records {
        let fields = [
            record["logs"].as_str().unwrap_or_default().to_owned(),
            record["error_message"].as_str().unwrap_or_default().to_owned(),
            record["result"].to_string(),
        ];
        for text in &fields {
            for (name, value) in SECRETS {
                for form in forms(value) {
                    assert!(!text.contains(&form), "{name} leaked as {form:?} in {text}");
                }
            }
        }
    }
}
}
