//! Replay runs what the record ran: its own task type and digest, whatever
//! its config says now; and `taskbox replay` takes the execution id that
//! `POST /configs/{id}/run` answers (its latest attempt) as well as the
//! record's id.

use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

use crate::support::*;

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_runs_the_records_task_type_after_its_config_changed(d) {
    let server = serve_plugins(&d, &["echo", "fail"], &[]);
    let id = server.create_id(json!({"name": "c", "task_type": "echo", "scheduler_type": "manual",
        "parameters": {"n": 3}})).await;
    let execution_id = server.run(&id).await;
    let record = server.record_of(&execution_id, Duration::from_secs(20)).await;
    assert_eq!(record["is_success"], true);
    let (status, _) = server.call(Method::PATCH, &format!("/configs/{id}"), Some(json!({"task_type": "fail"}))).await;
    assert_eq!(status, StatusCode::OK);

    let (status, queued) = server.post(&format!("/executions/{}/replay", record["id"]), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let again = server.record_of(queued["execution_id"].as_str().unwrap(), Duration::from_secs(20)).await;
    assert_eq!((&again["task_type"], &again["is_success"]), (&json!("echo"), &json!(true)), "{again}");
    assert_eq!((&again["plugin_digest"], &again["result"]), (&record["plugin_digest"], &record["result"]));

    // taskbox replay by execution id, and by record id: the same run.
    for by in [execution_id.clone(), record["id"].to_string()] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_taskbox"))
            .args(["replay", &by, "--database-url", &d.database_url])
            .env("TASKBOX_SECRET_KEY_FILE", std::env::temp_dir().join("taskbox-tests.key"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "replay {by}: {stderr}");
        let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!((printed["id"].clone(), printed["matches"].clone()), (record["id"].clone(), json!(true)), "{printed}");
    }
}
}
