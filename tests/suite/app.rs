//! The [`Application`] in-process, as `taskbox serve` runs it: built on
//! port 0 from settings alone, every role running, stopped by its shutdown
//! signal. (The binary itself is tested in `worker.rs` and `api.rs`.)

use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use taskbox::server::Application;
use tokio::sync::watch;

use crate::support::*;

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_runs_in_process_on_port_zero_and_stops_on_its_signal(d) {
    let plugins = PluginDir::new();
    plugins.add("echo", "echo");
    let app = Application::build(crate::support::app::settings(&d, &plugins)).await.expect("the application builds");
    let addr = app.address().expect("the api role binds");
    assert_ne!(addr.port(), 0, "port 0 is resolved to the real port");
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(app.run_until_stopped(shutdown));
    let api = Api::new(format!("http://{addr}/api/v1"), TOKEN);
    eventually("the API answers", Duration::from_secs(10), || async {
        api.client.get(api.url("/system/health")).send().await.is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;

    // The API, the scheduler and the worker of this one process: a
    // per-second cron config fires and its runs are recorded.
    let (status, created) = api
        .post("/configs?auto_start=true", json!({"name": "tick", "task_type": "echo", "scheduler_type": "cron",
            "schedule_config": {"cron_expression": "* * * * * *"}, "parameters": {"n": 1}}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().unwrap().to_owned();
    eventually("a fired run is recorded", Duration::from_secs(5), || async {
        api.records(&id).await.iter().any(|r| r["is_success"] == true && r["trigger"] == "cron")
    })
    .await;

    // The shutdown signal stops every loop: the API, the fire loop, the
    // worker, the watcher and the local history sweep.
    stop.send(true).unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(10), running).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "run_until_stopped returns after the signal: {stopped:?}");
    assert!(api.client.get(api.url("/system/health")).send().await.is_err(), "the port is closed");
}
}
