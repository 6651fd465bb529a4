//! What the dashboard reads beyond the config store's lists, written once
//! for both databases: runs per hour (from the hourly rollups, so 24 rows
//! for a day whatever the records), the latest run of each config of a
//! page (one index seek each), a page of runs by outcome, config, task
//! type and time range (an index walk, newest first, no count), and the
//! dashboard's login sessions. Every [`Dialect`] is a [`DashboardStore`].
//!
//! Owns that SQL and the `ui_sessions` table; never renders anything.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Executor, IntoArguments, QueryBuilder};
use uuid::Uuid;

use super::dialect::Dialect;
use super::sql::{Decoded, Param, RECORD_COLUMNS};
use super::*;

/// Runs started in one hour, for a chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HourCount {
    pub hour: DateTime<Utc>,
    pub total: i64,
    pub successes: i64,
}

/// Filters of the runs page; all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    pub config_id: Option<Uuid>,
    pub is_success: Option<bool>,
    pub task_type: Option<String>,
    /// Started at or after.
    pub since: Option<DateTime<Utc>>,
    /// Started before.
    pub until: Option<DateTime<Utc>>,
    /// Of a config that carries this tag.
    pub tag: Option<String>,
}

/// A dashboard login: whose token it stands for, its CSRF token, and when
/// it ends. Found by the sha256 of the cookie's value, never the value.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UiSession {
    pub token_sha256: String,
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
pub trait DashboardStore: Send + Sync + 'static {
    /// Runs per hour from the hour holding `since` on, oldest first (hours
    /// without runs left out).
    async fn hourly(&self, since: DateTime<Utc>) -> Result<Vec<HourCount>, StoreError>;
    /// The latest record of each of these configs that has one.
    async fn latest_runs(&self, config_ids: &[Uuid]) -> Result<Vec<StoredExecution>, StoreError>;
    /// Up to `limit` records `filter` matches after skipping `offset`, newest first.
    async fn page_runs(
        &self,
        filter: &RunFilter,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<StoredExecution>, StoreError>;
    /// The record id and execution id of up to `limit` runs that match,
    /// newest first (one row per run: its latest attempt).
    async fn run_refs(&self, filter: &RunFilter, limit: u32) -> Result<Vec<(i64, Uuid)>, StoreError>;
    /// How many runs match (their latest attempts).
    async fn count_runs(&self, filter: &RunFilter) -> Result<u64, StoreError>;

    /// Stores a session (and drops the expired ones).
    async fn create_session(&self, id_sha256: &str, session: &UiSession) -> Result<(), StoreError>;
    /// The session of this id, unless it expired.
    async fn session(&self, id_sha256: &str) -> Result<Option<UiSession>, StoreError>;
    async fn delete_session(&self, id_sha256: &str) -> Result<(), StoreError>;
}

#[async_trait]
impl<D> DashboardStore for D
where
    D: Dialect,
    String: Param<D::DB>,
    Uuid: Param<D::DB>,
    i64: Param<D::DB>,
    bool: Param<D::DB>,
    DateTime<Utc>: Param<D::DB>,
    StoredExecution: Decoded<<D::DB as Database>::Row>,
    UiSession: Decoded<<D::DB as Database>::Row>,
    (i64, i64, i64): Decoded<<D::DB as Database>::Row>,
    (i64, Uuid): Decoded<<D::DB as Database>::Row>,
    (i64,): Decoded<<D::DB as Database>::Row>,
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    <D::DB as Database>::Arguments: IntoArguments<D::DB>,
{
    async fn hourly(&self, since: DateTime<Utc>) -> Result<Vec<HourCount>, StoreError> {
        let from = since.timestamp() / 3600 * 3600;
        let mut q = QueryBuilder::<D::DB>::new(
            "SELECT bucket, CAST(total AS BIGINT), CAST(successes AS BIGINT) FROM execution_rollups \
             WHERE scope = ",
        );
        q.push_bind(Uuid::nil()).push(" AND span = 3600 AND bucket >= ").push_bind(from);
        q.push(" ORDER BY bucket");
        let rows: Vec<(i64, i64, i64)> = q.build_query_as().fetch_all(self.pool()).await?;
        Ok(rows
            .into_iter()
            .map(|(bucket, total, successes)| HourCount {
                hour: DateTime::from_timestamp(bucket, 0).unwrap_or_default(),
                total,
                successes,
            })
            .collect())
    }

    async fn latest_runs(&self, config_ids: &[Uuid]) -> Result<Vec<StoredExecution>, StoreError> {
        if config_ids.is_empty() {
            return Ok(Vec::new());
        }
        // One seek of the (config_id, started_at) index per config.
        let mut q = QueryBuilder::<D::DB>::new(format!(
            "SELECT id, {RECORD_COLUMNS} FROM task_executions WHERE id IN ("
        ));
        let mut list = q.separated(" UNION ALL ");
        for id in config_ids {
            list.push("SELECT * FROM (SELECT id FROM task_executions WHERE step IS NULL AND config_id = ");
            list.push_bind_unseparated(*id);
            list.push_unseparated(" ORDER BY started_at DESC LIMIT 1) AS latest");
        }
        q.push(")");
        Ok(q.build_query_as().fetch_all(self.pool()).await?)
    }

    async fn page_runs(
        &self,
        f: &RunFilter,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<StoredExecution>, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new(format!(
            "SELECT id, {RECORD_COLUMNS} FROM task_executions WHERE step IS NULL"
        ));
        push_run_filter::<D>(&mut q, f);
        q.push(" ORDER BY started_at DESC, id DESC LIMIT ").push_bind(i64::from(limit));
        q.push(" OFFSET ").push_bind(i64::from(offset));
        Ok(q.build_query_as().fetch_all(self.pool()).await?)
    }

    async fn run_refs(&self, f: &RunFilter, limit: u32) -> Result<Vec<(i64, Uuid)>, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new(format!(
            "SELECT id, execution_id FROM task_executions e WHERE {LATEST_ATTEMPT}"
        ));
        push_run_filter::<D>(&mut q, f);
        q.push(" ORDER BY started_at DESC, id DESC LIMIT ").push_bind(i64::from(limit));
        Ok(q.build_query_as().fetch_all(self.pool()).await?)
    }

    async fn count_runs(&self, f: &RunFilter) -> Result<u64, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new(format!(
            "SELECT count(*) FROM task_executions e WHERE {LATEST_ATTEMPT}"
        ));
        push_run_filter::<D>(&mut q, f);
        let n: i64 = q.build_query_scalar().fetch_one(self.pool()).await?;
        Ok(n as u64)
    }

    async fn create_session(&self, id_sha256: &str, s: &UiSession) -> Result<(), StoreError> {
        let mut q = QueryBuilder::<D::DB>::new("DELETE FROM ui_sessions WHERE expires_at < ");
        q.push_bind(Utc::now());
        self.execute(q).await?;
        let mut q = QueryBuilder::<D::DB>::new(
            "INSERT INTO ui_sessions (id_sha256, token_sha256, csrf, created_at, expires_at) VALUES (",
        );
        let mut values = q.separated(", ");
        values.push_bind(id_sha256.to_owned()).push_bind(s.token_sha256.clone()).push_bind(s.csrf.clone());
        values.push_bind(Utc::now()).push_bind(s.expires_at);
        q.push(")");
        self.execute(q).await.map(|_| ())
    }

    async fn session(&self, id_sha256: &str) -> Result<Option<UiSession>, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new(
            "SELECT token_sha256, csrf, expires_at FROM ui_sessions WHERE id_sha256 = ",
        );
        q.push_bind(id_sha256.to_owned()).push(" AND expires_at > ").push_bind(Utc::now());
        Ok(q.build_query_as().fetch_optional(self.pool()).await?)
    }

    async fn delete_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        let mut q = QueryBuilder::<D::DB>::new("DELETE FROM ui_sessions WHERE id_sha256 = ");
        q.push_bind(id_sha256.to_owned());
        self.execute(q).await.map(|_| ())
    }
}

/// A run's record (not a step run's) of its latest attempt: no later
/// attempt of it exists (the table as `e`).
const LATEST_ATTEMPT: &str = "step IS NULL AND NOT EXISTS (SELECT 1 FROM task_executions l \
     WHERE l.execution_id = e.execution_id AND l.attempt > e.attempt)";

/// The conditions of `f`, after a `WHERE`.
fn push_run_filter<D: Dialect>(q: &mut QueryBuilder<D::DB>, f: &RunFilter)
where
    String: Param<D::DB>,
    Uuid: Param<D::DB>,
    DateTime<Utc>: Param<D::DB>,
{
    if let Some(id) = f.config_id {
        q.push(" AND config_id = ").push_bind(id);
    }
    match f.is_success {
        Some(true) => q.push(" AND is_success"),
        Some(false) => q.push(" AND NOT is_success"),
        None => q,
    };
    if let Some(t) = &f.task_type {
        q.push(" AND task_type = ").push_bind(t.clone());
    }
    if let Some(since) = f.since {
        q.push(" AND started_at >= ").push_bind(since);
    }
    if let Some(until) = f.until {
        q.push(" AND started_at < ").push_bind(until);
    }
    if let Some(tag) = &f.tag {
        q.push(" AND config_id IN (SELECT id FROM task_configs WHERE ").push(D::HAS_TAG.0);
        q.push_bind(tag.clone()).push(D::HAS_TAG.1).push(")");
    }
}
