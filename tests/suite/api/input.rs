//! Runs with input: a payload merged onto the config's parameters (RFC 7396)
//! reaches the guest and its record, retries and replays keep it, and an
//! `Idempotency-Key` makes a request safe to repeat: under 50 concurrent
//! requests, and across a restart of the API.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

use crate::support::app::spawn_app;
use crate::support::client::{Api, error_code};
use crate::support::poll::eventually;
use crate::support::server::serve_plugins;

const WITHIN: Duration = Duration::from_secs(20);

/// `POST /configs/{id}/run` with `body` (raw, as JSON) and `key`; the
/// status, whether it said it was a repeat, and the answer.
async fn run_with(api: &Api, id: &str, body: Option<&str>, key: Option<&str>) -> (StatusCode, bool, Value) {
    let mut request = api.client.post(api.url(&format!("/configs/{id}/run"))).bearer_auth(&api.token);
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_owned());
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let repeated = response.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
    let text = response.text().await.unwrap();
    (status, repeated, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The run's execution id, which must have been accepted.
fn queued((status, _, body): (StatusCode, bool, Value)) -> String {
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body["execution_id"].as_str().unwrap().to_owned()
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_is_merged_onto_the_parameters_and_reaches_the_guest(d) {
    let app = spawn_app(d).await;
    let parameters = json!({"a": 1, "b": {"c": 2, "d": 3}, "keep": true});
    let id = app.create_id(json!({"name": "p", "task_type": "echo", "scheduler_type": "manual",
        "parameters": parameters})).await;

    let merged = r#"{"parameters": {"a": null, "b": {"c": 9}, "new": "x"}}"#;
    let run = queued(run_with(&app, &id, Some(merged), None).await);
    let record = app.record_of(&run, WITHIN).await;
    let want = json!({"b": {"c": 9, "d": 3}, "keep": true, "new": "x"});
    assert_eq!((&record["result"], &record["parameters"]), (&want, &want), "{record}");
    assert_eq!(record["trigger"], "manual");

    // A payload that is not an object replaces the parameters.
    let run = queued(run_with(&app, &id, Some(r#"{"parameters": [1, 2]}"#), None).await);
    assert_eq!(app.record_of(&run, WITHIN).await["result"], json!([1, 2]));

    // No body, an empty object, or `"parameters": null`: the config's own.
    for body in [None, Some("{}"), Some(r#"{"parameters": null}"#)] {
        let run = queued(run_with(&app, &id, body, None).await);
        assert_eq!(app.record_of(&run, WITHIN).await["result"], parameters, "{body:?}");
    }
    let (_, config) = app.get(&format!("/configs/{id}")).await;
    assert_eq!(config["parameters"], parameters, "the config is unchanged");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_run_requests_are_refused_and_queue_nothing(d) {
    let app = spawn_app(d).await;
    let id = app.create_id(json!({"name": "p", "task_type": "echo", "scheduler_type": "manual"})).await;
    let big = format!(r#"{{"parameters": {{"x": "{}"}}}}"#, "y".repeat(1 << 20));
    let long_key = "k".repeat(256);
    let cases: [(Option<&str>, Option<&str>, StatusCode, &str); 6] = [
        (Some(r#"{"params": {"a": 1}}"#), None, StatusCode::UNPROCESSABLE_ENTITY, "params"),
        (Some(r#"{"parameters": {"a": 1}, "x": 1}"#), None, StatusCode::UNPROCESSABLE_ENTITY, "x"),
        (Some("{not json"), None, StatusCode::BAD_REQUEST, ""),
        (Some(&big), None, StatusCode::PAYLOAD_TOO_LARGE, ""),
        (Some("{}"), Some(&long_key), StatusCode::UNPROCESSABLE_ENTITY, "Idempotency-Key"),
        (Some("{}"), Some("tab\there"), StatusCode::UNPROCESSABLE_ENTITY, "Idempotency-Key"),
    ];
    for (body, key, status, names) in cases {
        let (got, _, answer) = run_with(&app, &id, body, key).await;
        assert_eq!(got, status, "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap_or_default().contains(names), "{answer}");
    }
    // A body that is not sent as JSON is refused too.
    let plain = app.client.post(app.url(&format!("/configs/{id}/run"))).bearer_auth(&app.token)
        .header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_eq!(plain.status(), StatusCode::BAD_REQUEST);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(app.records(&id).await.is_empty(), "nothing ran");
    assert!(app.history(&id).await.iter().all(|e| e["event"] != "run_requested"), "nothing was queued");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_and_replays_keep_the_payload(d) {
    let app = spawn_app(d).await;
    let id = app.create_id(json!({"name": "f", "task_type": "fail", "scheduler_type": "manual",
        "max_retries": 1, "parameters": {"message": "from the config"}})).await;
    let run = queued(run_with(&app, &id, Some(r#"{"parameters": {"message": "from the payload"}}"#), None).await);
    eventually("both attempts", WITHIN, || async { app.records(&id).await.len() == 2 }).await;
    for record in app.records(&id).await {
        assert_eq!(record["execution_id"], run.as_str());
        assert_eq!(record["parameters"], json!({"message": "from the payload"}), "{record}");
        assert_eq!(record["error_message"], "from the payload", "{record}");
    }
    let (status, replay) = app.post(&format!("/executions/{run}/replay"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replay}");
    let replayed = app.record_of(replay["execution_id"].as_str().unwrap(), WITHIN).await;
    assert_eq!(replayed["trigger"], "replay");
    assert_eq!(replayed["parameters"], json!({"message": "from the payload"}), "{replayed}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests_with_one_key_make_one_run(d) {
    let app = spawn_app(d).await;
    let id = app.create_id(json!({"name": "k", "task_type": "echo", "scheduler_type": "manual"})).await;
    let body = r#"{"parameters": {"order": 123}}"#;
    let answers = futures::future::join_all(
        (0..50).map(|_| run_with(&app, &id, Some(body), Some("order-123"))),
    )
    .await;
    let firsts = answers.iter().filter(|(_, repeated, _)| !repeated).count();
    let ids: std::collections::BTreeSet<String> = answers.into_iter().map(queued).collect();
    assert_eq!((ids.len(), firsts), (1, 1), "one run, answered 50 times: {ids:?}");
    let run = ids.into_iter().next().unwrap();
    assert_eq!(app.record_of(&run, WITHIN).await["result"], json!({"order": 123}));

    // Later, the same key with the same body (whitespace and key order
    // aside) is the same run; with another body, a 409 naming the key.
    let again = run_with(&app, &id, Some(r#"{ "parameters":{"order":123} }"#), Some("order-123")).await;
    assert!(again.1, "said to be a repeat");
    assert_eq!(queued(again), run);
    let (status, _, conflict) = run_with(&app, &id, Some(r#"{"parameters": {"order": 124}}"#), Some("order-123")).await;
    assert_eq!((status, error_code(&conflict)), (StatusCode::CONFLICT, "conflict"), "{conflict}");
    assert!(conflict["error"]["message"].as_str().unwrap().contains("order-123"), "{conflict}");
    // A key belongs to its config: another config's run with it is its own.
    let other = app.create_id(json!({"name": "k2", "task_type": "echo", "scheduler_type": "manual"})).await;
    assert_ne!(queued(run_with(&app, &other, Some(body), Some("order-123")).await), run);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.records(&id).await.len(), 1, "one run of the key");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_holds_across_a_restart_of_the_api(d) {
    let mut first = serve_plugins(&d, &["echo"], &[]);
    let id = first.create_id(json!({"name": "k", "task_type": "echo", "scheduler_type": "manual"})).await;
    let run = queued(run_with(&first, &id, Some(r#"{"parameters": {"n": 1}}"#), Some("once")).await);
    first.record_of(&run, WITHIN).await;
    first.kill();

    let second = serve_plugins(&d, &["echo"], &[]);
    let again = run_with(&second, &id, Some(r#"{"parameters": {"n": 1}}"#), Some("once")).await;
    assert!(again.1, "said to be a repeat");
    assert_eq!(queued(again), run);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(second.records(&id).await.len(), 1);
}
}
