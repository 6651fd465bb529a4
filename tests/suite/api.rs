//! The HTTP API, black box: the real router served on a random port, with a
//! real PostgreSQL, Redis, fire loop and worker behind it.

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use taskbox::api::{self, AppState};
use taskbox::scheduler::{SchedulerService, fire_loop};
use taskbox::worker::Worker;
use tokio::sync::watch;

use crate::helpers::{EXECUTOR, PluginDir};
use crate::services::{TestDb, TestRedis};

const TOKEN: &str = "test-admin-token";

struct App {
    base: String,
    client: Client,
    db: TestDb,
    _redis: TestRedis,
    _plugins: PluginDir,
    stop: watch::Sender<bool>,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn spawn_app() -> App {
    let db = TestDb::new().await;
    let redis = TestRedis::new().await;
    let plugins = PluginDir::new();
    plugins.add("echo", "echo").add("fail", "fail").add("sleep", "sleep");
    let registry = plugins.registry();
    registry.scan().await.unwrap();
    let store: Arc<dyn taskbox::store::ConfigStore> = Arc::new(db.store.clone());
    let (stop, stopped) = watch::channel(false);

    let scheduler = redis.another().await;
    let changes = scheduler.changes();
    tokio::spawn(fire_loop(Arc::new(scheduler), changes, stopped.clone()));
    let worker = Worker {
        name: "api-test".into(),
        queue: Arc::new(redis.another().await),
        store: store.clone(),
        registry: registry.clone(),
        executor: EXECUTOR.clone(),
        concurrency: 4,
        base_backoff: Duration::from_millis(200),
    };
    tokio::spawn(worker.run(stopped.clone(), Duration::from_secs(5)));

    let service = SchedulerService::new(store.clone(), Arc::new(redis.backend.clone()));
    let tokens = Arc::new(db.store.clone());
    let queue = Arc::new(redis.backend.clone());
    let state = AppState::new(store, service, registry, queue, tokens, Some(TOKEN), Default::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
    tokio::spawn(api::serve(listener, state, stopped));
    App { base, client: Client::new(), db, _redis: redis, _plugins: plugins, stop }
}

impl App {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn create(&self, body: Value) -> Value {
        let (status, config) = self.post("/configs", body).await;
        assert_eq!(status, StatusCode::CREATED, "{config}");
        config
    }

    async fn executions(&self, config_id: &str) -> Vec<Value> {
        let (status, list) = self.get(&format!("/executions?config_id={config_id}&limit=500")).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list["items"].as_array().unwrap().clone()
    }
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_public_and_everything_else_needs_the_token() {
    let app = spawn_app().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_a_clear_error_and_nothing_is_stored() {
    let app = spawn_app().await;
    let cron = |expr: &str| json!({"name": "c", "task_type": "echo", "scheduler_type": "cron", "schedule_config": {"cron_expression": expr}});
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (cron("61 * * * *"), StatusCode::UNPROCESSABLE_ENTITY, "schedule_config.cron_expression"),
        (
            json!({"name": "c", "task_type": "echo", "scheduler_type": "cron", "schedule_config": {"cron_expression": "* * * * *", "timezone": "Mars/Olympus"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "schedule_config.timezone",
        ),
        (
            json!({"name": "c", "task_type": "echo", "scheduler_type": "date", "schedule_config": {"run_date": "2001-01-01T00:00:00Z"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "schedule_config.run_date",
        ),
        (
            json!({"name": "c", "task_type": "nope", "scheduler_type": "manual"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "task_type",
        ),
        (
            json!({"name": "c", "task_type": "echo", "scheduler_type": "manual", "timeout_seconds": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "timeout_seconds",
        ),
        (
            json!({"name": "c", "task_type": "echo", "scheduler_type": "manual", "max_retries": 1000}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "max_retries",
        ),
        (
            json!({"name": "x".repeat(201), "task_type": "echo", "scheduler_type": "manual"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            json!({"name": "c", "task_type": "echo", "scheduler_type": "manual", "colour": "red"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown field `colour`",
        ),
        (
            json!({"name": "c", "task_type": "echo", "scheduler_type": "weekly"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "scheduler_type",
        ),
        (
            json!({"task_type": "echo", "scheduler_type": "manual"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `name`",
        ),
    ];
    for (body, status, mention) in cases {
        let (got, answer) = app.post("/configs", body.clone()).await;
        assert_eq!(got, status, "{body} → {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(mention), "{body} → {answer}");
    }
    let raw = app
        .client
        .post(format!("{}/configs", app.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let huge = json!({"name": "big", "task_type": "echo", "scheduler_type": "manual", "parameters": {"blob": "x".repeat(api::MAX_BODY + 64 * 1024)}});
    let (status, body) = app.post("/configs", huge).await;
    assert_eq!((status, error_code(&body)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    assert_eq!(app.get("/configs").await.1["total"], 0, "nothing was stored");

    app.create(json!({"name": "taken", "task_type": "echo", "scheduler_type": "manual"})).await;
    let (status, body) =
        app.post("/configs", json!({"name": "taken", "task_type": "echo", "scheduler_type": "manual"})).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "conflict"));
    let (status, _) = app.get("/configs/not-a-uuid").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.get("/configs?limit=0").await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_life_cycle_of_a_cron_config() {
    let app = spawn_app().await;
    let config = app
        .create(json!({"name": "every-second", "task_type": "echo", "scheduler_type": "cron",
                       "schedule_config": {"cron_expression": "* * * * * *"}, "parameters": {"n": 1}}))
        .await;
    assert_eq!(config["schedule_status"], "inactive");
    let id = config["id"].as_str().unwrap().to_owned();
    // auto_start on another one.
    let started = app
        .post("/configs?auto_start=true", json!({"name": "auto", "task_type": "echo", "scheduler_type": "cron", "schedule_config": {"cron_expression": "0 0 1 1 *"}}))
        .await
        .1;
    assert_eq!(
        (started["schedule_status"].as_str(), started["is_scheduled"].as_bool()),
        (Some("active"), Some(true))
    );

    let (status, done) = app.post(&format!("/schedules/{id}/start"), json!({})).await;
    assert_eq!((status, done["schedule_status"].as_str()), (StatusCode::OK, Some("active")));
    let (status, body) = app.post(&format!("/schedules/{id}/start"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"]["message"].as_str().unwrap().contains("active"));

    // It fires every second.
    let start = Instant::now();
    while app.executions(&id).await.len() < 2 {
        assert!(start.elapsed() < Duration::from_secs(10), "no runs");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, read) = app.get(&format!("/configs/{id}?include_stats=true")).await;
    assert!(read["stats"]["total"].as_i64().unwrap() >= 2);
    assert_eq!(read["status_consistent"], true);
    assert!(read["next_run"].is_string() && !read["recent_history"].as_array().unwrap().is_empty());

    // Paused: no more runs (after the lookahead and the run in flight).
    assert_eq!(app.post(&format!("/schedules/{id}/pause"), json!({})).await.1["schedule_status"], "paused");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let paused_at = app.executions(&id).await.len();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(app.executions(&id).await.len(), paused_at, "a paused schedule fired");
    let (_, read) = app.get(&format!("/configs/{id}")).await;
    assert_eq!(
        (read["is_scheduled"].as_bool(), read["status_consistent"].as_bool()),
        (Some(false), Some(true))
    );

    assert_eq!(app.post(&format!("/schedules/{id}/resume"), json!({})).await.1["schedule_status"], "active");
    let (status, queued) = app.post(&format!("/configs/{id}/run"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let execution_id = queued["execution_id"].as_str().unwrap().to_owned();
    let start = Instant::now();
    let manual = loop {
        let found =
            app.executions(&id).await.into_iter().find(|e| e["execution_id"] == execution_id.as_str());
        if let Some(e) = found {
            break e;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the manual run was not recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((manual["trigger"].as_str(), manual["is_success"].as_bool()), (Some("manual"), Some(true)));
    assert_eq!(manual["result"], json!({"n": 1}));
    let (status, one) = app.get(&format!("/executions/{}", manual["id"])).await;
    assert_eq!((status, one["execution_id"].as_str()), (StatusCode::OK, Some(execution_id.as_str())));

    // Updating the schedule re-registers it at once.
    let (status, updated) = app
        .call(
            Method::PATCH,
            &format!("/configs/{id}"),
            Some(json!({"schedule_config": {"cron_expression": "0 0 1 1 *"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert!(updated["next_run"].as_str().unwrap().contains("-01-01T00:00:00"), "{updated}");

    let (history_status, history) = app.get(&format!("/schedules/{id}/history")).await;
    assert_eq!(history_status, StatusCode::OK);
    let events: Vec<&str> =
        history.as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    for expected in ["started", "fired", "paused", "resumed", "run_requested", "reloaded"] {
        assert!(events.contains(&expected), "{expected} missing from {events:?}");
    }
    let (_, summary) = app.get("/schedules/summary").await;
    assert_eq!((summary["total_tasks"].as_u64(), summary["active_tasks"].as_u64()), (Some(2), Some(2)));
    let (_, schedules) = app.get("/schedules").await;
    assert_eq!(schedules["total"], 2);
    assert!(schedules["items"][0]["next_run"].is_string());

    assert_eq!(app.call(Method::DELETE, &format!("/configs/{id}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/configs/{id}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.post(&format!("/schedules/{id}/start"), json!({})).await.0, StatusCode::NOT_FOUND);
    assert!(app.executions(&id).await.is_empty(), "executions go with the config");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_plugins_and_system_answer_in_their_shapes() {
    let app = spawn_app().await;
    for i in 0..3 {
        app.create(json!({"name": format!("m{i}"), "task_type": "fail", "scheduler_type": "manual"})).await;
    }
    let (_, page) = app.get("/configs?limit=2&offset=1").await;
    assert_eq!(
        (page["total"].as_u64(), page["limit"].as_u64(), page["offset"].as_u64()),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let id = page["items"][0]["id"].as_str().unwrap().to_owned();
    app.post(&format!("/configs/{id}/run"), json!({})).await;
    let start = Instant::now();
    while app.get("/executions/failed").await.1["total"] != 1 {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get("/executions/recent").await.1["total"], 1);
    let (_, stats) = app.get("/executions/stats").await;
    assert_eq!((stats["total"].as_i64(), stats["failures"].as_i64()), (Some(1), Some(1)));
    assert_eq!(app.call(Method::DELETE, "/executions?older_than_days=1", None).await.1["deleted"], 0);
    assert_eq!(
        app.call(Method::DELETE, "/executions?older_than_days=0", None).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let (_, plugins) = app.get("/plugins").await;
    assert_eq!(plugins.as_array().unwrap().len(), 3);
    let (status, echo) = app.get("/plugins/echo").await;
    assert_eq!((status, echo["shape"].as_str()), (StatusCode::OK, Some("task")));
    assert_eq!(echo["digest"].as_str().map(str::len), Some(64));
    assert_eq!(app.get("/plugins/nope").await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.post("/plugins/reload", json!({})).await.0, StatusCode::OK);

    let (_, enums) = app.get("/system/enums").await;
    assert_eq!(enums["task_types"], json!(["echo", "fail", "sleep"]));
    assert_eq!(enums["schedule_statuses"], json!(["inactive", "active", "paused", "error"]));
    let (_, status) = app.get("/system/status").await;
    assert_eq!(status["backend"], "redis");
    let (status, dashboard) = app.get("/system/dashboard").await;
    assert_eq!(status, StatusCode::OK, "{dashboard}");
    assert_eq!(
        (dashboard["last_24h"]["total"].as_i64(), dashboard["last_24h"]["success_rate"].as_f64()),
        (Some(1), Some(0.0))
    );
    assert_eq!(dashboard["recent_failures"].as_array().unwrap().len(), 1);
    assert_eq!(dashboard["schedules"]["inactive"], 0);

    // /metrics needs no token and speaks Prometheus text.
    let metrics = app.client.get(app.base.replace("/api/v1", "/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.unwrap();
    for name in [
        "taskbox_runs_total",
        "taskbox_run_duration_seconds_bucket",
        "taskbox_queue_depth",
        "taskbox_plugins_loaded",
        "taskbox_http_requests_total",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    assert!(text.contains("route=\"/api/v1/configs\""), "{text}");
}

/// `taskbox token …` against the app's database.
fn token_cli(app: &App, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .arg("token")
        .args(args)
        .env("TASKBOX_DATABASE_URL", &app.db.url)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_checks_the_token_and_the_role() {
    let app = spawn_app().await;
    let created = token_cli(&app, &["create", "--name", "ops", "--role", "viewer"]);
    assert_eq!(created.status.code(), Some(0), "{}", String::from_utf8_lossy(&created.stderr));
    let viewer = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(viewer.starts_with("tbx_") && viewer.len() > 60);
    let listed = String::from_utf8(token_cli(&app, &["list"]).stdout).unwrap();
    assert!(listed.contains("ops") && listed.contains("viewer") && !listed.contains(&viewer), "{listed}");

    let config = app.create(json!({"name": "c", "task_type": "echo", "scheduler_type": "manual"})).await;
    let id = config["id"].as_str().unwrap();
    let routes: Vec<(Method, String)> = vec![
        (Method::GET, "/configs".into()),
        (Method::POST, "/configs".into()),
        (Method::GET, format!("/configs/{id}")),
        (Method::PATCH, format!("/configs/{id}")),
        (Method::POST, format!("/configs/{id}/run")),
        (Method::GET, "/schedules".into()),
        (Method::GET, "/schedules/summary".into()),
        (Method::GET, format!("/schedules/{id}/history")),
        (Method::POST, format!("/schedules/{id}/start")),
        (Method::GET, "/executions".into()),
        (Method::GET, "/executions/recent".into()),
        (Method::GET, "/executions/failed".into()),
        (Method::GET, "/executions/stats".into()),
        (Method::GET, "/executions/1".into()),
        (Method::DELETE, "/executions?older_than_days=30".into()),
        (Method::GET, "/plugins".into()),
        (Method::GET, "/plugins/echo".into()),
        (Method::POST, "/plugins/reload".into()),
        (Method::GET, "/system/status".into()),
        (Method::GET, "/system/enums".into()),
        (Method::GET, "/system/dashboard".into()),
        (Method::DELETE, format!("/configs/{id}")),
    ];
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
        if *method == Method::GET {
            assert!(
                as_viewer != StatusCode::UNAUTHORIZED && as_viewer != StatusCode::FORBIDDEN,
                "{method} {path}: {as_viewer}"
            );
        } else {
            assert_eq!(as_viewer, StatusCode::FORBIDDEN, "{method} {path}, viewer");
        }
        let as_admin = send(Some(TOKEN)).await.unwrap().status();
        assert!(
            as_admin != StatusCode::UNAUTHORIZED && as_admin != StatusCode::FORBIDDEN,
            "{method} {path}: {as_admin}"
        );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_a_first_admin_token_once_and_serves_the_api() {
    use std::io::BufRead;
    let db = TestDb::new().await;
    let redis = TestRedis::new().await;
    let plugins = PluginDir::new();
    plugins.add("echo", "echo");
    let start_server = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_taskbox"))
            .arg("serve")
            .env("TASKBOX_DATABASE_URL", &db.url)
            .env("TASKBOX_REDIS_URL", crate::services::redis_url())
            .env("TASKBOX_REDIS_PREFIX", &redis.prefix)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_is_a_503_and_the_api_recovers_by_itself() {
    let mut redis = crate::services::PrivateRedis::start();
    let db = TestDb::new().await;
    let plugins = PluginDir::new();
    plugins.add("echo", "echo");
    let registry = plugins.registry();
    registry.scan().await.unwrap();
    let backend = taskbox::redis_backend::RedisBackend::connect(&redis.url(), "taskbox:").await.unwrap();
    let store: Arc<dyn taskbox::store::ConfigStore> = Arc::new(db.store.clone());
    let service = SchedulerService::new(store.clone(), Arc::new(backend.clone()));
    let state = AppState::new(
        store,
        service,
        registry,
        Arc::new(backend),
        Arc::new(db.store.clone()),
        Some(TOKEN),
        Default::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
    let (_stop, stopped) = watch::channel(false);
    tokio::spawn(api::serve(listener, state, stopped));
    let client = Client::new();
    let get = |path: &str| client.get(format!("{base}{path}")).bearer_auth(TOKEN).send();

    let created = client
        .post(format!("{base}/configs"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "c", "task_type": "echo", "scheduler_type": "manual"}))
        .send()
        .await
        .unwrap();
    let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(get("/system/health").await.unwrap().status(), StatusCode::OK);

    redis.stop();
    let health = get("/system/health").await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.json::<Value>().await.unwrap()["schedule_backend"], "unreachable");
    let read = get(&format!("/configs/{id}")).await.unwrap();
    assert_eq!(read.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(&read.json().await.unwrap()), "service_unavailable");

    redis.restart();
    let start = Instant::now();
    while get(&format!("/configs/{id}")).await.unwrap().status() != StatusCode::OK {
        assert!(start.elapsed() < Duration::from_secs(15), "the API did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get("/system/health").await.unwrap().status(), StatusCode::OK);
}
