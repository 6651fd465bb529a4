//! Workflows through the API, on both deployments: outputs flow down a
//! chain, a fan-out joins in order, a failure skips what depends on it and
//! fails the run once, a cancel stops what is queued and running, a retry
//! reuses what succeeded, bad definitions are refused, and progress is
//! exactly once when a process is killed mid-run.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

use crate::support::*;

const WITHIN: Duration = Duration::from_secs(30);

/// A manual workflow config with these steps.
fn workflow(name: &str, steps: Value) -> Value {
    json!({"name": name, "scheduler_type": "manual", "workflow": {"steps": steps}})
}

/// Runs config `id` and answers the workflow run's execution id.
async fn start(api: &Api, id: &str) -> String {
    api.run(id).await
}

/// `GET /workflow-runs/{id}` once it has ended (waited for up to `within`).
async fn ended(api: &Api, id: &str, within: Duration) -> Value {
    let found = std::cell::RefCell::new(Value::Null);
    eventually(&format!("workflow run {id} ends"), within, || async {
        let (status, run) = api.get(&format!("/workflow-runs/{id}")).await;
        let done = status == StatusCode::OK && run["status"] != "running";
        *found.borrow_mut() = run;
        done
    })
    .await;
    found.into_inner()
}

fn step<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("{name}: {run}"))
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_passes_each_result_to_the_next(d) {
    let app = spawn_app_plugins(d, &["echo", "wc"]).await;
    let id = app.create_id(workflow("chain", json!([
        {"name": "make", "task_type": "echo", "parameters": {"text": "to be\nor not"}},
        {"name": "count", "task_type": "wc", "parents": ["make"]},
        {"name": "report", "task_type": "echo", "parents": ["make", "count"], "parameters": {"label": "x"}},
    ]))).await;
    let run_id = start(&app, &id).await;
    let run = ended(&app, &run_id, WITHIN).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let counts = json!({"lines": 2, "words": 4, "chars": 12});
    assert_eq!(step(&run, "count")["runs"][0]["result"], counts, "wc got echo's result as its params");
    let want = json!({"label": "x", "make": {"text": "to be\nor not"}, "count": counts});
    assert_eq!(run["result"], want, "the last step's result is the run's");
    for name in ["make", "count", "report"] {
        let s = step(&run, name);
        assert_eq!(s["status"], "succeeded", "{s}");
        assert_eq!(s["runs"].as_array().unwrap().len(), 1, "{s}");
        assert_eq!(s["runs"][0]["workflow_execution_id"], run_id.as_str());
        assert_eq!(s["runs"][0]["step"], name);
    }
    let (_, steps) = app.get(&format!("/executions?workflow_execution_id={run_id}")).await;
    assert_eq!(steps["total"], 3, "{steps}");
    // The run has one record of its own, and counts once.
    let record = app.record_of(&run_id, WITHIN).await;
    assert_eq!((record["is_success"].as_bool(), record["step"].is_null()), (Some(true), true), "{record}");
    assert_eq!(record["result"], want);
    let (_, stats) = app.get(&format!("/executions/stats?config_id={id}")).await;
    assert_eq!((stats["total"].as_i64(), stats["successes"].as_i64()), (Some(1), Some(1)), "{stats}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_over_20_elements_joins_in_order(d) {
    let app = spawn_app_plugins(d, &["echo", "wc", "lines"]).await;
    let text: Vec<String> = (1..=20).map(|n| vec!["w"; n].join(" ")).collect();
    let id = app.create_id(workflow("fan", json!([
        {"name": "split", "task_type": "lines", "parameters": {"text": text.join("\n")}},
        {"name": "count", "task_type": "wc", "parents": ["split"], "for_each": true},
        {"name": "join", "task_type": "echo", "parents": ["count"]},
    ]))).await;
    let run_id = start(&app, &id).await;
    let run = ended(&app, &run_id, WITHIN).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let words: Vec<i64> = run["result"].as_array().unwrap().iter().map(|r| r["words"].as_i64().unwrap()).collect();
    assert_eq!(words, (1..=20).collect::<Vec<i64>>(), "the join got the elements' results in order");
    let count = step(&run, "count");
    assert_eq!(count["runs"].as_array().unwrap().len(), 20, "{count}");
    let indexes: Vec<i64> = count["runs"].as_array().unwrap().iter().map(|r| r["step_index"].as_i64().unwrap()).collect();
    assert_eq!(indexes, (0..20).collect::<Vec<i64>>());
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_skips_its_descendants_and_fails_the_run_once(d) {
    let app = spawn_app(d).await;
    let id = app.create_id(workflow("breaks", json!([
        {"name": "a", "task_type": "echo"},
        {"name": "b", "task_type": "fail", "parents": ["a"], "parameters": {"message": "b broke"}, "max_retries": 1},
        {"name": "c", "task_type": "echo", "parents": ["b"]},
        {"name": "side", "task_type": "sleep", "parents": ["a"], "parameters": {"ms": 300}},
    ]))).await;
    let run_id = start(&app, &id).await;
    let run = ended(&app, &run_id, WITHIN).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run["error_message"].as_str().unwrap().contains("step \"b\" failed: b broke"), "{run}");
    assert_eq!(step(&run, "b")["status"], "failed");
    assert_eq!(step(&run, "b")["runs"].as_array().unwrap().len(), 2, "b was retried once");
    assert_eq!(step(&run, "c")["status"], "skipped");
    assert!(step(&run, "c")["runs"].as_array().unwrap().is_empty());
    assert_eq!(step(&run, "side")["status"], "succeeded", "a step already running finishes");
    // The run's own record is committed after its state says it ended.
    let record = app.record_of(&run_id, WITHIN).await;
    assert_eq!(record["is_success"], false);
    let (_, stats) = app.get(&format!("/executions/stats?config_id={id}")).await;
    assert_eq!((stats["total"].as_i64(), stats["failures"].as_i64()), (Some(1), Some(1)), "{stats}");
    // A step run replays alone; the workflow run itself is retried instead.
    let b_run = step(&run, "b")["runs"][0]["id"].as_i64().unwrap();
    let (status, replayed) = app.post(&format!("/executions/{b_run}/replay"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replayed}");
    let replay = app.record_of(replayed["execution_id"].as_str().unwrap(), WITHIN).await;
    assert_eq!((replay["task_type"].as_str(), replay["step"].as_str()), (Some("fail"), None), "{replay}");
    let (status, refused) = app.post(&format!("/executions/{run_id}/replay"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("/retry"), "{refused}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_queued_and_running_steps(d) {
    let app = spawn_app(d).await;
    let id = app.create_id(workflow("long", json!([
        {"name": "slow", "task_type": "sleep", "parameters": {"ms": 30000}},
        {"name": "also", "task_type": "sleep", "parameters": {"ms": 30000}},
        {"name": "after", "task_type": "echo", "parents": ["slow"]},
    ]))).await;
    let run_id = start(&app, &id).await;
    eventually("the slow steps run", WITHIN, || async {
        let (_, run) = app.get(&format!("/workflow-runs/{run_id}")).await;
        step(&run, "slow")["status"] == "running" && step(&run, "also")["status"] == "running"
    })
    .await;
    let (_, run) = app.get(&format!("/workflow-runs/{run_id}")).await;
    assert_eq!(step(&run, "after")["status"], "waiting");
    let (status, cancelled) = app.post(&format!("/executions/{run_id}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{cancelled}");
    let run = ended(&app, &run_id, Duration::from_secs(15)).await;
    assert_eq!(run["status"], "cancelled", "{run}");
    for name in ["slow", "also", "after"] {
        assert_eq!(step(&run, name)["status"], "cancelled", "{run}");
    }
    assert!(step(&run, "slow")["runs"][0]["cancelled_by"].is_string(), "{run}");
    assert!(step(&run, "after")["runs"].as_array().unwrap().is_empty(), "after never ran");
    let record = app.record_of(&run_id, WITHIN).await;
    assert_eq!((record["is_success"].as_bool(), record["cancelled_by"].is_string()), (Some(false), true));
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_reuses_the_steps_that_succeeded(d) {
    let app = spawn_app(d).await;
    // `flaky` fails until a new version (echo) is uploaded under its name.
    let (status, body) = app.upload("flaky", std::fs::read(built_plugin("fail")).unwrap(), None).await;
    assert!(status.is_success(), "{body}");
    let id = app.create_id(workflow("retry", json!([
        {"name": "first", "task_type": "echo", "parameters": {"n": 1}},
        {"name": "second", "task_type": "flaky", "parents": ["first"]},
    ]))).await;
    let failed_id = start(&app, &id).await;
    let failed = ended(&app, &failed_id, WITHIN).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let (status, refused) = app.post(&format!("/workflow-runs/{}/retry", Uuid::new_v4()), json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");

    let (status, body) = app.upload("flaky", std::fs::read(built_plugin("echo")).unwrap(), None).await;
    assert!(status.is_success(), "{body}");
    let (status, retried) = app.post(&format!("/workflow-runs/{failed_id}/retry"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retried}");
    let retry_id = retried["execution_id"].as_str().unwrap();
    let run = ended(&app, retry_id, WITHIN).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["retry_of"], failed_id.as_str());
    let first = step(&run, "first");
    assert_eq!((first["reused"].as_bool(), first["status"].as_str()), (Some(true), Some("succeeded")));
    assert_eq!(first["runs"][0]["workflow_execution_id"], failed_id.as_str(), "the earlier run's record");
    assert_eq!(run["result"], json!({"n": 1}), "second got first's earlier output");
    let (_, steps) = app.get(&format!("/executions?workflow_execution_id={retry_id}")).await;
    assert_eq!(steps["total"], 1, "only the failed step ran again: {steps}");
    let (status, again) = app.post(&format!("/workflow-runs/{retry_id}/retry"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "a run that succeeded is not retried: {again}");
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_definitions_are_refused_naming_the_step_and_store_nothing() {
    let app = spawn_app(Deployment::new(Kind::Embedded).await).await;
    let many: Vec<Value> = (0..101).map(|i| json!({"name": format!("s{i}"), "task_type": "echo"})).collect();
    let cases = [
        (json!([{"name": "a", "task_type": "nope"}]), "unknown task type"),
        (json!([{"name": "a", "task_type": "echo", "parents": ["ghost"]}]), "unknown parent \"ghost\""),
        (
            json!([{"name": "a", "task_type": "echo", "parents": ["b"]}, {"name": "b", "task_type": "echo", "parents": ["a"]}]),
            "cycle",
        ),
        (
            json!([{"name": "a", "task_type": "echo"}, {"name": "a", "task_type": "echo"}]),
            "two steps are named \"a\"",
        ),
        (json!(many), "1 to 100 steps"),
        (json!([{"name": "a", "task_type": "echo", "for_each": true}]), "exactly one parent"),
        (
            json!([{"name": "a", "task_type": "echo"}, {"name": "b", "task_type": "echo", "parents": ["a"], "parameters": {"a": 1}}]),
            "a parent's name",
        ),
        (
            json!([{"name": "a", "task_type": "echo", "timeout_seconds": 0}]),
            "workflow.steps[0].timeout_seconds",
        ),
        (json!([]), "1 to 100 steps"),
    ];
    for (steps, words) in cases {
        let (status, body) = app.post("/configs", workflow("bad", steps.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{steps}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(words), "{steps}: {body}");
    }
    let both = json!({"name": "both", "task_type": "echo", "scheduler_type": "manual",
        "workflow": {"steps": [{"name": "a", "task_type": "echo"}]}});
    let (status, body) = app.post("/configs", both).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let neither = json!({"name": "neither", "scheduler_type": "manual"});
    let (status, body) = app.post("/configs", neither).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, configs) = app.get("/configs").await;
    assert_eq!(configs["total"], 0, "nothing was stored: {configs}");
    let (status, _) = app.get(&format!("/workflow-runs/{}", Uuid::new_v4())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The document describes the new shapes.
    let doc: Value =
        app.client.get(app.root_url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["paths"]["/api/v1/workflow-runs/{execution_id}"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/workflow-runs/{execution_id}/retry"]["post"].is_object());
    for schema in ["Workflow", "Step", "WorkflowRunView", "StepView", "StepStatus", "WorkflowStatus"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    assert!(doc["components"]["schemas"]["NewConfig"]["properties"]["workflow"].is_object());
}

/// The processes of a deployment that run the crash test: on the
/// distributed one an API with the scheduler and two workers; on the
/// embedded one a single process.
fn crash_fleet(d: &Deployment) -> Fleet {
    Fleet::start(d, PluginDir::with(&["echo", "sleep"]), 2, &[("TASKBOX_WORKER_CONCURRENCY", "4".into())])
}

/// A fan-out of 16 runs of 1.5 s each, and a join.
fn crash_workflow() -> Value {
    let items: Vec<Value> = (0..16).map(|i| json!({"ms": 1500, "i": i})).collect();
    workflow(
        "crash",
        json!([
            {"name": "list", "task_type": "sleep", "parameters": {"ms": 10, "split": items}},
            {"name": "work", "task_type": "sleep", "parents": ["list"], "for_each": true},
            {"name": "join", "task_type": "echo", "parents": ["work"]},
        ]),
    )
}

/// Every step run of `run_id` succeeded exactly once, and none was queued twice.
async fn exactly_once(api: &Api, run_id: &str) {
    let (_, list) = api.get(&format!("/executions?workflow_execution_id={run_id}&limit=500")).await;
    let mut successes: HashMap<(String, i64), usize> = HashMap::new();
    let mut ids: HashMap<String, (String, i64)> = HashMap::new();
    for r in list["items"].as_array().unwrap() {
        let key = (r["step"].as_str().unwrap().to_owned(), r["step_index"].as_i64().unwrap_or(-1));
        if r["is_success"] == true {
            *successes.entry(key.clone()).or_default() += 1;
        }
        let previous = ids.insert(r["execution_id"].as_str().unwrap().to_owned(), key.clone());
        assert!(previous.is_none_or(|p| p == key), "one execution id per step run");
    }
    assert_eq!(successes.len(), 18, "list, 16 elements and join: {successes:?}");
    assert!(successes.values().all(|n| *n == 1), "each succeeded exactly once: {successes:?}");
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_run_leaves_every_step_succeeded_exactly_once(d) {
    let mut fleet = crash_fleet(&d);
    let id = fleet.api.create_id(crash_workflow()).await;
    let run_id = fleet.api.run(&id).await;
    eventually("the fan-out is under way", WITHIN, || async {
        let (_, run) = fleet.api.get(&format!("/workflow-runs/{run_id}")).await;
        run["steps"].as_array().is_some_and(|s| s.iter().any(|s| s["name"] == "work" && s["status"] == "running"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (api, survivor) = match d.kind {
        Kind::Distributed | Kind::Cluster => {
            // A worker dies holding runs (and perhaps the conductor).
            fleet.workers[0].kill();
            (fleet.api.api.clone(), &fleet.workers[1])
        }
        Kind::Embedded => {
            // The one process dies; another takes over its database.
            fleet.api.kill();
            fleet.api = serve(&d, &fleet.plugins, &[]);
            (fleet.api.api.clone(), &fleet.api)
        }
    };
    let run = ended(&api, &run_id, Duration::from_secs(90)).await;
    let took_over = survivor.log.lock().unwrap().iter().any(|l| l.contains("reclaiming a run from a worker that stopped"));
    assert!(took_over, "the kill cut off runs in flight, which another worker took over");
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["result"].as_array().map(Vec::len), Some(16), "{run}");
    exactly_once(&api, &run_id).await;
    let (_, records) = api.get(&format!("/executions?config_id={id}&limit=500")).await;
    let own = records["items"].as_array().unwrap().iter().filter(|r| r["step"].is_null()).count();
    assert_eq!(own, 1, "the workflow run has one record of its own");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_workflow_is_one_run_to_its_overlap_policy(d) {
    let app = spawn_app(d).await;
    let (status, config) = app.post("/configs?auto_start=true", json!({"name": "tick", "scheduler_type": "cron",
        "schedule_config": {"cron_expression": "* * * * * *"}, "concurrency": "forbid",
        "workflow": {"steps": [
            {"name": "first", "task_type": "sleep", "parameters": {"ms": 1200}},
            {"name": "second", "task_type": "sleep", "parents": ["first"], "parameters": {"ms": 1200}},
        ]}})).await;
    assert_eq!(status, StatusCode::CREATED, "{config}");
    let id = config["id"].as_str().unwrap();
    let own = || async {
        let items = app.records(id).await;
        items.into_iter().filter(|r| r["step"].is_null()).collect::<Vec<_>>()
    };
    eventually("two workflow runs of the cron schedule", WITHIN, || async { own().await.len() >= 2 }).await;
    app.post(&format!("/schedules/{id}/stop"), json!({})).await;
    let at = |r: &Value, k: &str| chrono::DateTime::parse_from_rfc3339(r[k].as_str().unwrap()).unwrap();
    let mut runs = own().await;
    runs.sort_by_key(|r| at(r, "started_at"));
    for r in &runs {
        assert_eq!((r["trigger"].as_str(), r["is_success"].as_bool()), (Some("cron"), Some(true)), "{r}");
    }
    for pair in runs.windows(2) {
        assert!(at(&pair[1], "started_at") >= at(&pair[0], "completed_at"), "no overlap: {pair:?}");
    }
    let history = app.history(id).await;
    assert!(history.iter().any(|e| e["event"] == "skipped"), "ticks skipped while a workflow run was in flight");
    let (_, steps) = app.get(&format!("/executions?workflow_execution_id={}", runs[0]["execution_id"].as_str().unwrap())).await;
    assert_eq!(steps["total"], 2, "{steps}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_workflow_run_notifies_once(d) {
    let (url, received) = crate::operators::notifications::webhook(200).await;
    let f = Fleet::start(&d, PluginDir::with(&["fail", "echo"]), 1, &[("TASKBOX_NOTIFY_ALLOWED_HOSTS", url.clone())]);
    let mut config = workflow("watched", json!([
        {"name": "a", "task_type": "fail", "max_retries": 1},
        {"name": "b", "task_type": "fail"},
        {"name": "c", "task_type": "echo", "parents": ["a", "b"]},
    ]));
    config["notify"] = json!({"url": format!("{url}/hook"), "on": "failure"});
    let id = f.api.create_id(config).await;
    let run_id = f.api.run(&id).await;
    assert_eq!(ended(&f.api, &run_id, WITHIN).await["status"], "failed");
    eventually("the failure is notified", Duration::from_secs(10), || async { !received.lock().unwrap().is_empty() })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one notice for the workflow run, none for its three failed step runs");
    let body: Value = serde_json::from_slice(&got[0].1).unwrap();
    assert!(body.to_string().contains(&run_id), "{body}");
}
}
