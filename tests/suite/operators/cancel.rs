//! Cancel: a queued run is recorded cancelled unrun, a running one is
//! stopped on whichever node holds it (computing or blocked in a host
//! call), no retry follows, and deleting a config cancels its queued runs.

use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

use super::started;
use crate::support::*;

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_removes_a_queued_run_and_stops_a_running_one_on_any_node(d) {
    let f = Fleet::start(&d, PluginDir::with(&["sleep", "fib"]), 1, &[]);
    let api = &f.api;
    // One at a time: the second run waits in the queue.
    let sleeper = api.create_id(json!({"name": "sleeper", "task_type": "sleep", "scheduler_type": "manual",
        "parameters": {"ms": 60000}, "max_retries": 2, "max_concurrency": 1})).await;
    let running = api.run(&sleeper).await;
    let waiting = api.run(&sleeper).await;
    started().await;

    let (status, done) = api.post(&format!("/executions/{waiting}/cancel"), json!({})).await;
    if (status, done["was"].as_str()) != (StatusCode::ACCEPTED, Some("queued")) {
        panic!("{status} {done}; the config's records: {:#}", json!(api.records(&sleeper).await));
    }
    let record = api.record_of(&waiting, Duration::from_secs(5)).await;
    assert_eq!((record["is_success"].as_bool(), record["error_message"].as_str()), (Some(false), Some("cancelled")));
    assert_eq!(record["cancelled_by"], "TASKBOX_ADMIN_TOKEN");
    assert_eq!(record["duration_seconds"], 0.0, "it never ran: {record}");

    // Blocked in a host call (a sleep), on the worker process.
    let asked = Instant::now();
    let (status, done) = api.post(&format!("/executions/{running}/cancel"), json!({})).await;
    if (status, done["was"].as_str()) != (StatusCode::ACCEPTED, Some("running")) {
        panic!("{status} {done}; the config's records: {:#}", json!(api.records(&sleeper).await));
    }
    let record = api.record_of(&running, Duration::from_secs(5)).await;
    let took = asked.elapsed();
    assert_eq!((record["is_success"].as_bool(), record["error_message"].as_str()), (Some(false), Some("cancelled")));
    assert_eq!(record["cancelled_by"], "TASKBOX_ADMIN_TOKEN");
    assert!(record["duration_seconds"].as_f64().unwrap() < 5.0, "{record}");
    // 500 ms to stop, plus the record's commit and the poll, on a loaded machine.
    assert!(took < Duration::from_millis(1500), "stopped and recorded after {took:?}");
    if let Some(worker) = f.workers.first() {
        assert_ne!(record["worker"], "", "recorded by the worker process {}", worker.child.id());
    }

    // Computing (epoch interruption): fib(45) runs for a minute.
    let fib = api.create_id(json!({"name": "fib", "task_type": "fib", "scheduler_type": "manual",
        "parameters": {"n": 45}})).await;
    let busy = api.run(&fib).await;
    started().await;
    let asked = Instant::now();
    let (status, _) = api.post(&format!("/executions/{busy}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let record = api.record_of(&busy, Duration::from_secs(5)).await;
    assert_eq!(record["error_message"], "cancelled", "{record}");
    assert!(asked.elapsed() < Duration::from_millis(1500), "stopped after {:?}", asked.elapsed());

    let events = api.history(&sleeper).await;
    let cancelled = events.iter().filter(|e| e["event"] == "cancelled").count();
    assert_eq!(cancelled, 2, "each cancel is a history event: {events:?}");
    assert!(events.iter().any(|e| e["message"].as_str().unwrap().contains("TASKBOX_ADMIN_TOKEN")));

    // No retry follows a cancel, though retries were left.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(api.records(&sleeper).await.len(), 2, "one record per cancelled run, no retry");

    // Finished: 409; unknown: 404; and nothing changed.
    let (status, body) = api.post(&format!("/executions/{running}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = api.post(&format!("/executions/{}/cancel", uuid::Uuid::new_v4()), json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.post("/executions/not-a-run/cancel", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(api.records(&sleeper).await.len(), 2);
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_config_cancels_its_queued_runs(d) {
    let f = Fleet::start(&d, PluginDir::with(&["sleep"]), 1, &[]);
    let api = &f.api;
    let id = api.create_id(json!({"name": "doomed", "task_type": "sleep", "scheduler_type": "manual",
        "parameters": {"ms": 1500}, "max_concurrency": 1})).await;
    for _ in 0..4 {
        api.run(&id).await;
    }
    started().await;
    let (status, _) = api.call(reqwest::Method::DELETE, &format!("/configs/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The run in flight finishes; the three waiting never start.
    eventually("the queue is empty", Duration::from_secs(5), || async {
        api.get("/system/dashboard").await.1["queue_depth"] == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(api.get("/system/dashboard").await.1["queue_depth"], 0);
    let (_, all) = api.get("/executions?limit=500").await;
    assert!(all["total"].as_u64().unwrap() <= 1, "only the run in flight may have run: {all}");
}
}
