//! The `local` backend: schedule core, schedule state and the execution
//! queue for the embedded deployment, in the config store's SQLite file,
//! so one `taskbox serve` needs no Redis and loses nothing on restart.
//!
//! Owns the `local_*` tables (migrations/local) and makes every multi-row
//! change one SQL transaction, serialised by one in-process write lock: the
//! same atomic steps as the Redis backend's Lua scripts, with the same
//! semantics. Write transactions begin IMMEDIATE, so one that meets the
//! config store's writes waits for the lock (busy timeout) rather than
//! failing on a stale read snapshot. Never decides *when* something fires or *whether* an action
//! is allowed: callers compute fire times and pass the allowed statuses.
//! One process per database file (the embedded deployment); several
//! processes sharing a schedule need the `redis` backend.

mod enqueue;
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
    /// Serialises writers (shared with the store), so a transaction never
    /// waits on SQLite's lock.
    write: Arc<Mutex<()>>,
    /// Woken when a schedule changes (for the fire loop).
    changes: Arc<Notify>,
    /// Woken when a run is queued (for waiting claims).
    queued: Arc<Notify>,
    /// Manual runs to queue, written in batches (group commit).
    enqueues: tokio::sync::mpsc::Sender<enqueue::Enqueue>,
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
    /// The backend over the SQLite store's pool and writer lock
    /// ([`crate::store::SqliteStore::write_lock`]), with its tables created
    /// or brought up to date.
    pub async fn open(pool: SqlitePool, write: Arc<Mutex<()>>) -> Result<Self, BackendError> {
        let mut migrator = sqlx::migrate!("../migrations/local");
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await.map_err(|e| BackendError::Unavailable(format!("migrations: {e}")))?;
        let queued = Arc::new(Notify::new());
        let enqueues = enqueue::start(pool.clone(), write.clone(), queued.clone());
        let backend = Self { pool, write, changes: Arc::new(Notify::new()), queued, enqueues };
        tokio::spawn(sweep_loop(backend.clone()));
        Ok(backend)
    }

    /// Woken whenever a schedule changes.
    pub fn changes(&self) -> Arc<Notify> {
        self.changes.clone()
    }

    /// Deletes the histories whose newest event is older than [`HISTORY_TTL`].
    pub async fn sweep_history(&self) -> Result<u64, BackendError> {
        let _write = self.write.lock().await;
        let done = sqlx::query(
            "DELETE FROM local_history WHERE config_id IN \
             (SELECT config_id FROM local_history GROUP BY config_id HAVING max(at_ms) < ?)",
        )
        .bind(history_cutoff())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Is the database reachable?
    pub async fn ping(&self) -> Result<(), BackendError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Sweeps expired histories hourly, for the life of the process.
async fn sweep_loop(backend: LocalBackend) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        if let Err(e) = backend.sweep_history().await {
            tracing::warn!(error = %e, "cannot sweep expired schedule history");
        }
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

/// Events written before this are gone once no newer one was written.
fn history_cutoff() -> i64 {
    ms(Utc::now()) - HISTORY_TTL.as_millis() as i64
}

/// Appends a history event, keeping the newest [`HISTORY_CAP`] of the
/// config. As with Redis's list TTL, a config's whole history expires
/// [`HISTORY_TTL`] after its newest event: reads ignore it from then on,
/// the next event starts afresh, and [`LocalBackend::sweep_history`]
/// deletes it.
async fn push_history(
    tx: &mut sqlx::SqliteConnection,
    config_id: uuid::Uuid,
    event: &HistoryEvent,
) -> Result<(), BackendError> {
    push_histories(tx, &[(config_id, event)]).await
}

/// [`push_history`] for several events (in order), in three statements per
/// config and one insert.
async fn push_histories(
    tx: &mut sqlx::SqliteConnection,
    events: &[(uuid::Uuid, &HistoryEvent)],
) -> Result<(), BackendError> {
    let configs: std::collections::BTreeSet<uuid::Uuid> = events.iter().map(|(id, _)| *id).collect();
    for config_id in &configs {
        sqlx::query(
            "DELETE FROM local_history WHERE config_id = ?1 \
             AND (SELECT max(at_ms) FROM local_history WHERE config_id = ?1) < ?2",
        )
        .bind(config_id)
        .bind(history_cutoff())
        .execute(&mut *tx)
        .await?;
    }
    let now = ms(Utc::now());
    let mut insert = sqlx::QueryBuilder::new("INSERT INTO local_history (config_id, at_ms, event) ");
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
        .bind(HISTORY_CAP)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
