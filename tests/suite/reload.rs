//! Hot reload and restarts with real files and real `taskbox serve`
//! processes, on both deployments: a rebuilt plugin serves within a second,
//! a run in flight finishes on the version it started with, a broken file
//! keeps the old version serving, a removed file is unloaded; and an
//! embedded server restarts with its schedules intact.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

use crate::support::*;

fn serve(d: &Deployment, plugins: &PluginDir) -> Server {
    let mut env = d.serve_env();
    env.push(("TASKBOX_PLUGIN_DIR", plugins.path().display().to_string()));
    env.push(("TASKBOX_CACHE_DIR", plugins.cache.path().display().to_string()));
    Server::start(&env)
}

/// Replaces a plugin file the way a build tool does: write beside, rename over.
fn install(plugins: &PluginDir, example: &str, as_name: &str) {
    let tmp = plugins.path().join(format!(".{as_name}.wasm.tmp"));
    std::fs::copy(crate::support::built_plugin(example), &tmp).unwrap();
    std::fs::rename(&tmp, plugins.path().join(format!("{as_name}.wasm"))).unwrap();
}

async fn digest(server: &Server, name: &str) -> Option<String> {
    let (status, info) = server.get(&format!("/plugins/{name}")).await;
    (status == StatusCode::OK).then(|| info["digest"].as_str().unwrap_or_default().to_owned())
}

/// The config answers of `ids`, in order.
async fn configs(server: &Server, ids: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    for id in ids {
        out.push(server.get(&format!("/configs/{id}")).await.1);
    }
    out
}

async fn history_events(server: &Server, config_id: &str) -> Vec<String> {
    let (_, history) = server.get(&format!("/schedules/{config_id}/history")).await;
    history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "plugin")
        .map(|e| e["message"].to_string())
        .collect()
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilt_plugin_serves_within_a_second_and_a_broken_or_removed_one_is_handled(d) {
    let plugins = PluginDir::new();
    plugins.add("echo", "job");
    let server = serve(&d, &plugins);
    let (status, config) = server
        .post("/configs", json!({"name": "c", "task_type": "job", "scheduler_type": "cron",
            "schedule_config": {"cron_expression": "0 3 * * *"}, "parameters": {"n": 30}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{config}");
    let id = config["id"].as_str().unwrap().to_owned();
    assert_eq!(server.post(&format!("/schedules/{id}/start"), json!({})).await.0, StatusCode::OK);
    assert_eq!(digest(&server, "job").await, Some(digest_of("echo")));

    // Rebuilt: another component lands under the same name.
    install(&plugins, "fib", "job");
    let fib = digest_of("fib");
    let took = eventually("the new digest serving", Duration::from_secs(1), || async {
            digest(&server, "job").await.as_ref() == Some(&fib)
        })
        .await;
    eprintln!("reload (compile) seen after {took:?}");
    let r = server.run_and_wait(&id, Duration::from_secs(20)).await;
    assert_eq!(r["plugin_digest"], fib.as_str(), "{r}");
    assert!(r["is_success"].as_bool().unwrap(), "{r}");
    let events = history_events(&server, &id).await;
    assert!(events.iter().any(|e| e.contains("reloaded")), "{events:?}");

    // Broken: the old version keeps serving, and the error is visible.
    std::fs::write(plugins.path().join("job.wasm"), b"not wasm any more").unwrap();
    eventually("the load error visible", Duration::from_secs(2), || async {
            server.get("/plugins/job").await.1["error"].is_string()
        })
        .await;
    let (_, info) = server.get("/plugins/job").await;
    assert_eq!(info["digest"], fib.as_str(), "{info}");
    assert!(info["error"].as_str().unwrap().contains("not a valid WebAssembly component"), "{info}");
    assert_eq!(server.run_and_wait(&id, Duration::from_secs(20)).await["plugin_digest"], fib.as_str());
    assert!(history_events(&server, &id).await.iter().any(|e| e.contains("failed to load")));

    // Removed: unloaded; runs fail saying why; the schedule is kept.
    std::fs::remove_file(plugins.path().join("job.wasm")).unwrap();
    eventually("the plugin gone", Duration::from_secs(2), || async {
            server.get("/plugins/job").await.0 == StatusCode::NOT_FOUND
        })
        .await;
    let r = server.run_and_wait(&id, Duration::from_secs(20)).await;
    assert_eq!(r["is_success"], false);
    assert!(r["error_message"].as_str().unwrap().contains("unknown task type \"job\""), "{r}");
    let (_, config) = server.get(&format!("/configs/{id}")).await;
    assert_eq!(config["schedule_status"], "active", "{config}");
    assert!(history_events(&server, &id).await.iter().any(|e| e.contains("removed")));

    // Back again, from the artifact cache this time; and an explicit rescan.
    install(&plugins, "echo", "job");
    let echo = digest_of("echo");
    eventually("the plugin back", Duration::from_secs(1), || async {
            digest(&server, "job").await.as_ref() == Some(&echo)
        })
        .await;
    plugins.add("echo", "extra");
    let (status, list) = server.post("/plugins/reload", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.as_array().unwrap().iter().any(|p| p["name"] == "extra"), "{list}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_in_flight_finishes_on_the_version_it_started_with(d) {
    let plugins = PluginDir::new();
    plugins.add("sleep", "slow");
    let server = serve(&d, &plugins);
    let (_, config) = server
        .post("/configs", json!({"name": "s", "task_type": "slow", "scheduler_type": "manual",
            "parameters": {"ms": 1500}}))
        .await;
    let id = config["id"].as_str().unwrap().to_owned();
    let (_, queued) = server.post(&format!("/configs/{id}/run"), json!({})).await;
    let execution_id = queued["execution_id"].as_str().unwrap().to_owned();
    eventually("the run in flight", Duration::from_secs(10), || async { d.held().await > 0 }).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    install(&plugins, "echo", "slow");
    let echo = digest_of("echo");
    eventually("the new digest serving", Duration::from_secs(1), || async {
            digest(&server, "slow").await.as_ref() == Some(&echo)
        })
        .await;
    let old = server.record_of(&execution_id, Duration::from_secs(20)).await;
    assert_eq!(old["plugin_digest"], digest_of("sleep").as_str(), "{old}");
    assert!(old["is_success"].as_bool().unwrap(), "{old}");
    assert!(old["duration_seconds"].as_f64().unwrap() >= 1.4, "it slept on the old version: {old}");
    let new = server.run_and_wait(&id, Duration::from_secs(20)).await;
    assert_eq!(new["plugin_digest"], echo.as_str(), "{new}");
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_server_restarts_with_paused_active_and_date_schedules_intact() {
    let d = Deployment::new(Kind::Embedded).await;
    let plugins = PluginDir::new();
    plugins.add("echo", "echo");
    let mut server = serve(&d, &plugins);
    let create = |name: &str, scheduler: &str, schedule: Value| json!({"name": name, "task_type": "echo", "scheduler_type": scheduler, "schedule_config": schedule});
    let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let mut ids = Vec::new();
    for body in [
        create("active", "cron", json!({"cron_expression": "* * * * * *"})),
        create("paused", "cron", json!({"cron_expression": "* * * * * *"})),
        create("later", "date", json!({"run_date": in_an_hour})),
    ] {
        let (status, c) = server.post("/configs?auto_start=true", body).await;
        assert_eq!(status, StatusCode::CREATED, "{c}");
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    let (status, manual) = server.post("/configs", create("by-hand", "manual", json!({}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let manual = manual["id"].as_str().unwrap().to_owned();
    assert_eq!(server.post(&format!("/schedules/{}/pause", ids[1]), json!({})).await.0, StatusCode::OK);
    let queued = server.post(&format!("/configs/{manual}/run"), json!({})).await.1;
    server.record_of(queued["execution_id"].as_str().unwrap(), Duration::from_secs(20)).await;
    let before = configs(&server, &ids).await;

    server.kill(); // a crash, not a clean stop
    let server = serve(&d, &plugins);
    let statuses = configs(&server, &ids).await;
    assert_eq!(statuses[0]["schedule_status"], "active");
    assert_eq!(statuses[1]["schedule_status"], "paused", "{}", statuses[1]);
    assert_eq!(statuses[1]["is_scheduled"], false);
    assert_eq!(statuses[2]["schedule_status"], "active");
    assert_eq!(statuses[2]["next_run"], before[2]["next_run"], "the date schedule keeps its time");
    assert!(statuses.iter().all(|c| c["status_consistent"] == true), "{statuses:?}");
    let (_, by_hand) = server.get(&format!("/executions?config_id={manual}")).await;
    assert_eq!(by_hand["total"], 1, "records survive");
    // The active schedule goes on firing after the restart.
    let after_restart = chrono::Utc::now();
    eventually("a tick after the restart", Duration::from_secs(10), || async {
        let (_, list) = server.get(&format!("/executions?config_id={}&limit=1", ids[0])).await;
        list["items"][0]["started_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t > after_restart)
    })
    .await;
}
