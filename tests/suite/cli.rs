//! The `taskbox` binary as a user runs it: JSON on stdout, exit codes 0/1/2,
//! one-line reasons on stderr, and a compiled cache shared between processes.

use serde_json::{Value, json};
use std::process::{Command, Output};

use crate::support::*;

fn taskbox(dir: &PluginDir, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .args(args)
        .env("TASKBOX_PLUGIN_DIR", dir.path())
        .env("TASKBOX_CACHE_DIR", dir.cache.path())
        .env_remove("RUST_LOG")
        .output()
        .expect("the taskbox binary runs")
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out:?}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn run_prints_the_outcome_and_exits_0_on_success() {
    let dir = PluginDir::new();
    dir.add("echo", "echo");
    let out = taskbox(&dir, &["run", "echo", "--params", r#"{"x":1}"#]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed = stdout_json(&out);
    assert_eq!(printed["task_type"], "echo");
    assert_eq!(printed["is_success"], true);
    assert_eq!(printed["result"], json!({"x": 1}));
    for field in [
        "execution_id",
        "error_message",
        "logs",
        "started_at",
        "completed_at",
        "duration_seconds",
        "plugin_digest",
    ] {
        assert!(printed.get(field).is_some(), "missing {field}: {printed}");
    }
    assert_eq!(out.stdout.iter().filter(|&&b| b == b'\n').count(), 1, "one JSON object on one line");
}

#[test]
fn run_exits_1_when_the_task_fails() {
    let dir = PluginDir::new();
    dir.add("fail", "fail").add("fib", "fib");
    let out = taskbox(&dir, &["run", "fail", "--params", r#"{"message":"nope"}"#]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout_json(&out)["error_message"], "nope");

    let out = taskbox(&dir, &["run", "fib", "--params", r#"{"n":90}"#, "--timeout", "0.2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout_json(&out)["error_message"].as_str().unwrap().starts_with("timed out after 0.2"));
}

#[test]
fn run_exits_2_with_a_reason_when_it_cannot_run() {
    let dir = PluginDir::new();
    dir.add("echo", "echo").write("broken.wasm", "nope");
    let cases: [(&[&str], &str); 5] = [
        (&["run", "missing"], "unknown task type \"missing\""),
        (&["run", "../echo"], "unknown task type \"../echo\""),
        (&["run", "echo", "--params", "{not json"], "--params is not valid JSON"),
        (&["run", "broken"], "plugin \"broken\" failed to load: not a valid WebAssembly component"),
        (&["run", "echo", "--timeout", "0"], "must be above 0"),
    ];
    for (args, reason) in cases {
        let out = taskbox(&dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(stderr(&out).contains(reason), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn run_applies_the_memory_flag() {
    let dir = PluginDir::new();
    dir.add("probe", "probe");
    let out =
        taskbox(&dir, &["run", "probe", "--params", r#"{"action":"alloc","mb":48}"#, "--memory-mb", "32"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout_json(&out)["error_message"].as_str().unwrap().contains("memory limit of 32 MiB"));
}

#[test]
fn plugin_list_shows_each_file_and_the_cache_serves_a_second_process() {
    let dir = PluginDir::new();
    dir.add("echo", "echo").add("wc", "wc").write("broken.wasm", "nope");
    let first = taskbox(&dir, &["plugin", "list", "--json"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let first = stdout_json(&first);
    let second = stdout_json(&taskbox(&dir, &["plugin", "list", "--json"]));

    let by_name = |list: &Value, name: &str| {
        list.as_array().unwrap().iter().find(|p| p["name"] == name).cloned().unwrap()
    };
    assert_eq!(by_name(&first, "echo")["shape"], "task");
    assert_eq!(by_name(&first, "wc")["shape"], "command");
    assert!(
        by_name(&first, "broken")["error"].as_str().unwrap().contains("not a valid WebAssembly component")
    );
    for name in ["echo", "wc"] {
        assert_eq!(by_name(&first, name)["source"], "compiled", "{name}");
        assert_eq!(by_name(&second, name)["source"], "cache", "{name}");
        assert_eq!(by_name(&first, name)["digest"], by_name(&second, name)["digest"]);
    }

    let table = taskbox(&dir, &["plugin", "list"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.lines().any(|l| l.starts_with("wc") && l.contains("command") && l.ends_with("ok")),
        "{table}"
    );
}

#[test]
fn plugin_check_says_whether_a_file_would_load() {
    let dir = PluginDir::new();
    dir.add("echo", "echo").write("empty.wasm", b"\0asm\x0d\0\x01\0");
    let good = taskbox(&dir, &["plugin", "check", dir.path().join("echo.wasm").to_str().unwrap()]);
    assert_eq!(good.status.code(), Some(0));
    assert_eq!(stdout_json(&good)["shape"], "task");
    let bad = taskbox(&dir, &["plugin", "check", dir.path().join("empty.wasm").to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("exports neither"), "{}", stderr(&bad));
}

#[test]
fn every_command_has_help() {
    let dir = PluginDir::new();
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["plugin", "--help"],
        &["plugin", "list", "--help"],
        &["plugin", "check", "--help"],
    ] {
        let out = taskbox(&dir, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: taskbox"), "{args:?}");
    }
}
