//! Who may call what: health is public, every other route takes a token,
//! a viewer only reads, tokens from the CLI, and the first admin token a
//! fresh `taskbox serve` prints once.

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

use super::ROUTES;

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_public_and_everything_else_needs_the_token(d) {
    let app = spawn_app(d).await;
    let health = app.client.get(format!("{}/system/health", app.base)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let body: Value = health.json().await.unwrap();
    assert_eq!((body["status"].as_str(), body["plugins_loaded"].as_u64()), (Some("ok"), Some(3)));

    for path in [
        "/configs",
        "/schedules",
        "/schedules/summary",
        "/executions",
        "/executions/stats",
        "/plugins",
        "/system/status",
        "/system/enums",
    ] {
        let none = app.client.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(error_code(&none.json().await.unwrap()), "unauthorized");
        let wrong = app.client.get(format!("{}{path}", app.base)).bearer_auth("nope").send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(app.get(path).await.0, StatusCode::OK, "{path}");
    }
    let (status, body) = app.get("/no/such/route").await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "not_found"));
}
}

/// `taskbox token …` against the app's database.
fn token_cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .arg("token")
        .args(args)
        .env("TASKBOX_DATABASE_URL", &app.d.database_url)
        .output()
        .unwrap()
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_checks_the_token_and_the_role(d) {
    let app = spawn_app(d).await;
    let created = token_cli(&app, &["create", "--name", "ops", "--role", "viewer"]);
    assert_eq!(created.status.code(), Some(0), "{}", String::from_utf8_lossy(&created.stderr));
    let viewer = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(viewer.starts_with("tbx_") && viewer.len() > 60);
    let listed = String::from_utf8(token_cli(&app, &["list"]).stdout).unwrap();
    assert!(listed.contains("ops") && listed.contains("viewer") && !listed.contains(&viewer), "{listed}");

    let config = app.create(json!({"name": "c", "task_type": "echo", "scheduler_type": "manual"})).await;
    let id = config["id"].as_str().unwrap();
    let routes: Vec<(Method, String)> = ROUTES
        .iter()
        .map(|(method, template)| {
            let path = match *template {
                "/executions/{id}" => "/executions/1".to_owned(),
                "/executions" if *method == "DELETE" => "/executions?older_than_days=30".to_owned(),
                t => t
                    .replace("{id}", id)
                    .replace("{execution_id}", id)
                    .replace("{action}", "start")
                    .replace("{name}", "echo")
                    .replace("{bucket}", "b")
                    .replace("{key}", "k"),
            };
            (method.parse().unwrap(), path)
        })
        .collect();
    for (method, path) in &routes {
        let url = format!("{}{path}", app.base);
        let send = |token: Option<&str>| {
            let mut request = app.client.request(method.clone(), &url).json(&json!({}));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send()
        };
        assert_eq!(send(None).await.unwrap().status(), StatusCode::UNAUTHORIZED, "{method} {path}, no token");
        assert_eq!(
            send(Some("tbx_wrong")).await.unwrap().status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}, wrong"
        );
        let as_viewer = send(Some(&viewer)).await.unwrap().status();
        // Secrets and the audit log are admin-only even to read.
        if *method == Method::GET && !path.starts_with("/secrets") && *path != "/audit" {
            assert!(
                as_viewer != StatusCode::UNAUTHORIZED && as_viewer != StatusCode::FORBIDDEN,
                "{method} {path}: {as_viewer}"
            );
        } else {
            assert_eq!(as_viewer, StatusCode::FORBIDDEN, "{method} {path}, viewer");
        }
        let as_admin = send(Some(TOKEN)).await.unwrap();
        let status = as_admin.status();
        assert!(status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN, "{method} {path}: {status}");
        let body = as_admin.text().await.unwrap();
        assert!(!body.contains("no such route"), "{method} {path} is not routed: {body}");
    }

    // A revoked token (never used, so not cached) is refused.
    let other =
        String::from_utf8(token_cli(&app, &["create", "--name", "temp", "--role", "admin"]).stdout).unwrap();
    assert_eq!(token_cli(&app, &["revoke", "temp"]).status.code(), Some(0));
    let revoked =
        app.client.get(format!("{}/configs", app.base)).bearer_auth(other.trim()).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(token_cli(&app, &["revoke", "temp"]).status.code(), Some(1));
    assert_eq!(token_cli(&app, &["create", "--name", "ops"]).status.code(), Some(2), "duplicate name");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_a_first_admin_token_once_and_serves_the_api(d) {
    use std::io::BufRead;
    let plugins = PluginDir::new();
    plugins.add("echo", "echo");
    let start_server = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_taskbox"))
            .arg("serve")
            .env_remove("TASKBOX_REDIS_URL")
            .envs(d.serve_env())
            .env("TASKBOX_PLUGIN_DIR", plugins.path())
            .env("TASKBOX_CACHE_DIR", plugins.cache.path())
            .env("TASKBOX_BIND", "127.0.0.1:0")
            .env_remove("TASKBOX_ADMIN_TOKEN")
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // Reads stderr until the API is listening; returns its address and any token printed.
    let read_start = |server: &mut std::process::Child| {
        let lines = std::io::BufReader::new(server.stderr.take().unwrap()).lines();
        let (mut token, mut addr) = (None, None);
        for line in lines {
            let line = line.unwrap();
            if let Some(t) = line.split_whitespace().find(|w| w.starts_with("tbx_")) {
                token = Some(t.to_owned());
            }
            if let Some(at) = line.find("http://") {
                addr = Some(line[at..].split_whitespace().next().unwrap().to_owned());
                break;
            }
        }
        (addr.expect("serve logs its address"), token)
    };
    let mut server = start_server();
    let (base, token) = read_start(&mut server);
    let token = token.expect("a first admin token is printed");
    let client = Client::new();
    let ok = client.get(format!("{base}/configs")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    server.kill().unwrap();
    server.wait().unwrap();

    let mut again = start_server();
    let (base, token_again) = read_start(&mut again);
    assert_eq!(token_again, None, "printed only on the first start");
    let still = client.get(format!("{base}/configs")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(still.status(), StatusCode::OK);
    again.kill().unwrap();
    again.wait().unwrap();
}
}
