//! Workers with real plugins and real `taskbox serve` processes, on both
//! deployments (PostgreSQL + Redis, SQLite + local): records, retries,
//! crashes, shutdown; and a Redis restart (distributed only).

use chrono::Utc;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use taskbox::contract::queue::QueueStats;
use taskbox::engine::scheduler::SchedulerService;
use taskbox::engine::worker::Worker;
use taskbox::store::*;
use tokio::sync::watch;

use crate::support::services::TestDb;

use crate::support::*;

struct Env {
    d: Deployment,
    plugins: PluginDir,
    service: SchedulerService,
}

fn env(d: Deployment) -> Env {
    let plugins = PluginDir::new();
    plugins.add("echo", "echo").add("fail", "fail").add("sleep", "sleep");
    let service = SchedulerService::new(d.store.clone(), d.schedule.clone());
    Env { d, plugins, service }
}

/// Starts an in-process worker; stop it by sending `true`.
async fn start_worker(
    env: &Env,
    name: &str,
    base_backoff: Duration,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let registry = env.plugins.registry();
    registry.scan().await.unwrap();
    let worker = Worker {
        name: name.to_owned(),
        groups: vec!["default".into()],
        queue: env.d.another().await.queue,
        store: env.d.store.clone(),
        plugins: taskbox::plugins::artifacts::Artifacts::directory_only(registry),
        executor: EXECUTOR.clone(),
        concurrency: 4,
        base_backoff,
        doors: Default::default(),
        notifier: None,
        conductor: None,
    };
    let (stop, stopped) = watch::channel(false);
    (stop, tokio::spawn(worker.run(stopped, Duration::from_secs(10))))
}

/// Waits until `n` records exist for the config, or panics after `within`.
async fn records(env: &Env, config: &TaskConfig, n: u64, within: Duration) -> Vec<ExecutionRecord> {
    let filter = ExecutionFilter { config_id: Some(config.id), ..Default::default() };
    let page = || env.d.store.list_executions(&filter, Page { limit: 100, offset: 0 });
    eventually(&format!("{n} records"), within, || async { page().await.unwrap().1 >= n }).await;
    let mut records: Vec<_> = page().await.unwrap().0.into_iter().map(|e| e.record).collect();
    records.sort_by_key(|r| (r.started_at, r.attempt));
    records
}

fn config(name: &str, task_type: &str, parameters: serde_json::Value) -> NewConfig {
    let mut c = NewConfig::manual(name, task_type);
    c.parameters = parameters;
    c
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_executed_recorded_and_acknowledged(d) {
    let env = env(d);
    let (stop, worker) = start_worker(&env, "w1", Duration::from_secs(1)).await;
    let c = env.d.store.create_config(config("echo", "echo", json!({"hello": "world"}))).await.unwrap();
    let execution_id = env.service.run_now(c.id).await.unwrap();
    let r = records(&env, &c, 1, Duration::from_secs(10)).await.remove(0);
    assert_eq!((r.execution_id, r.attempt, r.trigger), (execution_id, 1, Trigger::Manual));
    assert!(r.is_success, "{r:?}");
    assert_eq!(r.result, Some(json!({"hello": "world"})));
    assert_eq!(r.worker, "w1");
    assert_eq!(r.plugin_digest.as_ref().map(String::len), Some(64));
    assert!(r.started_at >= r.scheduled_at && r.completed_at >= r.started_at);
    // Acknowledged only after the record: nothing is left on the queue.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(env.d.queue.depth().await.unwrap(), 0);
    stop.send(true).unwrap();
    worker.await.unwrap();
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_run_is_retried_with_exponential_backoff(d) {
    let env = env(d);
    let (stop, worker) = start_worker(&env, "w1", Duration::from_millis(300)).await;
    let mut new = config("flaky", "fail", json!({"message": "try again"}));
    new.max_retries = 2;
    let c = env.d.store.create_config(new).await.unwrap();
    env.service.run_now(c.id).await.unwrap();
    let rs = records(&env, &c, 3, Duration::from_secs(15)).await;
    assert_eq!(rs.iter().map(|r| r.attempt).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        rs.iter().map(|r| r.trigger).collect::<Vec<_>>(),
        [Trigger::Manual, Trigger::Retry, Trigger::Retry]
    );
    assert!(rs.iter().all(|r| !r.is_success && r.error_message.as_deref() == Some("try again")));
    assert!(rs.iter().all(|r| r.execution_id == rs[0].execution_id));
    let gap = |a: &ExecutionRecord, b: &ExecutionRecord| (b.started_at - a.completed_at).to_std().unwrap();
    assert!(gap(&rs[0], &rs[1]) >= Duration::from_millis(300), "{:?}", gap(&rs[0], &rs[1]));
    assert!(gap(&rs[1], &rs[2]) >= Duration::from_millis(600), "{:?}", gap(&rs[1], &rs[2]));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(records(&env, &c, 3, Duration::ZERO).await.len(), 3, "no attempt beyond max_retries");
    stop.send(true).unwrap();
    worker.await.unwrap();
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_an_unknown_task_type_is_a_recorded_failure(d) {
    let env = env(d);
    let (stop, worker) = start_worker(&env, "w1", Duration::from_secs(1)).await;
    let c = env.d.store.create_config(config("ghost", "no-such-plugin", json!({}))).await.unwrap();
    env.service.run_now(c.id).await.unwrap();
    let r = records(&env, &c, 1, Duration::from_secs(10)).await.remove(0);
    assert!(!r.is_success);
    assert!(r.error_message.unwrap().contains("unknown task type \"no-such-plugin\""));
    stop.send(true).unwrap();
    worker.await.unwrap();
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_fired_ahead_of_time_is_dropped_if_the_schedule_is_paused_before_it(d) {
    let env = env(d);
    let mut new = config("ahead", "echo", json!({}));
    new.scheduler_type = SchedulerType::Cron;
    new.schedule_config = json!({"cron_expression": "* * * * * *"});
    let c = env.d.store.create_config(new).await.unwrap();
    // Start early in a second, so its next tick is most of a second away
    // and the pause below lands before that tick is due (a pause after it
    // lets the run go ahead, as it should).
    while Utc::now().timestamp_subsec_millis() > 200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let tick = Utc::now().timestamp() + 1;
    env.service.act(c.id, taskbox::contract::schedule::Action::Start).await.unwrap();
    // Settle the next tick (due within the lookahead), then pause at once.
    taskbox::engine::scheduler::fire_due(env.d.schedule.as_ref()).await.unwrap();
    assert_eq!(env.d.queue.depth().await.unwrap(), 1, "the next tick is queued ahead of its time");
    env.service.act(c.id, taskbox::contract::schedule::Action::Pause).await.unwrap();
    assert!(Utc::now().timestamp() < tick, "the pause came before the tick was due");
    let (stop, worker) = start_worker(&env, "w1", Duration::from_secs(1)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let filter = ExecutionFilter { config_id: Some(c.id), ..Default::default() };
    assert_eq!(env.d.store.list_executions(&filter, Page::default()).await.unwrap().1, 0, "paused: no run");
    assert_eq!(env.d.queue.depth().await.unwrap(), 0, "the dropped run is acknowledged");
    stop.send(true).unwrap();
    worker.await.unwrap();
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_date_schedule_runs_once_at_its_time_and_completes(d) {
    let env = env(d);
    let (stop, worker) = start_worker(&env, "w1", Duration::from_secs(1)).await;
    // Due in 2 s: the fire loop settles it up to a second ahead, the worker
    // holds it until due, and the schedule's end must not cancel it.
    let at = Utc::now() + chrono::Duration::seconds(2);
    let at = at - chrono::Duration::nanoseconds(at.timestamp_subsec_nanos() as i64 % 1_000_000);
    let mut new = config("once", "echo", json!({"n": 1}));
    new.scheduler_type = SchedulerType::Date;
    new.schedule_config = json!({"run_date": at.to_rfc3339()});
    let c = env.d.store.create_config(new).await.unwrap();
    env.service.act(c.id, taskbox::contract::schedule::Action::Start).await.unwrap();
    let (stop_firing, firing) = watch::channel(false);
    let looping = tokio::spawn(taskbox::engine::scheduler::fire_loop(env.d.schedule.clone(), env.d.changes.clone(), taskbox::contract::job::no_type_rules(), firing));
    let r = records(&env, &c, 1, Duration::from_secs(10)).await.remove(0);
    assert!(r.is_success, "{r:?}");
    assert_eq!((r.trigger, r.scheduled_at), (Trigger::Date, at));
    assert!(r.started_at >= at, "held until due: {r:?}");
    let view = env.service.view(&c, 10).await.unwrap();
    assert_eq!(view.schedule_status, taskbox::contract::schedule::Status::Inactive);
    assert!(view.recent_history.iter().any(|e| e.event == "completed"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(records(&env, &c, 1, Duration::ZERO).await.len(), 1, "once");
    stop_firing.send(true).unwrap();
    looping.await.unwrap();
    stop.send(true).unwrap();
    worker.await.unwrap();
}
}

/// `taskbox serve` as its own process, on this test's database and prefix.
fn serve(env: &Env, roles: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .arg("serve")
        .env_remove("TASKBOX_REDIS_URL")
        .envs(env.d.serve_env())
        .env("TASKBOX_PLUGIN_DIR", env.plugins.path())
        .env("TASKBOX_CACHE_DIR", env.plugins.cache.path())
        .env("TASKBOX_ROLES", roles)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("taskbox serve starts")
}

/// Waits until some worker holds a run (it is in flight).
async fn until_in_flight(env: &Env, within: Duration) {
    eventually("a run in flight", within, || async { env.d.held().await > 0 }).await;
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_held_by_a_killed_worker_is_run_again_and_recorded(d) {
    let env = env(d);
    let mut doomed = serve(&env, "worker");
    let c = env.d.store.create_config(config("slow", "sleep", json!({"ms": 2000}))).await.unwrap();
    let execution_id = env.service.run_now(c.id).await.unwrap();
    until_in_flight(&env, Duration::from_secs(20)).await;
    doomed.kill().unwrap(); // SIGKILL, mid-run
    doomed.wait().unwrap();
    let killed_at = Instant::now();

    let (stop, worker) = start_worker(&env, "rescuer", Duration::from_secs(1)).await;
    let r = records(&env, &c, 1, Duration::from_secs(30)).await.remove(0);
    assert_eq!((r.execution_id, r.attempt), (execution_id, 1));
    assert!(r.is_success, "{r:?}");
    assert_eq!(r.worker, "rescuer");
    // Reclaimed once the dead worker's heartbeat (10 s) expired.
    assert!(killed_at.elapsed() < Duration::from_secs(20), "{:?}", killed_at.elapsed());
    stop.send(true).unwrap();
    worker.await.unwrap();
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_run_in_flight_then_exits_0(d) {
    let env = env(d);
    let mut server = serve(&env, "scheduler,worker");
    let c = env.d.store.create_config(config("slow", "sleep", json!({"ms": 1500}))).await.unwrap();
    env.service.run_now(c.id).await.unwrap();
    until_in_flight(&env, Duration::from_secs(20)).await;
    let term = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(term.success());
    let status = server.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    // It finished and recorded the run before exiting.
    let r = records(&env, &c, 1, Duration::ZERO).await.remove(0);
    assert!(r.is_success, "{r:?}");
    assert!(r.completed_at <= Utc::now());
    assert_eq!(env.d.queue.depth().await.unwrap(), 0);
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reconciles_and_fires_cron_configs_end_to_end(d) {
    let env = env(d);
    let mut new = config("every-second", "echo", json!({"n": 1}));
    new.scheduler_type = SchedulerType::Cron;
    new.schedule_config = json!({"cron_expression": "* * * * * *"});
    let c = env.d.store.create_config(new).await.unwrap();
    let mut server = serve(&env, "scheduler,worker");
    let rs = records(&env, &c, 3, Duration::from_secs(30)).await;
    assert!(rs.iter().all(|r| r.is_success && r.trigger == Trigger::Cron));
    let view = env.service.view(&c, 5).await.unwrap();
    assert_eq!(view.schedule_status, taskbox::contract::schedule::Status::Active, "started by reconciliation");
    assert!(view.status_consistent);
    server.kill().unwrap();
    server.wait().unwrap();
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_in_flight_survives_a_redis_restart_and_the_loops_recover() {
    let mut redis = crate::support::services::PrivateRedis::start();
    let db = TestDb::new().await;
    let plugins = PluginDir::new();
    plugins.add("sleep", "sleep").add("echo", "echo");
    let backend = taskbox::backends::redis::RedisBackend::connect(
        &taskbox::backends::redis::Target::Single(redis.url()),
        "taskbox:",
    )
    .await
    .unwrap();
    let service = SchedulerService::new(Arc::new(db.store.clone()), Arc::new(backend.clone()));
    let mut server = Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .arg("serve")
        .env("TASKBOX_DATABASE_URL", &db.url)
        .env("TASKBOX_REDIS_URL", redis.url())
        .env("TASKBOX_SECRET_KEY_FILE", std::env::temp_dir().join("taskbox-tests.key"))
        .env("TASKBOX_PLUGIN_DIR", plugins.path())
        .env("TASKBOX_CACHE_DIR", plugins.cache.path())
        .env("TASKBOX_ROLES", "scheduler,worker")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    let slow = db.store.create_config(config("slow", "sleep", json!({"ms": 1500}))).await.unwrap();
    let first = service.run_now(slow.id).await.unwrap();
    let filter = ExecutionFilter { config_id: Some(slow.id), ..Default::default() };
    // Wait until the run is taken, then take Redis away while it runs.
    let conn = redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    eventually("the run is taken", Duration::from_secs(20), || async {
        let pending: redis::streams::StreamPendingReply =
            redis::AsyncCommands::xpending(&mut conn.clone(), "taskbox:queue:normal", "workers")
                .await
                .unwrap();
        pending.count() > 0
    })
    .await;
    redis.stop();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The run finished and its record is committed even with Redis down.
    let (items, _) = db.store.list_executions(&filter, Page::default()).await.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!((items[0].record.execution_id, items[0].record.is_success), (first, true));
    assert!(server.try_wait().unwrap().is_none(), "serve must survive Redis going away");
    redis.restart();

    // Once Redis is back, the acknowledgement goes through and new work runs.
    let quick = db.store.create_config(config("quick", "echo", json!({"after": "restart"}))).await.unwrap();
    let start = Instant::now();
    let second = loop {
        match service.run_now(quick.id).await {
            Ok(id) => break id,
            Err(_) if start.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("Redis did not come back: {e}"),
        }
    };
    let by_quick = ExecutionFilter { config_id: Some(quick.id), ..Default::default() };
    let quick_runs = || db.store.list_executions(&by_quick, Page::default());
    eventually("a run after the restart", Duration::from_secs(20), || async {
        !quick_runs().await.unwrap().0.is_empty()
    })
    .await;
    let r = &quick_runs().await.unwrap().0[0];
    assert_eq!((r.record.execution_id, r.record.is_success), (second, true));
    eventually("the first run is acknowledged", Duration::from_secs(10), || async {
        backend.depth().await.unwrap() == 0
    })
    .await;
    assert_eq!(db.store.list_executions(&filter, Page::default()).await.unwrap().1, 1, "run exactly once");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test]
async fn migrate_creates_the_schema_and_serve_explains_what_it_cannot_run_on() {
    let db = TestDb::new().await;
    let out = Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .arg("migrate")
        .env("TASKBOX_DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    let dir = tempfile::tempdir().unwrap();
    let serve = |vars: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskbox"));
        cmd.arg("serve")
            .current_dir(dir.path())
            .env_remove("TASKBOX_DATABASE_URL")
            .env_remove("TASKBOX_REDIS_URL");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let no_redis = serve(&[("TASKBOX_DATABASE_URL", &db.url)]);
    assert_eq!(no_redis.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_redis.stderr).contains("set TASKBOX_REDIS_URL=redis://"));
    let unknown = serve(&[("TASKBOX_DATABASE_URL", "mysql://localhost/x")]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unsupported database URL scheme \"mysql\""));
    let bad_role = serve(&[("TASKBOX_ROLES", "api,cook")]);
    assert_eq!(bad_role.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("TASKBOX_ROLES=\"api,cook\": unknown role"));
}
