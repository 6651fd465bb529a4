//! Execution-record queries at scale: the latency a client sees from the
//! lists, the statistics and the dashboard over HTTP when the store holds
//! N records (default 1,000,000), on both deployments.
//!
//! The records are written through the store, as workers write them (so
//! the running totals are kept as in production): 100 configs, start times
//! spread over the last D days (`--days`, default 1), 5 % failures. On
//! PostgreSQL the records table is partitioned by month (migration 0016);
//! the seeded database is given the monthly partitions of those days, as a
//! deployment that ran partitioned for that long has. `--plain` swaps in
//! the table as it was before 0016 (one table, same indexes), for the
//! figures to compare. With `--days` over two months, the benchmark then
//! measures retention: dropping the oldest whole month(s) through the
//! store, against deleting the next month row by row. Then the `Application`
//! serves the API alone on port 0 (the shipped defaults otherwise) and one
//! client asks each endpoint in turn, one request at a time, after a warm-up.
//! On PostgreSQL the seeded database is vacuumed and analysed first, as
//! autovacuum would have done to records that accumulated over time.
//!
//! Run: `cargo bench -p taskbox --bench records`
//! Options: `-- --records N --requests R --days D --plain --only distributed|embedded`.
//! `TASKBOX_TEST_DATABASE_URL` and `TASKBOX_TEST_REDIS_URL` point elsewhere.

use chrono::{Duration as Span, Utc};
use serde_json::json;
use std::time::{Duration, Instant};
use taskbox::server::Application;
use taskbox::server::settings::{Role, Settings};
use taskbox::store::*;
use tokio::sync::watch;
use uuid::Uuid;

mod common;
use common::{arg, create_database, drop_database, fresh_prefix, latencies, only, redis_url, unlink_prefix};

const TOKEN: &str = "bench-records-token";
const CONFIGS: usize = 100;
const BATCH: usize = 1_000;

#[tokio::main]
async fn main() {
    let records = arg("--records", 1_000_000);
    let requests = arg("--requests", 300);
    if only("distributed") {
        let (name, url) = create_database().await;
        let prefix = fresh_prefix();
        bench("distributed (PostgreSQL + Redis)", &url, Some(&prefix), records, requests).await;
        drop_database(&name).await;
        unlink_prefix(&prefix).await;
    }
    if only("embedded") {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("taskbox.db").display());
        bench("embedded (SQLite + local)", &url, None, records, requests).await;
    }
}

async fn bench(label: &str, url: &str, prefix: Option<&str>, records: usize, requests: usize) {
    let days = arg("--days", 1);
    let layout = match (url.starts_with("postgres"), plain()) {
        (false, _) => "",
        (true, false) => ", records partitioned by month",
        (true, true) => ", records in one plain table (before migration 0016)",
    };
    println!("== {label}: {records} records over {days} days{layout}, {requests} requests per endpoint ==");
    let configs = seed(url, records, days).await;
    let plugins = tempfile::tempdir().unwrap();
    let settings = Settings {
        database_url: url.to_owned(),
        redis_url: prefix.map(|_| redis_url()),
        redis_prefix: prefix.unwrap_or("taskbox:").to_owned(),
        plugin_dir: plugins.path().to_owned(),
        cache_dir: Some(plugins.path().join("cache")),
        bind: "127.0.0.1:0".parse().unwrap(),
        admin_token: Some(TOKEN.into()),
        roles: [Role::Api].into(),
        ..Settings::default()
    };
    let app = Application::build(settings).await.unwrap();
    let api = format!("http://{}/api/v1", app.address().unwrap());
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(app.run_until_stopped(shutdown));
    let client = reqwest::Client::new();
    while client.get(format!("{api}/system/health")).send().await.map_or(true, |r| !r.status().is_success()) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = configs[7];
    let half_day = (Utc::now() - Span::hours(12) - Span::seconds(17)).to_rfc3339().replace('+', "%2B");
    let endpoints = [
        "/executions?limit=50".to_owned(),
        format!("/executions?config_id={id}&limit=50"),
        "/executions?is_success=false&limit=50".to_owned(),
        format!("/executions?since={half_day}&limit=50"),
        "/executions/recent?limit=50".to_owned(),
        "/executions/failed?limit=50".to_owned(),
        "/executions/stats".to_owned(),
        format!("/executions/stats?config_id={id}"),
        format!("/executions/stats?since={half_day}"),
        format!("/configs/{id}?include_stats=true"),
        "/system/dashboard".to_owned(),
    ];
    println!("{:<58} {:>9} {:>9} {:>9}", "GET", "p50 ms", "p99 ms", "max ms");
    let mut worst: f64 = 0.0;
    for path in &endpoints {
        let url = format!("{api}{path}");
        let (p50, p99, max) = latencies(|| client.get(&url).bearer_auth(TOKEN), requests).await;
        worst = worst.max(p99);
        println!("{path:<58} {p50:>9.2} {p99:>9.2} {max:>9.2}");
    }
    println!("worst p99: {worst:.2} ms");
    // A deep page still costs its offset (documented), shown apart.
    let deep = "/executions?limit=50&offset=100000";
    let deep_url = format!("{api}{deep}");
    let (p50, p99, max) = latencies(|| client.get(&deep_url).bearer_auth(TOKEN), requests.min(50)).await;
    println!("{deep:<58} {p50:>9.2} {p99:>9.2} {max:>9.2}  (deep offset, outside the goal)");
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
    if url.starts_with("postgres") && days > 62 {
        retention(url).await;
    }
}

/// `--plain`: the records table as it was before partitioning.
fn plain() -> bool {
    std::env::args().any(|a| a == "--plain")
}

/// Gives a fresh database the layout of one that has run for `days`:
/// monthly partitions back to the first day's month (the first partition
/// from the beginning of time), or with `--plain` one table.
async fn shape(conn: &mut sqlx::PgConnection, days: usize) {
    let sql = if plain() {
        // The same columns, keys and indexes in one table; partitions are
        // never asked for.
        "ALTER TABLE task_executions RENAME TO partitioned_records; \
         CREATE TABLE task_executions (LIKE partitioned_records INCLUDING ALL); \
         CREATE OR REPLACE FUNCTION taskbox_record_partitions(months_ahead INTEGER) RETURNS INTEGER LANGUAGE sql AS 'SELECT 0';"
            .to_owned()
    } else {
        format!(
            "DO $$ DECLARE m TIMESTAMPTZ; first TIMESTAMPTZ := (SELECT min(lower_bound) FROM taskbox_record_partition_bounds()); \
             BEGIN \
               ALTER TABLE task_executions DETACH PARTITION task_executions_legacy; DROP TABLE task_executions_legacy; \
               m := date_trunc('month', (now() - interval '{days} days') AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'; \
               EXECUTE format('CREATE TABLE task_executions_older PARTITION OF task_executions FOR VALUES FROM (MINVALUE) TO (%L)', m); \
               WHILE m < first LOOP \
                 EXECUTE format('CREATE TABLE %I PARTITION OF task_executions FOR VALUES FROM (%L) TO (%L)', \
                   'task_executions_' || to_char(m AT TIME ZONE 'UTC', 'YYYYMM'), m, m + interval '1 month'); \
                 m := m + interval '1 month'; \
               END LOOP; \
             END $$;"
        )
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(conn).await.unwrap();
}

/// Retention through the store: the oldest whole month(s) dropped, then
/// the next month deleted row by row (what a `DELETE` of a month costs).
async fn retention(url: &str) {
    let store = open(url).await.unwrap().configs();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url).await.unwrap();
    // The start of the second month with records, and of the third.
    let months: Vec<chrono::DateTime<Utc>> = sqlx::query_scalar(
        "SELECT DISTINCT date_trunc('month', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS m \
         FROM task_executions ORDER BY m",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let (second, third) = (months[1], months[2]);
    println!("\nretention (store.delete_executions_before, as DELETE /executions does):");
    let t = Instant::now();
    let n = store.delete_executions_before(second).await.unwrap();
    println!("  records before {}: {n} in {:.3} s", second.format("%Y-%m-%d"), t.elapsed().as_secs_f64());
    let t = Instant::now();
    let n = store.delete_executions_before(third - Span::seconds(1)).await.unwrap();
    println!(
        "  records before {} (the next month, its last second kept: row by row): {n} in {:.3} s",
        (third - Span::seconds(1)).format("%Y-%m-%d %H:%M:%S"),
        t.elapsed().as_secs_f64()
    );
}

/// Writes `records` records through the store, started over the last
/// `days`; returns the config ids.
async fn seed(url: &str, records: usize, days: usize) -> Vec<Uuid> {
    let store = open(url).await.unwrap().configs();
    store.migrate().await.unwrap();
    if url.starts_with("postgres") {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url).await.unwrap();
        shape(&mut conn, days).await;
    }
    let span_ms = days as u64 * 86_400_000;
    let mut ids = Vec::with_capacity(CONFIGS);
    for i in 0..CONFIGS {
        ids.push(store.create_config(NewConfig::manual(&format!("bench-{i}"), "echo")).await.unwrap().id);
    }
    let started = Instant::now();
    let now = Utc::now();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut batch = Vec::with_capacity(BATCH);
    for n in 0..records {
        let at = now - Span::milliseconds((next() % span_ms) as i64);
        let duration = (next() % 100) as f64 / 1000.0 + 0.0005;
        let is_success = next() % 20 != 0;
        batch.push(ExecutionRecord {
            config_id: Some(ids[n % CONFIGS]),
            execution_id: Uuid::new_v4(),
            attempt: 1,
            trigger: Trigger::Manual,
            task_type: "echo".into(),
            scheduled_at: at,
            started_at: at,
            completed_at: at + Span::milliseconds((duration * 1000.0) as i64),
            duration_seconds: duration,
            is_success,
            result: is_success.then(|| json!({"n": n})),
            error_message: (!is_success).then(|| "bench failure".to_owned()),
            logs: String::new(),
            plugin_digest: Some("0".repeat(64)),
            worker: "bench".into(),
            parameters: Some(json!({"n": n})),
            timeout_seconds: Some(60.0),
            cancelled_by: None,
            workflow_execution_id: None,
            step: None,
            step_index: None,
        });
        if batch.len() == BATCH || n + 1 == records {
            store.record_executions(&batch).await.unwrap();
            batch.clear();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("seeded {records} records in {secs:.1} s ({:.0} records/s)", records as f64 / secs);
    // A database that grew to this size over weeks has been vacuumed and
    // analysed by autovacuum; one filled in a minute has not yet.
    if url.starts_with("postgres") {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url).await.unwrap();
        sqlx::query("VACUUM ANALYZE").execute(&mut conn).await.unwrap();
    }
    ids
}
