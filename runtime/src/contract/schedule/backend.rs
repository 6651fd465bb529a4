//! The contract between the scheduler service and whatever holds live
//! schedule data (`redis` for the distributed deployment, `local` on SQLite
//! for the embedded one): the schedule core (due index, entries, firing)
//! and the schedule state (status, history, counters) behind one trait,
//! because every change to one is made together with the other in a single
//! atomic step.
//!
//! Also the facts both backends must agree on, defined once: how much
//! history is kept and for how long, the metadata keys, and the wording of
//! the events a backend writes by itself.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

use super::{HistoryEvent, Status};
use crate::contract::BackendError;
pub use crate::contract::job::Job;
use crate::contract::job::{Concurrency, QueuedRun};

/// History events kept per config, and for how long after the newest one.
pub const HISTORY_CAP: usize = 100;
pub const HISTORY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The keys of a config's schedule metadata, and what each counts.
pub mod meta {
    /// Runs fired onto the queue.
    pub const FIRES: &str = "fires";
    /// Ticks skipped because a run was in flight (`concurrency = forbid`).
    pub const SKIPS: &str = "skips";
    /// Ticks missed beyond their grace period.
    pub const MISFIRES: &str = "misfires";
    /// When the last run was fired (RFC 3339).
    pub const LAST_FIRED_AT: &str = "last_fired_at";
    /// When the status last changed (ms since the epoch).
    pub const STATUS_CHANGED_AT: &str = "status_changed_at";
    pub const ALL: [&str; 5] = [FIRES, SKIPS, MISFIRES, LAST_FIRED_AT, STATUS_CHANGED_AT];
}

/// The events a backend writes by itself while firing: (event, message,
/// status after).
pub mod events {
    pub const SKIPPED: (&str, &str, &str) =
        ("skipped", "a run is still in flight (concurrency = forbid)", "active");
    pub const SKIPPED_BUFFERED: (&str, &str, &str) =
        ("skipped", "a run is in flight and another waits for it (concurrency = buffer_one)", "active");
    pub const REPLACED: (&str, &str, &str) =
        ("replaced", "the runs in flight were cancelled for this tick (concurrency = replace)", "active");
    pub const COMPLETED: (&str, &str, &str) =
        ("completed", "the schedule has no more fire times; now inactive", "inactive");
}

/// A status as stored, read back.
pub fn parse_status(s: &str) -> Result<Status, BackendError> {
    Status::parse(s).ok_or_else(|| BackendError::unknown("status", s))
}

/// The per-status counts of [`ScheduleBackend::summary`] from stored
/// (status, count) pairs: every status present, absent ones 0.
pub fn summary_of(
    counts: impl IntoIterator<Item = (String, i64)>,
) -> Result<BTreeMap<Status, u64>, BackendError> {
    let mut summary: BTreeMap<Status, u64> = Status::ALL.iter().map(|&s| (s, 0)).collect();
    for (status, n) in counts {
        summary.insert(parse_status(&status)?, n.max(0) as u64);
    }
    Ok(summary)
}

/// What a transition does to the schedule entry. (One per transition,
/// moved along at once: boxing the job would only add an allocation.)
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
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

/// One atomic status change: if the status is one of `allowed`, set `to`
/// (or keep it with `None`), apply `entry`, append `event`.
#[derive(Debug, Clone)]
pub struct Transition {
    pub config_id: Uuid,
    pub allowed: Vec<Status>,
    pub to: Option<Status>,
    pub entry: EntryChange,
    pub event: HistoryEvent,
    /// When a pause ends by itself; `None` clears any such time.
    pub resume_at: Option<DateTime<Utc>>,
    /// Only if the pause still ends at exactly this time (an automatic
    /// resume, which must not undo a later pause).
    pub expect_resume: Option<DateTime<Utc>>,
}

impl Transition {
    /// A transition that sets no pause end (and clears any).
    pub fn new(
        config_id: Uuid,
        allowed: Vec<Status>,
        to: Option<Status>,
        entry: EntryChange,
        event: HistoryEvent,
    ) -> Self {
        Self { config_id, allowed, to, entry, event, resume_at: None, expect_resume: None }
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
    /// What to do when runs of this config are in flight.
    pub policy: Concurrency,
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

/// What makes an enqueue safe to repeat (an `Idempotency-Key`, a webhook's
/// delivery id, a backfilled tick): the first enqueue with `key` for a
/// config queues its run; another within [`ONCE_TTL`] queues nothing and
/// answers that run, or a conflict if its `fingerprint` differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Once {
    pub key: String,
    /// What was asked, as a digest: the same key with another request is a
    /// conflict.
    pub fingerprint: String,
}

/// How long a key holds.
pub const ONCE_TTL: Duration = Duration::from_secs(24 * 3600);

/// What an enqueue did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// The run was queued.
    New,
    /// The key was used before, by the same request: this run was queued
    /// then (nothing now).
    Again(Uuid),
    /// The key was used before by another request: nothing queued.
    Conflict,
}

/// Live data about one config's schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleInfo {
    /// `None`: the backend has never heard of this config.
    pub status: Option<Status>,
    pub job: Option<Job>,
    /// In the due index at this time.
    pub next_run: Option<DateTime<Utc>>,
    /// A pause that ends by itself at this time.
    pub paused_until: Option<DateTime<Utc>>,
    pub metadata: BTreeMap<String, String>,
    /// The newest history events, as many as asked for.
    pub history: Vec<HistoryEvent>,
}

/// A config's status and next run, for lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Brief {
    /// `None`: the backend has never heard of this config.
    pub status: Option<Status>,
    pub next_run: Option<DateTime<Utc>>,
    pub paused_until: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait ScheduleBackend: Send + Sync + 'static {
    /// Carries out `t` atomically (see [`Transition`]).
    async fn transition(&self, t: Transition) -> Result<Transitioned, BackendError>;
    /// Appends `event` to a config's history and changes nothing else (no
    /// status appears for a config that has none).
    async fn note(&self, config_id: Uuid, event: HistoryEvent) -> Result<(), BackendError>;
    /// Removes every trace of a config (status, entry, history, metadata).
    async fn forget(&self, config_id: Uuid) -> Result<(), BackendError>;

    /// Everything about one config's schedule, with its `history` newest
    /// events, in one round trip.
    async fn info(&self, config_id: Uuid, history: usize) -> Result<ScheduleInfo, BackendError>;
    /// Status and next run of each of `ids`, in order, in one round trip.
    async fn briefs(&self, ids: &[Uuid]) -> Result<Vec<Brief>, BackendError>;
    /// Statuses of all configs that have one.
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
    /// The earliest due time or pause end, if anything is scheduled.
    async fn earliest_due(&self) -> Result<Option<DateTime<Utc>>, BackendError>;
    /// Paused schedules whose pause ends at or before `now`, earliest
    /// first, at most `limit`, with that end.
    async fn due_resumes(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, BackendError>;
    /// Settles due entries; each one atomically.
    async fn fire(&self, fires: Vec<Fire>) -> Result<Vec<Fired>, BackendError>;
    /// Enqueues a run now (run-now, webhooks, replays, backfills),
    /// recording `event` if any; with `once`, only if no run was queued
    /// with its key before (in the same atomic step).
    async fn enqueue(
        &self,
        run: QueuedRun,
        event: Option<HistoryEvent>,
        once: Option<&Once>,
    ) -> Result<Enqueued, BackendError>;

    /// The marker that tells whether this backend's state survived: set to
    /// `fresh` unless one is there, in one step; answers the one that was
    /// there, or `None` when there was none (the state is new, or was lost
    /// with it).
    async fn state_marker(&self, fresh: &str) -> Result<Option<String>, BackendError>;
}

impl HistoryEvent {
    /// One of the [`events`] a backend writes by itself.
    pub fn of(kind: (&str, &str, &str)) -> HistoryEvent {
        let (event, message, status) = kind;
        HistoryEvent::new(event, message, Status::parse(status))
    }
}
