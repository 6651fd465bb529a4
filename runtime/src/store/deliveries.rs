//! Notification deliveries, written once for both databases: one row per
//! notification of one attempt's outcome, updated as it is retried, and
//! the previous outcome of a config (whether a success is a recovery).
//! Every [`Dialect`] is a [`DeliveryStore`]; writes go through the
//! dialect's own [`Dialect::execute`].
//!
//! Owns the SQL of `notification_deliveries`; never sends anything.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Database, Executor, IntoArguments, QueryBuilder};
use uuid::Uuid;

use super::dialect::Dialect;
use super::sql::{Decoded, Param};
use super::*;

/// How one notification went.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct NotificationDelivery {
    /// `failure`, `recovery` or `success`.
    pub event: String,
    pub url: String,
    /// `pending` (being tried), `delivered` (a 2xx answer), `failed` (no
    /// 2xx within the attempts) or `refused` (the destination is not allowed).
    pub status: String,
    pub attempts: i32,
    /// The last HTTP status answered, if any.
    pub response_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A delivery's progress after one more attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryUpdate {
    pub status: &'static str,
    pub attempts: i32,
    pub response_code: Option<i32>,
    pub last_error: Option<String>,
}

#[async_trait]
pub trait DeliveryStore: Send + Sync + 'static {
    /// Starts the record of the notification of `event` for one attempt
    /// (pending); one per attempt and event: false if it was started before
    /// (the attempt's record was offered twice).
    async fn start_delivery(
        &self,
        record: &ExecutionRecord,
        event: &str,
        url: &str,
    ) -> Result<bool, StoreError>;
    async fn update_delivery(
        &self,
        record: &ExecutionRecord,
        event: &str,
        update: &DeliveryUpdate,
    ) -> Result<(), StoreError>;
    /// The notifications of one attempt, oldest first.
    async fn deliveries(
        &self,
        execution_id: Uuid,
        attempt: i32,
    ) -> Result<Vec<NotificationDelivery>, StoreError>;
    /// Whether the config's latest run before `record`'s (another
    /// execution, started earlier) succeeded; `None` if it has none.
    async fn previous_outcome(&self, record: &ExecutionRecord) -> Result<Option<bool>, StoreError>;
}

#[async_trait]
impl<D> DeliveryStore for D
where
    D: Dialect,
    String: Param<D::DB>,
    Uuid: Param<D::DB>,
    Option<Uuid>: Param<D::DB>,
    i32: Param<D::DB>,
    Option<i32>: Param<D::DB>,
    Option<String>: Param<D::DB>,
    DateTime<Utc>: Param<D::DB>,
    NotificationDelivery: Decoded<<D::DB as Database>::Row>,
    (bool,): Decoded<<D::DB as Database>::Row>,
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    <D::DB as Database>::Arguments: IntoArguments<D::DB>,
{
    async fn start_delivery(
        &self,
        record: &ExecutionRecord,
        event: &str,
        url: &str,
    ) -> Result<bool, StoreError> {
        let now = Utc::now();
        // A config deleted meanwhile leaves a NULL config_id, as records do.
        let mut q = QueryBuilder::<D::DB>::new(
            "INSERT INTO notification_deliveries (execution_id, attempt, config_id, event, url, status, \
             attempts, created_at, updated_at) VALUES (",
        );
        q.push_bind(record.execution_id).push(", ").push_bind(record.attempt);
        q.push(", (SELECT id FROM task_configs WHERE id = ").push_bind(record.config_id).push("), ");
        let mut values = q.separated(", ");
        values.push_bind(event.to_owned()).push_bind(url.to_owned()).push_bind("pending".to_owned());
        values.push_bind(0i32).push_bind(now).push_bind(now);
        q.push(") ON CONFLICT (execution_id, attempt, event) DO NOTHING");
        Ok(self.execute(q).await? > 0)
    }

    async fn update_delivery(
        &self,
        record: &ExecutionRecord,
        event: &str,
        u: &DeliveryUpdate,
    ) -> Result<(), StoreError> {
        let mut q = QueryBuilder::<D::DB>::new("UPDATE notification_deliveries SET status = ");
        q.push_bind(u.status.to_owned()).push(", attempts = ").push_bind(u.attempts);
        q.push(", response_code = ").push_bind(u.response_code);
        q.push(", last_error = ").push_bind(u.last_error.clone());
        q.push(", updated_at = ").push_bind(Utc::now());
        q.push(" WHERE execution_id = ").push_bind(record.execution_id);
        q.push(" AND attempt = ").push_bind(record.attempt).push(" AND event = ").push_bind(event.to_owned());
        self.execute(q).await.map(|_| ())
    }

    async fn deliveries(
        &self,
        execution_id: Uuid,
        attempt: i32,
    ) -> Result<Vec<NotificationDelivery>, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new(
            "SELECT event, url, status, attempts, response_code, last_error, created_at, updated_at \
             FROM notification_deliveries WHERE execution_id = ",
        );
        q.push_bind(execution_id).push(" AND attempt = ").push_bind(attempt).push(" ORDER BY id");
        Ok(q.build_query_as().fetch_all(self.pool()).await?)
    }

    async fn previous_outcome(&self, record: &ExecutionRecord) -> Result<Option<bool>, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new("SELECT is_success FROM task_executions WHERE config_id = ");
        q.push_bind(record.config_id).push(" AND execution_id <> ").push_bind(record.execution_id);
        q.push(" AND started_at < ").push_bind(record.started_at).push(" AND step IS NULL");
        q.push(" ORDER BY started_at DESC LIMIT 1");
        let found: Option<(bool,)> = q.build_query_as().fetch_optional(self.pool()).await?;
        Ok(found.map(|(ok,)| ok))
    }
}
