//! The config store's SQL that both databases run as it is, built once over
//! any sqlx database: the column lists, the list filters and pages, the
//! columns a config write sets, the one LIKE escape, and the read-patch-write
//! of a config. `push_bind` writes each database's placeholder (`$1` or `?`).
//!
//! It never opens a transaction or takes a lock, and never holds what one
//! database does its own way (PostgreSQL's UNNEST batch and `FOR UPDATE`,
//! SQLite's p95 and `BEGIN IMMEDIATE`): `postgres.rs` and `sqlite.rs` do.

use chrono::{DateTime, Utc};
use sqlx::query_builder::Separated;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};
use std::marker::PhantomData;
use uuid::Uuid;

use super::dialect::Clock;
use super::rollups::Sums;
use super::*;

/// A value the shared queries bind.
pub(super) trait Param<DB: Database>: for<'q> Encode<'q, DB> + Type<DB> {}
impl<DB: Database, T: for<'q> Encode<'q, DB> + Type<DB>> Param<DB> for T {}

/// A row the shared queries read.
pub(super) trait Decoded<R: sqlx::Row>: for<'r> FromRow<'r, R> + Send + Unpin {}
impl<R: sqlx::Row, T: for<'r> FromRow<'r, R> + Send + Unpin> Decoded<R> for T {}

/// Every column of a config, in [`TaskConfig`]'s order.
pub(super) const CONFIG_COLUMNS: &str = "id, name, description, task_type, scheduler_type, \
     schedule_config, parameters, max_retries, timeout_seconds, priority, misfire_grace_seconds, \
     concurrency, plugin_digest, tags, max_concurrency, rate_limit, worker_group, notify, webhook, workflow, \
     created_at, updated_at";
/// The columns a write of a config sets, in the order `push_written` binds.
const WRITTEN: &str = "name, description, task_type, scheduler_type, schedule_config, parameters, \
     max_retries, timeout_seconds, priority, misfire_grace_seconds, concurrency, plugin_digest, tags, \
     max_concurrency, rate_limit, worker_group, notify, webhook, workflow, updated_at";
/// An execution record's columns as written (all but the row id), in
/// [`ExecutionRecord`]'s order.
pub(super) const RECORD_COLUMNS: &str = "config_id, execution_id, attempt, trigger, task_type, \
     scheduled_at, started_at, completed_at, duration_seconds, is_success, result, error_message, \
     logs, plugin_digest, worker, parameters, timeout_seconds, cancelled_by, workflow_execution_id, step, \
     step_index";

/// How many of the latest records in a window a p95 is taken from: an
/// exact p95 would read every duration in the window.
pub(super) const P95_SAMPLE: i64 = 1000;

/// The LIKE pattern of the names that contain `part`, with `\`, `%` and
/// `_` escaped by `\` (queries say `ESCAPE '\'`), so each matches itself.
pub(super) fn containing(part: &str) -> String {
    let mut pattern = String::with_capacity(part.len() + 2);
    pattern.push('%');
    for c in part.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The shared queries on one database (a namespace: no values).
pub(super) struct Sql<DB>(PhantomData<DB>);

impl<DB: Database> Sql<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    TaskConfig: Decoded<DB::Row>,
    Uuid: Param<DB>,
    String: Param<DB>,
    i32: Param<DB>,
    i64: Param<DB>,
    bool: Param<DB>,
    Option<f64>: Param<DB>,
    Option<String>: Param<DB>,
    Option<i32>: Param<DB>,
    serde_json::Value: Param<DB>,
    Option<serde_json::Value>: Param<DB>,
    DateTime<Utc>: Param<DB>,
{
    /// `SELECT` of every config column, for conditions to follow.
    pub fn configs() -> QueryBuilder<DB> {
        QueryBuilder::new(format!("SELECT {CONFIG_COLUMNS} FROM task_configs"))
    }

    pub fn config(id: Uuid) -> QueryBuilder<DB> {
        let mut q = Self::configs();
        q.push(" WHERE id = ").push_bind(id);
        q
    }

    /// `like`: the dialect's case-insensitive LIKE; `has_tag`: what goes
    /// before and after a bound tag to test that `tags` holds it.
    pub fn config_filter(q: &mut QueryBuilder<DB>, f: &ConfigFilter, like: &str, has_tag: (&str, &str)) {
        q.push(" WHERE TRUE");
        if let Some(t) = &f.task_type {
            q.push(" AND task_type = ").push_bind(t);
        }
        if let Some(s) = f.scheduler_type {
            q.push(" AND scheduler_type = ").push_bind(s.to_string());
        }
        if let Some(n) = &f.name_contains {
            q.push(format_args!(" AND name {like} ")).push_bind(containing(n)).push(" ESCAPE '\\'");
        }
        if let Some(tag) = &f.tag {
            q.push(" AND ").push(has_tag.0).push_bind(tag.clone()).push(has_tag.1);
        }
    }

    pub fn execution_filter(q: &mut QueryBuilder<DB>, f: &ExecutionFilter) {
        q.push(" WHERE TRUE");
        if let Some(id) = f.config_id {
            q.push(" AND config_id = ").push_bind(id);
        }
        // A literal, not a bound value: only then can SQLite's planner see
        // that the failures' partial index (`WHERE NOT is_success`) applies.
        match f.is_success {
            Some(true) => q.push(" AND is_success"),
            Some(false) => q.push(" AND NOT is_success"),
            None => q,
        };
        if let Some(since) = f.since {
            q.push(" AND started_at >= ").push_bind(since);
        }
        match f.workflow_execution_id {
            Some(id) => q.push(" AND workflow_execution_id = ").push_bind(id).push(" AND step IS NOT NULL"),
            // A workflow run is one run: its own record, not its steps'.
            None => q.push(" AND step IS NULL"),
        };
    }

    pub fn page(q: &mut QueryBuilder<DB>, page: Page) {
        q.push(" LIMIT ").push_bind(i64::from(page.limit));
        q.push(" OFFSET ").push_bind(i64::from(page.offset));
    }

    /// The INSERT of a new config, returning the stored row.
    pub fn insert_config(new: &NewConfig, clock: Clock) -> QueryBuilder<DB> {
        let mut q =
            QueryBuilder::new(format!("INSERT INTO task_configs (id, created_at, {WRITTEN}) VALUES ("));
        let config = new.preview();
        let mut values = q.separated(", ");
        values.push_bind(Uuid::new_v4());
        clock.push_now(&mut values, config.created_at);
        Self::push_written(&mut values, &config, clock, config.created_at);
        q.push(format!(") RETURNING {CONFIG_COLUMNS}"));
        q
    }

    /// [`ConfigStore::update_config`] in the caller's write transaction:
    /// reads the config (with `lock` after the SELECT: PostgreSQL's
    /// `FOR UPDATE`), applies the patch and writes every column back.
    pub async fn patch(
        tx: &mut DB::Connection,
        id: Uuid,
        patch: &ConfigPatch,
        lock: &str,
        clock: Clock,
    ) -> Result<Option<TaskConfig>, StoreError> {
        let mut read = Self::config(id);
        read.push(lock);
        let Some(current) = read.build_query_as::<TaskConfig>().fetch_optional(&mut *tx).await? else {
            return Ok(None);
        };
        let config = patch.apply(current);
        let mut write = QueryBuilder::new(format!("UPDATE task_configs SET ({WRITTEN}) = ("));
        Self::push_written(&mut write.separated(", "), &config, clock, Utc::now());
        write.push(") WHERE id = ").push_bind(id).push(format!(" RETURNING {CONFIG_COLUMNS}"));
        let written = write.build_query_as().fetch_one(&mut *tx).await;
        Ok(Some(written.map_err(|e| unique_name(e, &config.name))?))
    }

    /// The values of [`WRITTEN`], with `at` the time of the write.
    fn push_written(values: &mut Separated<'_, DB, &str>, c: &TaskConfig, clock: Clock, at: DateTime<Utc>) {
        values.push_bind(&c.name).push_bind(&c.description).push_bind(&c.task_type);
        values.push_bind(c.scheduler_type.to_string());
        values.push_bind(&c.schedule_config).push_bind(&c.parameters);
        values.push_bind(c.max_retries).push_bind(c.timeout_seconds).push_bind(c.priority);
        values.push_bind(c.misfire_grace_seconds).push_bind(c.concurrency.to_string());
        values.push_bind(c.plugin_digest.clone());
        values.push_bind(serde_json::json!(c.tags)).push_bind(c.max_concurrency);
        values.push_bind(c.rate_limit.map(|r| serde_json::to_value(r).expect("a rate serialises")));
        values.push_bind(c.worker_group.clone());
        // The stored form keeps the secret (`Notify`'s own serialisation).
        values.push_bind(c.notify.as_ref().map(|n| serde_json::to_value(n).expect("notify serialises")));
        // The sealed secret (sealed by the app before it reached the store).
        values.push_bind(c.webhook.as_ref().map(|w| serde_json::to_value(w).expect("webhook serialises")));
        values.push_bind(c.workflow.as_ref().map(|w| serde_json::to_value(w).expect("workflow serialises")));
        clock.push_now(values, at);
    }

    pub fn delete_config(id: Uuid) -> QueryBuilder<DB> {
        let mut q = QueryBuilder::new("DELETE FROM task_configs WHERE id = ");
        q.push_bind(id);
        q
    }

    /// `SELECT` of every execution column, for conditions to follow.
    pub fn executions() -> QueryBuilder<DB> {
        QueryBuilder::new(format!("SELECT id, {RECORD_COLUMNS} FROM task_executions"))
    }

    /// Appends the SELECT of the durations of the latest `n` records `f`
    /// matches, as `d`: the sample a p95 is taken from (an index walk,
    /// whatever the window).
    pub fn latest_durations(q: &mut QueryBuilder<DB>, f: &ExecutionFilter, n: i64) {
        q.push("SELECT duration_seconds AS d FROM task_executions");
        Self::execution_filter(q, f);
        q.push(" ORDER BY started_at DESC LIMIT ").push_bind(n);
    }

    /// The start of the latest record `f` matches (an index seek).
    pub fn last_started(f: &ExecutionFilter) -> QueryBuilder<DB> {
        let mut q = QueryBuilder::new("SELECT started_at FROM task_executions");
        Self::execution_filter(&mut q, f);
        q.push(" ORDER BY started_at DESC LIMIT 1");
        q
    }

    /// The DELETE of the runs (or, with `steps`, the step runs) that
    /// started before `before`: each reads its own by-time index.
    pub fn delete_executions_before(before: DateTime<Utc>, steps: bool) -> QueryBuilder<DB> {
        let mut q = QueryBuilder::new("DELETE FROM task_executions WHERE started_at < ");
        q.push_bind(before).push(if steps { " AND step IS NOT NULL" } else { " AND step IS NULL" });
        q
    }
}

impl Clock {
    /// The time of a write: `now()`, or `at` bound.
    pub(super) fn push_now<DB: Database>(self, values: &mut Separated<'_, DB, &str>, at: DateTime<Utc>)
    where
        DateTime<Utc>: Param<DB>,
    {
        match self {
            Clock::Database => values.push("now()"),
            Clock::Process => values.push_bind(at),
        };
    }
}

impl ExecutionStats {
    /// The statistics of records with these totals, latest start and p95.
    pub(super) fn of(sums: Sums, last_run_at: Option<DateTime<Utc>>, p95: Option<f64>) -> Self {
        let Sums { total, successes, duration_sum } = sums;
        ExecutionStats {
            total,
            successes,
            failures: total - successes,
            success_rate: if total == 0 { 0.0 } else { successes as f64 / total as f64 },
            avg_duration_seconds: duration_sum.filter(|_| total > 0).map(|sum| sum / total as f64),
            p95_duration_seconds: p95,
            last_run_at,
        }
    }
}
