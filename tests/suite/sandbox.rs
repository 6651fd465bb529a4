//! The executor with real components: outcomes, deadlines, memory caps,
//! isolation, output bounds, traps — and a host that outlives them all.

use serde_json::json;
use std::time::{Duration, Instant};
use taskbox::executor::{Limits, RunContext, RunRequest};

use crate::support::*;

#[tokio::test]
async fn a_task_that_returns_ok_succeeds_with_its_json_result() {
    let (_dir, echo) = example("echo");
    let outcome = run(&echo, json!({"x": 1, "list": [1, 2]})).await;
    assert!(outcome.is_success, "{outcome:?}");
    assert_eq!(outcome.result, Some(json!({"x": 1, "list": [1, 2]})));
    assert_eq!(outcome.error_message, None);
    assert_eq!(outcome.plugin_digest, echo.runnable.digest);
    assert_eq!(outcome.plugin_digest.len(), 64);
    assert!(outcome.completed_at >= outcome.started_at);
    assert!(outcome.duration_seconds > 0.0 && outcome.duration_seconds < 1.0);
}

#[tokio::test]
async fn a_task_that_returns_err_fails_with_its_message_and_logs() {
    let (_dir, fail) = example("fail");
    let outcome = run(&fail, json!({"message": "disk full"})).await;
    assert!(!outcome.is_success);
    assert_eq!(outcome.error_message.as_deref(), Some("disk full"));
    assert_eq!(outcome.result, None);
    assert!(outcome.logs.contains("WARN attempt 1 is about to fail"), "{}", outcome.logs);
}

#[tokio::test]
async fn the_guest_sees_its_context() {
    let (_dir, probe) = example("probe");
    let scheduled_at = "2026-01-02T03:04:05Z".parse().unwrap();
    let context =
        RunContext { config_id: "cfg-1".into(), execution_id: "exec-9".into(), attempt: 3, scheduled_at };
    let request = RunRequest {
        context,
        params: json!({"action": "context"}).to_string(),
        limits: Limits::default(),
        doors: Default::default(),
    };
    let outcome = EXECUTOR.run(&probe.runnable, request).await;
    assert_eq!(
        outcome.result.unwrap(),
        json!({"task_type": "probe", "config_id": "cfg-1", "execution_id": "exec-9", "attempt": 3,
               "scheduled_at": "2026-01-02T03:04:05.000000Z"})
    );
}

#[tokio::test]
async fn a_cpu_loop_is_stopped_at_its_deadline() {
    let (_dir, probe) = example("probe");
    let deadline = Duration::from_secs(1);
    let limits = Limits { timeout: deadline, ..Limits::default() };
    let start = Instant::now();
    let outcome = run_with(&probe, json!({"action": "spin"}), limits).await;
    let took = start.elapsed();
    assert!(!outcome.is_success);
    let message = outcome.error_message.unwrap();
    assert!(message.starts_with("timed out after 1.0"), "{message}");
    assert!(
        outcome.duration_seconds >= 1.0 && outcome.duration_seconds <= 1.1,
        "{}",
        outcome.duration_seconds
    );
    assert!(took >= deadline && took <= deadline.mul_f64(1.1), "{took:?}");
}

#[tokio::test]
async fn a_sleeping_guest_is_stopped_at_its_deadline() {
    let (_dir, sleep) = example("sleep");
    let limits = Limits { timeout: Duration::from_millis(500), ..Limits::default() };
    let outcome = run_with(&sleep, json!({"ms": 10_000}), limits).await;
    assert!(!outcome.is_success);
    assert!(outcome.error_message.unwrap().contains("timed out after 0.5"));
    assert!(
        outcome.duration_seconds >= 0.5 && outcome.duration_seconds <= 0.55,
        "{}",
        outcome.duration_seconds
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeping_runs_do_not_hold_threads() {
    let (_dir, sleep) = example("sleep");
    let start = Instant::now();
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let sleep = sleep.clone();
        runs.spawn(async move { run(&sleep, json!({"ms": 300})).await });
    }
    while let Some(outcome) = runs.join_next().await {
        assert!(outcome.unwrap().is_success);
    }
    // 50 × 300 ms on two threads: concurrent, so about 300 ms, not 7.5 s.
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
}

#[tokio::test]
async fn memory_over_the_cap_is_a_failure_and_under_it_is_fine() {
    let (_dir, probe) = example("probe");
    let limits = Limits { memory_bytes: 32 << 20, ..Limits::default() };
    let over = run_with(&probe, json!({"action": "alloc", "mb": 64}), limits).await;
    assert!(!over.is_success);
    let message = over.error_message.unwrap();
    assert!(message.contains("exceeded the memory limit of 32 MiB"), "{message}");
    let under = run_with(&probe, json!({"action": "alloc", "mb": 8}), limits).await;
    assert_eq!(probe_ok(&under), &json!(8 << 20));
}

#[tokio::test]
async fn the_guest_reaches_no_files_env_or_network() {
    let (_dir, probe) = example("probe");
    let read = run(&probe, json!({"action": "read_file", "path": "/etc/passwd"})).await;
    probe_refused(&read);
    for dir in ["/", ".", "/tmp", "/etc"] {
        probe_refused(&run(&probe, json!({"action": "list_dir", "path": dir})).await);
    }
    let env = run(&probe, json!({"action": "env"})).await;
    assert_eq!(probe_ok(&env), &json!({}), "the host environment leaked");

    let marker = std::env::temp_dir().join(format!("taskbox-probe-{}", uuid::Uuid::new_v4()));
    let write = run(&probe, json!({"action": "write_file", "path": marker.to_str().unwrap()})).await;
    probe_refused(&write);
    assert!(!marker.exists(), "the guest wrote to the host's /tmp");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let connect = run(&probe, json!({"action": "tcp_connect", "addr": addr})).await;
    probe_refused(&connect);
    assert!(listener.accept().is_err(), "the guest reached a host socket");
}

#[tokio::test]
async fn sixty_four_mib_of_output_stays_bounded() {
    let (_dir, probe) = example("probe");
    for stream in ["stdout", "stderr"] {
        let start = Instant::now();
        let outcome = run(&probe, json!({"action": "flood", "bytes": 64 << 20, "stream": stream})).await;
        assert_eq!(probe_ok(&outcome), &json!(64 << 20), "the guest's writes must not fail");
        assert!(outcome.logs.len() < 65 * 1024, "{stream}: {} bytes of logs", outcome.logs.len());
        let cut = (64 << 20) - 64 * 1024;
        assert!(outcome.logs.contains(&format!("[... {cut} more bytes of {stream} cut]")), "{stream}");
        assert!(start.elapsed() < Duration::from_secs(5), "{stream}: {:?}", start.elapsed());
    }
    let logs = run(&probe, json!({"action": "log", "lines": 100_000})).await;
    assert!(logs.is_success);
    assert!(logs.logs.len() < 65 * 1024 && logs.logs.contains("more bytes of log cut"));
}

#[tokio::test]
async fn an_oversized_result_is_a_failure() {
    let (_dir, probe) = example("probe");
    let outcome = run(&probe, json!({"action": "result", "bytes": 100_000})).await;
    assert!(!outcome.is_success);
    assert_eq!(
        outcome.error_message.as_deref(),
        Some("the result is 100000 bytes, over the limit of 64 KiB (max_output_kb)")
    );
    let fits = run(&probe, json!({"action": "result", "bytes": 1000})).await;
    assert_eq!(fits.result, Some(json!("x".repeat(1000))), "non-JSON text is kept as a JSON string");
}

#[tokio::test]
async fn a_panic_is_a_failure_with_its_message_and_the_host_lives_on() {
    let (_dir, probe) = example("probe");
    let outcome = run(&probe, json!({"action": "panic", "message": "boom"})).await;
    assert!(!outcome.is_success);
    let message = outcome.error_message.unwrap();
    assert!(message.starts_with("the guest panicked: boom"), "{message}");
    assert!(outcome.logs.contains("panicked at") && outcome.logs.contains("boom"), "{}", outcome.logs);
    assert!(run(&probe, json!({"action": "context"})).await.is_success);
}

#[tokio::test]
async fn a_stack_overflow_is_a_failure_and_the_host_lives_on() {
    let (_dir, probe) = example("probe");
    let outcome = run(&probe, json!({"action": "recurse"})).await;
    assert!(!outcome.is_success);
    assert!(outcome.error_message.unwrap().starts_with("stack overflow"));
    assert!(run(&probe, json!({"action": "context"})).await.is_success);
}

#[tokio::test]
async fn a_command_gets_params_on_stdin_and_env_and_its_stdout_is_the_result() {
    let (_dir, wc) = example("wc");
    let outcome = run(&wc, json!({"text": "one two\nthree"})).await;
    // wc itself checks that TASKBOX_PARAMS equals stdin (exit 3 otherwise).
    assert!(outcome.is_success, "{outcome:?}");
    assert_eq!(outcome.result, Some(json!({"lines": 2, "words": 3, "chars": 13})));

    let plain = run(&wc, json!({"text": "a b", "plain": true})).await;
    assert_eq!(plain.result, Some(json!("1 lines, 2 words, 3 chars\n")));
}

#[tokio::test]
async fn a_command_that_exits_non_zero_fails_with_its_stderr() {
    let (_dir, wc) = example("wc");
    let outcome = run(&wc, json!({"no_text": true})).await;
    assert!(!outcome.is_success);
    assert!(outcome.error_message.unwrap().contains("the command exited with a failure status"));
    assert!(outcome.logs.contains("wc: expected params"), "{}", outcome.logs);
}

#[tokio::test]
async fn sidecar_grants_an_env_var_and_a_read_only_dir() {
    let dir = PluginDir::new();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    dir.add("probe", "granted")
        .write("data/hello.txt", "hello from the host")
        .write("granted.toml", "[env]\nGREETING = \"hi\"\n\n[dirs]\n\"/data\" = \"data\"\n");
    let plugin = dir.plugin("granted");

    let env = run(&plugin, json!({"action": "env"})).await;
    assert_eq!(probe_ok(&env), &json!({"GREETING": "hi"}));
    let read = run(&plugin, json!({"action": "read_file", "path": "/data/hello.txt"})).await;
    assert_eq!(probe_ok(&read), &json!("hello from the host"));
    let listed = run(&plugin, json!({"action": "list_dir", "path": "/data"})).await;
    assert_eq!(probe_ok(&listed), &json!(["hello.txt"]));
    let write = run(&plugin, json!({"action": "write_file", "path": "/data/new.txt"})).await;
    probe_refused(&write);
    assert!(!dir.path().join("data/new.txt").exists());
    // Granting one dir grants nothing outside it.
    probe_refused(&run(&plugin, json!({"action": "read_file", "path": "/etc/passwd"})).await);
}

#[tokio::test]
async fn sidecar_limits_apply_unless_the_caller_overrides_them() {
    let dir = PluginDir::new();
    dir.add("probe", "small")
        .write("small.toml", "memory_mb = 16\ntimeout_seconds = 0.3\nmax_output_kb = 1\n");
    let plugin = dir.plugin("small");
    let limits = plugin.limits(None, None);
    assert_eq!(
        limits,
        Limits { timeout: Duration::from_millis(300), memory_bytes: 16 << 20, max_output_bytes: 1024 }
    );

    let alloc = run_with(&plugin, json!({"action": "alloc", "mb": 32}), limits).await;
    assert!(alloc.error_message.unwrap().contains("memory limit of 16 MiB"));
    let spin = run_with(&plugin, json!({"action": "spin"}), limits).await;
    assert!(spin.error_message.unwrap().contains("timed out after 0.3"));
    let big = run_with(&plugin, json!({"action": "result", "bytes": 2000}), limits).await;
    assert!(big.error_message.unwrap().contains("over the limit of 1 KiB"));

    let overridden = plugin.limits(Some(Duration::from_secs(5)), Some(64));
    assert_eq!((overridden.timeout, overridden.memory_bytes), (Duration::from_secs(5), 64 << 20));
    assert!(run_with(&plugin, json!({"action": "alloc", "mb": 32}), overridden).await.is_success);
}
