//! Plugins as versioned artifacts, black-box on both deployments with real
//! `taskbox serve` processes: an upload runs on a worker whose plugin
//! directory is empty (a second process on the distributed deployment) and
//! a new one reaches it within the bound; a broken upload changes nothing;
//! rollback; a pinned config keeps its version across uploads; deletion
//! is refused while a version is needed; the version list counts runs;
//! replay (server and `taskbox replay`) reproduces successes and failures,
//! runs replaced code, and says when an outcome differs.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::*;

async fn upload_example(server: &Server, example: &str, name: &str) -> Value {
    let (status, body) = server.upload(name, std::fs::read(built_plugin(example)).unwrap(), None).await;
    assert!(status == StatusCode::CREATED || status == StatusCode::OK, "{status}: {body}");
    body
}

async fn versions(server: &Server, name: &str) -> Vec<Value> {
    let (status, list) = server.get(&format!("/plugins/{name}/versions")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["items"].as_array().unwrap().clone()
}

fn version<'a>(list: &'a [Value], digest: &str) -> &'a Value {
    list.iter().find(|v| v["digest"] == digest).unwrap_or_else(|| panic!("no {digest} in {list:?}"))
}

async fn delete(server: &Server, name: &str, digest: String) -> (StatusCode, Value) {
    server.call(reqwest::Method::DELETE, &format!("/plugins/{name}/versions/{digest}"), None).await
}

async fn plugin_events(server: &Server, id: &str) -> Vec<String> {
    let (_, history) = server.get(&format!("/schedules/{id}/history")).await;
    let events = history.as_array().unwrap().iter().filter(|e| e["event"] == "plugin");
    events.map(|e| e["message"].as_str().unwrap().to_owned()).collect()
}

/// `taskbox replay` with `args`, in the deployment's environment (for
/// plugins granted buckets).
fn replay(d: &Deployment, args: &[&str]) -> Output {
    let plugins = PluginDir::new();
    Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .arg("replay")
        .args(args)
        .env_remove("TASKBOX_REDIS_URL")
        .envs(d.serve_env())
        .env("TASKBOX_PLUGIN_DIR", plugins.path())
        .env("TASKBOX_CACHE_DIR", plugins.cache.path())
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!("stdout: {}\nstderr: {}", String::from_utf8_lossy(&out.stdout), stderr(out))
    })
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_runs_on_a_worker_whose_plugin_directory_is_empty(d) {
    // Distributed: the API (and scheduler) and the worker are two
    // processes, neither with the plugin on disk. Embedded: one process.
    let nodes = EmptyNodes::start(&d);
    let (api, worker_pid) = (&nodes.api, nodes.worker_pid());

    let uploaded = upload_example(api, "echo", "job").await;
    let echo = digest_of("echo");
    assert_eq!(uploaded["digest"], echo, "{uploaded}");
    assert_eq!((uploaded["source"].as_str(), uploaded["current"].as_bool()), (Some("upload"), Some(true)));
    assert_eq!(uploaded["shape"], "task");
    let (_, info) = api.get("/plugins/job").await;
    assert_eq!((info["digest"].as_str(), info["origin"].as_str()), (Some(echo.as_str()), Some("upload")), "{info}");
    assert!(info["directory_digest"].is_null(), "{info}");

    let id = api.create_id(json!({"name": "from-upload", "task_type": "job", "scheduler_type": "manual",
        "parameters": {"x": 1}})).await;
    let record = api.run_and_wait(&id, Duration::from_secs(20)).await;
    assert_eq!(record["is_success"], true, "{record}");
    assert_eq!((&record["result"], &record["parameters"]), (&json!({"x": 1}), &json!({"x": 1})));
    assert_eq!(record["plugin_digest"], echo);
    assert!(record["worker"].as_str().unwrap().contains(&format!("-{worker_pid}-")), "{record}");
    assert!(std::fs::read_dir(nodes.worker_dir.path()).unwrap().next().is_none(), "nothing was written to its disk");

    // A new version reaches the worker within the bound (1 s polls).
    let uploaded_at = Instant::now();
    upload_example(api, "fail", "job").await;
    let fail = digest_of("fail");
    loop {
        let record = api.run_and_wait(&id, Duration::from_secs(20)).await;
        if record["plugin_digest"] == fail {
            assert_eq!(record["is_success"], false, "{record}");
            break;
        }
        assert!(uploaded_at.elapsed() < Duration::from_secs(4), "the worker still runs the old version");
    }
    let took = uploaded_at.elapsed();
    assert!(took < Duration::from_secs(4), "the new version took {took:?}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_upload_is_refused_and_changes_nothing(d) {
    let plugins = PluginDir::new();
    let server = serve(&d, &plugins, &[("TASKBOX_MAX_UPLOAD_MB", "1".into())]);
    let echo = digest_of("echo");
    upload_example(&server, "echo", "job").await;
    let before = server.get("/plugins/job").await.1;

    let (status, body) = server.upload("job", b"not a component".to_vec(), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("component: not a valid WebAssembly component"), "{message}");

    let wasm = std::fs::read(built_plugin("fail")).unwrap();
    let (status, body) = server.upload("job", wasm.clone(), Some("memory_mb = 0\n")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("memory_mb = 0"), "{body}");
    let (status, body) = server.upload("job", wasm.clone(), Some("no_such_key = 1\n")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let bad_header = server
        .client
        .put(format!("{}/plugins/job", server.base))
        .bearer_auth(SERVER_TOKEN)
        .header("taskbox-sidecar", "%%% not base64")
        .body(wasm.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(bad_header.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(server.upload("job", Vec::new(), None).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(server.upload("Bad.Name", wasm.clone(), None).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = server.upload("job", vec![0u8; 2 << 20], None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");

    // A viewer may read versions but not upload.
    let viewer = crate::support::viewer_token(d.tokens.as_ref()).await;
    let refused = server.client.put(format!("{}/plugins/job", server.base)).bearer_auth(&viewer).body(wasm)
        .send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // Nothing changed: one version, still current, still serving.
    let list = versions(&server, "job").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!((&list[0]["digest"], &list[0]["current"]), (&json!(echo), &json!(true)));
    let after = server.get("/plugins/job").await.1;
    assert_eq!((&after["digest"], &after["loaded_at"]), (&before["digest"], &before["loaded_at"]));
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_pinning_retention_and_run_counts(d) {
    let plugins = PluginDir::new();
    let server = serve(&d, &plugins, &[]);
    let (echo, fail) = (digest_of("echo"), digest_of("fail"));
    upload_example(&server, "echo", "job").await;
    let follows = server.create_id(json!({"name": "follows", "task_type": "job", "scheduler_type": "manual",
        "parameters": {"who": "follows"}})).await;
    let pinned = server.create_id(json!({"name": "pinned", "task_type": "job", "scheduler_type": "manual",
        "parameters": {"who": "pinned"}, "plugin_digest": echo})).await;

    // Pins must name a version of the task type.
    for (digest, says) in [("f".repeat(64), "no version"), ("nope".into(), "64 lowercase hex"), (echo.to_uppercase(), "64 lowercase hex")] {
        let (status, body) = server.post("/configs", json!({"name": "bad", "task_type": "job",
            "scheduler_type": "manual", "plugin_digest": digest})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().starts_with("plugin_digest:"), "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(says), "{body}");
    }
    let (status, body) = server.call(reqwest::Method::PATCH, &format!("/configs/{follows}"),
        Some(json!({"plugin_digest": "a".repeat(64)}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // A new upload: the follower runs it, the pinned config keeps its version.
    let uploaded = upload_example(&server, "fail", "job").await;
    assert_eq!(uploaded["previous_digest"], echo);
    let r = server.run_and_wait(&follows, Duration::from_secs(20)).await;
    assert_eq!((&r["is_success"], &r["plugin_digest"]), (&json!(false), &json!(fail)), "{r}");
    let r = server.run_and_wait(&pinned, Duration::from_secs(20)).await;
    assert_eq!((&r["is_success"], &r["plugin_digest"]), (&json!(true), &json!(echo)), "{r}");
    assert_eq!(r["result"], json!({"who": "pinned"}));
    assert!(plugin_events(&server, &follows).await.iter().any(|e| e.starts_with("plugin uploaded")));
    assert!(plugin_events(&server, &pinned).await.is_empty(), "a pinned config is unaffected");

    // The list counts runs and pins; deletion waits until nothing needs it.
    let list = versions(&server, "job").await;
    assert_eq!(list.len(), 2);
    assert_eq!((&version(&list, &fail)["current"], &version(&list, &fail)["runs"]), (&json!(true), &json!(1)));
    assert_eq!((&version(&list, &echo)["runs"], &version(&list, &echo)["pinned_by"]), (&json!(1), &json!(1)));
    assert_eq!(version(&list, &echo)["size"], std::fs::metadata(built_plugin("echo")).unwrap().len());
    let (status, body) = delete(&server, "job", echo.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("pinned by 1"), "{body}");
    assert_eq!(delete(&server, "job", fail.clone()).await.0, StatusCode::CONFLICT, "the current version stays");
    assert_eq!(delete(&server, "job", "0".repeat(64)).await.0, StatusCode::NOT_FOUND);

    // Rollback: the follower runs the older version again, and hears of it.
    let (status, body) = server.post("/plugins/job/rollback", json!({"digest": "b".repeat(64)})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = server.post("/plugins/job/rollback", json!({"digest": echo})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["current"], &body["previous_digest"]), (&json!(true), &json!(fail)));
    let r = server.run_and_wait(&follows, Duration::from_secs(20)).await;
    assert_eq!((&r["is_success"], &r["plugin_digest"]), (&json!(true), &json!(echo)), "{r}");
    assert!(plugin_events(&server, &follows).await.iter().any(|e| e.starts_with("plugin rolled back")));
    assert_eq!(server.get("/plugins/job").await.1["digest"], echo);

    // Unpinned and no longer current, the newer version may go; its
    // records keep its digest, and a replay of one says why it cannot.
    let (status, _) = server.call(reqwest::Method::PATCH, &format!("/configs/{pinned}"),
        Some(json!({"plugin_digest": null}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(delete(&server, "job", fail.clone()).await.0, StatusCode::NO_CONTENT);
    assert_eq!(versions(&server, "job").await.len(), 1);
    let (_, failed) = server.get(&format!("/executions?config_id={follows}&is_success=false")).await;
    let failed = &failed["items"][0];
    assert_eq!(failed["plugin_digest"], fail);
    let (status, body) = server.post(&format!("/executions/{}/replay", failed["id"]), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("no longer kept"), "{body}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_reproduces_runs_with_their_version_params_and_context(d) {
    let plugins = PluginDir::new();
    let server = serve(&d, &plugins, &[]);
    let (echo, fail) = (digest_of("echo"), digest_of("fail"));
    upload_example(&server, "echo", "job").await;
    let id = server.create_id(json!({"name": "replayed", "task_type": "job", "scheduler_type": "manual",
        "parameters": {"n": 7}, "timeout_seconds": 30})).await;
    let success = server.run_and_wait(&id, Duration::from_secs(20)).await;
    assert_eq!((&success["parameters"], &success["timeout_seconds"]), (&json!({"n": 7}), &json!(30.0)));
    upload_example(&server, "fail", "job").await;
    let failure = server.run_and_wait(&id, Duration::from_secs(20)).await;
    assert_eq!((&failure["is_success"], &failure["plugin_digest"]), (&json!(false), &json!(fail)));
    // The config changes afterwards: replays keep what the records say.
    let (status, _) = server.call(reqwest::Method::PATCH, &format!("/configs/{id}"),
        Some(json!({"parameters": {"n": 8}}))).await;
    assert_eq!(status, StatusCode::OK);

    // On the server: a new run of the config, with the record's version and params.
    let (status, queued) = server.post(&format!("/executions/{}/replay", success["id"]), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let again = server.record_of(queued["execution_id"].as_str().unwrap(), Duration::from_secs(20)).await;
    assert_eq!((&again["trigger"], &again["is_success"]), (&json!("replay"), &json!(true)), "{again}");
    assert_eq!((&again["plugin_digest"], &again["result"]), (&json!(echo), &json!({"n": 7})), "replaced code ran");
    let (_, queued) = server.post(&format!("/executions/{}/replay", failure["id"]), json!({})).await;
    let again = server.record_of(queued["execution_id"].as_str().unwrap(), Duration::from_secs(20)).await;
    assert_eq!((&again["is_success"], &again["error_message"]), (&json!(false), &failure["error_message"]));
    let (status, _) = server.post("/executions/999999/replay", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Locally, from the server or straight from the database: same outcome, exit 0.
    let token = ["--server", &server.base, "--token", SERVER_TOKEN];
    let out = replay(&d, &[&[success["id"].to_string().as_str()][..], &token].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed = json_of(&out);
    assert_eq!((&printed["matches"], &printed["outcome"]["result"]), (&json!(true), &json!({"n": 7})), "{printed}");
    assert_eq!(printed["plugin_digest"], echo);
    let out = replay(&d, &[&failure["id"].to_string(), "--database-url", &d.database_url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json_of(&out)["outcome"]["is_success"], false);

    // The context is the record's: config, execution, attempt, scheduled time.
    upload_example(&server, "probe", "probe").await;
    let probe = server.create_id(json!({"name": "ctx", "task_type": "probe", "scheduler_type": "manual",
        "parameters": {"action": "context"}})).await;
    let recorded = server.run_and_wait(&probe, Duration::from_secs(20)).await;
    let out = replay(&d, &[&recorded["id"].to_string(), "--database-url", &d.database_url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let context = &json_of(&out)["outcome"]["result"];
    assert_eq!(context["execution_id"], recorded["execution_id"], "{context}");
    assert_eq!(context["config_id"], json!(probe));

    // A task whose outcome depends on state: the replay differs, exit 1.
    let counter = std::fs::read(built_plugin("counter")).unwrap();
    let sidecar = std::fs::read_to_string(built_plugin("counter").with_extension("toml")).unwrap();
    let (status, body) = server.upload("count", counter, Some(&sidecar)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["sidecar"].as_str().unwrap().contains("key_value_stores"), "{body}");
    let counted = server.create_id(json!({"name": "counted", "task_type": "count", "scheduler_type": "manual",
        "parameters": {"key": format!("replay-{}", uuid::Uuid::new_v4())}})).await;
    let recorded = server.run_and_wait(&counted, Duration::from_secs(20)).await;
    assert_eq!(recorded["is_success"], true, "{recorded}");
    let out = replay(&d, &[&[recorded["id"].to_string().as_str()][..], &token].concat());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(json_of(&out)["matches"], false);

    // Cannot replay: no such record (exit 2, with the reason).
    let out = replay(&d, &["999999", "--database-url", &d.database_url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no such execution"), "{}", stderr(&out));
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_files_are_recorded_as_versions_and_push_uploads(d) {
    let plugins = PluginDir::new();
    plugins.add("echo", "job");
    let server = serve(&d, &plugins, &[]);
    let echo = digest_of("echo");
    let list = versions(&server, "job").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!((&list[0]["digest"], &list[0]["source"], &list[0]["current"]),
        (&json!(echo), &json!("directory"), &json!(true)));
    let (_, info) = server.get("/plugins/job").await;
    assert_eq!((&info["origin"], &info["directory_digest"]), (&json!("directory"), &json!(echo)));

    // `taskbox plugin push`: the upload wins over the (older) file, and
    // GET /plugins/{name} says so.
    let push = Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .args(["plugin", "push"])
        .arg(built_plugin("fail"))
        .args(["--name", "job", "--server", &server.base, "--token", SERVER_TOKEN])
        .output()
        .unwrap();
    assert!(push.status.success(), "{}", stderr(&push));
    let fail = digest_of("fail");
    assert_eq!(json_of(&push)["digest"], fail);
    let (_, info) = server.get("/plugins/job").await;
    assert_eq!((&info["digest"], &info["origin"], &info["directory_digest"]),
        (&json!(fail), &json!("upload"), &json!(echo)), "{info}");

    // Pushing a broken file: exit 1 with the server's reason.
    let broken = plugins.path().join("broken.wasm.txt");
    std::fs::write(&broken, b"garbage").unwrap();
    let push = Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .args(["plugin", "push"]).arg(&broken)
        .args(["--name", "job", "--server", &server.base, "--token", SERVER_TOKEN])
        .output().unwrap();
    assert_eq!(push.status.code(), Some(1), "{}", stderr(&push));
    assert!(stderr(&push).contains("not a valid WebAssembly component"), "{}", stderr(&push));

    // A changed file is a new arrival: it serves again.
    let tmp = plugins.path().join(".job.tmp");
    std::fs::copy(built_plugin("wc"), &tmp).unwrap();
    std::fs::rename(&tmp, plugins.path().join("job.wasm")).unwrap();
    let wc = digest_of("wc");
    eventually("the changed file serves", Duration::from_secs(5), || async {
        server.get("/plugins/job").await.1["digest"] == wc
    }).await;
    assert_eq!(versions(&server, "job").await.len(), 3);
}
}
