//! Configs through the API: refusals that store nothing, the life cycle of
//! a cron config, and many manual runs at once.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

use crate::support::*;

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_a_clear_error_and_nothing_is_stored(d) {
    let app = spawn_app(d).await;
    let cron = |expr: &str| json!({"name": "c", "task_type": "echo", "scheduler_type": "cron", "schedule_config": {"cron_expression": expr}});
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (cron("61 * * * *"), StatusCode::UNPROCESSABLE_ENTITY, "schedule_config.cron_expression"),
        (
            json!({"name": "c", "task_type": "echo", "scheduler_type": "cron", "schedule_config": {"cron_expression": "* * * * *", "timezone": "Mars/Olympus"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "schedule_config.timezone",
        ),
        (
            json!({"name": "c", "task_type": "echo", "scheduler_type": "date", "schedule_config": {"run_date": "2001-01-01T00:00:00Z"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "schedule_config.run_date",
        ),
        (
            json!({"name": "c", "task_type": "nope", "scheduler_type": "manual"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "task_type",
        ),
        (
            json!({"name": "c", "task_type": "echo", "scheduler_type": "manual", "timeout_seconds": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "timeout_seconds",
        ),
        (
            json!({"name": "c", "task_type": "echo", "scheduler_type": "manual", "max_retries": 1000}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "max_retries",
        ),
        (
            json!({"name": "x".repeat(201), "task_type": "echo", "scheduler_type": "manual"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            json!({"name": "c", "task_type": "echo", "scheduler_type": "manual", "colour": "red"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown field `colour`",
        ),
        (
            json!({"name": "c", "task_type": "echo", "scheduler_type": "weekly"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "scheduler_type",
        ),
        (
            json!({"task_type": "echo", "scheduler_type": "manual"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `name`",
        ),
    ];
    for (body, status, mention) in cases {
        let (got, answer) = app.post("/configs", body.clone()).await;
        assert_eq!(got, status, "{body} → {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(mention), "{body} → {answer}");
    }
    let raw = app
        .client
        .post(format!("{}/configs", app.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let huge = json!({"name": "big", "task_type": "echo", "scheduler_type": "manual", "parameters": {"blob": "x".repeat(taskbox::http::state::MAX_BODY + 64 * 1024)}});
    let (status, body) = app.post("/configs", huge).await;
    assert_eq!((status, error_code(&body)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    assert_eq!(app.get("/configs").await.1["total"], 0, "nothing was stored");

    app.create(json!({"name": "taken", "task_type": "echo", "scheduler_type": "manual"})).await;
    let (status, body) =
        app.post("/configs", json!({"name": "taken", "task_type": "echo", "scheduler_type": "manual"})).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "conflict"));
    let (status, _) = app.get("/configs/not-a-uuid").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.get("/configs?limit=0").await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"));
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_life_cycle_of_a_cron_config(d) {
    let app = spawn_app(d).await;
    let config = app
        .create(json!({"name": "every-second", "task_type": "echo", "scheduler_type": "cron",
                       "schedule_config": {"cron_expression": "* * * * * *"}, "parameters": {"n": 1}}))
        .await;
    assert_eq!(config["schedule_status"], "inactive");
    let id = config["id"].as_str().unwrap().to_owned();
    // auto_start on another one.
    let started = app
        .post("/configs?auto_start=true", json!({"name": "auto", "task_type": "echo", "scheduler_type": "cron", "schedule_config": {"cron_expression": "0 0 1 1 *"}}))
        .await
        .1;
    assert_eq!(
        (started["schedule_status"].as_str(), started["is_scheduled"].as_bool()),
        (Some("active"), Some(true))
    );

    let (status, done) = app.post(&format!("/schedules/{id}/start"), json!({})).await;
    assert_eq!((status, done["schedule_status"].as_str()), (StatusCode::OK, Some("active")));
    let (status, body) = app.post(&format!("/schedules/{id}/start"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"]["message"].as_str().unwrap().contains("active"));

    // It fires every second.
    eventually("two runs", Duration::from_secs(10), || async { app.records(&id).await.len() >= 2 }).await;
    let (_, read) = app.get(&format!("/configs/{id}?include_stats=true")).await;
    assert!(read["stats"]["total"].as_i64().unwrap() >= 2);
    assert_eq!(read["status_consistent"], true);
    assert!(read["next_run"].is_string() && !read["recent_history"].as_array().unwrap().is_empty());

    // Paused: no more runs (after the lookahead and the run in flight).
    assert_eq!(app.post(&format!("/schedules/{id}/pause"), json!({})).await.1["schedule_status"], "paused");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let paused_at = app.records(&id).await.len();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(app.records(&id).await.len(), paused_at, "a paused schedule fired");
    let (_, read) = app.get(&format!("/configs/{id}")).await;
    assert_eq!(
        (read["is_scheduled"].as_bool(), read["status_consistent"].as_bool()),
        (Some(false), Some(true))
    );

    assert_eq!(app.post(&format!("/schedules/{id}/resume"), json!({})).await.1["schedule_status"], "active");
    let execution_id = app.run(&id).await;
    let manual = app.record_of(&execution_id, Duration::from_secs(10)).await;
    assert_eq!((manual["trigger"].as_str(), manual["is_success"].as_bool()), (Some("manual"), Some(true)));
    assert_eq!(manual["result"], json!({"n": 1}));
    let (status, one) = app.get(&format!("/executions/{}", manual["id"])).await;
    assert_eq!((status, one["execution_id"].as_str()), (StatusCode::OK, Some(execution_id.as_str())));

    // Updating the schedule re-registers it at once.
    let (status, updated) = app
        .call(
            Method::PATCH,
            &format!("/configs/{id}"),
            Some(json!({"schedule_config": {"cron_expression": "0 0 1 1 *"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert!(updated["next_run"].as_str().unwrap().contains("-01-01T00:00:00"), "{updated}");

    let (history_status, history) = app.get(&format!("/schedules/{id}/history")).await;
    assert_eq!(history_status, StatusCode::OK);
    let events: Vec<&str> =
        history.as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    for expected in ["started", "fired", "paused", "resumed", "run_requested", "reloaded"] {
        assert!(events.contains(&expected), "{expected} missing from {events:?}");
    }
    let (_, summary) = app.get("/schedules/summary").await;
    assert_eq!((summary["total_tasks"].as_u64(), summary["active_tasks"].as_u64()), (Some(2), Some(2)));
    let (_, schedules) = app.get("/schedules").await;
    assert_eq!(schedules["total"], 2);
    assert!(schedules["items"][0]["next_run"].is_string());

    assert_eq!(app.call(Method::DELETE, &format!("/configs/{id}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/configs/{id}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.post(&format!("/schedules/{id}/start"), json!({})).await.0, StatusCode::NOT_FOUND);
    assert!(app.records(&id).await.is_empty(), "executions go with the config");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_runs_requested_at_once_are_each_queued_and_run_once(d) {
    // Many at once share commits on the local backend (group commit): each
    // still gets its own answer, run and record.
    let app = spawn_app(d).await;
    let mut ids = Vec::new();
    for name in ["a", "b"] {
        let config = app.create(json!({"name": name, "task_type": "echo", "scheduler_type": "manual"})).await;
        ids.push(config["id"].as_str().unwrap().to_owned());
    }
    let paths: Vec<String> = (0..200).map(|i| format!("/configs/{}/run", ids[i % 2])).collect();
    let answers = futures::future::join_all(paths.iter().map(|p| app.post(p, json!({})))).await;
    let mut queued = std::collections::BTreeSet::new();
    for (status, body) in answers {
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        queued.insert(body["execution_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(queued.len(), 200, "every request has an execution id of its own");

    let all = || async { [app.records(&ids[0]).await, app.records(&ids[1]).await].concat() };
    eventually("200 records", Duration::from_secs(30), || async { all().await.len() >= 200 }).await;
    let records = all().await;
    let recorded: std::collections::BTreeSet<String> =
        records.iter().map(|r| r["execution_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!((records.len(), &recorded), (200, &queued), "each queued run ran once");
    assert!(records.iter().all(|r| r["is_success"] == true));
    for id in &ids {
        let history = app.get(&format!("/configs/{id}")).await.1["recent_history"].clone();
        let events = history.as_array().unwrap();
        assert_eq!(events.len(), 10, "{history}");
        assert!(events.iter().all(|e| e["event"] == "run_requested"), "{history}");
    }
}
}
