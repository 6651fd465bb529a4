//! Scheduling engine benchmarks against the real PostgreSQL and Redis of
//! this machine (a fresh database and key prefix, removed afterwards):
//!
//! 1. end-to-end runs/s: N manual runs of a trivial plugin enqueued, then one
//!    process (scheduler + worker) runs and records them all in PostgreSQL;
//! 2. fire lateness with C configs on a per-second cron: when each run was on
//!    the queue (its Redis stream entry time) minus the tick it was due,
//!    counted as 0 when it was there early (runs are fired up to
//!    `scheduler::LOOKAHEAD` ahead and held by workers until due);
//! 3. start lateness with S configs on a per-second cron and a worker in the
//!    same process: a record's `started_at` minus its `scheduled_at`;
//! 4. R registered schedules: registration rate, Redis memory, and the
//!    scheduler's CPU while nothing is due;
//! 5. fires/s: B schedules all due at the same second, one fire loop
//!    settles them all (each: its run on the queue, its next time set).
//!
//! Run: `cargo xtask plugins && cargo bench -p taskbox --bench engine`
//! Options: `-- --runs N --configs C --started S --schedules R --seconds T
//! --burst B --only e2e|lateness|start|idle|burst --concurrency K` (the worker's runs in
//! flight; default: what `taskbox serve` ships, `TASKBOX_WORKER_CONCURRENCY`'s
//! default on this machine); for e2e, `--limit L` gives the config a
//! `max_concurrency` of L and `--notify 1` has it ask for failure
//! notifications (the worker then offers every outcome to its notifier);
//! `--traces off` installs the log and trace subscriber as `taskbox serve`
//! does without `OTEL_EXPORTER_OTLP_ENDPOINT`, `--traces on` with it set
//! to an OTLP receiver on loopback (which accepts and counts every export):
//! the cost of tracing, off and on (default: no subscriber at all).
//! `--redis cluster` runs them on the loopback Redis Cluster of the test
//! suite instead of one Redis, and every section also counts the Redis
//! commands it cost (`total_commands_processed`, summed over the masters);
//! `--shards N` sets `TASKBOX_REDIS_SHARDS` (default: 16 on the cluster).
//! `TASKBOX_TEST_DATABASE_URL`, `TASKBOX_TEST_REDIS_URL` and
//! `TASKBOX_TEST_REDIS_CLUSTER_NODES` point elsewhere.

use chrono::{DateTime, TimeZone, Utc};
use futures::StreamExt;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use taskbox::backends::redis::RedisBackend;
use taskbox::contract::job::Job;
use taskbox::contract::job::QueuedRun;
use taskbox::contract::schedule::backend::{EntryChange, ScheduleBackend, Transition};
use taskbox::contract::schedule::{HistoryEvent, Status};
use taskbox::engine::scheduler::fire_loop;
use taskbox::engine::worker::{BASE_BACKOFF, Worker};
use taskbox::executor::{EngineSettings, Executor};
use taskbox::plugins::registry::{Loader, Registry};
use taskbox::store::*;
use tokio::sync::watch;
use uuid::Uuid;

mod common;
use common::{
    arg, create_database, drop_database, fresh_prefix, info_sum, only, pct, per_master, redis_target,
    unlink_prefix,
};

struct Env {
    db_name: String,
    store: PgStore,
    prefix: String,
    backend: RedisBackend,
}

impl Env {
    async fn new() -> Env {
        let (db_name, url) = create_database().await;
        let store = PgStore::connect_lazy(&url).unwrap();
        store.migrate().await.unwrap();
        let prefix = fresh_prefix();
        let backend = connect(&prefix).await;
        Env { db_name, store, prefix, backend }
    }

    async fn drop_all(self) {
        self.store.pool().close().await;
        drop_database(&self.db_name).await;
        unlink_prefix(&self.prefix).await;
    }
}

#[tokio::main]
async fn main() {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    assert!(plugins.join("echo.wasm").is_file(), "run `cargo xtask plugins` first");
    if only("e2e") {
        end_to_end(&plugins, arg("--runs", 100_000)).await;
    }
    if only("lateness") {
        lateness(arg("--configs", 10_000), arg("--seconds", 10)).await;
    }
    if only("burst") {
        burst(arg("--burst", 50_000)).await;
    }
    if only("start") {
        start_lateness(&plugins, arg("--started", 1_000), arg("--seconds", 10)).await;
    }
    if only("idle") {
        idle(arg("--schedules", 1_000_000)).await;
    }
}

/// `--traces`: none (no subscriber), `off` (as shipped, no endpoint) or
/// `on` (exporting to a loopback receiver); the guard flushes at the end.
async fn tracing_as_asked() -> (Option<taskbox::support::trace::Tracing>, String) {
    let mode = std::env::args().skip_while(|a| a != "--traces").nth(1).unwrap_or_default();
    match mode.as_str() {
        "off" => (Some(taskbox::support::trace::init("warn")), ", tracing off (as shipped)".into()),
        "on" => {
            let exports = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let counted = exports.clone();
            let app = axum::Router::new().route(
                "/v1/traces",
                axum::routing::post(move |_: axum::body::Bytes| {
                    counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    async { axum::http::StatusCode::OK }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let endpoint = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            let export = taskbox::support::trace::Export::To(format!("{endpoint}/v1/traces"));
            let tracing = taskbox::support::trace::init_with("warn", Some(export));
            (Some(tracing), ", traces exported over OTLP/HTTP to a loopback receiver".into())
        }
        _ => (None, String::new()),
    }
}

async fn end_to_end(plugins: &Path, runs: usize) {
    let (tracing, traced) = tracing_as_asked().await;
    let env = Env::new().await;
    let limit = arg("--limit", 0);
    let notify = arg("--notify", 0) == 1;
    let new = NewConfig {
        max_concurrency: (limit > 0).then_some(limit as i32),
        notify: notify.then(|| Notify {
            url: "https://example.invalid/hook".into(),
            on: NotifyOn::Failure,
            secret: None,
        }),
        ..NewConfig::manual("bench", "echo")
    };
    let config = env.store.create_config(new).await.unwrap();
    let job = Job::of(&config);
    let commands = info_sum("stats", "total_commands_processed").await;
    let start = Instant::now();
    futures::stream::iter(0..runs)
        .map(|_| {
            let run = QueuedRun {
                execution_id: Uuid::new_v4(),
                attempt: 1,
                trigger: Trigger::Manual,
                scheduled_at: Utc::now(),
                job: job.clone(),
                ahead: false,
                cancelled_by: None,
                step: None,
                retry_of: None,
                trace: None,
            };
            let backend = env.backend.clone();
            let event = HistoryEvent::new("run_requested", "bench", None);
            async move { backend.enqueue(run, Some(event), None).await.unwrap() }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    let enqueue = start.elapsed();
    let enqueue_commands = info_sum("stats", "total_commands_processed").await - commands;

    let (mut worker, _cache) = worker(&env, plugins).await;
    if notify {
        let store = Arc::new(env.store.clone());
        worker.notifier = Some(
            taskbox::engine::notifier::Notifier::start(store.clone(), store, Default::default()).unwrap(),
        );
    }
    let (stop, stopped) = watch::channel(false);
    let start = Instant::now();
    let running = tokio::spawn(worker.run(stopped, Duration::from_secs(30)));
    let mut recorded = 0;
    while recorded < runs as i64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        recorded = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM task_executions")
            .fetch_one(env.store.pool())
            .await
            .unwrap();
    }
    let took = start.elapsed();
    stop.send(true).unwrap();
    running.await.unwrap();
    let run_commands = info_sum("stats", "total_commands_processed").await - commands - enqueue_commands;
    let ok: i64 = sqlx::query_scalar("SELECT count(*) FROM task_executions WHERE is_success")
        .fetch_one(env.store.pool())
        .await
        .unwrap();
    let (k, from) = concurrency();
    let uses = match (limit, notify) {
        (0, false) => String::new(),
        (0, true) => ", the config asks for failure notifications".into(),
        (l, false) => format!(", the config's max_concurrency {l}"),
        (l, true) => format!(", the config's max_concurrency {l} and failure notifications"),
    };
    println!(
        "== end to end: {runs} manual runs of echo, one process, worker concurrency {k} ({from}){uses}{traced}, {} ==",
        redis_label()
    );
    println!("enqueue: {:.0} runs/s ({:.2} s)", runs as f64 / enqueue.as_secs_f64(), enqueue.as_secs_f64());
    println!(
        "run + record in PostgreSQL + ack: {:.0} runs/s ({:.2} s, {ok} successful)",
        runs as f64 / took.as_secs_f64(),
        took.as_secs_f64()
    );
    println!(
        "Redis commands: {:.1} per enqueue, {:.1} per run taken, recorded and acknowledged",
        enqueue_commands as f64 / runs as f64,
        run_commands as f64 / runs as f64
    );
    drop(tracing);
    env.drop_all().await;
}

/// The worker's concurrency: `--concurrency`, else the shipped default.
fn concurrency() -> (usize, &'static str) {
    let shipped = taskbox::server::settings::Settings::default().worker_concurrency;
    match arg("--concurrency", 0) {
        0 => (shipped, "the shipped default"),
        n => (n, "--concurrency"),
    }
}

/// A worker with its own Redis connection and the example plugins.
async fn worker(env: &Env, plugins: &Path) -> (Worker, tempfile::TempDir) {
    let executor = Executor::new(EngineSettings::default()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let registry = Registry::new(plugins, Loader::new(executor.clone(), Some(cache.path().into())));
    registry.scan().await.unwrap();
    let worker = Worker {
        name: "bench".into(),
        groups: vec!["default".into()],
        queue: Arc::new(connect(&env.prefix).await),
        store: Arc::new(env.store.clone()),
        plugins: taskbox::plugins::artifacts::Artifacts::directory_only(registry),
        executor,
        concurrency: concurrency().0,
        base_backoff: BASE_BACKOFF,
        doors: Default::default(),
        notifier: None,
        conductor: None,
    };
    (worker, cache)
}

async fn register_many(env: &Env, n: usize, cron: &str, first: impl Fn() -> DateTime<Utc>) -> Duration {
    let template = NewConfig::manual("t", "echo");
    let start = Instant::now();
    futures::stream::iter(0..n)
        .map(|_| {
            let mut job = Job::of(&TaskConfig {
                id: Uuid::new_v4(),
                name: template.name.clone(),
                description: String::new(),
                task_type: "echo".into(),
                scheduler_type: SchedulerType::Cron,
                schedule_config: json!({"cron_expression": cron}),
                parameters: json!({}),
                max_retries: 0,
                timeout_seconds: None,
                priority: 0,
                misfire_grace_seconds: 60,
                concurrency: Concurrency::Allow,
                plugin_digest: None,
                tags: Vec::new(),
                max_concurrency: None,
                rate_limit: None,
                worker_group: None,
                notify: None,
                webhook: None,
                workflow: None,
                created_at: Utc::now(),
                updated_at: Utc::now(),
            });
            job.parameters = "{}".into();
            let backend = env.backend.clone();
            let next = first();
            async move {
                let entry = EntryChange::Set { job: job.clone(), next_run: Some(next) };
                let event = HistoryEvent::new("started", "bench", Some(Status::Active));
                let (config_id, allowed, to) = (job.config_id, vec![Status::Inactive], Some(Status::Active));
                backend.transition(Transition::new(config_id, allowed, to, entry, event)).await.unwrap();
            }
        })
        .buffer_unordered(128)
        .collect::<Vec<_>>()
        .await;
    start.elapsed()
}

async fn lateness(configs: usize, seconds: usize) {
    let env = Env::new().await;
    let next_second = || {
        let now = Utc::now() + chrono::Duration::seconds(2);
        Utc.timestamp_opt(now.timestamp(), 0).unwrap()
    };
    register_many(&env, configs, "* * * * * *", next_second).await;
    let (stop, stopped) = watch::channel(false);
    let scheduler = connect(&env.prefix).await;
    let changes = scheduler.changes();
    let looping = tokio::spawn(fire_loop(
        Arc::new(scheduler),
        changes,
        taskbox::contract::job::no_type_rules(),
        stopped,
    ));
    // Let the first (registration-skewed) seconds pass, then measure.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut r = env.backend.connection();
    let shards = env.backend.shards();
    let streams: Vec<String> = shards.all().map(|s| format!("{}queue:normal", shards.prefix(s))).collect();
    for stream in &streams {
        let _: () = redis::cmd("XTRIM").arg(stream).arg("MAXLEN").arg(0).query_async(&mut r).await.unwrap();
    }
    let commands = info_sum("stats", "total_commands_processed").await;
    tokio::time::sleep(Duration::from_secs(seconds as u64)).await;
    stop.send(true).unwrap();
    looping.await.unwrap();
    let commands = info_sum("stats", "total_commands_processed").await - commands;

    let mut late = Vec::new();
    for stream in &streams {
        let mut from = "-".to_owned();
        loop {
            let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
                .arg(stream)
                .arg(&from)
                .arg("+")
                .arg("COUNT")
                .arg(10_000)
                .query_async(&mut r)
                .await
                .unwrap();
            if reply.ids.is_empty() {
                break;
            }
            for entry in &reply.ids {
                let enqueued_ms: i64 = entry.id.split('-').next().unwrap().parse().unwrap();
                let run: QueuedRun = serde_json::from_str(&entry.get::<String>("run").unwrap()).unwrap();
                late.push((enqueued_ms - run.scheduled_at.timestamp_millis()) as f64);
            }
            from = format!("({}", reply.ids.last().unwrap().id);
        }
    }
    late.sort_by(f64::total_cmp);
    let on_time = late.iter().filter(|l| **l <= 0.0).count();
    println!("\n== fire lateness: {configs} configs on a per-second cron, {seconds} s, {} ==", redis_label());
    println!(
        "{} fires ({:.0}/s), {:.2} % on the queue by their due time (earliest {:.0} ms ahead, median {:.0} ms ahead)",
        late.len(),
        late.len() as f64 / seconds as f64,
        on_time as f64 * 100.0 / late.len() as f64,
        -late.first().copied().unwrap_or(0.0),
        -pct(&late, 0.5)
    );
    println!("Redis commands: {:.2} per fire", commands as f64 / late.len().max(1) as f64);
    let late: Vec<f64> = late.iter().map(|l| l.max(0.0)).collect();
    println!(
        "lateness p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        pct(&late, 0.5),
        pct(&late, 0.99),
        late.last().copied().unwrap_or(0.0)
    );
    env.drop_all().await;
}

async fn start_lateness(plugins: &Path, configs: usize, seconds: usize) {
    let env = Env::new().await;
    let mut ids = Vec::new();
    for i in 0..configs {
        let mut new = NewConfig::manual(&format!("c{i}"), "echo");
        new.scheduler_type = SchedulerType::Cron;
        new.schedule_config = json!({"cron_expression": "* * * * * *"});
        ids.push(env.store.create_config(new).await.unwrap().id);
    }
    let service = taskbox::engine::scheduler::SchedulerService::new(
        Arc::new(env.store.clone()),
        Arc::new(env.backend.clone()),
    );
    futures::stream::iter(ids)
        .map(|id| {
            let service = service.clone();
            async move { service.act(id, taskbox::contract::schedule::Action::Start).await.unwrap() }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    let (worker, _cache) = worker(&env, plugins).await;
    let (stop, stopped) = watch::channel(false);
    let scheduler = connect(&env.prefix).await;
    let changes = scheduler.changes();
    let firing = tokio::spawn(fire_loop(
        Arc::new(scheduler),
        changes,
        taskbox::contract::job::no_type_rules(),
        stopped.clone(),
    ));
    let working = tokio::spawn(worker.run(stopped, Duration::from_secs(30)));
    tokio::time::sleep(Duration::from_secs(seconds as u64 + 2)).await;
    stop.send(true).unwrap();
    firing.await.unwrap();
    working.await.unwrap();
    // Skip the first two seconds (start-up), as a steady state.
    let late: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM started_at - scheduled_at)::float8 * 1000 FROM task_executions \
         WHERE scheduled_at >= (SELECT min(scheduled_at) + interval '2 seconds' FROM task_executions) \
         ORDER BY 1",
    )
    .fetch_all(env.store.pool())
    .await
    .unwrap();
    let (k, from) = concurrency();
    println!(
        "\n== start lateness: {configs} configs on a per-second cron, one process with a worker (concurrency {k}, {from}) =="
    );
    println!(
        "{} runs; started_at - scheduled_at p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        late.len(),
        pct(&late, 0.5),
        pct(&late, 0.99),
        late.last().copied().unwrap_or(0.0)
    );
    env.drop_all().await;
}

async fn burst(n: usize) {
    let env = Env::new().await;
    let due = Utc.timestamp_opt(Utc::now().timestamp() + 3 + (n / 20_000) as i64, 0).unwrap();
    register_many(&env, n, "0 0 1 1 *", || due).await;
    let wait = (due - Utc::now()).to_std().expect("registered before the due second");
    tokio::time::sleep(wait).await;
    let commands = info_sum("stats", "total_commands_processed").await;
    let (stop, stopped) = watch::channel(false);
    let changes = env.backend.changes();
    let start = Instant::now();
    let looping = tokio::spawn(fire_loop(
        Arc::new(env.backend.clone()),
        changes,
        taskbox::contract::job::no_type_rules(),
        stopped,
    ));
    let mut r = env.backend.connection();
    let shards = env.backend.shards();
    let streams: Vec<String> = shards.all().map(|s| format!("{}queue:normal", shards.prefix(s))).collect();
    loop {
        let mut len = 0;
        for stream in &streams {
            len += redis::cmd("XLEN").arg(stream).query_async::<usize>(&mut r).await.unwrap();
        }
        if len >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = start.elapsed();
    stop.send(true).unwrap();
    looping.await.unwrap();
    let commands = info_sum("stats", "total_commands_processed").await - commands;
    println!("\n== fires/s: {n} schedules due at the same second, one fire loop, {} ==", redis_label());
    println!(
        "{:.0} fires/s ({:.2} s); Redis commands: {:.2} per fire",
        n as f64 / took.as_secs_f64(),
        took.as_secs_f64(),
        commands as f64 / n as f64
    );
    env.drop_all().await;
}

/// Which Redis the figures are from.
fn redis_label() -> &'static str {
    match redis_target() {
        taskbox::backends::redis::Target::Single(_) => "one Redis",
        taskbox::backends::redis::Target::Cluster(_) => "Redis Cluster (3 masters + 3 replicas, loopback)",
    }
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

async fn idle(schedules: usize) {
    let env = Env::new().await;
    let before = info_sum("memory", "used_memory").await;
    let next_year = || Utc.with_ymd_and_hms(2099, 1, 1, 0, 0, 0).unwrap();
    let took = register_many(&env, schedules, "0 0 1 1 *", next_year).await;
    let after = info_sum("memory", "used_memory").await;
    let (stop, stopped) = watch::channel(false);
    let scheduler = connect(&env.prefix).await;
    let changes = scheduler.changes();
    let looping = tokio::spawn(fire_loop(
        Arc::new(scheduler),
        changes,
        taskbox::contract::job::no_type_rules(),
        stopped,
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let cpu = (cpu_seconds() - cpu0) / t0.elapsed().as_secs_f64();
    stop.send(true).unwrap();
    looping.await.unwrap();
    println!("\n== {schedules} registered schedules, {} ==", redis_label());
    println!("registration: {:.0}/s ({:.1} s)", schedules as f64 / took.as_secs_f64(), took.as_secs_f64());
    println!(
        "Redis memory: {:.0} MiB ({:.0} bytes per schedule)",
        (after - before) as f64 / (1 << 20) as f64,
        (after - before) as f64 / schedules as f64
    );
    println!("scheduler CPU while nothing is due: {:.2} % of a core", cpu * 100.0);
    let (largest, mean) = shard_skew(&env.backend).await;
    println!(
        "{} shards: largest {largest:.0} schedules, mean {mean:.0} ({:.3}x the mean)",
        env.backend.shards().count(),
        largest / mean
    );
    let mib: Vec<u64> = per_master("memory", "used_memory").await.iter().map(|b| b >> 20).collect();
    println!("Redis memory per master: {mib:?} MiB");
    env.drop_all().await;
}

/// The schedules of the largest shard, and the mean over the shards.
async fn shard_skew(backend: &RedisBackend) -> (f64, f64) {
    let mut r = backend.connection();
    let shards = backend.shards();
    let mut counts = Vec::new();
    for s in shards.all() {
        let n: u64 =
            redis::cmd("HLEN").arg(format!("{}status", shards.prefix(s))).query_async(&mut r).await.unwrap();
        counts.push(n as f64);
    }
    let largest = counts.iter().copied().fold(0.0, f64::max);
    (largest, counts.iter().sum::<f64>() / counts.len() as f64)
}

/// The backend on `prefix`, in the target's default number of shards, or
/// `--shards N`.
async fn connect(prefix: &str) -> RedisBackend {
    let shards = std::env::args()
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0] == "--shards")
        .map(|w| w[1].parse().unwrap());
    RedisBackend::connect_sharded(&redis_target(), prefix, shards).await.unwrap()
}
