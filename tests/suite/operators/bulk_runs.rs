//! Bulk replay and cancel of runs: `POST /executions/actions` with a
//! filter, per run and in totals; more than 10,000 runs is a 422 naming
//! the count, and nothing is done.

use chrono::Utc;
use serde_json::{Value, json};
use std::time::Duration;

use super::started;
use crate::support::*;

async fn act(api: &Api, body: Value) -> (reqwest::StatusCode, Value) {
    api.post("/executions/actions", body).await
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_replayed_at_their_version_and_runs_in_flight_cancelled(d) {
    let server = serve_plugins(&d, &["echo", "fail", "sleep"], &[]);
    let api = &server.api;
    let failing = api.create_id(json!({"name": "failing", "task_type": "fail", "scheduler_type": "manual",
        "tags": ["nightly"]})).await;
    let fine = api.create_id(json!({"name": "fine", "task_type": "echo", "scheduler_type": "manual",
        "tags": ["nightly"]})).await;
    for _ in 0..3 {
        api.run_and_wait(&failing, Duration::from_secs(30)).await;
    }
    api.run_and_wait(&fine, Duration::from_secs(30)).await;
    let before = api.records(&failing).await;

    // Replay the nightly failures: the three failed runs, not the success.
    let (status, done) = act(api, json!({"action": "replay", "filter": {"tag": "nightly", "is_success": false}})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!((done["matched"].as_u64(), done["done"].as_u64(), done["refused"].as_u64()), (Some(3), Some(3), Some(0)), "{done}");
    let originals: Vec<&str> = before.iter().map(|r| r["execution_id"].as_str().unwrap()).collect();
    for r in done["results"].as_array().unwrap() {
        assert!(originals.contains(&r["execution_id"].as_str().unwrap()), "{r}");
        let replay = api.record_of(r["replay_execution_id"].as_str().unwrap(), Duration::from_secs(30)).await;
        assert_eq!(replay["trigger"], "replay", "{replay}");
        assert_eq!(replay["plugin_digest"], before[0]["plugin_digest"], "the exact version: {replay}");
    }
    assert_eq!(api.records(&fine).await.len(), 1, "the success was not replayed");

    // The dashboard's runs page, filtered to failures, replays what it shows.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let origin = server.root_url("");
    let (session, csrf) = crate::hardening::pages::log_in(&http, &origin).await;
    let page = http.get(format!("{origin}/ui/runs?outcome=failure&config_id={failing}")).header("cookie", &session);
    let page = page.send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Replay these failures"), "{page}");
    let replayed = http
        .post(format!("{origin}/ui/runs/replay"))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str()), ("outcome", "failure"), ("config_id", failing.as_str())])
        .send()
        .await
        .unwrap();
    assert!(replayed.status().is_redirection(), "{}", replayed.status());
    // Six failures by now (three, and their three replays): six more.
    eventually("the dashboard's replays run", Duration::from_secs(30), || async {
        api.records(&failing).await.len() == 12
    })
    .await;

    // Cancel what is in flight for one config: one running, two waiting.
    let slow = api.create_id(json!({"name": "slow", "task_type": "sleep", "scheduler_type": "manual",
        "parameters": {"ms": 20000}, "max_concurrency": 1})).await;
    for _ in 0..3 {
        api.run(&slow).await;
    }
    started().await;
    let (status, done) = act(api, json!({"action": "cancel", "filter": {"config_id": slow}})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!((done["matched"].as_u64(), done["done"].as_u64()), (Some(3), Some(3)), "{done}");
    eventually("the cancelled runs are recorded", Duration::from_secs(30), || async {
        api.records(&slow).await.len() == 3
    })
    .await;
    for r in api.records(&slow).await {
        assert_eq!(r["is_success"], false, "{r}");
        assert!(r["cancelled_by"].as_str().is_some(), "{r}");
    }

    // Refused, and nothing done: an unknown action or field, an outcome on
    // a cancel, a bad tag (a viewer's 403 is the auth matrix's).
    for bad in [json!({"action": "delete"}), json!({"action": "replay", "filter": {"color": "red"}}),
        json!({"action": "cancel", "filter": {"is_success": false}}), json!({"action": "replay", "filter": {"tag": "a b"}})] {
        let (status, body) = act(api, bad.clone()).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    let (status, body) = act(api, json!({"action": "replay", "filter": {"tag": "nightly", "is_success": false}})).await;
    assert_eq!(status, 200, "{body}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_ten_thousand_runs_is_refused_naming_the_count(d) {
    let app = spawn_app(d).await;
    let id = app.create_id(json!({"name": "many", "task_type": "echo", "scheduler_type": "manual"})).await;
    let config_id: uuid::Uuid = id.parse().unwrap();
    let now = Utc::now();
    let records: Vec<taskbox::store::ExecutionRecord> = (0..10_001)
        .map(|i| taskbox::store::ExecutionRecord {
            config_id: Some(config_id),
            execution_id: uuid::Uuid::new_v4(),
            attempt: 1,
            trigger: taskbox::store::Trigger::Manual,
            task_type: "echo".into(),
            scheduled_at: now,
            started_at: now - chrono::Duration::milliseconds(i),
            completed_at: now,
            duration_seconds: 0.001,
            is_success: false,
            result: None,
            error_message: Some("failed".into()),
            logs: String::new(),
            plugin_digest: None,
            worker: "test".into(),
            parameters: None,
            timeout_seconds: None,
            cancelled_by: None,
            workflow_execution_id: None,
            step: None,
            step_index: None,
        })
        .collect();
    for chunk in records.chunks(1000) {
        app.d.store.record_executions(chunk).await.unwrap();
    }
    let (status, body) = act(&app.api, json!({"action": "replay", "filter": {"config_id": id}})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("matches 10001 runs"), "{body}");
    let (_, list) = app.get(&format!("/executions?config_id={id}&limit=1")).await;
    assert_eq!(list["total"], 10_001, "nothing was replayed: {list}");
}
}
