//! The audit log, written once for both databases: one row per change
//! made through the API, the dashboard or the CLI (who, what, on what, in
//! words), appended and read newest first, and pruned past its retention.
//! Every [`Dialect`] is an [`AuditStore`].
//!
//! Owns the SQL of `audit_events`; what an event says (and that it never
//! holds a secret) is its writer's to decide.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Database, Executor, IntoArguments, QueryBuilder};

use super::dialect::Dialect;
use super::sql::{Decoded, Param};
use super::*;

/// One change, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct AuditEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Who: a token's name, or "admin token" (`TASKBOX_ADMIN_TOKEN`), or
    /// "cli" for the command line on the database itself.
    pub actor: String,
    /// What, as `<object>.<verb>`: `config.create`, `schedule.pause`, …
    pub action: String,
    /// On what: `config:<id>`, `plugin:<task type>`, `secret:<name>`, …
    pub target: String,
    /// In words; never a secret's value.
    pub summary: String,
}

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub summary: String,
}

/// Which events to read; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    async fn append_audit(&self, event: &NewAuditEvent) -> Result<(), StoreError>;
    /// The newest `limit` events that match, newest first.
    async fn audit_events(&self, filter: &AuditFilter, limit: u32) -> Result<Vec<AuditEvent>, StoreError>;
    /// Deletes the events older than `before`; answers how many.
    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

#[async_trait]
impl<D> AuditStore for D
where
    D: Dialect,
    String: Param<D::DB>,
    i64: Param<D::DB>,
    DateTime<Utc>: Param<D::DB>,
    AuditEvent: Decoded<<D::DB as Database>::Row>,
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    <D::DB as Database>::Arguments: IntoArguments<D::DB>,
{
    async fn append_audit(&self, event: &NewAuditEvent) -> Result<(), StoreError> {
        let mut q = QueryBuilder::<D::DB>::new(
            "INSERT INTO audit_events (at, actor, action, target, summary) VALUES (",
        );
        let mut values = q.separated(", ");
        values.push_bind(Utc::now()).push_bind(event.actor.clone()).push_bind(event.action.clone());
        values.push_bind(event.target.clone()).push_bind(event.summary.clone());
        q.push(")");
        self.execute(q).await.map(|_| ())
    }

    async fn audit_events(&self, filter: &AuditFilter, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new(
            "SELECT id, at, actor, action, target, summary FROM audit_events WHERE 1 = 1",
        );
        if let Some(actor) = &filter.actor {
            q.push(" AND actor = ").push_bind(actor.clone());
        }
        if let Some(action) = &filter.action {
            q.push(" AND action = ").push_bind(action.clone());
        }
        if let Some(target) = &filter.target {
            q.push(" AND target = ").push_bind(target.clone());
        }
        if let Some(since) = filter.since {
            q.push(" AND at >= ").push_bind(since);
        }
        q.push(" ORDER BY at DESC, id DESC LIMIT ").push_bind(i64::from(limit));
        Ok(q.build_query_as().fetch_all(self.pool()).await?)
    }

    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new("DELETE FROM audit_events WHERE at < ");
        q.push_bind(before);
        self.execute(q).await
    }
}
