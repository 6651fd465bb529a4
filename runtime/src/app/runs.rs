//! Runs: execution records (a page, one with its notifications, counts),
//! their cleanup, cancelling a run in flight, and replaying a recorded one.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

use super::tokens::Actor;
use super::{App, AppError, replay};
use crate::contract::queue::Cancelled;
use crate::store::{ExecutionFilter, ExecutionStats, NotificationDelivery, Page, RunFilter, StoredExecution};

/// The longest look-back of the recent and failed views: a year.
const MAX_HOURS: i64 = 8760;
/// The longest retention a cleanup may name: a hundred years.
const MAX_DAYS: i64 = 36_500;

/// An execution record, with the notifications of its outcome.
#[derive(Serialize, ToSchema)]
pub struct ExecutionView {
    #[serde(flatten)]
    pub execution: StoredExecution,
    /// Each notification sent of this outcome (status, attempts).
    pub notifications: Vec<NotificationDelivery>,
}

/// What a cancel did.
#[derive(Serialize, ToSchema)]
pub struct CancelDone {
    pub execution_id: Uuid,
    /// `queued`: it had not started and never will (its record says
    /// cancelled); `running`: the worker holding it stops it (within 500 ms).
    pub was: &'static str,
    pub message: String,
}

/// The start of the window of the last `hours` (default 24; 1 to 8760).
pub fn hours_ago(hours: Option<i64>) -> Result<DateTime<Utc>, AppError> {
    let hours = hours.unwrap_or(24);
    if !(1..=MAX_HOURS).contains(&hours) {
        return Err(AppError::invalid("hours", format!("must be between 1 and {MAX_HOURS}")));
    }
    Ok(Utc::now() - Duration::hours(hours))
}

/// A record named by its row id, or a run by its execution id (its
/// latest attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordRef {
    Id(i64),
    Run(Uuid),
}

impl std::str::FromStr for RecordRef {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match (text.parse(), text.parse()) {
            (Ok(id), _) => Ok(RecordRef::Id(id)),
            (_, Ok(run)) => Ok(RecordRef::Run(run)),
            _ => Err(()),
        }
    }
}

impl std::fmt::Display for RecordRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordRef::Id(id) => write!(f, "{id}"),
            RecordRef::Run(run) => write!(f, "{run}"),
        }
    }
}

impl App {
    /// One page of records, newest first, and how many match.
    pub async fn executions(
        &self,
        filter: &ExecutionFilter,
        page: Page,
    ) -> Result<(Vec<StoredExecution>, u64), AppError> {
        Ok(self.store().list_executions(filter, page).await?)
    }

    /// Up to `limit` records from `offset`, newest first, by the
    /// dashboard's filters (no total: a page costs its own rows).
    pub async fn runs_page(
        &self,
        filter: &RunFilter,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<StoredExecution>, AppError> {
        Ok(self.dashboard_store()?.page_runs(filter, limit, offset).await?)
    }

    /// The newest record of each of these configs (those with one).
    pub async fn latest_runs(&self, config_ids: &[Uuid]) -> Result<HashMap<Uuid, StoredExecution>, AppError> {
        let latest = self.dashboard_store()?.latest_runs(config_ids).await?;
        Ok(latest.into_iter().filter_map(|r| Some((r.record.config_id?, r))).collect())
    }

    /// Counts, success rate and durations, for one config or all.
    pub async fn execution_stats(
        &self,
        config_id: Option<Uuid>,
        since: Option<DateTime<Utc>>,
    ) -> Result<ExecutionStats, AppError> {
        Ok(self.store().execution_stats(config_id, since).await?)
    }

    /// The record `r` names (a run's latest attempt), or a 404.
    pub async fn record(&self, r: RecordRef) -> Result<StoredExecution, AppError> {
        let found = match r {
            RecordRef::Id(id) => self.store().get_execution(id).await?,
            RecordRef::Run(run) => self.store().latest_attempt(run).await?,
        };
        found.ok_or_else(|| AppError::NotFound(format!("no execution with id {r}")))
    }

    /// One record, with the notifications of its outcome.
    pub async fn execution(&self, r: RecordRef) -> Result<ExecutionView, AppError> {
        let execution = self.record(r).await?;
        let notifications = match &self.inner.deliveries {
            Some(d) => d.deliveries(execution.record.execution_id, execution.record.attempt).await?,
            None => Vec::new(),
        };
        Ok(ExecutionView { execution, notifications })
    }

    /// Deletes records that started more than `days` ago; how many.
    pub async fn delete_executions_older_than(&self, days: i64) -> Result<u64, AppError> {
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(AppError::invalid("older_than_days", format!("must be between 1 and {MAX_DAYS}")));
        }
        Ok(self.store().delete_executions_before(Utc::now() - Duration::days(days)).await?)
    }

    /// Cancels the run of `execution_id` for `actor`: a queued run is
    /// removed and recorded as cancelled; a running one is stopped by the
    /// worker that holds it. A run that has finished is a conflict.
    pub async fn cancel(&self, execution_id: Uuid, actor: &Actor) -> Result<CancelDone, AppError> {
        let by = self.tokens().who(actor).await?;
        let finished = || AppError::Conflict(format!("run {execution_id} has finished; nothing to cancel"));
        let (was, message) = match self.scheduler().cancel(execution_id, &by).await? {
            Cancelled::Waiting(_) => ("queued", "removed from the queue; recorded as cancelled"),
            Cancelled::Running(run) => {
                // Its record committed, only its acknowledgement pending: done.
                // Unless the record is this cancel's own: a run stopped in a
                // host call is recorded at once, maybe before this asks.
                let record = self.store().find_attempt(execution_id, run.attempt as i32).await?;
                if record.is_some_and(|r| r.record.cancelled_by.as_deref() != Some(by.as_str())) {
                    return Err(finished());
                }
                ("running", "the worker holding it is stopping it")
            }
            Cancelled::NotInFlight => {
                return Err(match self.store().find_attempt(execution_id, 1).await? {
                    Some(_) => finished(),
                    None => AppError::NotFound(format!("no run with execution_id {execution_id}")),
                });
            }
        };
        Ok(CancelDone { execution_id, was, message: message.to_owned() })
    }

    /// Runs the recorded execution `r` names again: a new run of the same config
    /// with the exact plugin version, parameters and deadline its record
    /// names (trigger `replay`). A conflict when it cannot be replayed.
    pub async fn replay(&self, r: RecordRef) -> Result<Uuid, AppError> {
        let record = self.record(r).await?.record;
        let refuse = |why: String| AppError::Conflict(format!("execution {r} cannot be replayed: {why}"));
        let (task_type, digest, parameters) = replay::replayable(&record).map_err(refuse)?;
        let config = match record.config_id {
            Some(config_id) => self.store().get_config(config_id).await?,
            None => None,
        };
        let Some(config) = config else {
            return Err(refuse("its config was deleted (taskbox replay runs it locally)".into()));
        };
        let kept = match self.inner.plugins.store() {
            Some(store) => store.has_version(task_type, digest).await?,
            None => false,
        };
        if !kept {
            return Err(refuse(replay::not_kept(task_type, digest)));
        }
        let version = (task_type, digest);
        Ok(self.scheduler().replay(&config, version, parameters, record.timeout_seconds).await?)
    }

    /// A new run, now, of the config of the record `r` names.
    pub async fn run_config_of(&self, r: RecordRef) -> Result<(Uuid, Uuid), AppError> {
        let record = self.record(r).await?.record;
        let config = record.config_id.ok_or(AppError::Conflict("its config was deleted".into()))?;
        Ok((config, self.run_now(config).await?))
    }
}
