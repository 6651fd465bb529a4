//! The doors' costs, with the shipped defaults: what a run pays for
//! `wasi:http` and `wasi:keyvalue` being linked when it does not use them
//! (the probe's `context` action, next to echo, which imports neither), a
//! key-value get + set round trip on each backend (from the host, and as a
//! guest run doing both), and a run that sends one request to an HTTP
//! server on loopback.
//!
//! Run: `cargo xtask plugins && cargo bench -p taskbox --bench doors`
//! Options: `-- --runs N` (default 5,000), `--only runs|kv|http`.
//! `TASKBOX_TEST_DATABASE_URL` and `TASKBOX_TEST_REDIS_URL` point elsewhere.

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;
use taskbox::contract::kv::{Bounds, KeyValue};
use taskbox::executor::{Doors, EngineSettings, Executor, RunContext, RunRequest};
use taskbox::plugins::registry::{Loader, Plugin};

mod common;
use common::{arg, only, pct, redis_url};

/// Loads `example` from a private directory with `sidecar` beside it.
fn load(executor: &Executor, example: &str, sidecar: &str) -> (tempfile::TempDir, Arc<Plugin>) {
    let dir = tempfile::tempdir().unwrap();
    let built = common::built(example);
    std::fs::copy(&built, dir.path().join(format!("{example}.wasm"))).unwrap();
    std::fs::write(dir.path().join(format!("{example}.toml")), sidecar).unwrap();
    let cache = dir.path().join(".cache");
    let plugin = Loader::new(executor.clone(), Some(cache)).load(&dir.path().join(format!("{example}.wasm")));
    (dir, plugin.plugin.expect("the example loads"))
}

/// Median and p99 in µs of `runs` sequential runs of `plugin` with `params`.
async fn timed(
    executor: &Executor,
    plugin: &Plugin,
    params: &Value,
    doors: &Doors,
    runs: usize,
) -> (f64, f64) {
    let mut micros = Vec::with_capacity(runs);
    for _ in 0..runs {
        let request = RunRequest {
            context: RunContext::ad_hoc(),
            params: params.to_string(),
            limits: plugin.limits(None, None),
            doors: doors.clone(),
        };
        let started = Instant::now();
        let outcome = executor.run(&plugin.runnable, request).await;
        micros.push(started.elapsed().as_secs_f64() * 1e6);
        assert!(outcome.is_success, "{outcome:?}");
    }
    micros.sort_by(f64::total_cmp);
    (pct(&micros, 0.5), pct(&micros, 0.99))
}

fn line(what: &str, (median, p99): (f64, f64)) {
    println!("{what:<52} median {median:>8.1} µs  p99 {p99:>8.1} µs");
}

#[tokio::main]
async fn main() {
    let runs = arg("--runs", 5_000);
    let executor = Executor::new(EngineSettings::default()).expect("sandbox");
    let none = Doors::default();

    if only("runs") {
        println!("== per run, doors linked but unused ({runs} sequential runs each) ==");
        let (_d1, echo) = load(&executor, "echo", "");
        let (_d2, probe) = load(&executor, "probe", "");
        let (_d3, granted) = load(
            &executor,
            "probe",
            "allowed_outbound_hosts = [\"https://example.com\"]\nkey_value_stores = [\"b\"]\n",
        );
        timed(&executor, &echo, &json!({}), &none, runs / 5).await; // warm the pool
        line("echo (imports neither)", timed(&executor, &echo, &json!({}), &none, runs).await);
        let context = json!({"action": "context"});
        line("probe context (imports both, no grant)", timed(&executor, &probe, &context, &none, runs).await);
        line(
            "probe context (imports both, both granted)",
            timed(&executor, &granted, &context, &none, runs).await,
        );
    }

    if only("kv") {
        println!("\n== key-value: get + set of one key ({runs} round trips; a guest run: increment) ==");
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let opened = taskbox::store::open(&url).await.unwrap();
        let local =
            taskbox::backends::Plan::new(None, "", &opened).await.unwrap().connect().await.unwrap().kv;
        let prefix = common::fresh_prefix();
        let redis = taskbox::backends::redis::RedisBackend::connect(
            &taskbox::backends::redis::Target::Single(redis_url()),
            &prefix,
        )
        .await
        .unwrap();
        let backends: [(&str, Arc<dyn KeyValue>); 2] =
            [("embedded (SQLite)", local), ("distributed (Redis)", Arc::new(redis))];
        let (_d, counter) = load(&executor, "counter", "key_value_stores = [\"default\"]\n");
        for (name, kv) in backends {
            let mut micros = Vec::with_capacity(runs);
            for i in 0..runs {
                let started = Instant::now();
                let _ = kv.get("bench", "k").await.unwrap();
                kv.set("bench", "k", i.to_string().as_bytes(), &Bounds::default()).await.unwrap();
                micros.push(started.elapsed().as_secs_f64() * 1e6);
            }
            micros.sort_by(f64::total_cmp);
            line(&format!("{name}: host get + set"), (pct(&micros, 0.5), pct(&micros, 0.99)));
            let doors = Doors { kv: Some(kv.clone()), secrets: Vec::new() };
            line(
                &format!("{name}: counter run (open + increment)"),
                timed(&executor, &counter, &json!({}), &doors, runs).await,
            );
        }
        common::unlink_prefix(&prefix).await;
    }

    if only("http") {
        println!("\n== outbound HTTP: one GET to a server on loopback per run ({runs} runs) ==");
        let app = axum::Router::new().fallback(|| async { "ok" });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let sidecar = format!("allowed_outbound_hosts = [\"http://127.0.0.1:{}\"]\n", addr.port());
        let (_d, probe) = load(&executor, "probe", &sidecar);
        line(
            "probe context (no request)",
            timed(&executor, &probe, &json!({"action": "context"}), &none, runs).await,
        );
        let get = json!({"action": "http", "url": format!("http://{addr}/")});
        line("probe http: connect + GET + read the body", timed(&executor, &probe, &get, &none, runs).await);
        let refused = json!({"action": "http", "url": "http://169.254.169.254/"});
        let (_d2, anywhere) = load(&executor, "probe", "allowed_outbound_hosts = [\"http://*:*\"]\n");
        line(
            "probe http: refused (metadata address)",
            timed(&executor, &anywhere, &refused, &none, runs).await,
        );
    }
}
