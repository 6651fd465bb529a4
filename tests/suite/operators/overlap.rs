//! The overlap policies `buffer_one` and `replace`, and jitter.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

use super::{most_at_once, time};
use crate::support::*;

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_one_and_replace_overlap_policies(d) {
    let f = Fleet::start(&d, PluginDir::with(&["sleep"]), 1, &[]);
    let api = &f.api;
    let every_second = json!({"cron_expression": "* * * * * *"});
    let buffered = api.create_id(json!({"name": "buffered", "task_type": "sleep", "scheduler_type": "cron",
        "schedule_config": every_second, "parameters": {"ms": 2500}, "concurrency": "buffer_one"})).await;
    let replaced = api.create_id(json!({"name": "replaced", "task_type": "sleep", "scheduler_type": "cron",
        "schedule_config": {"cron_expression": "*/2 * * * * *"}, "parameters": {"ms": 3000},
        "concurrency": "replace"})).await;
    for id in [&buffered, &replaced] {
        let (status, body) = api.post(&format!("/schedules/{id}/start"), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    for id in [&buffered, &replaced] {
        let (status, _) = api.post(&format!("/schedules/{id}/stop"), json!({})).await;
        assert_eq!(status, StatusCode::OK);
    }

    // buffer_one: one run at a time, the next waiting for it, the rest skipped.
    let events = api.history(&buffered).await;
    let skipped = events.iter().filter(|e| e["event"] == "skipped").count();
    assert!(skipped >= 2, "later ticks are skipped: {events:?}");
    assert!(events.iter().any(|e| e["message"].as_str().unwrap().contains("buffer_one")), "{events:?}");
    eventually("the buffered runs finish", Duration::from_secs(15), || async {
        api.get("/system/dashboard").await.1["queue_depth"] == 0
    })
    .await;
    let done = api.records(&buffered).await;
    assert!(done.len() >= 2, "the buffered tick ran after the first: {done:?}");
    assert_eq!(most_at_once(&done), 1, "{done:?}");

    // replace: each tick cancels the run in flight and runs.
    let done = api.records(&replaced).await;
    let cancelled: Vec<&Value> = done.iter().filter(|r| r["cancelled_by"] == "concurrency=replace").collect();
    assert!(cancelled.len() >= 2, "{done:?}");
    assert!(cancelled.iter().all(|r| r["error_message"] == "cancelled"));
    assert_eq!(most_at_once(&done), 1, "the new tick waits for the replaced run to stop: {done:?}");
    let events = api.history(&replaced).await;
    assert!(events.iter().filter(|e| e["event"] == "replaced").count() >= 2, "{events:?}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitter_delays_each_tick_and_next_run_shows_it(d) {
    let f = Fleet::start(&d, PluginDir::with(&["echo"]), 1, &[]);
    let api = &f.api;
    // A jitter as long as the interval would pass the next tick: refused.
    let (status, body) = api
        .post("/configs", json!({"name": "too", "task_type": "echo", "scheduler_type": "cron",
            "schedule_config": {"cron_expression": "*/2 * * * * *", "jitter_seconds": 2}}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("jitter_seconds"), "{body}");

    let id = api.create_id(json!({"name": "jittery", "task_type": "echo", "scheduler_type": "cron",
        "schedule_config": {"cron_expression": "*/2 * * * * *", "jitter_seconds": 1.5}})).await;
    api.post(&format!("/schedules/{id}/start"), json!({})).await;
    let mut shown = Vec::new();
    for _ in 0..3 {
        let (_, config) = api.get(&format!("/configs/{id}")).await;
        let next = time(&config["next_run"]);
        let tick = next.timestamp() / 2 * 2;
        let delay = next.timestamp_millis() - tick * 1000;
        assert!((0..1500).contains(&delay), "next_run {next} is its tick plus under 1.5 s");
        shown.push(next);
        tokio::time::sleep(Duration::from_millis(2100)).await;
    }
    api.post(&format!("/schedules/{id}/stop"), json!({})).await;
    let done = api.records(&id).await;
    assert!(done.len() >= 2, "{done:?}");
    for r in &done {
        // Each run is due at its tick plus its delay: the kind of time shown.
        let at = time(&r["scheduled_at"]);
        let delay = at.timestamp_millis() - at.timestamp() / 2 * 2000;
        assert!((0..1500).contains(&delay), "run due at {at}: its tick plus under 1.5 s");
    }
    assert!(done.iter().any(|r| shown.contains(&time(&r["scheduled_at"]))), "a time shown was a run's: {shown:?}");
    let off_the_second = done.iter().filter(|r| time(&r["scheduled_at"]).timestamp_subsec_millis() != 0).count();
    assert!(off_the_second >= 1, "ticks are delayed off the second: {done:?}");
}
}
