//! A Redis without persistence that is killed and restarted comes back
//! empty. The schedules must not stop silently: taskbox notices that the
//! schedule state is gone and rebuilds it from SQL at once, keeping the
//! statuses users chose (paused, stopped, created without auto_start), with
//! a log line and a history event.

use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

use crate::support::services::PrivateRedis;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_survive_a_redis_that_lost_its_data() {
    let d = Deployment::new(Kind::Distributed).await;
    let mut redis = PrivateRedis::start_volatile();
    let plugins = PluginDir::with(&["echo"]);
    let server = serve(&d, &plugins, &[("TASKBOX_REDIS_URL", redis.url())]);
    let cron = |name: &str| {
        json!({"name": name, "task_type": "echo", "scheduler_type": "cron",
            "schedule_config": {"cron_expression": "* * * * * *"}})
    };
    let (status, tick) = server.post("/configs?auto_start=true", cron("tick")).await;
    assert_eq!(status, StatusCode::CREATED, "{tick}");
    let tick = tick["id"].as_str().unwrap().to_owned();
    let held = server.create_id(cron("held")).await;
    assert_eq!(server.post(&format!("/schedules/{held}/start"), json!({})).await.0, StatusCode::OK);
    assert_eq!(server.post(&format!("/schedules/{held}/pause"), json!({})).await.0, StatusCode::OK);
    let stopped = server.create_id(cron("stopped")).await;
    assert_eq!(server.post(&format!("/schedules/{stopped}/start"), json!({})).await.0, StatusCode::OK);
    assert_eq!(server.post(&format!("/schedules/{stopped}/stop"), json!({})).await.0, StatusCode::OK);
    let off = server.create_id(cron("off")).await;
    eventually("tick fires", Duration::from_secs(10), || async { !server.records(&tick).await.is_empty() })
        .await;

    redis.kill();
    redis.restart();
    let lost_at = chrono::Utc::now();

    eventually("tick fires again after Redis lost its data", Duration::from_secs(20), || async {
        server.records(&tick).await.iter().any(|r| {
            r["trigger"] == "cron"
                && r["scheduled_at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap()
                    > lost_at
        })
    })
    .await;
    let status_of = |id: String| {
        let server = &server;
        async move { server.get(&format!("/configs/{id}")).await.1 }
    };
    let tick_now = status_of(tick.clone()).await;
    assert_eq!(
        (tick_now["schedule_status"].as_str(), tick_now["status_consistent"].as_bool()),
        (Some("active"), Some(true)),
        "{tick_now}"
    );
    assert_eq!(status_of(held.clone()).await["schedule_status"], "paused", "a pause is kept");
    assert_eq!(status_of(stopped.clone()).await["schedule_status"], "inactive", "a stop is kept");
    assert_eq!(status_of(off.clone()).await["schedule_status"], "inactive", "auto_start=false is kept");
    let history = server.history(&tick).await;
    assert!(history.iter().any(|e| e["event"] == "restored"), "a history event says so: {history:?}");
    let log = server.log.lock().unwrap().join("\n");
    assert!(log.contains("schedule state was lost"), "a log line says so:\n{log}");
}
