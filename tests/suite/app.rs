//! The [`Application`] in-process, as `taskbox serve` runs it: built on
//! port 0 from settings alone, every role running, stopped by its shutdown
//! signal. (The binary itself is tested in `worker.rs` and `api.rs`.)

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use taskbox::app::Application;
use taskbox::settings::Settings;
use tokio::sync::watch;

use crate::helpers::PluginDir;

const TOKEN: &str = "in-process-admin-token";

/// Settings for the deployment `d`, as its environment would give them.
fn settings(d: &crate::deploy::Deployment, plugins: &PluginDir) -> Settings {
    let env: std::collections::HashMap<_, _> = d.serve_env().into_iter().collect();
    Settings {
        database_url: d.database_url.clone(),
        redis_url: env.get("TASKBOX_REDIS_URL").cloned(),
        redis_prefix: env.get("TASKBOX_REDIS_PREFIX").cloned().unwrap_or_else(|| "taskbox:".into()),
        plugin_dir: plugins.path().to_owned(),
        cache_dir: Some(plugins.cache.path().to_owned()),
        bind: "127.0.0.1:0".parse().unwrap(),
        admin_token: Some(TOKEN.into()),
        worker_concurrency: 4,
        shutdown_grace_seconds: 5,
        secret_key_file: std::env::temp_dir().join("taskbox-tests.key"),
        ..Settings::default()
    }
}

async fn records(client: &Client, api: &str, config_id: &str) -> Vec<Value> {
    let url = format!("{api}/executions?config_id={config_id}");
    let list: Value = client.get(url).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    list["items"].as_array().cloned().unwrap_or_default()
}

async fn until(what: &str, within: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done().await {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_runs_in_process_on_port_zero_and_stops_on_its_signal(d) {
    let plugins = PluginDir::new();
    plugins.add("echo", "echo");
    let app = Application::build(settings(&d, &plugins)).await.expect("the application builds");
    let addr = app.address().expect("the api role binds");
    assert_ne!(addr.port(), 0, "port 0 is resolved to the real port");
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(app.run_until_stopped(shutdown));
    let (client, api) = (Client::new(), format!("http://{addr}/api/v1"));
    until("the API answers", Duration::from_secs(10), async || {
        client.get(format!("{api}/system/health")).send().await.is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;

    // The API, the scheduler and the worker of this one process: a
    // per-second cron config fires and its runs are recorded.
    let created = client
        .post(format!("{api}/configs?auto_start=true"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "tick", "task_type": "echo", "scheduler_type": "cron",
            "schedule_config": {"cron_expression": "* * * * * *"}, "parameters": {"n": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    until("a fired run is recorded", Duration::from_secs(5), async || {
        records(&client, &api, &id).await.iter().any(|r| r["is_success"] == true && r["trigger"] == "cron")
    })
    .await;

    // The shutdown signal stops every loop: the API, the fire loop, the
    // worker, the watcher and the local history sweep.
    stop.send(true).unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(10), running).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "run_until_stopped returns after the signal: {stopped:?}");
    assert!(client.get(format!("{api}/system/health")).send().await.is_err(), "the port is closed");
}
}
