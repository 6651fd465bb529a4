//! Backfill: one run per tick of a cron schedule in `[from, to)` in its
//! time zone (across a clock change), oldest first and one at a time under
//! `max_concurrency: 1`; ticks that ran are skipped unless `force`; at most
//! 10,000 ticks; only cron configs.

use chrono::{DateTime, Duration as Span, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

use crate::support::app::{spawn_app, spawn_app_with};
use crate::support::client::error_code;
use crate::support::poll::eventually;
use taskbox::store::{ExecutionRecord, Trigger};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn time_of(record: &Value, field: &str) -> DateTime<Utc> {
    at(record[field].as_str().unwrap())
}

/// A record of a run the cron schedule made at `tick`.
fn cron_record(config: uuid::Uuid, tick: DateTime<Utc>) -> ExecutionRecord {
    ExecutionRecord {
        config_id: Some(config),
        execution_id: uuid::Uuid::new_v4(),
        attempt: 1,
        trigger: Trigger::Cron,
        task_type: "echo".into(),
        scheduled_at: tick,
        started_at: tick,
        completed_at: tick,
        duration_seconds: 0.0,
        is_success: true,
        result: None,
        error_message: None,
        logs: String::new(),
        plugin_digest: None,
        worker: "test".into(),
        parameters: None,
        timeout_seconds: None,
        cancelled_by: None,
        workflow_execution_id: None,
        step: None,
        step_index: None,
    }
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_runs_each_tick_once_across_a_clock_change(d) {
    let app = spawn_app(d).await;
    let id = app.create_id(json!({"name": "hourly", "task_type": "echo", "scheduler_type": "cron",
        "schedule_config": {"cron_expression": "0 * * * *", "timezone": "Europe/Berlin"},
        "max_concurrency": 1})).await;
    // Berlin's clocks go back on 2026-10-25: that local day has 25 hours.
    let window = json!({"from": "2026-10-24T22:00:00Z", "to": "2026-10-25T23:00:00Z"});
    let (status, done) = app.post(&format!("/schedules/{id}/backfill"), window.clone()).await;
    assert_eq!((status, &done), (StatusCode::ACCEPTED, &json!({"queued": 25, "skipped": 0})), "{done}");
    eventually("25 runs", Duration::from_secs(30), || async { app.records(&id).await.len() == 25 }).await;

    let mut records = app.records(&id).await;
    records.sort_by_key(|r| time_of(r, "started_at"));
    let ticks: Vec<DateTime<Utc>> = records.iter().map(|r| time_of(r, "scheduled_at")).collect();
    let hours: Vec<DateTime<Utc>> = (0..25).map(|h| at("2026-10-24T22:00:00Z") + Span::hours(h)).collect();
    assert_eq!(ticks, hours, "every real hour once, oldest first");
    assert!(records.iter().all(|r| r["trigger"] == "backfill"));
    for pair in records.windows(2) {
        assert!(time_of(&pair[1], "started_at") >= time_of(&pair[0], "completed_at"), "one at a time");
    }

    // Again: every tick ran, so nothing is queued; forced, all of them.
    let (_, again) = app.post(&format!("/schedules/{id}/backfill"), window.clone()).await;
    assert_eq!(again, json!({"queued": 0, "skipped": 25}));
    let mut forced = window.clone();
    forced["force"] = json!(true);
    let (_, forced) = app.post(&format!("/schedules/{id}/backfill"), forced).await;
    assert_eq!(forced, json!({"queued": 25, "skipped": 0}));
    eventually("50 runs", Duration::from_secs(30), || async { app.records(&id).await.len() == 50 }).await;
    let history = app.history(&id).await;
    let noted: Vec<&str> =
        history.iter().filter(|e| e["event"] == "backfilled").filter_map(|e| e["message"].as_str()).collect();
    assert_eq!(noted.len(), 3, "{history:?}");
    assert!(noted[0].contains("(forced): 25 runs queued, 0 ticks skipped"), "{noted:?}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_that_ran_on_schedule_are_skipped(d) {
    // No worker: what a backfill queues stays queued, to be counted.
    let app = spawn_app_with(d, &["api", "scheduler"], |_| {}).await;
    let id = app.create_id(json!({"name": "daily", "task_type": "echo", "scheduler_type": "cron",
        "schedule_config": {"cron_expression": "0 6 * * *"}})).await;
    let config = id.parse().unwrap();
    app.d.store.record_executions(&[cron_record(config, at("2026-05-02T06:00:00Z"))]).await.unwrap();
    let window = json!({"from": "2026-05-01T00:00:00Z", "to": "2026-05-04T00:00:00Z"});
    let (status, done) = app.post(&format!("/schedules/{id}/backfill"), window).await;
    assert_eq!((status, done), (StatusCode::ACCEPTED, json!({"queued": 2, "skipped": 1})));
    let (_, overview) = app.get("/system/dashboard").await;
    assert_eq!(overview["queue_depth"], 2, "{overview}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_is_bounded_and_only_for_cron_configs(d) {
    let app = spawn_app_with(d, &["api", "scheduler"], |_| {}).await;
    let id = app.create_id(json!({"name": "secondly", "task_type": "echo", "scheduler_type": "cron",
        "schedule_config": {"cron_expression": "* * * * * *"}})).await;
    let start = at("2026-01-01T00:00:00Z");
    let window = |seconds: i64| json!({"from": start, "to": start + Span::seconds(seconds)});
    let (status, refused) = app.post(&format!("/schedules/{id}/backfill"), window(10_001)).await;
    assert_eq!((status, error_code(&refused)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"));
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("10001 ticks") && message.contains("10000"), "{message}");
    let (status, done) = app.post(&format!("/schedules/{id}/backfill"), window(10_000)).await;
    assert_eq!((status, done), (StatusCode::ACCEPTED, json!({"queued": 10_000, "skipped": 0})));
    let (_, overview) = app.get("/system/dashboard").await;
    assert_eq!(overview["queue_depth"], 10_000);

    let manual = app.create_id(json!({"name": "m", "task_type": "echo", "scheduler_type": "manual"})).await;
    let bad = [
        (manual.as_str(), window(60), "scheduler_type"),
        (id.as_str(), json!({"from": start, "to": start}), "to"),
        (id.as_str(), json!({"from": start + Span::hours(1), "to": start}), "to"),
        (id.as_str(), json!({"from": start}), "to"),
        (id.as_str(), json!({"from": start, "to": start + Span::hours(1), "extra": 1}), "extra"),
        (id.as_str(), json!({"from": "yesterday", "to": start}), "from"),
    ];
    for (config, body, names) in bad {
        let (status, answer) = app.post(&format!("/schedules/{config}/backfill"), body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(names), "{body}: {answer}");
    }
    let (status, _) = app.post(&format!("/schedules/{}/backfill", uuid::Uuid::new_v4()), window(60)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, overview) = app.get("/system/dashboard").await;
    assert_eq!(overview["queue_depth"], 10_000, "the refusals queued nothing");
}
}
