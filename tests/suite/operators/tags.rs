//! Tags: filters on the lists and bulk actions by tag or ids, and a
//! pause that ends by itself.

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

use super::time;
use crate::support::*;

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_filter_lists_and_bulk_actions_act_per_config(d) {
    let f = Fleet::start(&d, PluginDir::with(&["echo"]), 0, &[]);
    let api = &f.api;
    let cron = json!({"cron_expression": "0 0 * * *"});
    let mut billing = Vec::new();
    for i in 0..3 {
        billing.push(api.create_id(json!({"name": format!("bill{i}"), "task_type": "echo", "scheduler_type": "cron",
            "schedule_config": cron, "tags": ["billing", "nightly", "billing"]})).await);
    }
    let other = api.create_id(json!({"name": "other", "task_type": "echo", "scheduler_type": "cron",
        "schedule_config": cron, "tags": ["reports"]})).await;
    let (_, config) = api.get(&format!("/configs/{}", billing[0])).await;
    assert_eq!(config["tags"], json!(["billing", "nightly"]), "each tag once: {config}");
    // Bad tags: refused, nothing stored.
    for tags in [json!(["has space"]), json!([""]), json!((0..21).map(|i| format!("t{i}")).collect::<Vec<_>>())] {
        let (status, body) = api.post("/configs", json!({"name": "bad", "task_type": "echo",
            "scheduler_type": "manual", "tags": tags})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    assert_eq!(api.get("/configs").await.1["total"], 4);

    let (_, list) = api.get("/configs?tag=billing").await;
    assert_eq!(list["total"], 3, "{list}");
    let (_, list) = api.get("/schedules?tag=billing").await;
    assert_eq!(list["total"], 3, "{list}");
    assert!(list["items"].as_array().unwrap().iter().all(|i| i["tags"].as_array().unwrap().contains(&json!("billing"))));

    let (status, done) = api.post("/schedules/actions", json!({"action": "start", "tag": "billing"})).await;
    assert_eq!((status, done["done"].as_u64()), (StatusCode::OK, Some(3)), "{done}");
    let (status, done) = api.post("/schedules/actions", json!({"action": "pause", "tag": "billing"})).await;
    assert_eq!((status, done["done"].as_u64()), (StatusCode::OK, Some(3)), "{done}");
    assert!(done["results"].as_array().unwrap().iter().all(|r| r["schedule_status"] == "paused"), "{done}");
    let (_, list) = api.get("/schedules?tag=billing&status=paused").await;
    assert_eq!(list["total"], 3, "{list}");
    assert!(api.history(&billing[1]).await.iter().any(|e| e["event"] == "paused"));
    assert_eq!(api.get(&format!("/configs/{other}")).await.1["schedule_status"], "inactive");

    // Again: each refused, with its status; by ids, an unknown one too.
    let ghost = uuid::Uuid::new_v4().to_string();
    let (status, done) = api
        .post("/schedules/actions", json!({"action": "pause", "ids": [billing[0], other, ghost]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let results = done["results"].as_array().unwrap();
    assert_eq!((done["done"].as_u64(), done["refused"].as_u64()), (Some(0), Some(3)), "{done}");
    assert_eq!(results[0]["schedule_status"], "paused");
    assert!(results[2]["message"].as_str().unwrap().contains("no task config"), "{done}");
    // Misuse: 422, nothing changes.
    for body in [
        json!({"action": "pause"}),
        json!({"action": "pause", "tag": "billing", "ids": []}),
        json!({"action": "explode", "tag": "billing"}),
        json!({"action": "pause", "tag": "bad tag"}),
        json!({"action": "resume", "tag": "billing", "until": "2999-01-01T00:00:00Z"}),
    ] {
        let (status, answer) = api.post("/schedules/actions", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {answer}");
    }
    assert_eq!(api.get("/schedules?tag=billing&status=paused").await.1["total"], 3);
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_until_resumes_by_itself(d) {
    let f = Fleet::start(&d, PluginDir::with(&["echo"]), 0, &[]);
    let api = &f.api;
    let id = api.create_id(json!({"name": "napping", "task_type": "echo", "scheduler_type": "cron",
        "schedule_config": {"cron_expression": "*/5 * * * * *"}})).await;
    api.post(&format!("/schedules/{id}/start"), json!({})).await;
    let until = Utc::now() + chrono::Duration::seconds(3);
    let at = until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (status, done) = api.post(&format!("/schedules/{id}/pause?until={}", at.replace('+', "%2B")), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert!(done["message"].as_str().unwrap().contains("until"), "{done}");
    let (_, config) = api.get(&format!("/configs/{id}")).await;
    assert_eq!(config["schedule_status"], "paused");
    assert!(config["status_consistent"] == true, "{config}");
    assert_eq!(time(&config["paused_until"]).timestamp_millis(), until.timestamp_millis(), "{config}");
    assert!(time(&config["next_run"]) >= until, "the next run is after the pause: {config}");
    let (_, list) = api.get("/schedules?status=paused").await;
    assert_eq!(list["items"][0]["paused_until"], config["paused_until"], "{list}");

    eventually("it resumes by itself", Duration::from_secs(10), || async {
        api.get(&format!("/configs/{id}")).await.1["schedule_status"] == "active"
    })
    .await;
    assert!(Utc::now() >= until);
    let (_, config) = api.get(&format!("/configs/{id}")).await;
    assert!(config["paused_until"].is_null() && config["status_consistent"] == true, "{config}");
    let events = api.history(&id).await;
    assert!(events.iter().any(|e| e["event"] == "resumed" && e["message"].as_str().unwrap().contains("ended")), "{events:?}");
    assert!(events.iter().any(|e| e["event"] == "paused" && e["message"].as_str().unwrap().contains("until")));

    // A manual resume, then a pause without until: no resume follows.
    let soon = (Utc::now() + chrono::Duration::seconds(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    api.post(&format!("/schedules/{id}/pause?until={}", soon.replace('+', "%2B")), json!({})).await;
    api.post(&format!("/schedules/{id}/resume"), json!({})).await;
    api.post(&format!("/schedules/{id}/pause"), json!({})).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(api.get(&format!("/configs/{id}")).await.1["schedule_status"], "paused");

    // Misuse: 422.
    let past = "2001-01-01T00:00:00Z";
    let (status, _) = api.post(&format!("/schedules/{id}/resume?until={past}"), json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    api.post(&format!("/schedules/{id}/resume"), json!({})).await;
    let (status, _) = api.post(&format!("/schedules/{id}/pause?until={past}"), json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = api.post(&format!("/schedules/{id}/pause?until=tomorrow"), json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(api.get(&format!("/configs/{id}")).await.1["schedule_status"], "active");
}
}
