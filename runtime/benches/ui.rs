//! The dashboard's pages at scale: how long each page takes to answer when
//! the store holds 10,000 configs and 1,000,000 runs, on both deployments.
//!
//! Seeding: 10,000 manual and cron configs through the store (a tenth of
//! the cron ones started and a twentieth paused, over the API, so the
//! schedule backend holds live state), then 1,000,000 records written
//! through the store as workers write them (so the running totals are kept
//! as in production): 100 per config, three task types, start times over
//! the last 24 hours, 5 % failures. On PostgreSQL the database is vacuumed
//! and analysed first, as autovacuum would have. Then the `Application`
//! serves the API and `/ui` on port 0 (shipped defaults otherwise), one
//! logged-in client asks each page in turn, one request at a time, after a
//! warm-up; the time is the whole answer over loopback.
//!
//! Run: `cargo bench -p taskbox --bench ui`
//! Options: `-- --configs N --records N --requests R --only distributed|embedded`.

use chrono::{Duration as Span, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use taskbox::server::Application;
use taskbox::server::settings::{Role, Settings};
use taskbox::store::*;
use tokio::sync::watch;
use uuid::Uuid;

mod common;
use common::{arg, create_database, drop_database, fresh_prefix, latencies, only, redis_url, unlink_prefix};

const TOKEN: &str = "bench-ui-token";
const BATCH: usize = 1_000;
const TASK_TYPES: [&str; 3] = ["echo", "report", "sync"];

#[tokio::main]
async fn main() {
    let configs = arg("--configs", 10_000);
    let records = arg("--records", 1_000_000);
    let requests = arg("--requests", 200);
    if only("distributed") {
        let (name, url) = create_database().await;
        let prefix = fresh_prefix();
        bench("distributed (PostgreSQL + Redis)", &url, Some(&prefix), configs, records, requests).await;
        drop_database(&name).await;
        unlink_prefix(&prefix).await;
    }
    if only("embedded") {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("taskbox.db").display());
        bench("embedded (SQLite + local)", &url, None, configs, records, requests).await;
    }
}

async fn bench(
    label: &str,
    url: &str,
    prefix: Option<&str>,
    configs: usize,
    records: usize,
    requests: usize,
) {
    println!("== {label}: {configs} configs, {records} runs, {requests} requests per page ==");
    let opened = open(url).await.unwrap();
    let ids = seed(&opened, url, configs, records).await;
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
    let origin = format!("http://{}", app.address().unwrap());
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(app.run_until_stopped(shutdown));
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    while client
        .get(format!("{origin}/api/v1/system/health"))
        .send()
        .await
        .map_or(true, |r| !r.status().is_success())
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Live schedule state: a tenth of the cron configs started, half of those paused.
    let started = Instant::now();
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 2 == 1).take(configs / 10) {
        let go = client
            .post(format!("{origin}/api/v1/schedules/{id}/start"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert!(go.status().is_success(), "{}", go.status());
        if i % 4 == 1 {
            client
                .post(format!("{origin}/api/v1/schedules/{id}/pause"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
        }
    }
    println!("started {} schedules in {:.1} s", configs / 10, started.elapsed().as_secs_f64());

    // A session, as a login makes one.
    let session = Uuid::new_v4().simple().to_string();
    let record = UiSession {
        token_sha256: hex::encode(Sha256::digest(TOKEN.as_bytes())),
        csrf: "bench".into(),
        expires_at: Utc::now() + Span::hours(1),
    };
    opened
        .dashboard()
        .create_session(&hex::encode(Sha256::digest(session.as_bytes())), &record)
        .await
        .unwrap();
    let cookie = format!("taskbox_session={session}");

    let id = ids[7];
    let row: i64 = {
        let stats = opened.configs();
        let (page, _) = stats
            .list_executions(
                &ExecutionFilter { config_id: Some(id), ..Default::default() },
                Page { limit: 1, offset: 0 },
            )
            .await
            .unwrap();
        page[0].id
    };
    let fmt = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M").to_string();
    let (from, to) = (fmt(Utc::now() - Span::hours(14)), fmt(Utc::now() - Span::hours(12)));
    let pages = [
        "/ui/".to_owned(),
        "/ui/schedules".to_owned(),
        format!("/ui/schedules?offset={}", configs / 2),
        "/ui/schedules?status=paused".to_owned(),
        "/ui/schedules?status=active&offset=100".to_owned(),
        "/ui/schedules?name=bench-77".to_owned(),
        format!("/ui/configs/{id}"),
        "/ui/runs".to_owned(),
        "/ui/runs?outcome=failure".to_owned(),
        "/ui/runs?task_type=report".to_owned(),
        format!("/ui/runs?config_id={id}"),
        format!("/ui/runs?since={from}&until={to}"),
        "/ui/runs/rows".to_owned(),
        format!("/ui/runs/{row}"),
        "/ui/plugins".to_owned(),
    ];
    println!("{:<58} {:>9} {:>9} {:>9}", "GET", "p50 ms", "p99 ms", "max ms");
    let mut worst: f64 = 0.0;
    for path in &pages {
        let url = format!("{origin}{path}");
        let (p50, p99, max) = latencies(|| client.get(&url).header("cookie", &cookie), requests).await;
        worst = worst.max(p99);
        println!("{path:<58} {p50:>9.2} {p99:>9.2} {max:>9.2}");
    }
    println!("worst p99: {worst:.2} ms");
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
}

/// `configs` configs (every other one a cron) and `records` records through
/// the store; returns the config ids.
async fn seed(opened: &Opened, url: &str, configs: usize, records: usize) -> Vec<Uuid> {
    let store = opened.configs();
    store.migrate().await.unwrap();
    let started = Instant::now();
    let mut ids = Vec::with_capacity(configs);
    for i in 0..configs {
        let mut new = NewConfig::manual(&format!("bench-{i}"), TASK_TYPES[i % 3]);
        if i % 2 == 1 {
            new.scheduler_type = SchedulerType::Cron;
            new.schedule_config = json!({"cron_expression": format!("{} {} * * *", i % 60, i % 24)});
        }
        ids.push(store.create_config(new).await.unwrap().id);
    }
    println!("seeded {configs} configs in {:.1} s", started.elapsed().as_secs_f64());
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
        let at = now - Span::milliseconds((next() % 86_400_000) as i64);
        let duration = (next() % 100) as f64 / 1000.0 + 0.0005;
        let is_success = next() % 20 != 0;
        let config = n % configs;
        batch.push(ExecutionRecord {
            config_id: Some(ids[config]),
            execution_id: Uuid::new_v4(),
            attempt: 1,
            trigger: Trigger::Cron,
            task_type: TASK_TYPES[config % 3].into(),
            scheduled_at: at,
            started_at: at,
            completed_at: at + Span::milliseconds((duration * 1000.0) as i64),
            duration_seconds: duration,
            is_success,
            result: is_success.then(|| json!({"n": n})),
            error_message: (!is_success).then(|| "bench failure".to_owned()),
            logs: "[log] info: working\n".into(),
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
    if url.starts_with("postgres") {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url).await.unwrap();
        sqlx::query("VACUUM ANALYZE").execute(&mut conn).await.unwrap();
    }
    ids
}
