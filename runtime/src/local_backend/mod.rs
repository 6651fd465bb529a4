//! The `local` backend: schedule core, schedule state and the execution
//! queue for the embedded deployment, in the config store's SQLite file,
//! so one `taskbox serve` needs no Redis and loses nothing on restart.
//!
//! Owns the `local_*` tables (migrations/local) and makes every multi-row
//! change one SQL transaction, serialised by one in-process write lock: the
//! same atomic steps as the Redis backend's Lua scripts, with the same
//! semantics. Never decides *when* something fires or *whether* an action
//! is allowed: callers compute fire times and pass the allowed statuses.
//! One process per database file (the embedded deployment); several
//! processes sharing a schedule need the `redis` backend.

mod queue;
mod schedule;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::SqlitePool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Notify};

use crate::schedule::HistoryEvent;
use crate::schedule::backend::BackendError;

/// History events kept per config, and for how long (as the Redis backend).
pub const HISTORY_CAP: i64 = 100;
pub const HISTORY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Cheap-to-clone handle on the local backend.
#[derive(Clone)]
pub struct LocalBackend {
    pool: SqlitePool,
    /// Serialises writers, so a transaction never waits on SQLite's lock.
    write: Arc<Mutex<()>>,
    /// Woken when a schedule changes (for the fire loop).
    changes: Arc<Notify>,
    /// Woken when a run is queued (for waiting claims).
    queued: Arc<Notify>,
}

impl From<sqlx::Error> for BackendError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => BackendError::Corrupt(e.to_string()),
            other => BackendError::Unavailable(other.to_string()),
        }
    }
}

impl LocalBackend {
    /// The backend over `pool` (the SQLite store's), with its tables created
    /// or brought up to date.
    pub async fn open(pool: SqlitePool) -> Result<Self, BackendError> {
        let mut migrator = sqlx::migrate!("../migrations/local");
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await.map_err(|e| BackendError::Unavailable(format!("migrations: {e}")))?;
        Ok(Self {
            pool,
            write: Arc::new(Mutex::new(())),
            changes: Arc::new(Notify::new()),
            queued: Arc::new(Notify::new()),
        })
    }

    /// Woken whenever a schedule changes.
    pub fn changes(&self) -> Arc<Notify> {
        self.changes.clone()
    }

    /// Is the database reachable?
    pub async fn ping(&self) -> Result<(), BackendError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("schedule types serialise")
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, BackendError> {
    serde_json::from_str(text).map_err(|e| BackendError::Corrupt(format!("{what}: {e}")))
}

/// Appends a history event, keeping the newest [`HISTORY_CAP`] of the
/// config and none older than [`HISTORY_TTL`].
async fn push_history(
    tx: &mut sqlx::SqliteConnection,
    config_id: uuid::Uuid,
    event: &HistoryEvent,
) -> Result<(), BackendError> {
    let now = Utc::now();
    sqlx::query("INSERT INTO local_history (config_id, at_ms, event) VALUES (?, ?, ?)")
        .bind(config_id)
        .bind(ms(now))
        .bind(json(event))
        .execute(&mut *tx)
        .await?;
    let expired = ms(now) - HISTORY_TTL.as_millis() as i64;
    sqlx::query(
        "DELETE FROM local_history WHERE config_id = ?1 AND (at_ms < ?2 OR id <= \
         (SELECT id FROM local_history WHERE config_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?3))",
    )
    .bind(config_id)
    .bind(expired)
    .bind(HISTORY_CAP)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
