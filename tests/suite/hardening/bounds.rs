//! Small input bounds: a description is bounded as a name is; a patch that
//! sets a required field to null is refused naming it (not a silent 200);
//! a refusal of an uploaded sidecar says what is wrong without the server's
//! paths.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptions_are_bounded_and_a_null_name_is_refused(d) {
    let app = spawn_app(d).await;
    let big = json!({"name": "big", "task_type": "echo", "scheduler_type": "manual", "description": "x".repeat(1 << 20)});
    let (status, body) = app.post("/configs", big).await;
    // 1 MiB of description is over the body limit too; just under it, the field's own bound speaks.
    assert!(status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::PAYLOAD_TOO_LARGE, "{status} {body}");
    let long = json!({"name": "long", "task_type": "echo", "scheduler_type": "manual", "description": "x".repeat(100_000)});
    let (status, body) = app.post("/configs", long).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("description"), "{body}");
    assert_eq!(app.get("/configs").await.1["total"], 0, "nothing stored");

    let id = app.create_id(json!({"name": "c", "task_type": "echo", "scheduler_type": "manual"})).await;
    for field in ["name", "task_type", "scheduler_type"] {
        let (status, body) = app.call(Method::PATCH, &format!("/configs/{id}"), Some(json!({field: null}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: null → {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(field), "{body}");
    }
    let (status, body) =
        app.call(Method::PATCH, &format!("/configs/{id}"), Some(json!({"description": "x".repeat(100_000)}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(app.get(&format!("/configs/{id}")).await.1["name"], "c", "nothing changed");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_names_no_host_path(d) {
    let app = spawn_app(d).await;
    let wasm = std::fs::read(built_plugin("echo")).unwrap();
    for sidecar in ["memory_mb = 999999\n", "colour = \"red\"\n", "[dirs]\n\"/d\" = \"/nonexistent\"\n", "not toml ["] {
        let (status, body) = app.upload("echo2", wasm.clone(), Some(sidecar)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{sidecar}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(!message.contains("/tmp") && !message.contains(std::env::temp_dir().to_str().unwrap()), "a host path in {message:?}");
    }
}
}
