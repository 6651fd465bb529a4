//! Worker groups: a config's (or its task type's) group sends its runs
//! only to workers that serve it; with none alive they wait, and every
//! answer says so.

use serde_json::json;
use std::time::Duration;

use crate::support::*;

fn groups(list: &str) -> (&'static str, String) {
    ("TASKBOX_WORKER_GROUPS", list.to_owned())
}

/// The group `name` as `/system/status` shows it.
async fn group(api: &Api, name: &str) -> serde_json::Value {
    let (_, status) = api.get("/system/status").await;
    status["worker_groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == name)
        .cloned()
        .unwrap_or_default()
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waits_for_a_worker_of_its_group_and_only_that_worker_takes_it(d) {
    let dir = PluginDir::with(&["echo", "sleep"]);
    // A task type whose sidecar sends its runs to the gpu group.
    dir.add("echo", "render");
    dir.write("render.toml", "worker_group = \"gpu\"\n");
    let mut f = Fleet::start(&d, dir, 1, &[]);
    let gpu = f.api.create_id(json!({"name": "train", "task_type": "echo", "scheduler_type": "manual",
        "worker_group": "gpu"})).await;
    let plain = f.api.create_id(json!({"name": "plain", "task_type": "echo", "scheduler_type": "manual"})).await;
    let by_type = f.api.create_id(json!({"name": "render", "task_type": "render", "scheduler_type": "manual"})).await;
    let (_, config) = f.api.get(&format!("/configs/{gpu}")).await;
    assert_eq!(config["worker_group"], "gpu", "{config}");

    // No worker serves gpu: the run is queued, and the answer says it waits.
    let (status, queued) = f.api.post(&format!("/configs/{gpu}/run"), json!({})).await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["waiting"], "waiting for a worker in group gpu", "{queued}");
    let (_, queued_by_type) = f.api.post(&format!("/configs/{by_type}/run"), json!({})).await;
    assert_eq!(queued_by_type["waiting"], "waiting for a worker in group gpu", "{queued_by_type}");
    let (_, plain_run) = f.api.post(&format!("/configs/{plain}/run"), json!({})).await;
    assert!(plain_run.get("waiting").is_none(), "a default worker is alive: {plain_run}");
    f.api.record_of(plain_run["execution_id"].as_str().unwrap(), Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(f.api.records(&gpu).await.is_empty(), "no gpu worker: nothing ran");
    assert!(f.api.records(&by_type).await.is_empty(), "no gpu worker: nothing ran");
    let waiting = group(&f.api, "gpu").await;
    assert_eq!(waiting["workers"], 0, "{waiting}");
    assert_eq!(waiting["queued"], 2, "{waiting}");
    assert!(waiting["oldest_queued_seconds"].as_f64().unwrap() >= 1.5, "{waiting}");
    let default = group(&f.api, "default").await;
    assert!(default["workers"].as_u64().unwrap() >= 1, "{default}");
    // The dashboard says so too.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let origin = f.api.root_url("");
    let (session, _) = crate::hardening::pages::log_in(&http, &origin).await;
    let page = http.get(format!("{origin}/ui/")).header("cookie", session).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains("waiting for a worker in group"), "{page}");

    // A worker of the group comes: it takes them (never dropped), and only
    // it: the default config's runs never reach it.
    let gpu_worker = match d.kind {
        Kind::Distributed | Kind::Cluster => {
            f.workers.push(serve_worker(&d, &f.plugins, &[groups("gpu")]));
            f.workers.last().unwrap().child.id()
        }
        Kind::Embedded => {
            // One process: it comes back serving both groups.
            f.api.kill();
            f.api = serve(&d, &f.plugins, &[groups("default,gpu")]);
            f.api.child.id()
        }
    };
    let api = &f.api;
    for id in [&gpu, &by_type] {
        eventually("the gpu runs complete", Duration::from_secs(30), || async { api.records(id).await.len() == 1 })
            .await;
    }
    let record = &api.records(&gpu).await[0];
    assert_eq!(record["is_success"], true, "{record}");
    if d.kind.on_redis() {
        let worker = record["worker"].as_str().unwrap();
        assert!(worker.contains(&format!("-{gpu_worker}-")), "the gpu worker ran it: {worker}");
        for _ in 0..5 {
            api.run(&plain).await;
        }
        eventually("the plain runs complete", Duration::from_secs(30), || async {
            api.records(&plain).await.len() == 6
        })
        .await;
        for r in api.records(&plain).await {
            let worker = r["worker"].as_str().unwrap();
            assert!(!worker.contains(&format!("-{gpu_worker}-")), "a gpu-only worker took a default run: {worker}");
        }
    }
    let served = group(api, "gpu").await;
    assert_eq!(served["workers"], 1, "{served}");
    assert_eq!(served["queued"], 0, "{served}");
    let (_, queued) = api.post(&format!("/configs/{gpu}/run"), json!({})).await;
    assert!(queued.get("waiting").is_none(), "a gpu worker is alive now: {queued}");
}
}

conformance! {
#[tokio::test]
async fn a_bad_worker_group_is_refused_and_changes_nothing(d) {
    let app = spawn_app(d).await;
    for bad in [json!("GPU"), json!(""), json!("a b"), json!("-x"), json!("x".repeat(65)), json!(7)] {
        let (status, body) = app.api.post("/configs", json!({"name": "bad", "task_type": "echo",
            "scheduler_type": "manual", "worker_group": bad})).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("worker_group"), "{body}");
    }
    let (_, list) = app.api.get("/configs").await;
    assert_eq!(list["total"], 0, "{list}");
    let id = app.api.create_id(json!({"name": "ok", "task_type": "echo", "scheduler_type": "manual",
        "worker_group": "eu-west_1"})).await;
    let (status, body) = app.api.call(reqwest::Method::PATCH, &format!("/configs/{id}"),
        Some(json!({"worker_group": "Nope"}))).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app.api.call(reqwest::Method::PATCH, &format!("/configs/{id}"),
        Some(json!({"worker_group": null}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["worker_group"], serde_json::Value::Null, "{body}");
}
}
