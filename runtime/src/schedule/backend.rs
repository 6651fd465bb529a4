//! The contract between the scheduler service and whatever holds live
//! schedule data (`redis` for the distributed deployment, `local` on SQLite for the
//! embedded one): the schedule core
//! (due index, entries, firing) and the schedule state (status, history,
//! counters) behind one trait, because every change to one is made together
//! with the other in a single atomic step.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

use super::{HistoryEvent, Status};
use crate::queue::QueuedRun;

/// Why the backend could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    #[error("schedule backend unavailable: {0}")]
    Unavailable(String),
    #[error("schedule backend: corrupt data: {0}")]
    Corrupt(String),
}

impl BackendError {
    /// A status as stored, read back.
    pub fn parse_status(s: &str) -> Result<Status, BackendError> {
        Status::parse(s).ok_or_else(|| BackendError::Corrupt(format!("unknown status {s:?}")))
    }
}

/// The per-status counts of [`ScheduleBackend::summary`] from stored
/// (status, count) pairs: every status present, absent ones 0.
pub fn summary_of(
    counts: impl IntoIterator<Item = (String, i64)>,
) -> Result<BTreeMap<Status, u64>, BackendError> {
    let mut summary: BTreeMap<Status, u64> = Status::ALL.iter().map(|&s| (s, 0)).collect();
    for (status, n) in counts {
        summary.insert(BackendError::parse_status(&status)?, n.max(0) as u64);
    }
    Ok(summary)
}

/// What a transition does to the schedule entry.
#[derive(Debug, Clone)]
pub enum EntryChange {
    Keep,
    /// Drop the entry and its due time.
    Remove,
    /// Store the entry; `next_run: None` keeps it out of the due index.
    Set {
        job: Job,
        next_run: Option<DateTime<Utc>>,
    },
}

/// A snapshot of what the scheduler needs to fire a config and a worker
/// needs to run it, taken from the config at start/reload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub config_id: Uuid,
    pub task_type: String,
    /// JSON text.
    pub parameters: String,
    pub scheduler_type: crate::store::SchedulerType,
    pub schedule_config: serde_json::Value,
    pub timeout_seconds: Option<f64>,
    pub max_retries: i32,
    pub priority: i32,
    pub misfire_grace_seconds: i32,
    pub concurrency: crate::store::Concurrency,
    /// New with every snapshot. Runs fired ahead of their time carry it, so
    /// a worker can tell that the schedule changed (paused, stopped,
    /// reloaded) before they were due, and drop them.
    #[serde(default)]
    pub revision: u64,
}

impl Job {
    /// The snapshot of `config` that schedules and runs it.
    pub fn of(config: &crate::store::TaskConfig) -> Job {
        Job {
            config_id: config.id,
            task_type: config.task_type.clone(),
            parameters: config.parameters.to_string(),
            scheduler_type: config.scheduler_type,
            schedule_config: config.schedule_config.clone(),
            timeout_seconds: config.timeout_seconds,
            max_retries: config.max_retries,
            priority: config.priority,
            misfire_grace_seconds: config.misfire_grace_seconds,
            concurrency: config.concurrency,
            revision: Uuid::new_v4().as_u64_pair().0,
        }
    }

    pub fn spec(&self) -> Result<super::ScheduleSpec, super::SpecError> {
        super::ScheduleSpec::parse(self.scheduler_type, &self.schedule_config)
    }
}

/// The outcome of an atomic transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transitioned {
    /// Done; carries the status before it.
    From(Status),
    /// Refused: the current status is not one of those allowed.
    Refused(Status),
}

/// One due entry to settle, atomically, if it is still due at `due`.
#[derive(Debug, Clone)]
pub struct Fire {
    pub config_id: Uuid,
    /// Compare-and-set: only if the entry is still due at exactly this time
    pub due: DateTime<Utc>,
    /// ... and still holds the job revision this fire was computed from
    /// (`None`: the entry had no job to compare).
    pub revision: Option<u64>,
    /// The next due time; `None` ends the schedule in `ending`.
    pub next: Option<DateTime<Utc>>,
    /// `Inactive` (with a `completed` event) or `Error`.
    pub ending: Status,
    /// Enqueue this run, unless `None` (a misfire outside the grace period).
    pub run: Option<QueuedRun>,
    /// Skip the run if one of this config is in flight (`concurrency = forbid`).
    pub forbid_overlap: bool,
    pub event: HistoryEvent,
}

/// What happened to a [`Fire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    Enqueued,
    /// Not enqueued (overlap, or a misfire), but rescheduled.
    Skipped,
    /// Someone else settled it first, or the schedule changed meanwhile.
    Lost,
}

/// Live data about one config's schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleInfo {
    /// `None`: the backend has never heard of this config.
    pub status: Option<Status>,
    pub job: Option<Job>,
    /// In the due index at this time.
    pub next_run: Option<DateTime<Utc>>,
    pub metadata: BTreeMap<String, String>,
    /// The newest history events, as many as asked for.
    pub history: Vec<HistoryEvent>,
}

#[async_trait]
pub trait ScheduleBackend: Send + Sync + 'static {
    /// If the status is one of `allowed`, atomically sets `to` (or keeps it
    /// with `None`), applies `entry`, and appends `event` to the history.
    async fn transition(
        &self,
        config_id: Uuid,
        allowed: &[Status],
        to: Option<Status>,
        entry: EntryChange,
        event: HistoryEvent,
    ) -> Result<Transitioned, BackendError>;
    /// Appends `event` to a config's history and changes nothing else (no
    /// status appears for a config that has none).
    async fn note(&self, config_id: Uuid, event: HistoryEvent) -> Result<(), BackendError>;
    /// Removes every trace of a config (status, entry, history, metadata).
    async fn forget(&self, config_id: Uuid) -> Result<(), BackendError>;

    /// Everything about one config's schedule, with its `history` newest
    /// events, in one round trip.
    async fn info(&self, config_id: Uuid, history: usize) -> Result<ScheduleInfo, BackendError>;
    /// Statuses of many configs at once (absent ones are missing).
    async fn statuses(&self) -> Result<BTreeMap<Uuid, Status>, BackendError>;
    /// Due times of all scheduled configs.
    async fn due_times(&self) -> Result<BTreeMap<Uuid, DateTime<Utc>>, BackendError>;
    /// Newest first, at most `limit`.
    async fn history(&self, config_id: Uuid, limit: usize) -> Result<Vec<HistoryEvent>, BackendError>;
    /// Number of configs per status.
    async fn summary(&self) -> Result<BTreeMap<Status, u64>, BackendError>;

    /// The entries' jobs, in the order of `ids`.
    async fn jobs(&self, ids: &[Uuid]) -> Result<Vec<Option<Job>>, BackendError>;
    /// Entries due at or before `now`, earliest first, at most `limit`.
    async fn due(&self, now: DateTime<Utc>, limit: usize)
    -> Result<Vec<(Uuid, DateTime<Utc>)>, BackendError>;
    /// The earliest due time, if anything is scheduled.
    async fn earliest_due(&self) -> Result<Option<DateTime<Utc>>, BackendError>;
    /// Settles due entries; each one atomically.
    async fn fire(&self, fires: Vec<Fire>) -> Result<Vec<Fired>, BackendError>;
    /// Enqueues a run now (run-now, retries), recording `event`.
    async fn enqueue(&self, run: QueuedRun, event: HistoryEvent) -> Result<(), BackendError>;
}
