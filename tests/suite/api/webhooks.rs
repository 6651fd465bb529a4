//! Signed webhooks, attacker first: a delivery runs its config only when
//! signed with that config's secret (GitHub's format and example vector);
//! a missing, wrong, truncated or other config's signature, an unknown
//! config and a config without a webhook all get the same 401 and queue
//! nothing; a redelivery runs once; the secret is never answered and is
//! sealed at rest.

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;

use crate::support::app::{spawn_app, spawn_app_with};
use crate::support::client::{Api, error_code};

const WITHIN: Duration = Duration::from_secs(20);
/// GitHub's example secret ("Validating webhook deliveries").
const SECRET: &str = "It's a Secret to Everybody";

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// `POST /hooks/{config}` without a token, with `headers`; the status,
/// whether it said it was a repeat, and the answer as text.
async fn deliver(
    api: &Api,
    config: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> (StatusCode, bool, String) {
    let mut request = api.client.post(api.url(&format!("/hooks/{config}"))).body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let repeated = response.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
    (status, repeated, response.text().await.unwrap())
}

fn execution_id(text: &str) -> String {
    let body: Value = serde_json::from_str(text).unwrap();
    body["execution_id"].as_str().unwrap_or_else(|| panic!("not queued: {text}")).to_owned()
}

async fn hooked(api: &Api, name: &str, secret: &str) -> String {
    api.create_id(json!({"name": name, "task_type": "echo", "scheduler_type": "manual",
        "parameters": {"from": "config"}, "webhook": {"secret": secret}}))
        .await
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_deliveries_get_one_answer_and_queue_nothing(d) {
    let app = spawn_app(d).await;
    let id = hooked(&app, "gh", SECRET).await;
    let other = hooked(&app, "other", "another secret of 16+ bytes").await;
    let plain = app.create_id(json!({"name": "plain", "task_type": "echo", "scheduler_type": "manual"})).await;
    let body = br#"{"ref": "refs/heads/main"}"#;
    let good = sign(SECRET, body);
    let json_type = ("content-type", "application/json");
    let forged: Vec<(String, Vec<(&str, String)>)> = vec![
        (id.clone(), vec![]),
        (id.clone(), vec![("x-hub-signature-256", "sha256=00".into())]),
        (id.clone(), vec![("x-hub-signature-256", good[..good.len() - 2].to_owned())]),
        (id.clone(), vec![("x-hub-signature-256", good.replace("sha256=", "sha1="))]),
        (id.clone(), vec![("x-taskbox-signature", sign("another secret of 16+ bytes", body))]),
        (id.clone(), vec![("x-hub-signature-256", sign(SECRET, b"{}"))]),
        (id.clone(), vec![("x-hub-signature-256", good.to_uppercase())]),
        (other.clone(), vec![("x-hub-signature-256", good.clone())]),
        (plain.clone(), vec![("x-hub-signature-256", good.clone())]),
        (uuid::Uuid::new_v4().to_string(), vec![("x-hub-signature-256", good.clone())]),
        ("not-an-id".to_owned(), vec![("x-hub-signature-256", good.clone())]),
    ];
    let mut answers = std::collections::BTreeSet::new();
    for (config, headers) in &forged {
        let mut headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        headers.push(json_type);
        let (status, _, text) = deliver(&app, config, body, &headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{config} {headers:?}: {text}");
        answers.insert(text);
    }
    assert_eq!(answers.len(), 1, "one answer for every refusal: {answers:?}");
    let answer: Value = serde_json::from_str(answers.first().unwrap()).unwrap();
    assert_eq!(error_code(&answer), "unauthorized");
    tokio::time::sleep(Duration::from_millis(500)).await;
    for config in [&id, &other, &plain] {
        assert!(app.records(config).await.is_empty(), "nothing ran");
        assert!(app.history(config).await.iter().all(|e| e["event"] != "run_requested"));
    }

    // Signed, it runs, as a webhook, with its body as the payload.
    let headers = [("x-hub-signature-256", good.as_str()), ("x-github-delivery", "d-1"), json_type];
    let (status, repeated, text) = deliver(&app, &id, body, &headers).await;
    assert_eq!((status, repeated), (StatusCode::ACCEPTED, false), "{text}");
    let record = app.record_of(&execution_id(&text), WITHIN).await;
    assert_eq!(record["trigger"], "webhook");
    assert_eq!(record["result"], json!({"from": "config", "ref": "refs/heads/main"}));
    // Our own header works the same.
    let ours = [("x-taskbox-signature", good.as_str()), json_type];
    assert_eq!(deliver(&app, &id, body, &ours).await.0, StatusCode::ACCEPTED);
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivery_runs_once(d) {
    let app = spawn_app(d).await;
    let id = hooked(&app, "gh", SECRET).await;
    let body = br#"{"n": 1}"#;
    let good = sign(SECRET, body);
    let headers =
        [("x-hub-signature-256", good.as_str()), ("x-github-delivery", "72d3162e"), ("content-type", "application/json")];
    let (status, _, first) = deliver(&app, &id, body, &headers).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let first = execution_id(&first);
    for _ in 0..3 {
        let (status, repeated, again) = deliver(&app, &id, body, &headers).await;
        assert_eq!((status, repeated), (StatusCode::ACCEPTED, true), "{again}");
        assert_eq!(execution_id(&again), first);
    }
    app.record_of(&first, WITHIN).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.records(&id).await.len(), 1);
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn githubs_example_vector_is_accepted_and_only_json_runs(d) {
    let app = spawn_app(d).await;
    let id = hooked(&app, "gh", SECRET).await;
    // GitHub's documented vector: its signature verifies (so the answer is
    // about the body, not the signature): "Hello, World!" is not JSON.
    let vector = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(sign(SECRET, b"Hello, World!"), vector);
    let (status, _, text) =
        deliver(&app, &id, b"Hello, World!", &[("x-hub-signature-256", vector), ("content-type", "text/plain")]).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{text}");
    let (status, _, text) = deliver(&app, &id, b"Hello, World?", &[("x-hub-signature-256", vector)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    // Signed but not valid JSON: a 400; signed and empty: the config's parameters.
    let broken = b"{\"a\":";
    let (status, _, _) = deliver(&app, &id, broken,
        &[("x-hub-signature-256", &sign(SECRET, broken)), ("content-type", "application/json")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, text) = deliver(&app, &id, b"", &[("x-hub-signature-256", &sign(SECRET, b""))]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    assert_eq!(app.record_of(&execution_id(&text), WITHIN).await["result"], json!({"from": "config"}));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.records(&id).await.len(), 1, "only the signed JSON (empty) delivery ran");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_is_write_only_sealed_at_rest_and_can_be_removed(d) {
    let app = spawn_app(d).await;
    let (status, short) = app.post("/configs", json!({"name": "s", "task_type": "echo",
        "scheduler_type": "manual", "webhook": {"secret": "short"}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{short}");
    assert!(short["error"]["message"].as_str().unwrap().starts_with("webhook.secret"), "{short}");

    let id = hooked(&app, "gh", SECRET).await;
    let (_, config) = app.get(&format!("/configs/{id}")).await;
    assert_eq!(config["webhook"], json!({"secret_set": true}));
    let (_, list) = app.get("/configs").await;
    for answer in [config.to_string(), list.to_string()] {
        assert!(!answer.contains(SECRET) && !answer.contains("sealed:"), "{answer}");
    }
    let stored = app.d.store.get_config(id.parse().unwrap()).await.unwrap().unwrap();
    let sealed = stored.webhook.unwrap().secret;
    assert!(sealed.starts_with("sealed:v1:") && !sealed.contains(SECRET), "{sealed}");

    // A new secret replaces the old one; `null` removes the webhook.
    let (status, _) = app.call(reqwest::Method::PATCH, &format!("/configs/{id}"),
        Some(json!({"webhook": {"secret": "a brand new secret"}}))).await;
    assert_eq!(status, StatusCode::OK);
    let body = b"{}";
    let json_type = ("content-type", "application/json");
    let old = deliver(&app, &id, body, &[("x-hub-signature-256", &sign(SECRET, body)), json_type]).await;
    assert_eq!(old.0, StatusCode::UNAUTHORIZED);
    let new = deliver(&app, &id, body, &[("x-hub-signature-256", &sign("a brand new secret", body)), json_type]).await;
    assert_eq!(new.0, StatusCode::ACCEPTED, "{}", new.2);
    let (status, config) = app.call(reqwest::Method::PATCH, &format!("/configs/{id}"),
        Some(json!({"webhook": null}))).await;
    assert_eq!((status, &config["webhook"]), (StatusCode::OK, &Value::Null));
    let gone = deliver(&app, &id, body, &[("x-hub-signature-256", &sign("a brand new secret", body)), json_type]).await;
    assert_eq!(gone.0, StatusCode::UNAUTHORIZED);
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_configs_take_deliveries_up_to_the_size_limit(d) {
    let app = spawn_app_with(d, &["api", "scheduler", "worker"], |s| s.max_hook_kb = 2).await;
    let id = app.create_id(json!({"name": "cron", "task_type": "echo", "scheduler_type": "cron",
        "schedule_config": {"cron_expression": "0 0 1 1 *"}, "webhook": {"secret": SECRET}})).await;
    let (_, config) = app.get(&format!("/configs/{id}")).await;
    assert_eq!(config["schedule_status"], "inactive");
    let body = br#"{"small": true}"#;
    let headers = [("x-hub-signature-256", sign(SECRET, body)), ("content-type", "application/json".into())];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let (status, _, text) = deliver(&app, &id, body, &headers).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    assert_eq!(app.record_of(&execution_id(&text), WITHIN).await["result"], json!({"small": true}));

    let big = format!(r#"{{"x": "{}"}}"#, "y".repeat(3000));
    let (status, _, text) = deliver(&app, &id, big.as_bytes(),
        &[("x-hub-signature-256", &sign(SECRET, big.as_bytes())), ("content-type", "application/json")]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    let (status, _, text) = deliver(&app, &id, body, &[("x-hub-signature-256", headers[0].1),
        ("content-type", "application/json"), ("x-taskbox-delivery", &"d".repeat(300))]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a delivery id is a key: {text}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.records(&id).await.len(), 1);
}
}
