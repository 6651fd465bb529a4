//! Rate limits fleet-wide (a config's and a task type's): at most `max`
//! runs start in any window of `per_seconds`, across worker processes and
//! through a worker crash; runs over the rate wait in order, never dropped.

use chrono::{DateTime, Utc};
use serde_json::json;
use std::time::Duration;

use super::time;
use crate::support::*;

/// The most records of `records` that started within any `window`
/// (measured by the records' start times, which a worker takes a moment
/// after the queue logged the start: `slack` allows for that).
fn most_in_any_window(records: &[serde_json::Value], window: Duration, slack: Duration) -> usize {
    let mut starts: Vec<DateTime<Utc>> = records.iter().map(|r| time(&r["started_at"])).collect();
    starts.sort();
    let span = chrono::Duration::from_std(window.saturating_sub(slack)).unwrap();
    (0..starts.len())
        .map(|i| starts[i..].iter().take_while(|s| **s - starts[i] < span).count())
        .max()
        .unwrap_or(0)
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_holds_across_worker_processes(d) {
    // Two runs at most per worker process, so one process cannot take a
    // whole window's five at once (on a cluster the process whose upkeep
    // opens the window would otherwise take them all, as it may).
    let two_each = [("TASKBOX_WORKER_CONCURRENCY", "2".to_string())];
    let f = Fleet::start(&d, PluginDir::with(&["sleep"]), 2, if d.kind.on_redis() { &two_each } else { &[] });
    let api = &f.api;
    let id = api.create_id(json!({"name": "slack", "task_type": "sleep", "scheduler_type": "manual",
        "parameters": {"ms": 50}, "rate_limit": {"max": 5, "per_seconds": 2}})).await;
    let (_, config) = api.get(&format!("/configs/{id}")).await;
    assert_eq!(config["rate_limit"], json!({"max": 5, "per_seconds": 2}), "{config}");
    let asked = Utc::now();
    for _ in 0..30 {
        api.run(&id).await;
    }
    // Over the rate: they wait, and the status says how many.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, status) = api.get("/system/status").await;
    assert!(status["held_back"]["rate"].as_u64().unwrap() >= 15, "{status}");
    eventually("all 30 runs complete", Duration::from_secs(60), || async {
        api.records(&id).await.len() == 30
    })
    .await;
    let done = api.records(&id).await;
    assert!(done.iter().all(|r| r["is_success"] == true), "never dropped nor failed: {done:?}");
    let most = most_in_any_window(&done, Duration::from_secs(2), Duration::from_millis(150));
    assert!(most <= 5, "at most 5 start in any 2 s, saw {most}");
    // 30 at 5 per 2 s: the last window opens 10 s after the first.
    let last = done.iter().map(|r| time(&r["started_at"])).max().unwrap();
    assert!(last - asked >= chrono::Duration::milliseconds(9_800), "the rate was a rate: {}", last - asked);
    if d.kind.on_redis() {
        let workers: std::collections::BTreeSet<&str> = done.iter().map(|r| r["worker"].as_str().unwrap()).collect();
        assert_eq!(workers.len(), 2, "both worker processes took runs: {workers:?}");
    }
    let (_, status) = api.get("/system/status").await;
    assert_eq!(status["held_back"]["rate"], 0, "{status}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_types_rate_holds_across_its_configs_and_through_a_worker_crash(d) {
    // "Slack, 1 per second, fleet-wide": the sidecar's rate binds every config.
    let dir = PluginDir::with(&["sleep"]);
    dir.add("sleep", "slack");
    dir.write("slack.toml", "rate_limit = { max = 2, per_seconds = 2 }\n");
    let mut f = Fleet::start(&d, dir, 2, &[]);
    let ids: Vec<String> = futures::future::join_all((0..3).map(|i| {
        f.api.create_id(json!({"name": format!("post{i}"), "task_type": "slack", "scheduler_type": "manual",
            "parameters": {"ms": 10}}))
    }))
    .await;
    for _ in 0..4 {
        for id in &ids {
            f.api.run(id).await;
        }
    }
    // The first window's runs are done (10 ms each) and the rest wait for
    // the next: the process that ran them dies, one more comes.
    let api = f.api.api.clone();
    eventually("the first window's runs", Duration::from_secs(30), || async {
        let mut n = 0;
        for id in &ids {
            n += api.records(id).await.len();
        }
        n >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    match d.kind {
        Kind::Distributed | Kind::Cluster => {
            f.workers[0].kill();
            f.workers.push(serve_worker(&d, &f.plugins, &[]));
        }
        Kind::Embedded => {
            f.api.kill();
            f.api = serve(&d, &f.plugins, &[]);
        }
    }
    let api = &f.api;
    let mut done = Vec::new();
    for id in &ids {
        eventually("every run completes", Duration::from_secs(60), || async { api.records(id).await.len() == 4 })
            .await;
        done.extend(api.records(id).await);
    }
    assert!(done.iter().all(|r| r["is_success"] == true), "{done:?}");
    let most = most_in_any_window(&done, Duration::from_secs(2), Duration::from_millis(150));
    assert!(most <= 2, "the task type's 2 per 2 s holds across its configs and the crash, saw {most}");
}
}

conformance! {
#[tokio::test]
async fn a_bad_rate_limit_is_refused_and_changes_nothing(d) {
    let app = spawn_app(d).await;
    for bad in [json!({"max": 0, "per_seconds": 1}), json!({"max": 1, "per_seconds": 0}),
        json!({"max": 10001, "per_seconds": 1}), json!({"max": 1, "per_seconds": 86401}),
        json!({"max": 1}), json!({"max": 1, "per_seconds": 1, "burst": 2}), json!("5/s")] {
        let (status, body) = app.api.post("/configs", json!({"name": "bad", "task_type": "echo",
            "scheduler_type": "manual", "rate_limit": bad})).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("rate_limit"), "{body}");
    }
    assert_eq!(app.api.get("/configs").await.1["total"], 0);
    let id = app.api.create_id(json!({"name": "ok", "task_type": "echo", "scheduler_type": "manual",
        "rate_limit": {"max": 1, "per_seconds": 1}})).await;
    let (status, body) = app.api.call(reqwest::Method::PATCH, &format!("/configs/{id}"),
        Some(json!({"rate_limit": null}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rate_limit"], serde_json::Value::Null, "{body}");
}
}
