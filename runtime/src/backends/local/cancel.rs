//! Cancelling queued runs in the local queue: rows no worker holds become
//! markers the next worker records as cancelled unrun; rows a worker holds
//! are marked, for that worker to stop.

use chrono::Utc;
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::codec::ms;
use crate::contract::BackendError;
use crate::contract::job::QueuedRun;

/// Cancels the runs of this config (all, or the one of `execution_id`) as
/// `by`: rows no worker holds become markers (ready now, no slots), held
/// ones are marked; returns the held ones, whose workers must be told, and
/// the runs found.
pub(super) async fn mark_cancelled(
    tx: &mut SqliteConnection,
    which: Which,
    by: &str,
) -> Result<Vec<(bool, QueuedRun)>, BackendError> {
    let (column, id) = match which {
        Which::Config(id) => ("config_id", id),
        Which::Execution(id) => ("execution_id", id),
    };
    let rows: Vec<(i64, Option<String>, String, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(
        format!("SELECT id, consumer, run, cancel_by FROM local_queue WHERE {column} = ?"),
    ))
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let now = ms(Utc::now());
    let mut found = Vec::with_capacity(rows.len());
    for (row, consumer, run, already) in rows {
        let run: QueuedRun =
            serde_json::from_str(&run).map_err(|e| BackendError::corrupt("queued run", e))?;
        if already.is_none() {
            sqlx::query(
                "UPDATE local_queue SET cancel_by = ?1, \
                 ready_ms = CASE WHEN consumer IS NULL THEN ?2 ELSE ready_ms END, \
                 cfg_limit = CASE WHEN consumer IS NULL THEN NULL ELSE cfg_limit END, \
                 type_limit = CASE WHEN consumer IS NULL THEN NULL ELSE type_limit END, \
                 cfg_rate = CASE WHEN consumer IS NULL THEN NULL ELSE cfg_rate END, \
                 type_rate = CASE WHEN consumer IS NULL THEN NULL ELSE type_rate END WHERE id = ?3",
            )
            .bind(by)
            .bind(now)
            .bind(row)
            .execute(&mut *tx)
            .await?;
        }
        found.push((consumer.is_some(), run));
    }
    Ok(found)
}

/// The runs [`mark_cancelled`] looks for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Which {
    Config(Uuid),
    Execution(Uuid),
}
