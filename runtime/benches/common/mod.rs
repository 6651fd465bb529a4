//! What the benchmarks against real services share: command-line options,
//! a fresh PostgreSQL database and Redis key prefix (removed afterwards),
//! percentiles, and timing sequential HTTP requests. `TASKBOX_TEST_DATABASE_URL` and `TASKBOX_TEST_REDIS_URL`
//! point elsewhere, as in the test suite.
#![allow(dead_code)]

use sqlx::Connection;
use uuid::Uuid;

/// The number after `name` on the command line, else `default`.
/// A built component: an example (`plugins/`) or a test component
/// (`target/test-components/`), both built by `cargo xtask plugins`.
#[allow(dead_code)]
pub fn built(name: &str) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let file = format!("{name}.wasm");
    let candidates = [root.join("plugins").join(&file), root.join("target/test-components").join(&file)];
    match candidates.iter().find(|p| p.is_file()) {
        Some(path) => path.clone(),
        None => panic!("{file} is missing: run `cargo xtask plugins` first"),
    }
}

pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map_or(default, |v| v.parse().unwrap())
}

/// Whether `--only` names `what` (or is absent).
pub fn only(what: &str) -> bool {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--only") {
        Some(i) => args.get(i + 1).is_some_and(|v| v == what),
        None => true,
    }
}

pub fn admin_url() -> String {
    std::env::var("TASKBOX_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("TASKBOX_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A fresh PostgreSQL database: its name and URL.
pub async fn create_database() -> (String, String) {
    let name = format!("taskbox_bench_{}", Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin_url()).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
    let url = format!("{}/{name}", admin_url().rsplit_once('/').unwrap().0);
    (name, url)
}

pub async fn drop_database(name: &str) {
    let mut conn = sqlx::PgConnection::connect(&admin_url()).await.unwrap();
    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
}

/// A fresh Redis key prefix.
pub fn fresh_prefix() -> String {
    format!("taskbox-bench:{}:", Uuid::new_v4().simple())
}

/// The Redis the benchmark uses: `--redis cluster` the loopback cluster
/// of the test suite (`TASKBOX_TEST_REDIS_CLUSTER_NODES`, default
/// 127.0.0.1:7101–7106, which `cargo xtask test` starts), else one Redis.
pub fn redis_target() -> taskbox::backends::redis::Target {
    use taskbox::backends::redis::Target;
    let args: Vec<String> = std::env::args().collect();
    let cluster = args
        .iter()
        .position(|a| a == "--redis")
        .and_then(|i| args.get(i + 1))
        .is_some_and(|v| v == "cluster");
    if !cluster {
        return Target::Single(redis_url());
    }
    Target::Cluster(match std::env::var("TASKBOX_TEST_REDIS_CLUSTER_NODES") {
        Ok(v) => v.split(',').map(str::to_owned).collect(),
        Err(_) => (7101..=7106).map(|p| format!("redis://127.0.0.1:{p}")).collect(),
    })
}

/// Every node of the target (one, or each of a cluster's).
pub fn redis_nodes() -> Vec<String> {
    match redis_target() {
        taskbox::backends::redis::Target::Single(url) => vec![url],
        taskbox::backends::redis::Target::Cluster(nodes) => nodes,
    }
}

/// A connection to each master among the target's nodes.
pub async fn masters() -> Vec<redis::aio::MultiplexedConnection> {
    let mut out = Vec::new();
    for url in redis_nodes() {
        let mut conn = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
        let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut conn).await.unwrap();
        if matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master") {
            out.push(conn);
        }
    }
    out
}

/// A field of `INFO <section>` summed over the masters.
pub async fn info_sum(section: &str, field: &str) -> u64 {
    per_master(section, field).await.iter().sum()
}

/// A field of `INFO <section>` on each master.
pub async fn per_master(section: &str, field: &str) -> Vec<u64> {
    let prefix = format!("{field}:");
    let mut each = Vec::new();
    for mut conn in masters().await {
        let info: String = redis::cmd("INFO").arg(section).query_async(&mut conn).await.unwrap();
        each.push(
            info.lines().find_map(|l| l.strip_prefix(prefix.as_str())).unwrap().trim().parse().unwrap(),
        );
    }
    each
}

/// Removes every Redis key under `prefix` (as the target tags it), on
/// every master.
pub async fn unlink_prefix(prefix: &str) {
    // The shards' keys start with the prefix as set, the deployment's own
    // with it as the target tags it.
    let tagged = redis_target().tagged(prefix);
    let patterns = if tagged == prefix { vec![prefix.to_owned()] } else { vec![prefix.to_owned(), tagged] };
    for mut r in masters().await {
        for pattern in &patterns {
            let mut cursor = 0u64;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{pattern}*"))
                    .arg("COUNT")
                    .arg(10_000)
                    .query_async(&mut r)
                    .await
                    .unwrap();
                // One key a command: on a cluster they are in several slots.
                let mut pipe = redis::pipe();
                for key in &keys {
                    pipe.cmd("UNLINK").arg(key).ignore();
                }
                if !keys.is_empty() {
                    let _: () = pipe.query_async(&mut r).await.unwrap();
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
    }
}

/// Sorted load times in ms of 10 loads of the file at `path` from the
/// artifact cache in `cache` (which must hold it), a new loader each.
pub fn cached_loads(
    executor: &taskbox::executor::Executor,
    cache: &std::path::Path,
    path: &std::path::Path,
) -> Vec<f64> {
    use taskbox::plugins::registry::{LoadSource, Loader};
    let mut loads: Vec<f64> = (0..10)
        .map(|_| {
            let entry = Loader::new(executor.clone(), Some(cache.to_owned())).load(path);
            assert_eq!(entry.info.source, Some(LoadSource::Cache));
            entry.info.load_ms
        })
        .collect();
    loads.sort_by(f64::total_cmp);
    loads
}

/// Sorted per-run times in ms of `runs` runs of `plugin` with `params`
/// through the real `Executor::run` (a fresh instance each), after a tenth
/// more to warm the instance pool up; every run must succeed.
pub async fn run_latencies(
    executor: &taskbox::executor::Executor,
    plugin: &taskbox::plugins::registry::Plugin,
    params: &str,
    runs: usize,
) -> Vec<f64> {
    use taskbox::executor::{Limits, RunContext, RunRequest};
    let mut latencies = Vec::with_capacity(runs);
    for i in 0..runs + runs / 10 {
        let request = RunRequest {
            context: RunContext::ad_hoc(),
            params: params.to_owned(),
            limits: Limits::default(),
            doors: Default::default(),
        };
        let t = std::time::Instant::now();
        let outcome = executor.run(&plugin.runnable, request).await;
        if i >= runs / 10 {
            latencies.push(t.elapsed().as_secs_f64() * 1e3);
        }
        assert!(outcome.is_success, "{outcome:?}");
    }
    latencies.sort_by(f64::total_cmp);
    latencies
}

/// The `p` quantile (0 to 1) of sorted values.
pub fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// p50, p99 and max of `n` sequential requests made by `request` (each
/// must succeed), in milliseconds, after 20 to warm up.
pub async fn latencies(request: impl Fn() -> reqwest::RequestBuilder, n: usize) -> (f64, f64, f64) {
    let get = async || {
        let response = request().send().await.unwrap();
        assert!(response.status().is_success(), "{}: {}", response.url(), response.status());
        response.bytes().await.unwrap();
    };
    for _ in 0..20 {
        get().await;
    }
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let start = std::time::Instant::now();
        get().await;
        ms.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    (pct(&ms, 0.5), pct(&ms, 0.99), ms[ms.len() - 1])
}
