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
use super::rollups::{self, Inserted, RETURNED};
use super::sql::{RECORD_COLUMNS, Sql};
use super::*;
use crate::store::sqlite_file::Db;

type Q = Sql<Sqlite>;

/// Bound parameters per execution row; SQLite allows 32766 per statement.
const EXECUTION_BINDS: usize = 21;
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
async fn committed<T>(tx: crate::store::sqlite_file::Write, done: T) -> Result<T, StoreError> {
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
    const HAS_TAG: (&'static str, &'static str) =
        ("EXISTS (SELECT 1 FROM json_each(tags) WHERE json_each.value = ", ")");

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
        let mut tx = self.db.write().await?;
        let done = Q::delete_config(id).build().execute(&mut *tx).await?;
        rollups::forget::<Sqlite>(&mut tx, id).await?;
        committed(tx, done.rows_affected() > 0).await
    }

    async fn insert_executions(&self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        let mut tx = self.db.write().await?;
        let mut inserted: Vec<Inserted> = Vec::with_capacity(records.len());
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
                    .push_bind(r.worker.clone())
                    .push_bind(&r.parameters)
                    .push_bind(r.timeout_seconds)
                    .push_bind(r.cancelled_by.clone())
                    .push_bind(r.workflow_execution_id)
                    .push_bind(r.step.clone())
                    .push_bind(r.step_index);
            });
            q.push(RETURNED);
            inserted.extend(q.build_query_as::<Inserted>().fetch_all(&mut *tx).await?);
        }
        rollups::add::<Sqlite>(&mut tx, &inserted).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn p95(&self, filter: &ExecutionFilter, sample: i64) -> Result<Option<f64>, StoreError> {
        // PostgreSQL's `percentile_cont(0.95)`: interpolates between the
        // two durations around rank 0.95 × (n − 1) of the sample.
        let rank = 0.95 * (sample - 1) as f64;
        let mut q = QueryBuilder::new("SELECT d FROM (");
        Q::latest_durations(&mut q, filter, sample);
        q.push(") AS sample ORDER BY d LIMIT 2 OFFSET ").push_bind(rank.floor() as i64);
        let around: Vec<f64> = q.build_query_scalar().fetch_all(self.db.read()).await?;
        Ok(match around.as_slice() {
            [low, high, ..] => Some(low + (high - low) * rank.fract()),
            [only] => Some(*only),
            [] => None,
        })
    }

    async fn remove_executions_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.db.write().await?;
        let runs = Q::delete_executions_before(before, false).build().execute(&mut *tx).await?;
        let steps = Q::delete_executions_before(before, true).build().execute(&mut *tx).await?;
        rollups::trim::<Sqlite>(&mut tx, before).await?;
        committed(tx, runs.rows_affected() + steps.rows_affected()).await
    }

    async fn insert_token(&self, name: &str, role: TokenRole, sha256: &str) -> Result<ApiToken, StoreError> {
        let mut tx = self.db.write().await?;
        let mut q = tokens::insert(name, role, sha256, Self::CLOCK);
        let token = q.build_query_as().fetch_one(&mut *tx).await.map_err(|e| unique_token(e, name))?;
        committed(tx, token).await
    }

    async fn remove_token(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.execute(tokens::delete(name)).await? > 0)
    }

    /// Runs one statement through the writer.
    async fn execute(&self, mut q: QueryBuilder<Sqlite>) -> Result<u64, StoreError> {
        let mut tx = self.db.write().await?;
        let done = q.build().execute(&mut *tx).await?;
        committed(tx, done.rows_affected()).await
    }
}
