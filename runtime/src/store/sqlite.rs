//! The config and token stores on SQLite: the embedded deployment's one
//! database file (which the `local` schedule backend shares, see
//! [`SqliteStore::db`]), and what SQLite does its own way ([`Dialect`]):
//! reads go to the file's query-only connections, every write through its
//! one writer ([`Db::write`]: the lock and `BEGIN IMMEDIATE` together),
//! times are stamped here, a batch of records is
//! chunked under the bind limit, and the p95 of `percentile_cont` is
//! computed from two ordered rows.
//!
//! Every query both databases run as it is lives in `sql.rs`, never here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use super::dialect::{Clock, Dialect};
use super::sql::{RECORD_COLUMNS, Sql, Totals};
use super::*;
use crate::sqlite::Db;

type Q = Sql<Sqlite>;

/// Bound parameters per execution row; SQLite allows 32766 per statement.
const EXECUTION_BINDS: usize = 15;
const MAX_BINDS: usize = 32_000;

#[derive(Clone)]
pub struct SqliteStore {
    /// The file, shared with the local backend: reads on its query-only
    /// pool, writes only through [`Db::write`].
    db: Db,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database file named by a
    /// `sqlite://path` URL, in WAL mode with foreign keys on.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Ok(Self { db: Db::open(url).await? })
    }

    /// The database file, shared with the local schedule backend.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The query-only pool, for reads.
    pub fn pool(&self) -> &SqlitePool {
        self.db.read()
    }
}

/// Commits `tx` and hands back what was done in it.
async fn committed<T>(tx: crate::sqlite::Write, done: T) -> Result<T, StoreError> {
    tx.commit().await?;
    Ok(done)
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
        self.db.read()
    }

    async fn run_migrations(&self) -> Result<(), StoreError> {
        self.db.migrate(&migrator()).await?;
        Ok(())
    }

    async fn insert_config(&self, new: NewConfig) -> Result<TaskConfig, StoreError> {
        let mut tx = self.db.write().await?;
        let mut q = Q::insert_config(&new, Self::CLOCK);
        let created = q.build_query_as().fetch_one(&mut *tx).await.map_err(|e| unique_name(e, &new.name))?;
        committed(tx, created).await
    }

    async fn patch_config(&self, id: Uuid, patch: &ConfigPatch) -> Result<Option<TaskConfig>, StoreError> {
        let mut tx = self.db.write().await?;
        let patched = Q::patch(&mut tx, id, patch, "", Self::CLOCK).await?;
        committed(tx, patched).await
    }

    async fn remove_config(&self, id: Uuid) -> Result<bool, StoreError> {
        Ok(self.delete(Q::delete_config(id)).await? > 0)
    }

    async fn insert_executions(&self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        let mut tx = self.db.write().await?;
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
        let mut totals: Totals = q.build_query_as().fetch_one(self.db.read()).await?;
        totals.p95 = self.p95(filter, totals.total).await?;
        Ok(totals.stats())
    }

    async fn remove_executions_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.delete(Q::delete_executions_before(before)).await
    }

    async fn insert_token(&self, name: &str, role: TokenRole, sha256: &str) -> Result<ApiToken, StoreError> {
        let mut tx = self.db.write().await?;
        let mut q = tokens::insert(name, role, sha256, Self::CLOCK);
        let token = q.build_query_as().fetch_one(&mut *tx).await.map_err(|e| unique_token(e, name))?;
        committed(tx, token).await
    }

    async fn remove_token(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.delete(tokens::delete(name)).await? > 0)
    }
}

impl SqliteStore {
    /// Runs one DELETE through the writer; how many rows it removed.
    async fn delete(&self, mut q: QueryBuilder<Sqlite>) -> Result<u64, StoreError> {
        let mut tx = self.db.write().await?;
        let done = q.build().execute(&mut *tx).await?;
        committed(tx, done.rows_affected()).await
    }

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
        let around: Vec<f64> = q.build_query_scalar().fetch_all(self.db.read()).await?;
        Ok(match around.as_slice() {
            [low, high, ..] => Some(low + (high - low) * rank.fract()),
            [only] => Some(*only),
            [] => None,
        })
    }
}
