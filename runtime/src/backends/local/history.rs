//! The `local_history` table: each config's newest [`HISTORY_CAP`] events,
//! expiring [`HISTORY_TTL`] after the newest, as Redis's capped list with a
//! TTL does: reads ignore an expired history, the next event starts afresh,
//! and [`LocalBackend::sweep_history`] deletes it. Owns that table only.

use chrono::Utc;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use std::collections::BTreeSet;
use uuid::Uuid;

use super::LocalBackend;
use super::codec::{json, ms, parse};
use crate::contract::BackendError;
use crate::contract::schedule::HistoryEvent;
use crate::contract::schedule::backend::{HISTORY_CAP, HISTORY_TTL};

/// Events written before this are gone once no newer one was written.
fn cutoff() -> i64 {
    ms(Utc::now()) - HISTORY_TTL.as_millis() as i64
}

/// Appends a history event, keeping the newest [`HISTORY_CAP`].
pub(super) async fn push(
    tx: &mut SqliteConnection,
    config_id: Uuid,
    event: &HistoryEvent,
) -> Result<(), BackendError> {
    push_many(tx, &[(config_id, event)]).await
}

/// [`push`] for several events (in order), in three statements per config
/// and one insert.
pub(super) async fn push_many(
    tx: &mut SqliteConnection,
    events: &[(Uuid, &HistoryEvent)],
) -> Result<(), BackendError> {
    let configs: BTreeSet<Uuid> = events.iter().map(|(id, _)| *id).collect();
    for config_id in &configs {
        sqlx::query(
            "DELETE FROM local_history WHERE config_id = ?1 \
             AND (SELECT max(at_ms) FROM local_history WHERE config_id = ?1) < ?2",
        )
        .bind(config_id)
        .bind(cutoff())
        .execute(&mut *tx)
        .await?;
    }
    let now = ms(Utc::now());
    let mut insert = QueryBuilder::<Sqlite>::new("INSERT INTO local_history (config_id, at_ms, event) ");
    insert.push_values(events, |mut row, (config_id, event)| {
        row.push_bind(*config_id).push_bind(now).push_bind(json(event));
    });
    insert.build().execute(&mut *tx).await?;
    for config_id in &configs {
        sqlx::query(
            "DELETE FROM local_history WHERE config_id = ?1 AND id <= \
             (SELECT id FROM local_history WHERE config_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        )
        .bind(config_id)
        .bind(HISTORY_CAP as i64)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Newest first, at most `limit`.
pub(super) async fn read(
    conn: &mut SqliteConnection,
    config_id: Uuid,
    limit: usize,
) -> Result<Vec<HistoryEvent>, BackendError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT event FROM local_history WHERE config_id = ?1 \
         AND (SELECT max(at_ms) FROM local_history WHERE config_id = ?1) >= ?3 ORDER BY id DESC LIMIT ?2",
    )
    .bind(config_id)
    .bind(limit as i64)
    .bind(cutoff())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|e| parse("history event", e)).collect()
}

/// Removes a config's history.
pub(super) async fn forget(tx: &mut SqliteConnection, config_id: Uuid) -> Result<(), BackendError> {
    sqlx::query("DELETE FROM local_history WHERE config_id = ?").bind(config_id).execute(&mut *tx).await?;
    Ok(())
}

impl LocalBackend {
    /// Deletes the histories whose newest event is older than [`HISTORY_TTL`].
    pub async fn sweep_history(&self) -> Result<u64, BackendError> {
        let mut tx = self.db.write().await?;
        let done = sqlx::query(
            "DELETE FROM local_history WHERE config_id IN \
             (SELECT config_id FROM local_history GROUP BY config_id HAVING max(at_ms) < ?)",
        )
        .bind(cutoff())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}
