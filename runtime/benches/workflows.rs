//! Workflow overhead benchmark: what a workflow adds per step against the
//! same number of single runs, on both deployments, through the real
//! application (every role in one process, the shipped settings, the
//! example plugins), timed from the client's `POST /configs/{id}/run` to
//! the answer that shows it done (polled every 2 ms):
//!
//! 1. a chain of 10 trivial steps (`echo` → `echo` → …), against 10 single
//!    `echo` runs one after the other (each asked for when the previous
//!    is recorded): the time per step of each;
//!    and, inside the engine, a step's end to its child's start (the
//!    record's `started_at` minus its parent's `completed_at`);
//! 2. a fan-out of 1,000 (`lines` → `wc` for each line → `echo` join),
//!    against 1,000 single `wc` runs asked for at once (and `lines` and
//!    `echo` once each): the whole time, and per element.
//!
//! Run: `cargo xtask plugins && cargo bench -p taskbox --bench workflows`
//! (`-- --rounds N` chains per deployment, default 20; `--only embedded`
//! or `--only distributed`). PostgreSQL and Redis as for the suite
//! (`TASKBOX_TEST_DATABASE_URL`, `TASKBOX_TEST_REDIS_URL`).

mod common;

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use taskbox::server::Application;
use taskbox::server::settings::Settings;
use tokio::sync::watch;

const TOKEN: &str = "bench-token";

struct Node {
    base: String,
    client: reqwest::Client,
    stop: watch::Sender<bool>,
}

impl Node {
    /// The answer, which must be a success unless `may_miss` (then
    /// `None` for a 404: not there yet).
    async fn ask(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        may_miss: bool,
    ) -> Option<Value> {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        if may_miss && response.status() == reqwest::StatusCode::NOT_FOUND {
            return None;
        }
        assert!(response.status().is_success(), "{path}: {}", response.status());
        Some(response.json().await.unwrap_or(Value::Null))
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.ask(method, path, body, false).await.unwrap_or_default()
    }

    async fn create(&self, body: Value) -> String {
        let created = self.call(reqwest::Method::POST, "/configs", Some(body)).await;
        created["id"].as_str().unwrap().to_owned()
    }

    async fn run(&self, id: &str) -> String {
        let queued = self.call(reqwest::Method::POST, &format!("/configs/{id}/run"), Some(json!({}))).await;
        queued["execution_id"].as_str().unwrap().to_owned()
    }

    /// Waits until `done` holds of the answer to `GET path`.
    async fn until(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        loop {
            let answer = self.ask(reqwest::Method::GET, path, None, true).await;
            if let Some(answer) = answer.filter(|a| done(a)) {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn workflow_done(&self, run: &str) -> Value {
        let answer = self.until(&format!("/workflow-runs/{run}"), |r| r["status"] != "running").await;
        assert_eq!(answer["status"], "succeeded", "{answer}");
        answer
    }

    async fn recorded(&self, run: &str) {
        self.until(&format!("/executions/{run}"), |r| r["is_success"].as_bool().is_some()).await;
    }
}

/// Every role in this process, on the deployment `redis` says (none: the
/// embedded one), with the example plugins and the shipped settings.
async fn start(database_url: String, redis: Option<(String, String)>) -> Node {
    let plugins = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    let settings = Settings {
        database_url,
        redis_url: redis.as_ref().map(|(url, _)| url.clone()),
        redis_prefix: redis.map(|(_, prefix)| prefix).unwrap_or_else(|| "taskbox:".into()),
        plugin_dir: plugins,
        bind: "127.0.0.1:0".parse().unwrap(),
        admin_token: Some(TOKEN.into()),
        secret_key_file: std::env::temp_dir().join("taskbox-bench.key"),
        ..Settings::default()
    };
    let app = Application::build(settings).await.expect("the application builds");
    let addr = app.address().unwrap();
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(app.run_until_stopped(shutdown));
    Node { base: format!("http://{addr}/api/v1"), client: reqwest::Client::new(), stop }
}

fn manual(name: &str, rest: Value) -> Value {
    let mut config = json!({"name": name, "scheduler_type": "manual"});
    config.as_object_mut().unwrap().extend(rest.as_object().unwrap().clone());
    config
}

async fn measure(kind: &str, node: &Node, rounds: usize) {
    // 1. A chain of 10 against 10 single runs in sequence.
    let steps: Vec<Value> = (0..10)
        .map(|i| match i {
            0 => json!({"name": "s0", "task_type": "echo", "parameters": {"n": 0}}),
            i => json!({"name": format!("s{i}"), "task_type": "echo", "parents": [format!("s{}", i - 1)]}),
        })
        .collect();
    let chain = node.create(manual("chain", json!({"workflow": {"steps": steps}}))).await;
    let single = node.create(manual("single", json!({"task_type": "echo", "parameters": {"n": 0}}))).await;
    let (mut chains, mut singles, mut handoffs) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds + 2 {
        let t = Instant::now();
        let run = node.run(&chain).await;
        let done = node.workflow_done(&run).await;
        let chain_ms = t.elapsed().as_secs_f64() * 1e3;
        // Inside the engine: from one step's end to the next one's start.
        let at = |r: &Value, k: &str| chrono::DateTime::parse_from_rfc3339(r[k].as_str().unwrap()).unwrap();
        let steps = done["steps"].as_array().unwrap();
        for pair in steps.windows(2) {
            let (before, after) = (&pair[0]["runs"][0], &pair[1]["runs"][0]);
            let gap = at(after, "started_at") - at(before, "completed_at");
            if round >= 2 {
                handoffs.push(gap.num_microseconds().unwrap() as f64 / 1e3);
            }
        }
        let t = Instant::now();
        for _ in 0..10 {
            let run = node.run(&single).await;
            node.recorded(&run).await;
        }
        let singles_ms = t.elapsed().as_secs_f64() * 1e3;
        // The first two warm the instance pools and caches up.
        if round >= 2 {
            chains.push(chain_ms / 10.0);
            singles.push(singles_ms / 10.0);
        }
    }
    chains.sort_by(f64::total_cmp);
    singles.sort_by(f64::total_cmp);
    handoffs.sort_by(f64::total_cmp);
    let (c, s) = (common::pct(&chains, 0.5), common::pct(&singles, 0.5));
    println!(
        "{kind:<12} chain of 10: {c:>7.2} ms/step (p90 {:.2})   10 single runs in sequence: {s:>7.2} ms/run (p90 {:.2})   overhead {:>6.2} ms/step",
        common::pct(&chains, 0.9),
        common::pct(&singles, 0.9),
        c - s
    );
    println!(
        "{kind:<12} inside the engine, a step's end to the next one's start: p50 {:.2} ms, p90 {:.2} ms",
        common::pct(&handoffs, 0.5),
        common::pct(&handoffs, 0.9)
    );

    // 2. A fan-out of 1,000 with a join, against 1,000 single runs at once.
    let text: Vec<String> = (0..1000).map(|i| format!("line {i} of the fan-out")).collect();
    let fan = node
        .create(manual(
            "fan",
            json!({"parameters": {"text": text.join("\n")}, "workflow": {"steps": [
                {"name": "split", "task_type": "lines"},
                {"name": "count", "task_type": "wc", "parents": ["split"], "for_each": true},
                {"name": "join", "task_type": "echo", "parents": ["count"]},
            ]}}),
        ))
        .await;
    let wc = node.create(manual("wc", json!({"task_type": "wc", "parameters": {"text": "a line"}}))).await;
    let split = node
        .create(manual("split", json!({"task_type": "lines", "parameters": {"text": text.join("\n")}})))
        .await;
    let join = node.create(manual("join", json!({"task_type": "echo"}))).await;
    let t = Instant::now();
    let run = node.run(&fan).await;
    let done = node.workflow_done(&run).await;
    assert_eq!(done["result"].as_array().map(Vec::len), Some(1000));
    let fan_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let first = node.run(&split).await;
    node.recorded(&first).await;
    let runs: Vec<String> = futures::future::join_all((0..1000).map(|_| node.run(&wc))).await;
    for run in &runs {
        node.recorded(run).await;
    }
    let last = node.run(&join).await;
    node.recorded(&last).await;
    let singles_ms = t.elapsed().as_secs_f64() * 1e3;
    println!(
        "{kind:<12} fan-out of 1,000 + join: {fan_ms:>8.0} ms   1,002 single runs: {singles_ms:>8.0} ms   overhead {:>6.3} ms/element",
        (fan_ms - singles_ms) / 1000.0
    );
}

#[tokio::main]
async fn main() {
    let rounds = common::arg("--rounds", 20);
    let plugins = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    for name in ["echo", "wc", "lines"] {
        assert!(plugins.join(format!("{name}.wasm")).is_file(), "run `cargo xtask plugins` first");
    }
    println!("== workflow overhead (shipped settings, every role in one process; median of {rounds}) ==");
    if common::only("embedded") {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let node = start(url, None).await;
        measure("embedded", &node, rounds).await;
        let _ = node.stop.send(true);
    }
    if common::only("distributed") {
        let (db_name, url) = common::create_database().await;
        let prefix = common::fresh_prefix();
        let node = start(url, Some((common::redis_url(), prefix.clone()))).await;
        measure("distributed", &node, rounds).await;
        let _ = node.stop.send(true);
        tokio::time::sleep(Duration::from_millis(500)).await;
        common::drop_database(&db_name).await;
        common::unlink_prefix(&prefix).await;
    }
}
