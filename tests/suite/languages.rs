//! Tasks in Python and JavaScript, built by `taskbox build` with the pinned
//! toolchains (componentize-py, componentize-js defaults), in the real
//! sandbox: params → result, an exception or a thrown error → a failure with
//! its message, deadlines, the memory cap, no file or environment, the
//! doors as granted; and `taskbox new` → `taskbox build` → run for each
//! language, and a rebuilt Python task hot-reloaded by `taskbox serve`.
//!
//! These components are large (12–20 MB), so they are compiled once per
//! suite into an artifact cache of its own (`target/test-artifact-cache`,
//! keyed by digest like any artifact cache; it holds no state).

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use taskbox::executor::Limits;
use taskbox::plugins::registry::{Loader, Plugin};

use crate::support::targets::Target;

use crate::support::*;

fn shared_cache() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifact-cache")
}

/// One compile at a time: the first load of a component fills the cache,
/// the tests waiting behind it load the artifact.
static LOADING: Mutex<()> = Mutex::new(());

/// `example` in a fresh directory, with `sidecar` if given, loaded.
fn load(example: &str, sidecar: Option<&str>) -> (PluginDir, Arc<Plugin>) {
    let dir = PluginDir::new();
    dir.add(example, example);
    if let Some(sidecar) = sidecar {
        dir.write(&format!("{example}.toml"), sidecar);
    }
    let _one = LOADING.lock().unwrap_or_else(|e| e.into_inner());
    let entry =
        Loader::new(EXECUTOR.clone(), Some(shared_cache())).load(&dir.path().join(format!("{example}.wasm")));
    match entry.plugin {
        Some(plugin) => (dir, plugin),
        None => panic!("{example} did not load: {:?}", entry.info.error),
    }
}

fn failure(outcome: &taskbox::executor::Outcome) -> String {
    assert!(!outcome.is_success, "it succeeded: {outcome:?}");
    outcome.error_message.clone().expect("a failure has a message")
}

#[tokio::test]
async fn python_turns_params_into_a_result_with_the_standard_library() {
    let (_dir, csv) = load("csv_stats", None);
    let outcome = run(&csv, json!({"csv": "city,temp,rain\nOslo,4,12.5\nRome,19,0\nLima,,3\n"})).await;
    assert!(outcome.is_success, "{outcome:?}");
    let result = outcome.result.unwrap();
    assert_eq!(result["rows"], 3);
    assert_eq!(
        result["columns"]["temp"],
        json!({"count": 2, "sum": 23.0, "mean": 11.5, "min": 4.0, "max": 19.0})
    );
    assert_eq!(result["columns"]["rain"]["sum"], 15.5);
    assert!(result["columns"].get("city").is_none(), "{result}");
    assert!(outcome.logs.contains("INFO read 3 rows"), "{}", outcome.logs);

    let (_dir, probe) = load("py_probe", None);
    let outcome = run(&probe, json!({"action": "stdlib"})).await;
    assert!(outcome.is_success, "{outcome:?}");
    assert_eq!(
        outcome.result.unwrap(),
        json!({
            "sha256": "dbb49afe7738eb3455d7d290ed63f550c2e9167fae9e8e4e1d91b557c5a8063f",
            "words": ["a", "sandboxed", "task"],
            "median": 2,
            "date": "2026-12-03",
            "json": {"x": [1, 2]},
            "uuid_version": 4,
        })
    );
}

#[tokio::test]
async fn javascript_turns_params_into_a_result() {
    let (_dir, shape) = load("json_shape", None);
    let records = json!([
        {"name": "bo", "team": "x", "age": 3},
        {"name": "al", "team": "x"},
        {"name": "cy", "team": "y"},
    ]);
    let params = json!({"records": records, "pick": {"name": "who", "team": "team"},
                        "where": {"team": "x"}, "sort": "who", "count_by": "team"});
    let outcome = run(&shape, params).await;
    assert!(outcome.is_success, "{outcome:?}");
    assert_eq!(
        outcome.result.unwrap(),
        json!({"records": [{"who": "al", "team": "x"}, {"who": "bo", "team": "x"}], "counts": {"x": 2}, "total": 2})
    );
    assert!(outcome.logs.contains("INFO kept 2 of 3 records"), "{}", outcome.logs);
}

#[tokio::test]
async fn a_python_exception_is_a_failure_with_its_message_and_traceback() {
    let (_dir, probe) = load("py_probe", None);
    let message =
        failure(&run(&probe, json!({"action": "raise", "message": "no rows for 2026-12-03"})).await);
    assert!(message.starts_with("ValueError: no rows for 2026-12-03\n"), "{message}");
    assert!(message.contains("Traceback (most recent call last)") && message.contains("app.py"), "{message}");
    // Params that are not what the task wants: the task's own KeyError.
    let (_dir, csv) = load("csv_stats", None);
    let message = failure(&run(&csv, json!({"rows": []})).await);
    assert!(message.starts_with("ValueError: params: `csv`"), "{message}");
}

#[tokio::test]
async fn a_thrown_javascript_error_is_a_failure_with_its_message() {
    let (_dir, probe) = load("js_probe", None);
    let message = failure(&run(&probe, json!({"action": "throw", "message": "upstream said 503"})).await);
    assert!(message.starts_with("Error: upstream said 503\n"), "{message}");
    assert!(message.contains("app.js"), "the stack is kept: {message}");
    let message = failure(&run(&probe, json!({"action": "throw_string", "message": "plain text"})).await);
    assert_eq!(message, "plain text");
    let (_dir, shape) = load("json_shape", None);
    let message = failure(&run(&shape, json!({})).await);
    assert!(message.starts_with("TypeError: params: `records`"), "{message}");
}

#[tokio::test]
async fn logs_and_context_reach_python_and_javascript_tasks() {
    let (_dir, py) = load("py_probe", None);
    let outcome = run(&py, json!({"action": "log"})).await;
    assert!(outcome.is_success, "{outcome:?}");
    for line in [
        "INFO info via taskbox.log",
        "WARN warn via taskbox.log with args",
        "ERROR probe: error via logging",
        "stdout via print",
    ] {
        assert!(outcome.logs.contains(line), "{line:?} in {}", outcome.logs);
    }
    let context = run(&py, json!({"action": "context"})).await.result.unwrap();
    assert_eq!(context["task_type"], "py_probe");
    assert_eq!(context["attempt"], 1);
    assert_eq!(context["execution_id"].as_str().unwrap().len(), 36);
    assert!(context["scheduled_at"].as_str().unwrap().ends_with("+00:00"), "{context}");

    let (_dir, js) = load("js_probe", None);
    let outcome = run(&js, json!({"action": "log"})).await;
    for line in ["INFO info via log", "WARN warn via log", "stdout via console.log"] {
        assert!(outcome.logs.contains(line), "{line:?} in {}", outcome.logs);
    }
    let context = run(&js, json!({"action": "context"})).await.result.unwrap();
    assert_eq!(context["taskType"], "js_probe");
    assert_eq!(context["attempt"], 1);
    assert!(context["scheduledAt"].as_str().unwrap().ends_with('Z'), "{context}");
}

/// Runs `action: spin` with a 2 s deadline: stopped within 10 %.
async fn spin_is_stopped(example: &str) {
    let (_dir, probe) = load(example, None);
    let deadline = Duration::from_secs(2);
    let start = Instant::now();
    let outcome =
        run_with(&probe, json!({"action": "spin"}), Limits { timeout: deadline, ..Limits::default() }).await;
    let took = start.elapsed();
    let message = failure(&outcome);
    assert!(message.starts_with("timed out after 2.0"), "{message}");
    assert!(took >= deadline && took <= deadline.mul_f64(1.1), "{example}: {took:?}");
    // The host is fine: the next run of the same plugin works.
    assert!(run(&probe, json!({"action": "context"})).await.is_success);
}

#[tokio::test]
async fn an_infinite_python_loop_is_stopped_at_its_deadline() {
    spin_is_stopped("py_probe").await;
}

#[tokio::test]
async fn an_infinite_javascript_loop_is_stopped_at_its_deadline() {
    spin_is_stopped("js_probe").await;
}

#[tokio::test]
async fn the_memory_cap_holds_for_python_and_javascript() {
    for (example, said) in [("py_probe", "MemoryError"), ("js_probe", "out of memory")] {
        let (_dir, probe) = load(example, Some("memory_mb = 96\n"));
        let message = failure(&run(&probe, json!({"action": "alloc", "mb": 200})).await);
        assert!(message.contains(said), "{example}: {message}");
        let outcome = run(&probe, json!({"action": "alloc", "mb": 16})).await;
        assert!(outcome.is_success, "{example}: a fresh instance has its memory again: {outcome:?}");
        assert_eq!(outcome.result.unwrap()["allocated_mb"], 16);
    }
}

#[tokio::test]
async fn python_and_javascript_see_no_file_and_no_environment() {
    let (_dir, py) = load("py_probe", None);
    let read = run(&py, json!({"action": "read_file", "path": "/etc/passwd"})).await.result.unwrap();
    assert!(read["refused"].as_str().unwrap().starts_with("FileNotFoundError"), "{read}");
    let env = run(&py, json!({"action": "env"})).await.result.unwrap();
    assert_eq!(env, json!({"environ": {}}));
    let (_dir, js) = load("js_probe", None);
    let env = run(&js, json!({"action": "env"})).await.result.unwrap();
    assert_eq!(env, json!({"process": "undefined", "deno": "undefined", "env": null, "granted": {}}));
    // What the sidecar grants, and only that, is their environment.
    let granted = "[env]\nGREETING = \"hi\"\n";
    let (_dir, py) = load("py_probe", Some(granted));
    assert_eq!(
        run(&py, json!({"action": "env"})).await.result.unwrap(),
        json!({"environ": {"GREETING": "hi"}})
    );
    let (_dir, js) = load("js_probe", Some(granted));
    assert_eq!(
        run(&js, json!({"action": "env"})).await.result.unwrap()["granted"],
        json!({"GREETING": "hi"})
    );
}

#[tokio::test]
async fn python_http_and_javascript_fetch_reach_only_what_the_sidecar_allows() {
    let target = Target::answering(br#"{"items": [1, 2, 3]}"#.to_vec()).await;
    let allow = format!("allowed_outbound_hosts = [\"http://127.0.0.1:{}\"]\n", target.port());
    let (_dir, py) = load("py_http", Some(&allow));
    let outcome = run(&py, json!({"url": target.url("/items"), "json": true})).await;
    assert!(outcome.is_success, "{outcome:?}");
    let result = outcome.result.unwrap();
    assert_eq!((result["status"].clone(), result["json"].clone()), (json!(200), json!({"items": [1, 2, 3]})));
    let (_dir, js) = load("js_fetch", Some(&allow));
    let outcome = run(&js, json!({"url": target.url("/items"), "json": true})).await;
    assert!(outcome.is_success, "{outcome:?}");
    assert_eq!(outcome.result.unwrap()["json"], json!({"items": [1, 2, 3]}));
    assert_eq!(target.hits(), 2);
    // No grant (the examples' own sidecars name other hosts): refused by
    // the host, never sent.
    let (_dir, py) = load("py_probe", None);
    let message = failure(&run(&py, json!({"action": "http", "url": target.url("/")})).await);
    assert!(message.contains("HttpRequestDenied"), "{message}");
    let (_dir, js) = load("js_probe", None);
    let outcome = run(&js, json!({"action": "http", "url": target.url("/")})).await;
    assert!(
        outcome.result.as_ref().unwrap()["refused"].as_str().unwrap().contains("NetworkError"),
        "{outcome:?}"
    );
    assert!(outcome.logs.contains("outbound HTTP request refused"), "{}", outcome.logs);
    assert_eq!(target.hits(), 2, "nothing was sent");
}

/// The `taskbox` binary with the pinned toolchains of `target/toolchains`.
fn taskbox(cwd: &Path, args: &[&str]) -> Output {
    let toolchains = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/toolchains");
    Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .args(args)
        .current_dir(cwd)
        .env("TASKBOX_COMPONENTIZE_PY", toolchains.join("py/bin/componentize-py"))
        .env("TASKBOX_COMPONENTIZE_JS", toolchains.join("js/node_modules/.bin/componentize-js"))
        .env("TASKBOX_CACHE_DIR", shared_cache())
        // Rust projects share one target directory, so the SDK's
        // dependencies compile once, not once per test run.
        .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/scaffold"))
        .env_remove("RUST_LOG")
        .output()
        .expect("the taskbox binary runs")
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn new_then_build_then_run_works_in_every_language() {
    let work = tempfile::tempdir().unwrap();
    let cases = [
        ("hello-py", "python", "task", json!({"greeting": "hello, ann", "attempt": 1})),
        ("hello-js", "js", "task", json!({"greeting": "hello, ann", "attempt": 1})),
        ("hello-rs", "rust", "task", json!({"greeting": "hello, ann", "attempt": 1})),
        ("hello-cmd", "rust", "command", json!({"greeting": "hello, ann", "attempt": "1"})),
    ];
    for (name, lang, shape, expected) in cases {
        let said = ok(&taskbox(work.path(), &["new", name, "--lang", lang, "--shape", shape]));
        assert!(said.contains(&format!("taskbox build ./{name}")), "{said}");
        let readme = std::fs::read_to_string(work.path().join(name).join("README.md")).unwrap();
        assert!(readme.contains(&format!("taskbox build {name}")), "the README says how to build: {readme}");
        let said = ok(&taskbox(work.path(), &["build", name]));
        assert!(said.starts_with(&format!("built plugins/{name}.wasm and plugins/{name}.toml")), "{said}");
        let out = ok(&taskbox(work.path(), &["run", name, "--params", r#"{"name": "ann"}"#]));
        let outcome: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(outcome["is_success"], true, "{name}: {outcome}");
        assert_eq!(outcome["result"], expected, "{name}");
        let out = taskbox(work.path(), &["run", name, "--params", r#"{"name": ""}"#]);
        assert_eq!(out.status.code(), Some(1), "{name}: an empty name fails");
        let outcome: Value = serde_json::from_slice(&out.stdout).unwrap();
        // A task's error is its message; a command's is its stderr, in the logs.
        let said = format!("{} {}", outcome["error_message"], outcome["logs"]);
        assert!(said.contains("must not be empty"), "{name}: {outcome}");
    }
}

#[test]
fn new_and_build_refuse_clearly_and_change_nothing() {
    let work = tempfile::tempdir().unwrap();
    let refused = |args: &[&str], says: &str| {
        let out = taskbox(work.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    };
    refused(&["new", "Bad Name", "--lang", "python"], "is not a task type name");
    refused(&["new", "x", "--lang", "js", "--shape", "command"], "the command shape is for Rust");
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0, "nothing was written");
    ok(&taskbox(work.path(), &["new", "x", "--lang", "python"]));
    refused(&["new", "x", "--lang", "js"], "already exists");
    refused(&["build", "."], "is not a task project");
    // A missing toolchain is named, with how to install it.
    let out = Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .args(["build", "x"])
        .current_dir(work.path())
        .env("TASKBOX_COMPONENTIZE_PY", "/nonexistent/componentize-py")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("componentize-py is needed to build a Python task")
            && stderr.contains("pip install componentize-py==0.25.1"),
        "{stderr}"
    );
    assert!(!work.path().join("plugins/x.wasm").exists());
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_python_and_javascript_and_hot_reloads_a_rebuilt_python_task(d) {
    let plugins = PluginDir::new();
    plugins.add("py_probe", "py_probe").add("js_probe", "js_probe");
    let mut env = d.serve_env();
    env.push(("TASKBOX_PLUGIN_DIR", plugins.path().display().to_string()));
    env.push(("TASKBOX_CACHE_DIR", shared_cache().display().to_string()));
    let server = Server::start(&env);
    let runs = std::sync::atomic::AtomicUsize::new(0);
    let run_now = async |task_type: &str, params: Value| {
        let name = format!("{task_type}-{}", runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        let (status, config) = server
            .post("/configs", json!({"name": name, "task_type": task_type, "scheduler_type": "manual", "parameters": params}))
            .await;
        assert_eq!(status, 201, "{config}");
        server.run_and_wait(config["id"].as_str().unwrap(), Duration::from_secs(60)).await
    };
    let record = run_now("py_probe", json!({"action": "version"})).await;
    assert_eq!((record["is_success"].clone(), record["result"].clone()), (json!(true), json!({"version": 1})), "{record}");
    let record = run_now("js_probe", json!({"action": "throw", "message": "bad input"})).await;
    assert_eq!(record["is_success"], false);
    assert!(record["error_message"].as_str().unwrap().starts_with("Error: bad input"), "{record}");
    let record = run_now("py_probe", json!({"action": "raise", "message": "bad row"})).await;
    assert!(record["error_message"].as_str().unwrap().starts_with("ValueError: bad row"), "{record}");

    // Rebuild the Python task with a change, straight into the served
    // directory: the server loads it and the next run is the new code.
    let project = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/components/py_probe/app.py")).unwrap();
    assert!(source.contains("VERSION = 1\n"));
    std::fs::write(project.path().join("app.py"), source.replace("VERSION = 1\n", "VERSION = 2\n")).unwrap();
    let old = digest_of("py_probe");
    let out = plugins.path().join("py_probe.wasm");
    ok(&taskbox(project.path(), &["build", ".", "--out", out.to_str().unwrap()]));
    eventually("the rebuilt plugin is loaded", Duration::from_secs(60), || async {
            let (_, info) = server.get("/plugins/py_probe").await;
            info["digest"].as_str().is_some_and(|digest| digest != old) && info["error"].is_null()
        })
        .await;
    let record = run_now("py_probe", json!({"action": "version"})).await;
    assert_eq!(record["result"], json!({"version": 2}), "{record}");
}
}
