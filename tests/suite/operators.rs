//! What operators ask of a scheduler, black-box on both deployments with
//! real `taskbox serve` processes: cancel (queued and running, across
//! processes, CPU-bound and blocked in a host call, and on config delete),
//! concurrency limits fleet-wide (a config's and a task type's, through a
//! worker crash), the overlap policies `buffer_one` and `replace`, jitter,
//! tags with bulk actions, pause until, and signed failure notifications
//! received by a local HTTP server.

use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::deploy::{Deployment, Kind};
use crate::helpers::{PluginDir, Server, serve, serve_worker};

/// The processes of one deployment: the API (with the scheduler), and on
/// the distributed one `workers` more processes that only work (the API's
/// process works too on the embedded one, which is one process).
struct Fleet {
    api: Server,
    workers: Vec<Server>,
    plugins: PluginDir,
}

fn fleet(d: &Deployment, plugins: PluginDir, workers: usize, extra: &[(&'static str, String)]) -> Fleet {
    match d.kind {
        Kind::Distributed => {
            let mut env = extra.to_vec();
            env.push(("TASKBOX_ROLES", "api,scheduler".into()));
            let api = serve(d, &plugins, &env);
            let workers = (0..workers).map(|_| serve_worker(d, &plugins, extra)).collect();
            Fleet { api, workers, plugins }
        }
        Kind::Embedded => Fleet { api: serve(d, &plugins, extra), workers: Vec::new(), plugins },
    }
}

fn plugins(examples: &[&str]) -> PluginDir {
    let dir = PluginDir::new();
    for example in examples {
        dir.add(example, example);
    }
    dir
}

async fn create(server: &Server, body: Value) -> String {
    let (status, config) = server.post("/configs", body).await;
    assert_eq!(status, StatusCode::CREATED, "{config}");
    config["id"].as_str().unwrap().to_owned()
}

async fn queue(server: &Server, id: &str) -> String {
    let (status, queued) = server.post(&format!("/configs/{id}/run"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    queued["execution_id"].as_str().unwrap().to_owned()
}

async fn records(server: &Server, config: &str) -> Vec<Value> {
    let (status, list) = server.get(&format!("/executions?config_id={config}&limit=500")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["items"].as_array().unwrap().clone()
}

async fn record_of(server: &Server, execution_id: &str, within: Duration) -> Value {
    let start = Instant::now();
    loop {
        let (_, list) = server.get("/executions?limit=500").await;
        if let Some(r) = list["items"].as_array().unwrap().iter().find(|r| r["execution_id"] == execution_id)
        {
            return r.clone();
        }
        assert!(start.elapsed() < within, "no record of {execution_id} after {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn history(server: &Server, id: &str) -> Vec<Value> {
    let (status, events) = server.get(&format!("/schedules/{id}/history")).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    events.as_array().unwrap().clone()
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

/// The most runs of `records` that were running at one instant.
fn most_at_once(records: &[Value]) -> usize {
    let mut edges: Vec<(DateTime<Utc>, i32)> = Vec::new();
    for r in records {
        edges.push((time(&r["started_at"]), 1));
        edges.push((time(&r["completed_at"]), -1));
    }
    // An end before a start at the same instant: back to back is no overlap.
    edges.sort();
    let (mut now, mut most) = (0, 0);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    most as usize
}

/// Gives the workers time to take the queued runs (a claim waits at most
/// 100 ms; a second is room for a loaded machine).
async fn started() {
    tokio::time::sleep(Duration::from_millis(1000)).await;
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_removes_a_queued_run_and_stops_a_running_one_on_any_node(d) {
    let f = fleet(&d, plugins(&["sleep", "fib"]), 1, &[]);
    let api = &f.api;
    // One at a time: the second run waits in the queue.
    let sleeper = create(api, json!({"name": "sleeper", "task_type": "sleep", "scheduler_type": "manual",
        "parameters": {"ms": 60000}, "max_retries": 2, "max_concurrency": 1})).await;
    let running = queue(api, &sleeper).await;
    let waiting = queue(api, &sleeper).await;
    started().await;

    let (status, done) = api.post(&format!("/executions/{waiting}/cancel"), json!({})).await;
    assert_eq!((status, done["was"].as_str()), (StatusCode::ACCEPTED, Some("queued")), "{done}");
    let record = record_of(api, &waiting, Duration::from_secs(5)).await;
    assert_eq!((record["is_success"].as_bool(), record["error_message"].as_str()), (Some(false), Some("cancelled")));
    assert_eq!(record["cancelled_by"], "TASKBOX_ADMIN_TOKEN");
    assert_eq!(record["duration_seconds"], 0.0, "it never ran: {record}");

    // Blocked in a host call (a sleep), on the worker process.
    let asked = Instant::now();
    let (status, done) = api.post(&format!("/executions/{running}/cancel"), json!({})).await;
    assert_eq!((status, done["was"].as_str()), (StatusCode::ACCEPTED, Some("running")), "{done}");
    let record = record_of(api, &running, Duration::from_secs(5)).await;
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
    let fib = create(api, json!({"name": "fib", "task_type": "fib", "scheduler_type": "manual",
        "parameters": {"n": 45}})).await;
    let busy = queue(api, &fib).await;
    started().await;
    let asked = Instant::now();
    let (status, _) = api.post(&format!("/executions/{busy}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let record = record_of(api, &busy, Duration::from_secs(5)).await;
    assert_eq!(record["error_message"], "cancelled", "{record}");
    assert!(asked.elapsed() < Duration::from_millis(1500), "stopped after {:?}", asked.elapsed());

    let events = history(api, &sleeper).await;
    let cancelled = events.iter().filter(|e| e["event"] == "cancelled").count();
    assert_eq!(cancelled, 2, "each cancel is a history event: {events:?}");
    assert!(events.iter().any(|e| e["message"].as_str().unwrap().contains("TASKBOX_ADMIN_TOKEN")));

    // No retry follows a cancel, though retries were left.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(records(api, &sleeper).await.len(), 2, "one record per cancelled run, no retry");

    // Finished: 409; unknown: 404; and nothing changed.
    let (status, body) = api.post(&format!("/executions/{running}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = api.post(&format!("/executions/{}/cancel", uuid::Uuid::new_v4()), json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.post("/executions/not-a-run/cancel", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(records(api, &sleeper).await.len(), 2);
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_config_cancels_its_queued_runs(d) {
    let f = fleet(&d, plugins(&["sleep"]), 1, &[]);
    let api = &f.api;
    let id = create(api, json!({"name": "doomed", "task_type": "sleep", "scheduler_type": "manual",
        "parameters": {"ms": 1500}, "max_concurrency": 1})).await;
    for _ in 0..4 {
        queue(api, &id).await;
    }
    started().await;
    let (status, _) = api.call(reqwest::Method::DELETE, &format!("/configs/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The run in flight finishes; the three waiting never start.
    api.until("the queue is empty", Duration::from_secs(5), || async {
        api.get("/system/dashboard").await.1["queue_depth"] == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(api.get("/system/dashboard").await.1["queue_depth"], 0);
    let (_, all) = api.get("/executions?limit=500").await;
    assert!(all["total"].as_u64().unwrap() <= 1, "only the run in flight may have run: {all}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limit_holds_across_worker_processes(d) {
    // A task type whose sidecar allows two at once, beside a plain one.
    let dir = plugins(&["sleep"]);
    dir.add("sleep", "nap");
    dir.write("nap.toml", "max_concurrency = 2\n");
    let f = fleet(&d, dir, 2, &[]);
    let api = &f.api;
    let limited = create(api, json!({"name": "limited", "task_type": "sleep", "scheduler_type": "manual",
        "parameters": {"ms": 1000}, "max_concurrency": 3})).await;
    let (_, config) = api.get(&format!("/configs/{limited}")).await;
    assert_eq!(config["max_concurrency"], 3, "{config}");
    let naps: Vec<String> = futures::future::join_all((0..3).map(|i| {
        create(api, json!({"name": format!("nap{i}"), "task_type": "nap", "scheduler_type": "manual",
            "parameters": {"ms": 500}}))
    }))
    .await;
    for _ in 0..20 {
        queue(api, &limited).await;
    }
    for nap in &naps {
        for _ in 0..2 {
            queue(api, nap).await;
        }
    }
    api.until("all 20 runs complete", Duration::from_secs(60), || async {
        records(api, &limited).await.len() == 20
    })
    .await;
    let done = records(api, &limited).await;
    assert!(done.iter().all(|r| r["is_success"] == true), "{done:?}");
    let most = most_at_once(&done);
    assert!(most <= 3, "at most 3 at once, saw {most}");
    assert_eq!(most, 3, "the limit is a limit, not a queue of one");
    if d.kind == Kind::Distributed {
        let workers: std::collections::BTreeSet<&str> = done.iter().map(|r| r["worker"].as_str().unwrap()).collect();
        assert_eq!(workers.len(), 2, "both worker processes took runs: {workers:?}");
    }
    let mut naps_done = Vec::new();
    for nap in &naps {
        api.until("the naps complete", Duration::from_secs(30), || async { records(api, nap).await.len() == 2 }).await;
        naps_done.extend(records(api, nap).await);
    }
    let most = most_at_once(&naps_done);
    assert!(most <= 2, "the task type's limit of 2 holds across its configs, saw {most}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limit_holds_through_a_worker_crash(d) {
    let dir = plugins(&["sleep"]);
    let mut f = fleet(&d, dir, 1, &[]);
    let id = create(&f.api, json!({"name": "crashy", "task_type": "sleep", "scheduler_type": "manual",
        "parameters": {"ms": 1000}, "max_concurrency": 2})).await;
    for _ in 0..6 {
        queue(&f.api, &id).await;
    }
    started().await;
    // The process running the runs dies mid-run; another takes over.
    match d.kind {
        Kind::Distributed => {
            f.workers[0].kill();
            f.workers.push(serve_worker(&d, &f.plugins, &[]));
        }
        Kind::Embedded => {
            f.api.kill();
            f.api = serve(&d, &f.plugins, &[]);
        }
    }
    let api = &f.api;
    // Its held runs come back after its heartbeat lapses (10 s).
    api.until("all 6 runs complete", Duration::from_secs(60), || async {
        records(api, &id).await.len() == 6
    })
    .await;
    let done = records(api, &id).await;
    assert!(done.iter().all(|r| r["is_success"] == true), "{done:?}");
    assert!(most_at_once(&done) <= 2, "{done:?}");
    // A run the dead process recorded but never acknowledged is settled
    // once reclaimed: then nothing is left on the queue, no slot taken.
    api.until("no slot is left taken", Duration::from_secs(30), || async {
        api.get("/system/dashboard").await.1["queue_depth"] == 0
    })
    .await;
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_one_and_replace_overlap_policies(d) {
    let f = fleet(&d, plugins(&["sleep"]), 1, &[]);
    let api = &f.api;
    let every_second = json!({"cron_expression": "* * * * * *"});
    let buffered = create(api, json!({"name": "buffered", "task_type": "sleep", "scheduler_type": "cron",
        "schedule_config": every_second, "parameters": {"ms": 2500}, "concurrency": "buffer_one"})).await;
    let replaced = create(api, json!({"name": "replaced", "task_type": "sleep", "scheduler_type": "cron",
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
    let events = history(api, &buffered).await;
    let skipped = events.iter().filter(|e| e["event"] == "skipped").count();
    assert!(skipped >= 2, "later ticks are skipped: {events:?}");
    assert!(events.iter().any(|e| e["message"].as_str().unwrap().contains("buffer_one")), "{events:?}");
    api.until("the buffered runs finish", Duration::from_secs(15), || async {
        api.get("/system/dashboard").await.1["queue_depth"] == 0
    })
    .await;
    let done = records(api, &buffered).await;
    assert!(done.len() >= 2, "the buffered tick ran after the first: {done:?}");
    assert_eq!(most_at_once(&done), 1, "{done:?}");

    // replace: each tick cancels the run in flight and runs.
    let done = records(api, &replaced).await;
    let cancelled: Vec<&Value> = done.iter().filter(|r| r["cancelled_by"] == "concurrency=replace").collect();
    assert!(cancelled.len() >= 2, "{done:?}");
    assert!(cancelled.iter().all(|r| r["error_message"] == "cancelled"));
    assert_eq!(most_at_once(&done), 1, "the new tick waits for the replaced run to stop: {done:?}");
    let events = history(api, &replaced).await;
    assert!(events.iter().filter(|e| e["event"] == "replaced").count() >= 2, "{events:?}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitter_delays_each_tick_and_next_run_shows_it(d) {
    let f = fleet(&d, plugins(&["echo"]), 1, &[]);
    let api = &f.api;
    // A jitter as long as the interval would pass the next tick: refused.
    let (status, body) = api
        .post("/configs", json!({"name": "too", "task_type": "echo", "scheduler_type": "cron",
            "schedule_config": {"cron_expression": "*/2 * * * * *", "jitter_seconds": 2}}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("jitter_seconds"), "{body}");

    let id = create(api, json!({"name": "jittery", "task_type": "echo", "scheduler_type": "cron",
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
    let done = records(api, &id).await;
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

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_filter_lists_and_bulk_actions_act_per_config(d) {
    let f = fleet(&d, plugins(&["echo"]), 0, &[]);
    let api = &f.api;
    let cron = json!({"cron_expression": "0 0 * * *"});
    let mut billing = Vec::new();
    for i in 0..3 {
        billing.push(create(api, json!({"name": format!("bill{i}"), "task_type": "echo", "scheduler_type": "cron",
            "schedule_config": cron, "tags": ["billing", "nightly", "billing"]})).await);
    }
    let other = create(api, json!({"name": "other", "task_type": "echo", "scheduler_type": "cron",
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
    assert!(history(api, &billing[1]).await.iter().any(|e| e["event"] == "paused"));
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
    let f = fleet(&d, plugins(&["echo"]), 0, &[]);
    let api = &f.api;
    let id = create(api, json!({"name": "napping", "task_type": "echo", "scheduler_type": "cron",
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

    api.until("it resumes by itself", Duration::from_secs(10), || async {
        api.get(&format!("/configs/{id}")).await.1["schedule_status"] == "active"
    })
    .await;
    assert!(Utc::now() >= until);
    let (_, config) = api.get(&format!("/configs/{id}")).await;
    assert!(config["paused_until"].is_null() && config["status_consistent"] == true, "{config}");
    let events = history(api, &id).await;
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

/// What the local webhook received: headers and body of each POST.
type Received = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A local HTTP server that records every POST and answers `status`.
async fn webhook(status: u16) -> (String, Received) {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State((got, status)): State<(Received, u16)>,
                 headers: HeaderMap,
                 body: axum::body::Bytes| async move {
                    got.lock().unwrap().push((headers, body.to_vec()));
                    axum::http::StatusCode::from_u16(status).unwrap()
                },
            ),
        )
        .with_state((received.clone(), status));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://127.0.0.1:{}", addr.port()), received)
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_notifications_are_signed_retried_and_recorded(d) {
    let (good, received) = webhook(200).await;
    let (bad, bad_received) = webhook(503).await;
    let allowed = format!("{good},{bad}");
    let f = fleet(&d, plugins(&["fail", "echo"]), 1, &[("TASKBOX_NOTIFY_ALLOWED_HOSTS", allowed)]);
    let api = &f.api;
    let secret = "s3cret-webhook-key";
    let id = create(api, json!({"name": "watched", "task_type": "fail", "scheduler_type": "manual",
        "notify": {"url": format!("{good}/hook"), "on": "recovery", "secret": secret}})).await;

    // The secret is write-only.
    let (_, config) = api.get(&format!("/configs/{id}")).await;
    assert_eq!(config["notify"], json!({"url": format!("{good}/hook"), "on": "recovery", "secret_set": true}));
    let (_, list) = api.get("/configs").await;
    assert!(!list.to_string().contains(secret), "{list}");

    let failed = queue(api, &id).await;
    let record = record_of(api, &failed, Duration::from_secs(10)).await;
    api.until("the failure is notified", Duration::from_secs(10), || async { !received.lock().unwrap().is_empty() })
        .await;
    let (headers, body) = received.lock().unwrap()[0].clone();
    let signature = headers["x-taskbox-signature"].to_str().unwrap().to_owned();
    assert_eq!(signature, taskbox::notifier::signature(secret, &body), "a valid HMAC-SHA256 of the body");
    let document: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(document["event"], "failure");
    assert_eq!(document["config"]["id"], id.as_str());
    assert_eq!(document["execution"]["execution_id"], failed.as_str());
    assert_eq!(document["execution"]["is_success"], false);
    let link = document["links"]["execution"].as_str().unwrap();
    assert!(link.ends_with(&format!("/api/v1/executions/{}", record["id"])), "{link}");
    assert!(!String::from_utf8_lossy(&body).contains(secret));

    // The delivery is recorded with the run.
    let path = format!("/executions/{}", record["id"]);
    api.until("the delivery is recorded", Duration::from_secs(5), || async {
        api.get(&path).await.1["notifications"][0]["status"] == "delivered"
    })
    .await;
    let (_, run) = api.get(&path).await;
    let delivery = &run["notifications"][0];
    assert_eq!((delivery["attempts"].as_i64(), delivery["response_code"].as_i64()), (Some(1), Some(200)), "{run}");
    assert_eq!(delivery["event"], "failure");

    // The first success after a failure is a recovery; the next is not told.
    let (status, _) = api.call(reqwest::Method::PATCH, &format!("/configs/{id}"), Some(json!({"task_type": "echo"}))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, config) = api.get(&format!("/configs/{id}")).await;
    assert_eq!(config["notify"]["secret_set"], true, "a patch keeps the secret: {config}");
    let recovered = queue(api, &id).await;
    record_of(api, &recovered, Duration::from_secs(10)).await;
    api.until("the recovery is notified", Duration::from_secs(10), || async { received.lock().unwrap().len() == 2 })
        .await;
    let (_, body) = received.lock().unwrap()[1].clone();
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["event"], "recovery");
    let again = queue(api, &id).await;
    record_of(api, &again, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(received.lock().unwrap().len(), 2, "a success after a success is not told (on = recovery)");

    // A destination that answers 503 is retried with backoff.
    let retried = create(api, json!({"name": "retried", "task_type": "fail", "scheduler_type": "manual",
        "notify": {"url": format!("{bad}/hook")}})).await;
    let run = queue(api, &retried).await;
    let record = record_of(api, &run, Duration::from_secs(10)).await;
    let path = format!("/executions/{}", record["id"]);
    api.until("three attempts", Duration::from_secs(15), || async {
        api.get(&path).await.1["notifications"][0]["attempts"].as_i64() >= Some(3)
    })
    .await;
    let (_, view) = api.get(&path).await;
    assert_eq!(view["notifications"][0]["response_code"], 503, "{view}");
    assert!(bad_received.lock().unwrap().len() >= 3);
    assert!(bad_received.lock().unwrap()[0].0.get("x-taskbox-signature").is_none(), "no secret, no signature");

    // Private destinations the operator did not name: refused, not sent.
    for url in ["http://169.254.169.254/latest/meta-data/", &format!("{}/hook", good.replace("127.0.0.1", "localhost"))] {
        let name = format!("private-{}", url.len());
        let id = create(api, json!({"name": name, "task_type": "fail", "scheduler_type": "manual",
            "notify": {"url": url, "on": "always"}})).await;
        let run = queue(api, &id).await;
        let record = record_of(api, &run, Duration::from_secs(10)).await;
        let path = format!("/executions/{}", record["id"]);
        api.until("the refusal is recorded", Duration::from_secs(5), || async {
            api.get(&path).await.1["notifications"][0]["status"] == "refused"
        })
        .await;
        let (_, view) = api.get(&path).await;
        assert!(view["notifications"][0]["last_error"].as_str().unwrap().contains("private"), "{view}");
    }
    assert_eq!(received.lock().unwrap().len(), 2, "nothing more reached the webhook");

    // Misuse: 422.
    for notify in [json!({"url": "ftp://example.com/"}), json!({"url": "not a url"}), json!({"url": "https://x.example", "on": "sometimes"}),
        json!({"url": "https://x.example", "secret": ""})] {
        let (status, body) = api.post("/configs", json!({"name": "bad-notify", "task_type": "fail",
            "scheduler_type": "manual", "notify": notify})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
}
}
