//! Secrets, attacker first, on both deployments: values never come back out
//! of the API, never sit in the database in clear, never reach a record, a
//! run's logs or the server's log, and reach only the runs whose sidecar
//! grants them. Viewers cannot touch them; a wrong key stops the server.

use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

use crate::support::targets::Target;

use crate::support::*;

const VALUE: &str = "s3cr3t-\"quoted\"-value-9f2c";

fn server(d: &Deployment, plugins: &PluginDir) -> Server {
    let mut env = d.serve_env();
    env.push(("TASKBOX_PLUGIN_DIR", plugins.path().display().to_string()));
    env.push(("TASKBOX_CACHE_DIR", plugins.cache.path().display().to_string()));
    Server::start(&env)
}

/// Runs config `id` now and waits for its record.
async fn run_now(server: &Server, id: &str) -> Value {
    server.run_and_wait(id, Duration::from_secs(20)).await
}

/// Every byte the `secrets` table holds, row after row.
async fn stored_bytes(d: &Deployment) -> Vec<u8> {
    let rows: Vec<(String, Vec<u8>, Vec<u8>)> = match &d.opened {
        taskbox::store::Opened::Postgres(pg) => {
            sqlx::query_as("SELECT name, nonce, ciphertext FROM secrets").fetch_all(pg.pool()).await.unwrap()
        }
        taskbox::store::Opened::Sqlite(s) => {
            sqlx::query_as("SELECT name, nonce, ciphertext FROM secrets").fetch_all(s.pool()).await.unwrap()
        }
    };
    assert!(!rows.is_empty(), "a secret is stored");
    rows.into_iter().flat_map(|(name, nonce, sealed)| [name.into_bytes(), nonce, sealed].concat()).collect()
}

/// Whether `value` appears in clear in the `secrets` table.
async fn stored_in_clear(d: &Deployment, value: &str) -> bool {
    stored_bytes(d).await.windows(value.len()).any(|w| w == value.as_bytes())
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_secret_reaches_its_run_and_nothing_else(d) {
    let plugins = PluginDir::new();
    plugins.add("probe", "probe").write("probe.toml", "secrets = [\"API_TOKEN\"]\n");
    plugins.add("probe", "nosy").add("probe", "needy").write("needy.toml", "secrets = [\"NOT_SET\"]\n");
    let server = server(&d, &plugins);
    let (status, _) = server.call(Method::PUT, "/secrets/API_TOKEN", Some(json!({"value": VALUE}))).await;
    assert_eq!(status, 204);
    let (status, list) = server.get("/secrets").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "API_TOKEN");
    assert!(!list.to_string().contains("s3cr3t"), "{list}");
    assert!(!stored_in_clear(&d, VALUE).await && !stored_in_clear(&d, "s3cr3t").await, "stored in clear");

    let create = |name: &str, task_type: &str, params: Value| {
        server.post("/configs", json!({"name": name, "task_type": task_type, "scheduler_type": "manual", "parameters": params}))
    };
    // The granted plugin sees it as an environment variable, and every
    // way it prints it is redacted.
    let (_, env_config) = create("env", "probe", json!({"action": "env"})).await;
    let record = run_now(&server, env_config["id"].as_str().unwrap()).await;
    assert_eq!(record["result"]["value"]["API_TOKEN"], "[redacted:API_TOKEN]", "{record}");
    let (_, leak_config) = create("leak", "probe", json!({"action": "leak", "name": "API_TOKEN"})).await;
    let record = run_now(&server, leak_config["id"].as_str().unwrap()).await;
    assert_eq!(record["is_success"], false);
    assert_eq!(record["error_message"], "failed holding [redacted:API_TOKEN]", "{record}");
    let logs = record["logs"].as_str().unwrap();
    for line in ["stdout: [redacted:API_TOKEN]", "stderr: [redacted:API_TOKEN]", "WARN log: [redacted:API_TOKEN]"] {
        assert!(logs.contains(line), "{line} in {logs}");
    }
    // A plugin without the grant sees nothing.
    let (_, nosy) = create("nosy", "nosy", json!({"action": "env"})).await;
    let record = run_now(&server, nosy["id"].as_str().unwrap()).await;
    assert_eq!(record["result"]["value"], json!({}), "{record}");
    // A granted secret that does not exist fails the run, naming it.
    let (_, needy) = create("needy", "needy", json!({"action": "env"})).await;
    let record = run_now(&server, needy["id"].as_str().unwrap()).await;
    assert_eq!(record["is_success"], false);
    assert_eq!(record["error_message"], "secret \"NOT_SET\" does not exist");

    // Nowhere in what the API answers, nor in the server's log.
    let (_, all) = server.get("/executions?limit=100").await;
    assert!(!all.to_string().contains("s3cr3t"), "{all}");
    let log = server.log.lock().unwrap().join("\n");
    assert!(!log.is_empty() && !log.contains("s3cr3t"), "{log}");

    // Viewers can neither read nor write secrets.
    let viewer = viewer_token(d.tokens.as_ref()).await;
    let as_viewer = |method: Method, path: &str| {
        server.client.request(method, format!("{}{path}", server.base)).bearer_auth(viewer.clone())
    };
    assert_eq!(as_viewer(Method::GET, "/secrets").send().await.unwrap().status(), 403);
    let put = as_viewer(Method::PUT, "/secrets/API_TOKEN").json(&json!({"value": "x"})).send().await.unwrap();
    assert_eq!(put.status(), 403);
    assert_eq!(as_viewer(Method::DELETE, "/secrets/API_TOKEN").send().await.unwrap().status(), 403);

    // Bad input is refused and changes nothing.
    for (path, body) in [
        ("/secrets/bad-name", json!({"value": "x"})),
        ("/secrets/OK", json!({"value": ""})),
        ("/secrets/OK", json!({"value": "x".repeat(16_385)})),
        ("/secrets/OK", json!({"other": "x"})),
    ] {
        let (status, answer) = server.call(Method::PUT, path, Some(body)).await;
        assert_eq!(status, 422, "{path}: {answer}");
    }
    assert_eq!(server.get("/secrets").await.1.as_array().unwrap().len(), 1);
    assert_eq!(server.call(Method::DELETE, "/secrets/API_TOKEN", None).await.0, 204);
    assert_eq!(server.call(Method::DELETE, "/secrets/API_TOKEN", None).await.0, 404);
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_posts_to_a_webhook_whose_url_is_a_secret(d) {
    let hook = Target::answering(b"ok".to_vec()).await;
    let plugins = PluginDir::new();
    let sidecar = format!(
        "secrets = [\"NOTIFY_WEBHOOK\"]\nallowed_outbound_hosts = [\"http://127.0.0.1:{}\"]\n",
        hook.port()
    );
    plugins.add("notify", "notify").write("notify.toml", sidecar);
    let server = server(&d, &plugins);
    let url = hook.url("/hooks/T000/B000/xyzzy-webhook-token");
    let (status, _) = server.call(Method::PUT, "/secrets/NOTIFY_WEBHOOK", Some(json!({"value": url}))).await;
    assert_eq!(status, 204);
    let (_, config) = server.post("/configs", json!({"name": "n", "task_type": "notify", "scheduler_type": "manual", "parameters": {"text": "deployed"}})).await;
    let record = run_now(&server, config["id"].as_str().unwrap()).await;
    assert_eq!(record["result"], json!({"status": 200}), "{record}");
    let seen = hook.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("POST", "/hooks/T000/B000/xyzzy-webhook-token"));
    assert_eq!(serde_json::from_slice::<Value>(&seen[0].body).unwrap(), json!({"text": "deployed"}));
    assert!(seen[0].headers.contains(&("content-type".into(), "application/json".into())), "{seen:?}");
    assert!(!record.to_string().contains("xyzzy"), "{record}");
}
}

#[tokio::test]
async fn a_wrong_key_stops_the_server_with_a_clear_error() {
    let d = Deployment::new(crate::support::Kind::Embedded).await;
    let plugins = PluginDir::new();
    let mut env = d.serve_env();
    env.retain(|(k, _)| *k != "TASKBOX_SECRET_KEY_FILE");
    env.push(("TASKBOX_PLUGIN_DIR", plugins.path().display().to_string()));
    env.push(("TASKBOX_SECRET_KEY", "11".repeat(32)));
    let server = Server::start(&env);
    let (status, _) = server.call(Method::PUT, "/secrets/A", Some(json!({"value": "v"}))).await;
    assert_eq!(status, 204);
    drop(server);
    env.retain(|(k, _)| *k != "TASKBOX_SECRET_KEY");
    env.push(("TASKBOX_SECRET_KEY", "22".repeat(32)));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("TASKBOX_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the secret key does not match"), "{stderr}");
}

#[tokio::test]
async fn the_cli_sets_lists_and_deletes_secrets_with_values_from_stdin() {
    use std::io::Write;
    let d = Deployment::new(crate::support::Kind::Distributed).await;
    let plugins = PluginDir::new();
    plugins.add("probe", "probe").write("probe.toml", "secrets = [\"SLACK_WEBHOOK\"]\n");
    let cli = |args: &[&str], stdin: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_taskbox"))
            .args(args)
            .env("TASKBOX_PLUGIN_DIR", plugins.path())
            .env("TASKBOX_CACHE_DIR", plugins.cache.path())
            .env_remove("TASKBOX_REDIS_URL")
            .envs(d.serve_env())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let set = cli(&["secret", "set", "SLACK_WEBHOOK"], "https://hooks.example/abc\n");
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    // `taskbox run` hands it to the granted plugin and prints it redacted.
    let ran = cli(&["run", "probe", "--params", r#"{"action": "leak", "name": "SLACK_WEBHOOK"}"#], "");
    let printed = String::from_utf8_lossy(&ran.stdout).into_owned();
    assert!(printed.contains("failed holding [redacted:SLACK_WEBHOOK]"), "{printed}");
    assert!(
        !printed.contains("hooks.example") && !String::from_utf8_lossy(&ran.stderr).contains("hooks.example")
    );
    let list = cli(&["secret", "list"], "");
    let listed = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(listed.contains("SLACK_WEBHOOK") && !listed.contains("hooks.example"), "{listed}");
    assert!(!stored_in_clear(&d, "hooks.example").await);
    assert_eq!(cli(&["secret", "set", "bad-name"], "x").status.code(), Some(2));
    assert_eq!(cli(&["secret", "set", "EMPTY"], "").status.code(), Some(2));
    assert!(cli(&["secret", "delete", "SLACK_WEBHOOK"], "").status.success());
    assert_eq!(cli(&["secret", "delete", "SLACK_WEBHOOK"], "").status.code(), Some(1));
    // Gone, a granted secret fails the run, naming it.
    let ran = cli(&["run", "probe", "--params", r#"{"action": "env"}"#], "");
    assert_eq!(ran.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&ran.stderr).contains("secret \"SLACK_WEBHOOK\" does not exist"));
}

conformance! {
#[tokio::test]
async fn a_run_gets_the_secrets_its_sidecar_names_and_no_other(d) {
    use taskbox::engine::worker::WorkerDoors;
    let key_dir = tempfile::tempdir().unwrap();
    let secrets =
        taskbox::doors::secrets::Secrets::open(d.opened.secrets(), None, &key_dir.path().join("k")).await.unwrap();
    secrets.put("MINE", "mine-value").await.unwrap();
    secrets.put("THEIRS", "theirs-value").await.unwrap();
    let dir = PluginDir::new();
    dir.add("probe", "probe").write("probe.toml", "secrets = [\"MINE\"]\n");
    let probe = dir.plugin("probe");
    let doors = WorkerDoors { kv: None, secrets: Some(secrets) }.open(&probe.runnable.grants).await.unwrap();
    let request = taskbox::executor::RunRequest {
        context: taskbox::executor::RunContext::ad_hoc(),
        params: json!({"action": "env"}).to_string(),
        limits: probe.limits(Some(Duration::from_secs(10)), None),
        doors,
    };
    let outcome = crate::support::EXECUTOR.run(&probe.runnable, request).await;
    assert_eq!(outcome.result.unwrap()["value"], json!({"MINE": "[redacted:MINE]"}));
}
}
