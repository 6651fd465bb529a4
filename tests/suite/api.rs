//! The HTTP API, black box: the real router served on a random port, with a
//! real fire loop and worker behind it, on both deployments (PostgreSQL +
//! Redis, SQLite + local); plus outages of Redis and PostgreSQL.

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use taskbox::api::{self, AppState};
use taskbox::scheduler::{SchedulerService, fire_loop};
use taskbox::store::Opened;
use taskbox::worker::Worker;
use tokio::sync::watch;

use crate::deploy::Deployment;
use crate::helpers::{EXECUTOR, PluginDir, Server};
use crate::services::{TestDb, TestRedis};

pub(crate) const TOKEN: &str = "test-admin-token";

pub(crate) struct App {
    pub(crate) base: String,
    pub(crate) client: Client,
    pub(crate) d: Deployment,
    _plugins: PluginDir,
    stop: watch::Sender<bool>,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

pub(crate) async fn spawn_app(d: Deployment) -> App {
    let plugins = PluginDir::new();
    plugins.add("echo", "echo").add("fail", "fail").add("sleep", "sleep");
    let registry = plugins.registry();
    registry.scan().await.unwrap();
    let store = d.store.clone();
    let (stop, stopped) = watch::channel(false);

    let scheduler = d.another().await;
    tokio::spawn(fire_loop(
        scheduler.schedule,
        scheduler.changes,
        taskbox::job::no_type_limits(),
        stopped.clone(),
    ));
    let worker = Worker {
        name: "api-test".into(),
        queue: d.another().await.queue,
        store: store.clone(),
        plugins: taskbox::artifacts::Artifacts::directory_only(registry.clone()),
        executor: EXECUTOR.clone(),
        concurrency: 4,
        base_backoff: Duration::from_millis(200),
        doors: Default::default(),
        notifier: None,
    };
    tokio::spawn(worker.run(stopped.clone(), Duration::from_secs(5)));

    let service = SchedulerService::new(store.clone(), d.schedule.clone()).with_queue(d.queue.clone());
    let (tokens, queue) = (d.tokens.clone(), d.queue.clone());
    // As `serve` does: the API reads configs through the cache.
    let configs = taskbox::store::cached(&d.opened);
    let state = AppState::new(configs, service, registry, queue, tokens, Some(TOKEN), Default::default())
        .with_backend_kind(d.plan.kind());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
    tokio::spawn(api::serve(listener, state, stopped));
    App { base, client: Client::new(), d, _plugins: plugins, stop }
}

impl App {
    pub(crate) async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub(crate) async fn create(&self, body: Value) -> Value {
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

/// Every route behind the token, as the router declares it (the config's
/// DELETE last, so the others still find it in the auth matrix).
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/configs"),
    ("POST", "/configs"),
    ("GET", "/configs/{id}"),
    ("PATCH", "/configs/{id}"),
    ("POST", "/configs/{id}/run"),
    ("GET", "/schedules"),
    ("GET", "/schedules/summary"),
    ("GET", "/schedules/{id}/history"),
    ("POST", "/schedules/{id}/{action}"),
    ("GET", "/executions"),
    ("GET", "/executions/recent"),
    ("GET", "/executions/failed"),
    ("GET", "/executions/stats"),
    ("GET", "/executions/{id}"),
    ("DELETE", "/executions"),
    ("GET", "/plugins"),
    ("GET", "/plugins/{name}"),
    ("POST", "/plugins/reload"),
    ("PUT", "/plugins/{name}"),
    ("GET", "/plugins/{name}/versions"),
    ("GET", "/plugins/{name}/versions/{digest}"),
    ("DELETE", "/plugins/{name}/versions/{digest}"),
    ("GET", "/plugins/{name}/versions/{digest}/component"),
    ("POST", "/plugins/{name}/rollback"),
    ("POST", "/executions/{id}/replay"),
    ("POST", "/executions/{id}/cancel"),
    ("POST", "/schedules/actions"),
    ("GET", "/kv/{bucket}"),
    ("GET", "/kv/{bucket}/{key}"),
    ("PUT", "/kv/{bucket}/{key}"),
    ("DELETE", "/kv/{bucket}/{key}"),
    ("GET", "/secrets"),
    ("PUT", "/secrets/{name}"),
    ("DELETE", "/secrets/{name}"),
    ("GET", "/system/status"),
    ("GET", "/system/enums"),
    ("GET", "/system/dashboard"),
    ("DELETE", "/configs/{id}"),
];

/// Just the API (no fire loop, no worker) over `store` (through the config
/// cache, as `serve` has it) and `backend`, on a random port; answers its
/// base URL. It stops when the sender is dropped.
async fn api_only(
    store: taskbox::store::PgStore,
    backend: taskbox::redis_backend::RedisBackend,
) -> (String, PluginDir, watch::Sender<bool>) {
    let plugins = PluginDir::new();
    plugins.add("echo", "echo");
    let registry = plugins.registry();
    registry.scan().await.unwrap();
    let service = SchedulerService::new(Arc::new(store.clone()), Arc::new(backend.clone()));
    let (tokens, queue) = (Arc::new(store.clone()), Arc::new(backend));
    let configs = taskbox::store::cached(&Opened::Postgres(store));
    let state = AppState::new(configs, service, registry, queue, tokens, Some(TOKEN), Default::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(api::serve(listener, state, stopped));
    (base, plugins, stop)
}

pub(crate) fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {body}"))
}

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

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_a_clear_error_and_nothing_is_stored(d) {
    let app = spawn_app(d).await;
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
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_life_cycle_of_a_cron_config(d) {
    let app = spawn_app(d).await;
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
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_runs_requested_at_once_are_each_queued_and_run_once(d) {
    // Many at once share commits on the local backend (group commit): each
    // still gets its own answer, run and record.
    let app = spawn_app(d).await;
    let mut ids = Vec::new();
    for name in ["a", "b"] {
        let config = app.create(json!({"name": name, "task_type": "echo", "scheduler_type": "manual"})).await;
        ids.push(config["id"].as_str().unwrap().to_owned());
    }
    let paths: Vec<String> = (0..200).map(|i| format!("/configs/{}/run", ids[i % 2])).collect();
    let answers = futures::future::join_all(paths.iter().map(|p| app.post(p, json!({})))).await;
    let mut queued = std::collections::BTreeSet::new();
    for (status, body) in answers {
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        queued.insert(body["execution_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(queued.len(), 200, "every request has an execution id of its own");

    let start = Instant::now();
    let records = loop {
        let mut records = app.executions(&ids[0]).await;
        records.extend(app.executions(&ids[1]).await);
        if records.len() >= 200 {
            break records;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{} of 200 recorded", records.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let recorded: std::collections::BTreeSet<String> =
        records.iter().map(|r| r["execution_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!((records.len(), &recorded), (200, &queued), "each queued run ran once");
    assert!(records.iter().all(|r| r["is_success"] == true));
    for id in &ids {
        let history = app.get(&format!("/configs/{id}")).await.1["recent_history"].clone();
        let events = history.as_array().unwrap();
        assert_eq!(events.len(), 10, "{history}");
        assert!(events.iter().all(|e| e["event"] == "run_requested"), "{history}");
    }
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_plugins_and_system_answer_in_their_shapes(d) {
    let app = spawn_app(d).await;
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
    assert_eq!(status["backend"], app.d.plan.kind());
    assert_eq!(status["workers"], json!(["api-test"]), "the test's worker, by its heartbeat");
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
}

/// `taskbox token …` against the app's database.
fn token_cli(app: &App, args: &[&str]) -> std::process::Output {
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
        // Secrets are admin-only even to list.
        if *method == Method::GET && !path.starts_with("/secrets") {
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

/// Two API processes on one PostgreSQL each keep a config cache; a change
/// made through one of them, or by hand in SQL, reaches the other's reads
/// well before a copy ages out (`CACHE_MAX_AGE`), through the change feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_changed_elsewhere_is_read_fresh_by_every_api_process() {
    let d = Deployment::new(crate::deploy::Kind::Distributed).await;
    let plugins = PluginDir::new();
    plugins.add("echo", "echo");
    let mut env = d.serve_env();
    env.push(("TASKBOX_ROLES", "api".into()));
    env.push(("TASKBOX_PLUGIN_DIR", plugins.path().display().to_string()));
    env.push(("TASKBOX_CACHE_DIR", plugins.cache.path().display().to_string()));
    let (a, b) = (Server::start(&env), Server::start(&env));
    let within = taskbox::store::CACHE_MAX_AGE / 2;
    let (status, config) = a
        .post(
            "/configs",
            json!({"name": "c", "task_type": "echo", "scheduler_type": "manual",
            "parameters": {"v": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{config}");
    let one = format!("/configs/{}", config["id"].as_str().unwrap());
    let field = |field: &'static str| {
        let (a, one) = (&a, one.clone());
        move || {
            let one = one.clone();
            async move { a.get(&one).await.1[field].clone() }
        }
    };
    // a serves its copy: its feed is up and reads hit.
    let metric = |name: &'static str| {
        let a = &a;
        async move {
            let text = a.client.get(a.base.replace("/api/v1", "/metrics")).send().await.unwrap();
            let text = text.text().await.unwrap();
            let line = text.lines().find(|l| l.starts_with(name)).map(str::to_owned);
            line.and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).unwrap_or(0.0)
        }
    };
    a.until("a's config cache is on", within, || async { metric("taskbox_config_cache_live").await == 1.0 })
        .await;
    for _ in 0..3 {
        assert_eq!(field("parameters")().await, json!({"v": 1}));
    }
    assert!(metric("taskbox_config_cache_reads_total{outcome=\"hit\"}").await >= 2.0);

    let (status, _) = b.call(Method::PATCH, &one, Some(json!({"parameters": {"v": 2}}))).await;
    assert_eq!(status, StatusCode::OK);
    let took = a
        .until("a reads b's change", within, || async { field("parameters")().await == json!({"v": 2}) })
        .await;
    eprintln!("a change through another process was read after {took:?}");

    let Opened::Postgres(pg) = &d.opened else { unreachable!("distributed") };
    sqlx::query("UPDATE task_configs SET description = 'by hand' WHERE id = $1")
        .bind(uuid::Uuid::parse_str(config["id"].as_str().unwrap()).unwrap())
        .execute(pg.pool())
        .await
        .unwrap();
    a.until("a reads a change made in SQL", within, || async { field("description")().await == "by hand" })
        .await;

    assert_eq!(b.call(Method::DELETE, &one, None).await.0, StatusCode::NO_CONTENT);
    a.until("a answers 404 for a config b deleted", within, || async {
        a.get(&one).await.0 == StatusCode::NOT_FOUND
    })
    .await;
    let (status, body) = a.post(&format!("{one}/run"), json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a deleted config is not run: {body}");

    // A TRUNCATE names no row: every copy goes.
    let (_, other) =
        a.post("/configs", json!({"name": "t", "task_type": "echo", "scheduler_type": "manual"})).await;
    let other = format!("/configs/{}", other["id"].as_str().unwrap());
    for _ in 0..2 {
        assert_eq!(a.get(&other).await.0, StatusCode::OK);
    }
    sqlx::query("TRUNCATE task_configs CASCADE").execute(pg.pool()).await.unwrap();
    a.until("a answers 404 after a TRUNCATE", within, || async {
        a.get(&other).await.0 == StatusCode::NOT_FOUND
    })
    .await;
}

/// A `POST /configs` of a manual `echo` config named `name`, to send.
fn post_manual(client: &Client, base: &str, name: &str) -> reqwest::RequestBuilder {
    let body = json!({"name": name, "task_type": "echo", "scheduler_type": "manual"});
    client.post(format!("{base}/configs")).bearer_auth(TOKEN).json(&body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_is_a_503_and_the_api_recovers_by_itself() {
    let mut redis = crate::services::PrivateRedis::start();
    let db = TestDb::new().await;
    let backend = taskbox::redis_backend::RedisBackend::connect(&redis.url(), "taskbox:").await.unwrap();
    let (base, _plugins, _stop) = api_only(db.store.clone(), backend).await;
    let client = Client::new();
    let get = |path: &str| client.get(format!("{base}{path}")).bearer_auth(TOKEN).send();

    let created = post_manual(&client, &base, "c").send().await.unwrap();
    let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(get("/system/health").await.unwrap().status(), StatusCode::OK);

    redis.stop();
    // The first request to meet the outage notices it (the connection drops)...
    let noticed = Instant::now();
    let health = get("/system/health").await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(noticed.elapsed() < Duration::from_secs(3), "noticed after {:?}", noticed.elapsed());
    assert_eq!(health.json::<Value>().await.unwrap()["schedule_backend"], "unreachable");
    // ... and while it is known to be down, everything that needs it fails
    // fast, health included (it used to wait ~7 s for the reconnect backoff).
    for path in ["/system/health".to_owned(), format!("/configs/{id}"), "/schedules/summary".to_owned()] {
        for _ in 0..3 {
            let asked = Instant::now();
            let answer = get(&path).await.unwrap();
            let took = asked.elapsed();
            assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
            assert!(took < Duration::from_millis(500), "{path} took {took:?} to answer 503");
        }
    }
    let read = get(&format!("/configs/{id}")).await.unwrap();
    assert_eq!(error_code(&read.json().await.unwrap()), "service_unavailable");

    redis.restart();
    let start = Instant::now();
    while get(&format!("/configs/{id}")).await.unwrap().status() != StatusCode::OK {
        assert!(start.elapsed() < Duration::from_secs(15), "the API did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get("/system/health").await.unwrap().status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_describes_every_route_and_the_docs_work_offline() {
    let app = spawn_app(Deployment::new(crate::deploy::Kind::Embedded).await).await;
    let root = app.base.replace("/api/v1", "");
    let spec = app.client.get(format!("{root}/openapi.json")).send().await.unwrap();
    assert_eq!(spec.status(), StatusCode::OK, "no token needed");
    let spec: Value = spec.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."), "{spec}");
    let mut documented = std::collections::BTreeSet::new();
    let mut operation_ids = std::collections::BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap().iter().filter(|(k, _)| *k != "parameters") {
            documented.insert((method.to_uppercase(), path.clone()));
            // OpenAPI: operationIds are unique (client generators name methods by them).
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(operation_ids.insert(id.clone()), "operationId {id:?} of {method} {path} is taken");
        }
    }
    let mut routed: std::collections::BTreeSet<(String, String)> =
        ROUTES.iter().map(|(m, p)| (m.to_string(), format!("/api/v1{p}"))).collect();
    routed.insert(("GET".into(), "/api/v1/system/health".into()));
    routed.insert(("GET".into(), "/metrics".into()));
    assert_eq!(documented, routed, "/openapi.json and the router disagree");
    // Request and response shapes are described, with the error shape.
    let create = &spec["paths"]["/api/v1/configs"]["post"];
    assert!(create["requestBody"].is_object() && create["responses"]["422"].is_object(), "{create}");
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    for name in ["NewConfig", "ConfigPatch", "ConfigView", "StoredExecution", "ErrorBody", "PluginInfo"] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    // Every protected operation documents the answers any of them can give.
    for (path, item) in spec["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/") || path == "/api/v1/system/health" {
            continue;
        }
        let methods = ["get", "put", "post", "delete", "patch"];
        for (method, operation) in
            item.as_object().unwrap().iter().filter(|(m, _)| methods.contains(&m.as_str()))
        {
            for status in ["401", "403", "413", "503"] {
                assert!(
                    operation["responses"][status].is_object(),
                    "{method} {path} does not document {status}"
                );
            }
        }
    }

    // Swagger UI, its assets served by taskbox itself (no CDN).
    let docs = app.client.get(format!("{root}/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    let html = docs.text().await.unwrap();
    assert!(html.contains("swagger-ui") && !html.contains("https://"), "{html}");
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-initializer.js"] {
        let got = app.client.get(format!("{root}/docs/{asset}")).send().await.unwrap();
        assert_eq!(got.status(), StatusCode::OK, "{asset}");
        let text = got.text().await.unwrap();
        if asset == "swagger-initializer.js" {
            assert!(text.contains("/openapi.json"), "{text}");
        }
    }
}

/// A TCP proxy in front of PostgreSQL that can be cut and restored, to take
/// the database away from a running API without touching the server.
struct Cuttable {
    addr: std::net::SocketAddr,
    open: Arc<std::sync::atomic::AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Cuttable {
    async fn start(upstream: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let conns: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Default::default();
        let (upstream, flag, held) = (upstream.to_owned(), open.clone(), conns.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { return };
                if !flag.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                held.lock().unwrap().push(task.abort_handle());
            }
        });
        Self { addr, open, conns }
    }

    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for conn in self.conns.lock().unwrap().drain(..) {
            conn.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_is_a_503_and_the_api_recovers_by_itself() {
    let db = TestDb::new().await;
    let redis = TestRedis::new().await;
    let proxy = Cuttable::start("127.0.0.1:5432").await;
    let url = db.url.replace("127.0.0.1:5432", &proxy.addr.to_string());
    assert_ne!(url, db.url, "the test database URL goes through 127.0.0.1:5432");
    let store = taskbox::store::PgStore::connect_lazy(&url).unwrap();
    let (base, _plugins, _stop) = api_only(store, redis.backend.clone()).await;
    let client = Client::new();
    let get = |path: &str| client.get(format!("{base}{path}")).bearer_auth(TOKEN).send();
    assert_eq!(get("/configs").await.unwrap().status(), StatusCode::OK);
    let config: Value = post_manual(&client, &base, "before").send().await.unwrap().json().await.unwrap();
    let one = format!("/configs/{}", config["id"].as_str().unwrap());
    // Read twice: the second answer comes from the config cache.
    for _ in 0..2 {
        assert_eq!(get(&one).await.unwrap().json::<Value>().await.unwrap()["name"], "before");
    }

    proxy.cut();
    // The cache stands aside once its change feed is gone: reads of the
    // cached config now need the database too.
    let start = Instant::now();
    while get(&one).await.unwrap().status() != StatusCode::SERVICE_UNAVAILABLE {
        assert!(start.elapsed() < Duration::from_secs(1), "a cached config served without its feed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A change the API cannot hear about, made while it is cut off.
    sqlx::query("UPDATE task_configs SET name = 'changed meanwhile' WHERE id = $1")
        .bind(uuid::Uuid::parse_str(config["id"].as_str().unwrap()).unwrap())
        .execute(db.store.pool())
        .await
        .unwrap();
    let listed = get("/configs").await.unwrap();
    assert_eq!(listed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(&listed.json().await.unwrap()), "service_unavailable");
    let health = get("/system/health").await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.json::<Value>().await.unwrap()["database"], "unreachable");
    let created = post_manual(&client, &base, "c").send().await.unwrap();
    assert_eq!(created.status(), StatusCode::SERVICE_UNAVAILABLE);

    proxy.restore();
    let start = Instant::now();
    while get("/configs").await.unwrap().status() != StatusCode::OK {
        assert!(start.elapsed() < Duration::from_secs(15), "the API did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get("/system/health").await.unwrap().status(), StatusCode::OK);
    for _ in 0..2 {
        let read = get(&one).await.unwrap().json::<Value>().await.unwrap();
        assert_eq!(read["name"], "changed meanwhile", "a copy from before the outage was served");
    }
}
