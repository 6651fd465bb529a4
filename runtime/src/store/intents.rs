//! Schedule intents, written once for both databases: the status a user
//! last chose for each schedule (and when a pause ends by itself), so that
//! schedule state a backend lost can be rebuilt as users left it. Every
//! [`Dialect`] is an [`IntentStore`]; reads run here, each write through
//! the dialect's own [`Dialect::execute`].
//!
//! Owns the SQL of `schedule_intents`; it is never the live status (the
//! schedule backend's), only the last decision.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Executor, IntoArguments, QueryBuilder};
use std::collections::HashMap;
use uuid::Uuid;

use super::dialect::Dialect;
use super::sql::{Decoded, Param};
use super::*;

/// What a user last chose for a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Active,
    /// Paused, until a time or for good.
    Paused(Option<DateTime<Utc>>),
    Inactive,
}

/// The last decision per config.
#[async_trait]
pub trait IntentStore: Send + Sync + 'static {
    /// Records `intent` as the decision for `config_id` (replacing any).
    async fn set_intent(&self, config_id: Uuid, intent: Intent) -> Result<(), StoreError>;
    /// Every config's last decision (configs with none are left out).
    async fn intents(&self) -> Result<HashMap<Uuid, Intent>, StoreError>;
}

#[async_trait]
impl<D> IntentStore for D
where
    D: Dialect,
    Uuid: Param<D::DB>,
    String: Param<D::DB>,
    DateTime<Utc>: Param<D::DB>,
    Option<DateTime<Utc>>: Param<D::DB>,
    (Uuid, String, Option<DateTime<Utc>>): Decoded<<D::DB as Database>::Row>,
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    <D::DB as Database>::Arguments: IntoArguments<D::DB>,
{
    async fn set_intent(&self, config_id: Uuid, intent: Intent) -> Result<(), StoreError> {
        let (status, until) = match intent {
            Intent::Active => ("active", None),
            Intent::Paused(until) => ("paused", until),
            Intent::Inactive => ("inactive", None),
        };
        let mut q = QueryBuilder::<D::DB>::new(
            "INSERT INTO schedule_intents (config_id, status, paused_until, chosen_at) \
             SELECT id, ",
        );
        q.push_bind(status.to_owned()).push(", ").push_bind(until).push(", ").push_bind(Utc::now());
        // Only for a config that exists (it may have been deleted meanwhile).
        q.push(" FROM task_configs WHERE id = ").push_bind(config_id);
        q.push(
            " ON CONFLICT (config_id) DO UPDATE SET status = excluded.status, \
             paused_until = excluded.paused_until, chosen_at = excluded.chosen_at",
        );
        self.execute(q).await.map(|_| ())
    }

    async fn intents(&self) -> Result<HashMap<Uuid, Intent>, StoreError> {
        let mut q =
            QueryBuilder::<D::DB>::new("SELECT config_id, status, paused_until FROM schedule_intents");
        let rows: Vec<(Uuid, String, Option<DateTime<Utc>>)> =
            q.build_query_as().fetch_all(self.pool()).await?;
        rows.into_iter()
            .map(|(id, status, until)| {
                let intent = match status.as_str() {
                    "active" => Intent::Active,
                    "paused" => Intent::Paused(until),
                    "inactive" => Intent::Inactive,
                    other => return Err(StoreError::Corrupt(format!("schedule intent {other:?}"))),
                };
                Ok((id, intent))
            })
            .collect()
    }
}
