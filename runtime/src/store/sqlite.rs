//! The config store on SQLite: the embedded deployment's one database file
//! (which the `local` schedule backend shares, see [`SqliteStore::pool`]).
//!
//! The same semantics as [`super::PgStore`]; where SQLite lacks a function
//! (the p95 of `percentile_cont`) it is computed here from two ordered rows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{FromRow, QueryBuilder, Row, Sqlite};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::*;

// Column lists as macros, so queries stay `&'static str` literals.
macro_rules! config_columns {
    () => {
        "id, name, description, task_type, scheduler_type, schedule_config, parameters, max_retries, \
         timeout_seconds, priority, misfire_grace_seconds, concurrency, created_at, updated_at"
    };
}
macro_rules! execution_columns {
    () => {
        "id, config_id, execution_id, attempt, trigger, task_type, scheduled_at, started_at, completed_at, \
         duration_seconds, is_success, result, error_message, logs, plugin_digest, worker"
    };
}

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

// Both databases decode rows with the one derived `FromRow` of each record.
fn config_from_row(row: &SqliteRow) -> Result<TaskConfig, StoreError> {
    Ok(TaskConfig::from_row(row)?)
}

fn execution_from_row(row: &SqliteRow) -> Result<StoredExecution, StoreError> {
    Ok(StoredExecution::from_row(row)?)
}

fn push_config_filter(q: &mut QueryBuilder<Sqlite>, f: &ConfigFilter) {
    q.push(" WHERE 1");
    if let Some(t) = &f.task_type {
        q.push(" AND task_type = ").push_bind(t.clone());
    }
    if let Some(s) = f.scheduler_type {
        q.push(" AND scheduler_type = ").push_bind(s.as_str());
    }
    if let Some(n) = &f.name_contains {
        // LIKE is case-insensitive for ASCII in SQLite.
        q.push(" AND name LIKE ").push_bind(super::sql::containing(n)).push(" ESCAPE '\\'");
    }
}

fn push_execution_filter(q: &mut QueryBuilder<Sqlite>, f: &ExecutionFilter) {
    q.push(" WHERE 1");
    if let Some(id) = f.config_id {
        q.push(" AND config_id = ").push_bind(id);
    }
    if let Some(ok) = f.is_success {
        q.push(" AND is_success = ").push_bind(ok);
    }
    if let Some(since) = f.since {
        q.push(" AND started_at >= ").push_bind(since);
    }
}

#[async_trait]
impl ConfigStore for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        migrator().run(&self.pool).await?;
        Ok(())
    }

    async fn create_config(&self, new: NewConfig) -> Result<TaskConfig, StoreError> {
        let _write = self.write.lock().await;
        let sql = concat!(
            "INSERT INTO task_configs (id, name, description, task_type, scheduler_type, schedule_config, \
             parameters, max_retries, timeout_seconds, priority, misfire_grace_seconds, concurrency, \
             created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ",
            config_columns!()
        );
        let now = Utc::now();
        let row = sqlx::query(sql)
            .bind(Uuid::new_v4())
            .bind(&new.name)
            .bind(&new.description)
            .bind(&new.task_type)
            .bind(new.scheduler_type.as_str())
            .bind(new.schedule_config.to_string())
            .bind(new.parameters.to_string())
            .bind(new.max_retries)
            .bind(new.timeout_seconds)
            .bind(new.priority)
            .bind(new.misfire_grace_seconds)
            .bind(new.concurrency.as_str())
            .bind(now)
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| unique_name(e, &new.name))?;
        config_from_row(&row)
    }

    async fn get_config(&self, id: Uuid) -> Result<Option<TaskConfig>, StoreError> {
        let sql = concat!("SELECT ", config_columns!(), " FROM task_configs WHERE id = ?");
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(config_from_row).transpose()
    }

    async fn list_configs(
        &self,
        filter: &ConfigFilter,
        page: Page,
    ) -> Result<(Vec<TaskConfig>, u64), StoreError> {
        let mut count = QueryBuilder::new("SELECT count(*) FROM task_configs");
        push_config_filter(&mut count, filter);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut q = QueryBuilder::new(concat!("SELECT ", config_columns!(), " FROM task_configs"));
        push_config_filter(&mut q, filter);
        q.push(" ORDER BY name LIMIT ")
            .push_bind(page.limit as i64)
            .push(" OFFSET ")
            .push_bind(page.offset as i64);
        let rows = q.build().fetch_all(&self.pool).await?;
        let configs = rows.iter().map(config_from_row).collect::<Result<_, _>>()?;
        Ok((configs, total as u64))
    }

    async fn all_configs(&self) -> Result<Vec<TaskConfig>, StoreError> {
        let sql = concat!("SELECT ", config_columns!(), " FROM task_configs ORDER BY name");
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(config_from_row).collect()
    }

    async fn update_config(&self, id: Uuid, patch: &ConfigPatch) -> Result<Option<TaskConfig>, StoreError> {
        let _write = self.write.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let sql = concat!("SELECT ", config_columns!(), " FROM task_configs WHERE id = ?");
        let Some(row) = sqlx::query(sql).bind(id).fetch_optional(&mut *tx).await? else {
            return Ok(None);
        };
        let c = patch.apply(config_from_row(&row)?);
        let sql = concat!(
            "UPDATE task_configs SET name = ?, description = ?, task_type = ?, scheduler_type = ?, \
             schedule_config = ?, parameters = ?, max_retries = ?, timeout_seconds = ?, priority = ?, \
             misfire_grace_seconds = ?, concurrency = ?, updated_at = ? WHERE id = ? RETURNING ",
            config_columns!()
        );
        let row = sqlx::query(sql)
            .bind(&c.name)
            .bind(&c.description)
            .bind(&c.task_type)
            .bind(c.scheduler_type.as_str())
            .bind(c.schedule_config.to_string())
            .bind(c.parameters.to_string())
            .bind(c.max_retries)
            .bind(c.timeout_seconds)
            .bind(c.priority)
            .bind(c.misfire_grace_seconds)
            .bind(c.concurrency.as_str())
            .bind(Utc::now())
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| unique_name(e, &c.name))?;
        let updated = config_from_row(&row)?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    async fn delete_config(&self, id: Uuid) -> Result<bool, StoreError> {
        let _write = self.write.lock().await;
        let done = sqlx::query("DELETE FROM task_configs WHERE id = ?").bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn record_executions(&self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let _write = self.write.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for chunk in records.chunks(MAX_BINDS / EXECUTION_BINDS) {
            // A record whose config was deleted meanwhile keeps a NULL
            // config_id rather than failing the batch on the foreign key.
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT OR IGNORE INTO task_executions (config_id, execution_id, attempt, trigger, task_type, \
                 scheduled_at, started_at, completed_at, duration_seconds, is_success, result, \
                 error_message, logs, plugin_digest, worker) ",
            );
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
                    .push_bind(r.result.as_ref().map(|v| v.to_string()))
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

    async fn list_executions(
        &self,
        filter: &ExecutionFilter,
        page: Page,
    ) -> Result<(Vec<StoredExecution>, u64), StoreError> {
        let mut count = QueryBuilder::new("SELECT count(*) FROM task_executions");
        push_execution_filter(&mut count, filter);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut q = QueryBuilder::new(concat!("SELECT ", execution_columns!(), " FROM task_executions"));
        push_execution_filter(&mut q, filter);
        q.push(" ORDER BY started_at DESC, id DESC LIMIT ")
            .push_bind(page.limit as i64)
            .push(" OFFSET ")
            .push_bind(page.offset as i64);
        let rows = q.build().fetch_all(&self.pool).await?;
        let items = rows.iter().map(execution_from_row).collect::<Result<_, _>>()?;
        Ok((items, total as u64))
    }

    async fn get_execution(&self, id: i64) -> Result<Option<StoredExecution>, StoreError> {
        let sql = concat!("SELECT ", execution_columns!(), " FROM task_executions WHERE id = ?");
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(execution_from_row).transpose()
    }

    async fn find_attempt(
        &self,
        execution_id: Uuid,
        attempt: i32,
    ) -> Result<Option<StoredExecution>, StoreError> {
        let sql = concat!(
            "SELECT ",
            execution_columns!(),
            " FROM task_executions WHERE execution_id = ? AND attempt = ?"
        );
        let row = sqlx::query(sql).bind(execution_id).bind(attempt).fetch_optional(&self.pool).await?;
        row.as_ref().map(execution_from_row).transpose()
    }

    async fn execution_stats(
        &self,
        config_id: Option<Uuid>,
        since: Option<DateTime<Utc>>,
    ) -> Result<ExecutionStats, StoreError> {
        let filter = ExecutionFilter { config_id, is_success: None, since };
        let mut q = QueryBuilder::new(
            "SELECT count(*) AS total, coalesce(sum(is_success), 0) AS successes, \
             avg(duration_seconds) AS avg, max(started_at) AS last FROM task_executions",
        );
        push_execution_filter(&mut q, &filter);
        let row = q.build().fetch_one(&self.pool).await?;
        let total: i64 = row.try_get("total")?;
        let successes: i64 = row.try_get("successes")?;
        let last: Option<String> = row.try_get("last")?;
        Ok(ExecutionStats {
            total,
            successes,
            failures: total - successes,
            success_rate: if total == 0 { 0.0 } else { successes as f64 / total as f64 },
            avg_duration_seconds: row.try_get("avg")?,
            p95_duration_seconds: self.p95(&filter, total).await?,
            last_run_at: last
                .map(|t| DateTime::parse_from_rfc3339(&t).map(|t| t.to_utc()))
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("started_at: {e}")))?,
        })
    }

    async fn delete_executions_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let _write = self.write.lock().await;
        let done = sqlx::query("DELETE FROM task_executions WHERE started_at < ?")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
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
        push_execution_filter(&mut q, filter);
        q.push(" ORDER BY duration_seconds LIMIT 2 OFFSET ").push_bind(rank.floor() as i64);
        let around: Vec<f64> = q.build_query_scalar().fetch_all(&self.pool).await?;
        Ok(match around.as_slice() {
            [low, high, ..] => Some(low + (high - low) * rank.fract()),
            [only] => Some(*only),
            [] => None,
        })
    }
}
