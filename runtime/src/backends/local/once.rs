//! The `local_idempotency` table: which runs were queued with an
//! idempotency key ([`Once`]), until the key's lifetime ends. Read and
//! written in the transaction that queues, so a key and its run commit
//! together. Owns that table only.

use chrono::Utc;
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::LocalBackend;
use super::codec::ms;
use crate::contract::BackendError;
use crate::contract::schedule::backend::{Enqueued, ONCE_TTL, Once};

/// Claims `once` for `execution_id` of `config_id` unless a live claim is
/// there; answers what that means for the run.
pub(super) async fn claim(
    tx: &mut SqliteConnection,
    config_id: Uuid,
    once: &Once,
    execution_id: Uuid,
) -> Result<Enqueued, BackendError> {
    let now = ms(Utc::now());
    let seen: Option<(String, Uuid)> = sqlx::query_as(
        "SELECT fingerprint, execution_id FROM local_idempotency \
         WHERE config_id = ? AND key = ? AND expires_ms > ?",
    )
    .bind(config_id)
    .bind(&once.key)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((fingerprint, first)) = seen {
        return Ok(if fingerprint == once.fingerprint { Enqueued::Again(first) } else { Enqueued::Conflict });
    }
    sqlx::query(
        "INSERT INTO local_idempotency (config_id, key, fingerprint, execution_id, expires_ms) \
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (config_id, key) DO UPDATE SET \
         fingerprint = excluded.fingerprint, execution_id = excluded.execution_id, expires_ms = excluded.expires_ms",
    )
    .bind(config_id)
    .bind(&once.key)
    .bind(&once.fingerprint)
    .bind(execution_id)
    .bind(now + ONCE_TTL.as_millis() as i64)
    .execute(&mut *tx)
    .await?;
    Ok(Enqueued::New)
}

impl LocalBackend {
    /// Deletes expired keys; returns how many.
    pub async fn sweep_idempotency(&self) -> Result<u64, BackendError> {
        let mut tx = self.db.write().await?;
        let done = sqlx::query("DELETE FROM local_idempotency WHERE expires_ms <= ?")
            .bind(ms(Utc::now()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}
