//! The config store on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{FromRow, QueryBuilder, Row};
use std::time::Duration;
use uuid::Uuid;

use super::*;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

// Column lists as macros, so queries stay `&'static str` literals (sqlx
// refuses dynamic SQL strings).
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

/// A pooled connection idle this long is pinged before it is used again.
const IDLE_PING: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects lazily: the pool opens connections on first use, so a
    /// database that is down at start is an error on use, not a crash.
    pub fn connect_lazy(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(3))
            // sqlx already pings every connection it takes back, so the
            // ping before each use only catches one that broke while idle
            // (a restarted server): do it for those alone, not on every
            // query, where it doubled the round trips. The price: right
            // after a restart, a connection idle for less than IDLE_PING
            // fails its one query (503) and is discarded.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_PING {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy(url)
            .map_err(StoreError::from)?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

// Both databases decode rows with the one derived `FromRow` of each record.
fn config_from_row(row: &PgRow) -> Result<TaskConfig, StoreError> {
    Ok(TaskConfig::from_row(row)?)
}

fn execution_from_row(row: &PgRow) -> Result<StoredExecution, StoreError> {
    Ok(StoredExecution::from_row(row)?)
}

/// One column of a batch, for binding as an array.
fn column<'a, T>(records: &'a [ExecutionRecord], f: impl Fn(&'a ExecutionRecord) -> T) -> Vec<T> {
    records.iter().map(f).collect()
}

fn push_config_filter(q: &mut QueryBuilder<sqlx::Postgres>, f: &ConfigFilter) {
    q.push(" WHERE TRUE");
    if let Some(t) = &f.task_type {
        q.push(" AND task_type = ").push_bind(t.clone());
    }
    if let Some(s) = f.scheduler_type {
        q.push(" AND scheduler_type = ").push_bind(s.as_str());
    }
    if let Some(n) = &f.name_contains {
        q.push(" AND name ILIKE ").push_bind(super::sql::containing(n)).push(" ESCAPE '\\'");
    }
}

fn push_execution_filter(q: &mut QueryBuilder<sqlx::Postgres>, f: &ExecutionFilter) {
    q.push(" WHERE TRUE");
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
impl ConfigStore for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn create_config(&self, new: NewConfig) -> Result<TaskConfig, StoreError> {
        let sql = concat!(
            "INSERT INTO task_configs (id, name, description, task_type, scheduler_type, schedule_config, \
             parameters, max_retries, timeout_seconds, priority, misfire_grace_seconds, concurrency) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING ",
            config_columns!()
        );
        let row = sqlx::query(sql)
            .bind(Uuid::new_v4())
            .bind(&new.name)
            .bind(&new.description)
            .bind(&new.task_type)
            .bind(new.scheduler_type.as_str())
            .bind(&new.schedule_config)
            .bind(&new.parameters)
            .bind(new.max_retries)
            .bind(new.timeout_seconds)
            .bind(new.priority)
            .bind(new.misfire_grace_seconds)
            .bind(new.concurrency.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| unique_name(e, &new.name))?;
        config_from_row(&row)
    }

    async fn get_config(&self, id: Uuid) -> Result<Option<TaskConfig>, StoreError> {
        let sql = concat!("SELECT ", config_columns!(), " FROM task_configs WHERE id = $1");
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
        let mut tx = self.pool.begin().await?;
        let sql = concat!("SELECT ", config_columns!(), " FROM task_configs WHERE id = $1 FOR UPDATE");
        let Some(row) = sqlx::query(sql).bind(id).fetch_optional(&mut *tx).await? else {
            return Ok(None);
        };
        let c = patch.apply(config_from_row(&row)?);
        let sql = concat!(
            "UPDATE task_configs SET name = $2, description = $3, task_type = $4, scheduler_type = $5, \
             schedule_config = $6, parameters = $7, max_retries = $8, timeout_seconds = $9, priority = $10, \
             misfire_grace_seconds = $11, concurrency = $12, updated_at = now() WHERE id = $1 \
             RETURNING ",
            config_columns!()
        );
        let row = sqlx::query(sql)
            .bind(id)
            .bind(&c.name)
            .bind(&c.description)
            .bind(&c.task_type)
            .bind(c.scheduler_type.as_str())
            .bind(&c.schedule_config)
            .bind(&c.parameters)
            .bind(c.max_retries)
            .bind(c.timeout_seconds)
            .bind(c.priority)
            .bind(c.misfire_grace_seconds)
            .bind(c.concurrency.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| unique_name(e, &c.name))?;
        let updated = config_from_row(&row)?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    async fn delete_config(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM task_configs WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn record_executions(&self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        // One array per column: a batch costs fifteen binds, however large.
        // A record whose config was deleted meanwhile keeps a NULL config_id
        // rather than failing the batch on the foreign key.
        let sql = "INSERT INTO task_executions (config_id, execution_id, attempt, trigger, task_type, \
             scheduled_at, started_at, completed_at, duration_seconds, is_success, result, error_message, logs, \
             plugin_digest, worker) \
             SELECT c.id, u.execution_id, u.attempt, u.trigger, u.task_type, u.scheduled_at, u.started_at, \
             u.completed_at, u.duration_seconds, u.is_success, u.result, u.error_message, u.logs, \
             u.plugin_digest, u.worker \
             FROM UNNEST($1::uuid[], $2::uuid[], $3::int4[], $4::text[], $5::text[], $6::timestamptz[], \
             $7::timestamptz[], $8::timestamptz[], $9::float8[], $10::bool[], $11::jsonb[], $12::text[], \
             $13::text[], $14::text[], $15::text[]) AS u(config_id, execution_id, attempt, trigger, task_type, \
             scheduled_at, started_at, completed_at, duration_seconds, is_success, result, error_message, logs, \
             plugin_digest, worker) \
             LEFT JOIN task_configs c ON c.id = u.config_id \
             ON CONFLICT (execution_id, attempt) DO NOTHING";
        sqlx::query(sql)
            .bind(column(records, |r| r.config_id))
            .bind(column(records, |r| r.execution_id))
            .bind(column(records, |r| r.attempt))
            .bind(column(records, |r| r.trigger.as_str()))
            .bind(column(records, |r| r.task_type.as_str()))
            .bind(column(records, |r| r.scheduled_at))
            .bind(column(records, |r| r.started_at))
            .bind(column(records, |r| r.completed_at))
            .bind(column(records, |r| r.duration_seconds))
            .bind(column(records, |r| r.is_success))
            .bind(column(records, |r| r.result.clone()))
            .bind(column(records, |r| r.error_message.as_deref()))
            .bind(column(records, |r| r.logs.as_str()))
            .bind(column(records, |r| r.plugin_digest.as_deref()))
            .bind(column(records, |r| r.worker.as_str()))
            .execute(&self.pool)
            .await?;
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
        let sql = concat!("SELECT ", execution_columns!(), " FROM task_executions WHERE id = $1");
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
            " FROM task_executions WHERE execution_id = $1 AND attempt = $2"
        );
        let row = sqlx::query(sql).bind(execution_id).bind(attempt).fetch_optional(&self.pool).await?;
        row.as_ref().map(execution_from_row).transpose()
    }

    async fn execution_stats(
        &self,
        config_id: Option<Uuid>,
        since: Option<DateTime<Utc>>,
    ) -> Result<ExecutionStats, StoreError> {
        let mut q = QueryBuilder::new(
            "SELECT count(*) AS total, count(*) FILTER (WHERE is_success) AS successes, \
             avg(duration_seconds) AS avg, \
             percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_seconds) AS p95, \
             max(started_at) AS last FROM task_executions",
        );
        push_execution_filter(&mut q, &ExecutionFilter { config_id, is_success: None, since });
        let row = q.build().fetch_one(&self.pool).await?;
        let total: i64 = row.try_get("total")?;
        let successes: i64 = row.try_get("successes")?;
        Ok(ExecutionStats {
            total,
            successes,
            failures: total - successes,
            success_rate: if total == 0 { 0.0 } else { successes as f64 / total as f64 },
            avg_duration_seconds: row.try_get("avg")?,
            p95_duration_seconds: row.try_get("p95")?,
            last_run_at: row.try_get("last")?,
        })
    }

    async fn delete_executions_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM task_executions WHERE started_at < $1")
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
