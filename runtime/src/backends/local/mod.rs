//! The `local` backend: schedule core, schedule state and the execution
//! queue for the embedded deployment, in the config store's SQLite file,
//! so one `taskbox serve` needs no Redis and loses nothing on restart.
//!
//! Owns the `local_*` tables (migrations/local) and makes every multi-row
//! change one IMMEDIATE transaction through the file's one writer
//! ([`crate::store::sqlite_file::Db::write`]): the same atomic steps as the Redis
//! backend's Lua scripts, with the same semantics. Never decides *when*
//! something fires or *whether* an action is allowed: callers compute fire
//! times and pass the allowed statuses. One process per database file (the
//! embedded deployment); several processes sharing a schedule need the
//! `redis` backend.
//!
//! Files: `schedule` (the schedule contract on `local_schedules`), `queue`
//! (`local_queue`, `local_workers`), `history` (`local_history`),
//! `enqueue` (group commit of queued runs), `codec` (times and JSON), `kv`
//! (plugins' key-value state on `local_kv`).

mod cancel;
mod codec;
mod enqueue;
mod gate;
mod history;
mod kv;
mod once;
mod queue;
mod schedule;

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, broadcast, watch};

use crate::contract::BackendError;
use crate::contract::queue::CancelSignal;
use crate::store::sqlite_file::Db;

/// How often expired histories are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Cheap-to-clone handle on the local backend.
#[derive(Clone)]
pub struct LocalBackend {
    db: Db,
    /// Woken when a schedule changes (for the fire loop).
    changes: Arc<Notify>,
    /// Woken when a run is queued (for waiting claims).
    queued: Arc<Notify>,
    /// Manual runs to queue, written in batches (group commit).
    enqueuer: enqueue::Enqueuer,
    /// Requests to stop held runs (one process: no channel beyond it).
    cancels: broadcast::Sender<CancelSignal>,
    /// Workflow runs whose steps made progress (one process, too).
    progress: broadcast::Sender<uuid::Uuid>,
}

impl From<sqlx::Error> for BackendError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => BackendError::corrupt("row", e),
            other => BackendError::unavailable(other),
        }
    }
}

fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("../migrations/local");
    migrator.set_ignore_missing(true);
    migrator
}

impl LocalBackend {
    /// Creates the backend's tables or brings them up to date; starts nothing.
    pub async fn migrate(db: &Db) -> Result<(), BackendError> {
        db.migrate(&migrator()).await.map_err(BackendError::unavailable)
    }

    /// The backend over the SQLite store's file, with its tables migrated.
    /// Starts the group-commit writer, which ends with the last handle.
    pub async fn open(db: Db) -> Result<Self, BackendError> {
        Self::migrate(&db).await?;
        let queued = Arc::new(Notify::new());
        let enqueuer = enqueue::Enqueuer::start(db.clone(), queued.clone());
        Ok(Self {
            db,
            changes: Arc::new(Notify::new()),
            queued,
            enqueuer,
            cancels: broadcast::channel(1024).0,
            progress: broadcast::channel(1024).0,
        })
    }

    /// Woken whenever a schedule changes.
    pub fn changes(&self) -> Arc<Notify> {
        self.changes.clone()
    }

    /// Is the database reachable?
    pub async fn ping(&self) -> Result<(), BackendError> {
        sqlx::query("SELECT 1").execute(self.db.read()).await?;
        Ok(())
    }

    /// Sweeps expired histories and idempotency keys hourly until `shutdown` turns true.
    #[tracing::instrument(skip_all, name = "history_sweep")]
    pub async fn sweep_loop(self, mut shutdown: watch::Receiver<bool>) {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            if let Err(e) = self.sweep_history().await {
                tracing::warn!(error = %e, "cannot sweep expired schedule history");
            }
            if let Err(e) = self.sweep_idempotency().await {
                tracing::warn!(error = %e, "cannot sweep expired idempotency keys");
            }
        }
    }
}
