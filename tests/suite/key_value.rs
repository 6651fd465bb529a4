//! The key-value door on both deployments: the store contract itself (one
//! conformance suite for Redis and SQLite), guests reaching it through
//! `wasi:keyvalue` only for the buckets their sidecar names, atomic
//! increments under 200 concurrent runs (and across two processes on the
//! distributed deployment), bounds, state across restarts, and `/kv`.

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use taskbox::contract::kv::{Bounds, KvError};
use taskbox::executor::{Doors, Outcome, RunContext, RunRequest};
use taskbox::plugins::registry::Plugin;

use crate::support::*;

/// Runs `plugin` with the deployment's key-value store.
async fn run_on(d: &Deployment, plugin: &Plugin, params: Value) -> Outcome {
    let request = RunRequest {
        context: RunContext::ad_hoc(),
        params: params.to_string(),
        limits: plugin.limits(Some(Duration::from_secs(20)), None),
        doors: Doors { kv: Some(d.kv.clone()), secrets: Vec::new() },
    };
    EXECUTOR.run(&plugin.runnable, request).await
}

fn with_sidecar(example: &str, sidecar: &str) -> (PluginDir, Arc<Plugin>) {
    let dir = PluginDir::new();
    dir.add(example, example).write(&format!("{example}.toml"), sidecar);
    let plugin = dir.plugin(example);
    (dir, plugin)
}

conformance! {
#[tokio::test]
async fn the_store_contract_holds(d) {
    let kv = &d.kv;
    let b = Bounds::default();
    assert_eq!(kv.get("a", "k").await.unwrap(), None);
    kv.set("a", "k", b"v1", &b).await.unwrap();
    kv.set("a", "k", b"\x00\xffbin", &b).await.unwrap();
    assert_eq!(kv.get("a", "k").await.unwrap(), Some(b"\x00\xffbin".to_vec()));
    assert_eq!(kv.get("other", "k").await.unwrap(), None, "buckets are apart");
    assert!(kv.exists("a", "k").await.unwrap());
    assert!(kv.delete("a", "k").await.unwrap());
    assert!(!kv.delete("a", "k").await.unwrap());
    assert!(!kv.exists("a", "k").await.unwrap());
    // Paging in byte order, each key once.
    for i in 0..25 {
        kv.set("p", &format!("key{i:02}"), b"x", &b).await.unwrap();
    }
    let (mut all, mut cursor) = (Vec::new(), None);
    loop {
        let page = kv.keys("p", cursor.as_deref(), 10).await.unwrap();
        assert!(page.keys.len() <= 10);
        all.extend(page.keys);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(all, (0..25).map(|i| format!("key{i:02}")).collect::<Vec<_>>());
    // Increment: decimal text, absent is 0, other text refused.
    assert_eq!(kv.increment("n", "c", 5, &b).await.unwrap(), 5);
    assert_eq!(kv.increment("n", "c", -7, &b).await.unwrap(), -2);
    assert_eq!(kv.get("n", "c").await.unwrap(), Some(b"-2".to_vec()));
    kv.set("n", "text", b"abc", &b).await.unwrap();
    assert_eq!(kv.increment("n", "text", 1, &b).await, Err(KvError::NotAnInteger("text".into())));
    kv.set("n", "max", i64::MAX.to_string().as_bytes(), &b).await.unwrap();
    assert_eq!(kv.increment("n", "max", 1, &b).await, Err(KvError::Overflow));
    // Compare-and-swap, from absent and from a value.
    assert!(kv.compare_and_swap("c", "k", None, b"1", &b).await.unwrap());
    assert!(!kv.compare_and_swap("c", "k", None, b"2", &b).await.unwrap());
    assert!(!kv.compare_and_swap("c", "k", Some(b"0"), b"2", &b).await.unwrap());
    assert!(kv.compare_and_swap("c", "k", Some(b"1"), b"2", &b).await.unwrap());
    assert_eq!(kv.get("c", "k").await.unwrap(), Some(b"2".to_vec()));
    // Bounds: size and keys per bucket (a rewrite of a held key is fine).
    let tight = Bounds { max_key_bytes: 8, max_value_bytes: 4, max_keys: 2 };
    assert_eq!(kv.set("t", "123456789", b"x", &tight).await, Err(KvError::KeyTooLong(9, 8)));
    assert_eq!(kv.set("t", "k", b"12345", &tight).await, Err(KvError::ValueTooLarge(5, 4)));
    kv.set("t", "k1", b"x", &tight).await.unwrap();
    kv.set("t", "k2", b"x", &tight).await.unwrap();
    kv.set("t", "k2", b"y", &tight).await.unwrap();
    assert_eq!(kv.set("t", "k3", b"x", &tight).await, Err(KvError::BucketFull("t".into(), 2)));
    assert_eq!(kv.increment("t", "k3", 1, &tight).await, Err(KvError::BucketFull("t".into(), 2)));
    kv.delete("t", "k1").await.unwrap();
    kv.set("t", "k3", b"x", &tight).await.unwrap();
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_runs_incrementing_one_key_give_exactly_200(d) {
    let (_dir, counter) = with_sidecar("counter", "key_value_stores = [\"default\"]\n");
    let d = Arc::new(d);
    let runs: Vec<_> = (0..200)
        .map(|_| {
            let (d, counter) = (d.clone(), counter.clone());
            tokio::spawn(async move { run_on(&d, &counter, json!({})).await })
        })
        .collect();
    let mut seen = Vec::new();
    for run in runs {
        let outcome = run.await.unwrap();
        assert!(outcome.is_success, "{outcome:?}");
        seen.push(outcome.result.unwrap()["value"].as_i64().unwrap());
    }
    seen.sort();
    assert_eq!(seen, (1..=200).collect::<Vec<_>>(), "each run saw its own increment");
    assert_eq!(d.kv.get("default", "counter").await.unwrap(), Some(b"200".to_vec()));
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_swap_loses_no_update_under_contention(d) {
    // 20 writers, 10 read-modify-write increments each, retrying on a lost race.
    let writers: Vec<_> = (0..20)
        .map(|_| {
            let kv = d.kv.clone();
            tokio::spawn(async move {
                let mut lost = 0;
                for _ in 0..10 {
                    loop {
                        let read = kv.get("cas", "n").await.unwrap();
                        let n: u64 = read.as_deref().map_or(0, |v| std::str::from_utf8(v).unwrap().parse().unwrap());
                        let next = (n + 1).to_string();
                        if kv.compare_and_swap("cas", "n", read.as_deref(), next.as_bytes(), &Bounds::default()).await.unwrap() {
                            break;
                        }
                        lost += 1;
                    }
                }
                lost
            })
        })
        .collect();
    let mut lost = 0;
    for w in writers {
        lost += w.await.unwrap();
    }
    assert_eq!(d.kv.get("cas", "n").await.unwrap(), Some(b"200".to_vec()), "after {lost} lost races");
}
}

conformance! {
#[tokio::test]
async fn a_guest_reaches_only_the_buckets_its_sidecar_names(d) {
    let (_dir, probe) = with_sidecar("probe", "key_value_stores = [\"shared\"]\n");
    d.kv.set("secret-bucket", "k", b"private", &Bounds::default()).await.unwrap();
    let denied = run_on(&d, &probe, json!({"action": "kv", "bucket": "secret-bucket", "op": "get", "key": "k"})).await;
    let report = denied.result.clone().unwrap();
    assert_eq!(report, json!({"ok": false, "error": "open: Error::AccessDenied"}));
    assert!(denied.logs.contains("WARN key-value bucket \"secret-bucket\" refused"), "{}", denied.logs);
    // The granted bucket works through every interface.
    let ok = |op: Value| {
        let (d, probe) = (&d, probe.clone());
        async move { probe_ok(&run_on(d, &probe, op).await).clone() }
    };
    ok(json!({"action": "kv", "bucket": "shared", "op": "set", "key": "a", "value": "1"})).await;
    assert_eq!(ok(json!({"action": "kv", "bucket": "shared", "op": "get", "key": "a"})).await, json!("1"));
    assert_eq!(ok(json!({"action": "kv", "bucket": "shared", "op": "exists", "key": "a"})).await, json!(true));
    assert_eq!(ok(json!({"action": "kv", "bucket": "shared", "op": "increment", "key": "a", "delta": 4})).await, json!(5));
    let swapped = ok(json!({"action": "kv", "bucket": "shared", "op": "cas", "key": "a", "value": "x"})).await;
    assert_eq!(swapped, json!({"swapped": true, "read": "5"}));
    ok(json!({"action": "kv", "bucket": "shared", "op": "set_many", "keys": ["b", "c"], "value": "v"})).await;
    let many = ok(json!({"action": "kv", "bucket": "shared", "op": "get_many", "keys": ["b", "zz"]})).await;
    assert_eq!(many, json!([["b", "v"], null]));
    let listed = ok(json!({"action": "kv", "bucket": "shared", "op": "list"})).await;
    assert_eq!(listed, json!({"keys": ["a", "b", "c"], "cursor": null}));
    ok(json!({"action": "kv", "bucket": "shared", "op": "delete", "key": "a"})).await;
    assert_eq!(ok(json!({"action": "kv", "bucket": "shared", "op": "get", "key": "a"})).await, Value::Null);
    // Without any grant, nothing opens.
    let (_dir2, bare) = with_sidecar("probe", "");
    let report = run_on(&d, &bare, json!({"action": "kv", "bucket": "shared", "op": "get", "key": "b"})).await;
    assert_eq!(report.result.unwrap()["error"], "open: Error::AccessDenied");
}
}

conformance! {
#[tokio::test]
async fn over_a_bound_is_an_error_to_the_guest_not_a_failure_of_the_host(d) {
    let (_dir, probe) = with_sidecar("probe", "key_value_stores = [\"b\"]\nmax_kv_value_kb = 1\nmax_kv_keys = 2\n");
    let try_op = |op: Value| {
        let (d, probe) = (&d, probe.clone());
        async move {
            let outcome = run_on(d, &probe, op).await;
            assert!(outcome.is_success, "{outcome:?}");
            outcome.result.unwrap()
        }
    };
    let long_key = "k".repeat(1025);
    let r = try_op(json!({"action": "kv", "bucket": "b", "op": "set", "key": long_key, "value": "x"})).await;
    assert!(r["error"].as_str().unwrap().contains("key is 1025 bytes"), "{r}");
    let big = "x".repeat(1025);
    let r = try_op(json!({"action": "kv", "bucket": "b", "op": "set", "key": "k", "value": big})).await;
    assert!(r["error"].as_str().unwrap().contains("value is 1025 bytes"), "{r}");
    for key in ["k1", "k2"] {
        assert_eq!(try_op(json!({"action": "kv", "bucket": "b", "op": "set", "key": key, "value": "v"})).await["ok"], true);
    }
    let r = try_op(json!({"action": "kv", "bucket": "b", "op": "set", "key": "k3", "value": "v"})).await;
    assert!(r["error"].as_str().unwrap().contains("holds 2 keys"), "{r}");
}
}

/// `taskbox run counter` as its own process on the deployment `d`.
fn run_counter_process(d: &Deployment, plugins: &PluginDir, cwd: &std::path::Path) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .args(["run", "counter"])
        .current_dir(cwd)
        .env_remove("TASKBOX_REDIS_URL")
        .envs(d.serve_env())
        .env("TASKBOX_PLUGIN_DIR", plugins.path())
        .env("TASKBOX_CACHE_DIR", plugins.cache.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["result"]["value"].clone()
}

conformance! {
#[tokio::test]
async fn state_survives_the_process_that_wrote_it(d) {
    let plugins = PluginDir::new();
    plugins.add("counter", "counter").write("counter.toml", "key_value_stores = [\"default\"]\n");
    let cwd = tempfile::tempdir().unwrap();
    assert_eq!(run_counter_process(&d, &plugins, cwd.path()), json!(1));
    assert_eq!(run_counter_process(&d, &plugins, cwd.path()), json!(2));
    // And the store this test holds open sees what the processes wrote.
    assert_eq!(d.kv.get("default", "counter").await.unwrap(), Some(b"2".to_vec()));
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increments_stay_atomic_across_two_worker_processes() {
    use taskbox::engine::scheduler::SchedulerService;
    use taskbox::engine::worker::{Worker, WorkerDoors};
    use taskbox::store::{ExecutionFilter, NewConfig, Page};
    let d = Deployment::new(crate::support::Kind::Distributed).await;
    let plugins = PluginDir::new();
    plugins.add("counter", "counter").write("counter.toml", "key_value_stores = [\"default\"]\n");
    // One worker here, one in a `taskbox serve` of its own.
    let mut other = std::process::Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .arg("serve")
        .envs(d.serve_env())
        .env("TASKBOX_PLUGIN_DIR", plugins.path())
        .env("TASKBOX_CACHE_DIR", plugins.cache.path())
        .env("TASKBOX_ROLES", "worker")
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let registry = plugins.registry();
    registry.scan().await.unwrap();
    let worker = Worker {
        name: "in-test".into(),
        groups: vec!["default".into()],
        queue: d.another().await.queue,
        store: d.store.clone(),
        plugins: taskbox::plugins::artifacts::Artifacts::directory_only(registry),
        executor: EXECUTOR.clone(),
        concurrency: 8,
        base_backoff: Duration::from_secs(1),
        doors: WorkerDoors { kv: Some(d.kv.clone()), secrets: None },
        notifier: None,
        conductor: None,
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let here = tokio::spawn(worker.run(stopped, Duration::from_secs(10)));
    let service = SchedulerService::new(d.store.clone(), d.schedule.clone());
    let config = d.store.create_config(NewConfig::manual("count", "counter")).await.unwrap();
    for _ in 0..200 {
        service.run_now(config.id).await.unwrap();
    }
    let filter = ExecutionFilter { config_id: Some(config.id), ..Default::default() };
    let started = std::time::Instant::now();
    let records = loop {
        let (items, total) = d.store.list_executions(&filter, Page { limit: 500, offset: 0 }).await.unwrap();
        if total >= 200 {
            break items;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{total} of 200 runs after a minute");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = other.kill();
    let _ = other.wait();
    stop.send(true).unwrap();
    here.await.unwrap();
    assert!(records.iter().all(|r| r.record.is_success), "every run succeeded");
    let workers: std::collections::BTreeSet<_> = records.iter().map(|r| r.record.worker.clone()).collect();
    assert_eq!(workers.len(), 2, "both processes ran some: {workers:?}");
    let mut values: Vec<i64> =
        records.iter().map(|r| r.record.result.as_ref().unwrap()["value"].as_i64().unwrap()).collect();
    values.sort();
    assert_eq!(values, (1..=200).collect::<Vec<_>>());
    assert_eq!(d.kv.get("default", "counter").await.unwrap(), Some(b"200".to_vec()));
}

conformance! {
#[tokio::test]
async fn operators_see_and_seed_state_over_the_api(d) {
    let plugins = PluginDir::new();
    let mut env = d.serve_env();
    env.push(("TASKBOX_PLUGIN_DIR", plugins.path().display().to_string()));
    env.push(("TASKBOX_CACHE_DIR", plugins.cache.path().display().to_string()));
    let server = Server::start(&env);
    let put = |path: &'static str, body: Value| server.call(reqwest::Method::PUT, path, Some(body));
    let (status, entry) = put("/kv/cursors/feed%2F1", json!({"value": "42"})).await;
    assert_eq!(status, 200, "{entry}");
    assert_eq!(entry, json!({"bucket": "cursors", "key": "feed/1", "value": "42", "value_base64": "NDI="}));
    // What the API wrote, a plugin (the store) reads, and the reverse.
    assert_eq!(d.kv.get("cursors", "feed/1").await.unwrap(), Some(b"42".to_vec()));
    d.kv.set("cursors", "bin", &[0xff, 0], &Bounds::default()).await.unwrap();
    let (status, bin) = server.get("/kv/cursors/bin").await;
    assert_eq!((status.as_u16(), bin["value"].clone(), bin["value_base64"].clone()), (200, Value::Null, json!("/wA=")));
    let (status, page) = server.get("/kv/cursors?limit=1").await;
    assert_eq!((status.as_u16(), page["keys"].clone(), page["cursor"].clone()), (200, json!(["bin"]), json!("bin")));
    let (_, page) = server.get("/kv/cursors?limit=1&cursor=bin").await;
    assert_eq!((page["keys"].clone(), page["cursor"].clone()), (json!(["feed/1"]), Value::Null));
    // Refusals change nothing.
    for (path, body, want) in [
        ("/kv/bad%20name/k", json!({"value": "x"}), 422),
        ("/kv/cursors/k", json!({"value": "x", "value_base64": "eA=="}), 422),
        ("/kv/cursors/k", json!({"value_base64": "not base64!"}), 422),
        ("/kv/cursors/k", json!({"other": 1}), 422),
    ] {
        let (status, answer) = put(path, body).await;
        assert_eq!(status.as_u16(), want, "{path}: {answer}");
    }
    assert_eq!(server.get("/kv/cursors/k").await.0, 404);
    assert_eq!(server.get(&format!("/kv/cursors/{}", "k".repeat(1025))).await.0, 422);
    // Viewers read, only admins write.
    let viewer = crate::support::viewer_token(d.tokens.as_ref()).await;
    let as_viewer = |method: reqwest::Method, path: &str| {
        server.client.request(method, format!("{}{path}", server.base)).bearer_auth(viewer.clone())
    };
    assert_eq!(as_viewer(reqwest::Method::GET, "/kv/cursors/feed%2F1").send().await.unwrap().status(), 200);
    let put = as_viewer(reqwest::Method::PUT, "/kv/cursors/x").json(&json!({"value": "1"})).send().await.unwrap();
    assert_eq!(put.status(), 403);
    assert_eq!(as_viewer(reqwest::Method::DELETE, "/kv/cursors/feed%2F1").send().await.unwrap().status(), 403);
    let (status, _) = server.call(reqwest::Method::DELETE, "/kv/cursors/feed%2F1", None).await;
    assert_eq!(status, 204);
    assert_eq!(d.kv.get("cursors", "feed/1").await.unwrap(), None);
    let _ = SERVER_TOKEN;
}
}
