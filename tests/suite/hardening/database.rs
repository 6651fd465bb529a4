//! A lost PostgreSQL connection is an outage, not a fault: after the
//! database ends the server's connections (`pg_terminate_backend`, as a
//! restart or a failover does), requests answer 503 at worst, never 500,
//! and an idempotent read is retried once on a fresh connection.

use reqwest::{Method, StatusCode};
use serde_json::json;
use taskbox::store::Opened;

use crate::support::*;

/// Ends every connection to the deployment's database but the asker's
/// (a connection of its own: one from a pool may be one an earlier round
/// ended).
async fn terminate_connections(d: &Deployment) -> u64 {
    let Opened::Postgres(_) = &d.opened else { unreachable!("distributed") };
    let mut asker = <sqlx::PgConnection as sqlx::Connection>::connect(&d.database_url).await.unwrap();
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut asker)
    .await
    .unwrap();
    ended.len() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_postgres_connections_answer_503_or_are_retried_never_500() {
    let app = spawn_app(Deployment::new(Kind::Distributed).await).await;
    let id = app.create_id(json!({"name": "c", "task_type": "echo", "scheduler_type": "manual"})).await;
    app.run_and_wait(&id, std::time::Duration::from_secs(20)).await;
    for round in 0..3 {
        let ended = terminate_connections(&app.d).await;
        assert!(ended > 0, "the server held connections");
        let reads = [
            "/configs".to_owned(),
            format!("/configs/{id}"),
            "/executions".to_owned(),
            "/executions/stats".to_owned(),
        ];
        for path in &reads {
            let (status, body) = app.get(path).await;
            assert_eq!(status, StatusCode::OK, "round {round}: a read of {path} is retried once: {body}");
        }
        terminate_connections(&app.d).await;
        let (status, body) = app
            .call(Method::PATCH, &format!("/configs/{id}"), Some(json!({"description": format!("r{round}")})))
            .await;
        assert!(
            status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE,
            "round {round}: {status} {body}"
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(error_code(&body), "service_unavailable");
        }
    }
}
