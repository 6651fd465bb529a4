//! The config and token stores on SQLite: the embedded deployment's one
//! database file (which the `local` schedule backend shares, see
//! [`SqliteStore::pool`]), and what SQLite does its own way ([`Dialect`]):
//! every write queues on the file's writer lock and opens its transaction
//! with `BEGIN IMMEDIATE`, times are stamped here, a batch of records is
//! chunked under the bind limit, and the p95 of `percentile_cont` is
//! computed from two ordered rows.
//!
//! Every query both databases run as it is lives in `sql.rs`, never here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{QueryBuilder, Sqlite};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::dialect::{Clock, Dialect};
use super::sql::{RECORD_COLUMNS, Sql, Totals};
use super::*;

type Q = Sql<Sqlite>;

/// Bound parameters per execution row; SQLite allows 32766 per statement.
const EXECUTION_BINDS: usize = 15;
const MAX_BINDS: usize = 32_000;

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The file's one in-process writer lock (see [`SqliteStore::write_lock`]).
    write: Arc<Mutex<()>>,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database file named by a
    /// `sqlite://path` URL, in WAL mode with foreign keys on.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Durable against a crash of this process (not of the machine's
            // power) at a fraction of FULL's cost.
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            // A file does not hang up: no ping (a round trip to the
            // connection's thread) before each use.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(Self { pool, write: Arc::new(Mutex::new(())) })
    }

    /// The database's pool, shared with the local schedule backend.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The lock every writer of this file in this process takes (the store
    /// and the local backend alike), so that writers queue here in turn
    /// rather than meet SQLite's lock and sleep in its busy handler.
    pub fn write_lock(&self) -> Arc<Mutex<()>> {
        self.write.clone()
    }
}

/// Migrations of the store; the local backend's live in the same database
/// with versions of their own, so each migrator ignores the other's.
fn migrator() -> sqlx::migrate::Migrator {
    let mut m = sqlx::migrate!("../migrations/sqlite");
    m.set_ignore_missing(true);
    m
}

#[async_trait]
impl Dialect for SqliteStore {
    type DB = Sqlite;
    const CLOCK: Clock = Clock::Process;

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn run_migrations(&self) -> Result<(), StoreError> {
        migrator().run(&self.pool).await?;
        Ok(())
    }

    async fn insert_config(&self, new: NewConfig) -> Result<TaskConfig, StoreError> {
        let _write = self.write.lock().await;
        let mut q = Q::insert_config(&new, Self::CLOCK);
        q.build_query_as().fetch_one(&self.pool).await.map_err(|e| unique_name(e, &new.name))
    }

    async fn patch_config(&self, id: Uuid, patch: &ConfigPatch) -> Result<Option<TaskConfig>, StoreError> {
        let _write = self.write.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let patched = Q::patch(&mut tx, id, patch, "", Self::CLOCK).await?;
        tx.commit().await?;
        Ok(patched)
    }

    async fn remove_config(&self, id: Uuid) -> Result<bool, StoreError> {
        let _write = self.write.lock().await;
        let done = Q::delete_config(id).build().execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn insert_executions(&self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        let _write = self.write.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for chunk in records.chunks(MAX_BINDS / EXECUTION_BINDS) {
            // A record whose config was deleted meanwhile keeps a NULL
            // config_id rather than failing the batch on the foreign key.
            let mut q = QueryBuilder::<Sqlite>::new(format!(
                "INSERT OR IGNORE INTO task_executions ({RECORD_COLUMNS}) "
            ));
            q.push_values(chunk, |mut row, r| {
                row.push("(SELECT id FROM task_configs WHERE id = ")
                    .push_bind_unseparated(r.config_id)
                    .push_unseparated(")")
                    .push_bind(r.execution_id)
                    .push_bind(r.attempt)
                    .push_bind(r.trigger.as_str())
                    .push_bind(r.task_type.clone())
                    .push_bind(r.scheduled_at)
                    .push_bind(r.started_at)
                    .push_bind(r.completed_at)
                    .push_bind(r.duration_seconds)
                    .push_bind(r.is_success)
                    .push_bind(&r.result)
                    .push_bind(r.error_message.clone())
                    .push_bind(r.logs.clone())
                    .push_bind(r.plugin_digest.clone())
                    .push_bind(r.worker.clone());
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn stats(&self, filter: &ExecutionFilter) -> Result<ExecutionStats, StoreError> {
        let mut q = Q::totals(filter, "NULL");
        let mut totals: Totals = q.build_query_as().fetch_one(&self.pool).await?;
        totals.p95 = self.p95(filter, totals.total).await?;
        Ok(totals.stats())
    }

    async fn remove_executions_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let _write = self.write.lock().await;
        let done = Q::delete_executions_before(before).build().execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn insert_token(&self, name: &str, role: TokenRole, sha256: &str) -> Result<ApiToken, StoreError> {
        let _write = self.write_lock().lock_owned().await;
        let mut q = tokens::insert(name, role, sha256, Self::CLOCK);
        q.build_query_as().fetch_one(&self.pool).await.map_err(|e| unique_token(e, name))
    }

    async fn remove_token(&self, name: &str) -> Result<bool, StoreError> {
        let _write = self.write_lock().lock_owned().await;
        let done = tokens::delete(name).build().execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }
}

impl SqliteStore {
    /// PostgreSQL's `percentile_cont(0.95)`: interpolates between the two
    /// durations around rank 0.95 × (n − 1), read with one indexed seek.
    async fn p95(&self, filter: &ExecutionFilter, total: i64) -> Result<Option<f64>, StoreError> {
        if total == 0 {
            return Ok(None);
        }
        let rank = 0.95 * (total - 1) as f64;
        let mut q = QueryBuilder::new("SELECT duration_seconds FROM task_executions");
        Q::execution_filter(&mut q, filter);
        q.push(" ORDER BY duration_seconds LIMIT 2 OFFSET ").push_bind(rank.floor() as i64);
        let around: Vec<f64> = q.build_query_scalar().fetch_all(&self.pool).await?;
        Ok(match around.as_slice() {
            [low, high, ..] => Some(low + (high - low) * rank.fract()),
            [only] => Some(*only),
            [] => None,
        })
    }
}
