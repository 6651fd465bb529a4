//! What a fleet of `taskbox serve` processes shares about plugins: the
//! compiled code of a version (the first node to compile it shares it
//! through the config store; another node takes it only when its MAC
//! checks, and compiles for itself when it does not), and the news of a
//! new current version (PostgreSQL's LISTEN: another node serves it at
//! once, and listens again when its connection is cut).

use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};
use taskbox::store::Opened;

use crate::support::*;

async fn upload(server: &Server, example: &str, name: &str) {
    let (status, body) = server.upload(name, std::fs::read(built_plugin(example)).unwrap(), None).await;
    assert!(status == StatusCode::CREATED || status == StatusCode::OK, "{status}: {body}");
}

fn lines(server: &Server, text: &str) -> usize {
    server.log.lock().unwrap().iter().filter(|l| l.contains(text)).count()
}

/// Flips one byte in the middle of every shared artifact of `digest`.
async fn alter_shared_artifact(d: &Deployment, digest: &str) {
    let (select, update) = match d.kind {
        Kind::Distributed | Kind::Cluster => (
            "SELECT engine, artifact FROM plugin_compiled WHERE digest = $1",
            "UPDATE plugin_compiled SET artifact = $1 WHERE digest = $2 AND engine = $3",
        ),
        Kind::Embedded => (
            "SELECT engine, artifact FROM plugin_compiled WHERE digest = ?",
            "UPDATE plugin_compiled SET artifact = ? WHERE digest = ? AND engine = ?",
        ),
    };
    let rows: Vec<(String, Vec<u8>)> = match &d.opened {
        Opened::Postgres(pg) => sqlx::query_as(select).bind(digest).fetch_all(pg.pool()).await.unwrap(),
        Opened::Sqlite(s) => sqlx::query_as(select).bind(digest).fetch_all(s.pool()).await.unwrap(),
    };
    assert_eq!(rows.len(), 1, "one artifact was shared for {digest}");
    for (engine, mut artifact) in rows {
        let middle = artifact.len() / 2;
        artifact[middle] ^= 0xff;
        let altered = match &d.opened {
            Opened::Postgres(pg) => {
                let query = sqlx::query(update).bind(artifact).bind(digest).bind(&engine);
                query.execute(pg.pool()).await.unwrap().rows_affected()
            }
            Opened::Sqlite(_) => {
                // The store's own pool only reads; a writer of our own.
                let pool = sqlx::SqlitePool::connect(&d.database_url).await.unwrap();
                let query = sqlx::query(update).bind(artifact).bind(digest).bind(&engine);
                query.execute(&pool).await.unwrap().rows_affected()
            }
        };
        assert_eq!(altered, 1);
    }
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_takes_shared_compiled_code_only_when_its_mac_checks(d) {
    // The first node compiles both uploads and shares them.
    let mut first = serve(&d, &PluginDir::new(), &[]);
    upload(&first, "echo", "job").await;
    upload(&first, "fib", "job2").await;
    let job = first.create_id(json!({"name": "a", "task_type": "job", "scheduler_type": "manual", "parameters": {"x": 1}})).await;
    let job2 = first.create_id(json!({"name": "b", "task_type": "job2", "scheduler_type": "manual", "parameters": {"n": 10}})).await;
    first.kill();
    alter_shared_artifact(&d, &digest_of("fib")).await;

    // A node with an empty cache: the good artifact is taken, the altered
    // one refused (and compiled here, and shared again).
    let mut second = serve(&d, &PluginDir::new(), &[]);
    for id in [&job, &job2] {
        let record = second.run_and_wait(id, Duration::from_secs(30)).await;
        assert_eq!(record["is_success"], true, "{record}");
    }
    assert_eq!(lines(&second, "took the compiled artifact shared by the fleet"), 1, "{:?}", second.log.lock().unwrap());
    assert_eq!(lines(&second, "fails its MAC"), 1, "{:?}", second.log.lock().unwrap());
    let (_, info) = second.get("/plugins/job2").await;
    assert_eq!(info["source"], "compiled", "{info}");
    let (_, info) = second.get("/plugins/job").await;
    assert_eq!(info["source"], "cache", "{info}");
    second.kill();

    // The next node takes both: what the second node shared checks.
    let third = serve(&d, &PluginDir::new(), &[]);
    assert_eq!(third.run_and_wait(&job2, Duration::from_secs(30)).await["result"], json!({"n": 10, "fib": 55}));
    assert_eq!(lines(&third, "took the compiled artifact shared by the fleet"), 2, "{:?}", third.log.lock().unwrap());
    assert_eq!(lines(&third, "fails its MAC"), 0);
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_reaches_another_node_at_once_and_after_its_connection_is_cut() {
    let d = Deployment::new(Kind::Distributed).await;
    let api = serve(&d, &PluginDir::new(), &[("TASKBOX_ROLES", "api,scheduler".into())]);
    let worker = serve_worker(&d, &PluginDir::new(), &[]);
    upload(&api, "echo", "job").await;
    let id = api.create_id(json!({"name": "p", "task_type": "job", "scheduler_type": "manual"})).await;
    assert_eq!(api.run_and_wait(&id, Duration::from_secs(30)).await["plugin_digest"], digest_of("echo"));

    // Polling is only a safety net every 15 s: within a second means told.
    let reaches = |example: &'static str, within: Duration| {
        let (api, id) = (&api, &id);
        async move {
            let (digest, start) = (digest_of(example), Instant::now());
            loop {
                let record = api.run_and_wait(id, Duration::from_secs(30)).await;
                if record["plugin_digest"] == digest {
                    return start.elapsed();
                }
                assert!(start.elapsed() < within, "{example} did not reach the worker within {within:?}");
            }
        }
    };
    let uploaded = Instant::now();
    upload(&api, "fib", "job").await;
    let took = reaches("fib", Duration::from_secs(1)).await;
    let (status, body) = api.post("/plugins/job/rollback", json!({"digest": digest_of("echo")})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    reaches("echo", Duration::from_secs(1)).await;
    eprintln!(
        "upload → run of the new version on the worker: {took:?} (upload itself {:?})",
        uploaded.elapsed() - took
    );

    // Cut every LISTEN connection: the worker listens again (within its
    // 1 s poll) and hears the next change.
    let Opened::Postgres(pg) = &d.opened else { unreachable!() };
    let cut: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .fetch_all(pg.pool())
    .await
    .unwrap();
    assert!(!cut.is_empty(), "the nodes were listening");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    upload(&api, "fib", "job").await;
    reaches("fib", Duration::from_secs(1)).await;
    drop(worker);
}
