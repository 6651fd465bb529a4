//! The execution queue: what a worker takes runs from, and how it hands them
//! back. Runs are put on the queue by the schedule backend (firing, run-now)
//! in the same atomic step that records why; this trait is the consumer side.
//!
//! At-least-once: a run stays pending until [`Queue::settle`] is called,
//! which callers do only after its record is committed; runs held by a
//! worker that stopped heart-beating are handed to another by
//! [`Queue::reclaim`].
//!
//! Groups: a run is handed only to a worker that serves its worker group
//! ([`Consumer::groups`]); with none alive it waits, never dropped.
//!
//! Limits: a run whose config or task type has a `max_concurrency` waits
//! (in order) until fewer than that many runs of it are out; one with a
//! `rate_limit` waits (in order) until fewer than `max` runs of it started
//! in the last `per_seconds`, counting the runs let through but not yet
//! started, so no window ever holds more starts, however long runs wait
//! for a worker. A run starts when a worker takes it ([`Queue::claim`];
//! taking it again after a crash is not a second start). Waiting runs are
//! neither dropped nor failed. Cancel: [`Queue::cancel`] turns a run no
//! worker holds into a marker that the next worker records as cancelled
//! without running it, and tells the worker holding a run to stop it
//! ([`Queue::cancel_signals`], with [`Queue::cancel_requests`] as the
//! safety net for a signal that was missed).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio::sync::broadcast;

use uuid::Uuid;

use crate::contract::BackendError;
use crate::contract::job::{Band, QueuedRun};

/// A worker as the queue knows it: its name, and the worker groups whose
/// runs it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    pub name: String,
    pub groups: Vec<String>,
}

impl Consumer {
    /// A worker of `groups` (sorted, without repeats).
    pub fn new(name: impl Into<String>, groups: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let mut groups: Vec<String> = groups.into_iter().map(Into::into).collect();
        groups.sort();
        groups.dedup();
        Self { name: name.into(), groups }
    }

    /// A worker of the default group alone.
    pub fn of_default(name: impl Into<String>) -> Self {
        Self::new(name, [crate::contract::job::DEFAULT_GROUP])
    }
}

/// A live worker: its name and the groups it serves.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct LiveWorker {
    pub name: String,
    pub groups: Vec<String>,
}

/// One worker group as the queue sees it now.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct GroupStats {
    pub group: String,
    /// Live workers that serve it.
    pub workers: u64,
    /// Runs waiting for a worker (not held by one).
    pub queued: u64,
    /// How long the oldest of them has waited, in seconds.
    pub oldest_queued_seconds: Option<f64>,
}

/// Runs held back by their config's or task type's rules, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct HeldBack {
    /// Waiting for a slot (`max_concurrency`).
    pub limit: u64,
    /// Waiting for their turn (`rate_limit`).
    pub rate: u64,
}

/// A run handed to a worker.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub band: Band,
    /// The backend's handle for acknowledging it.
    pub handle: String,
    /// How many times it has been handed out (more than 1 after a reclaim).
    pub deliveries: u64,
    pub run: QueuedRun,
}

impl Delivery {
    /// Who cancelled the run before a worker got it: record it as
    /// cancelled, do not run it.
    pub fn cancelled_by(&self) -> Option<&str> {
        self.run.cancelled_by.as_deref()
    }
}

/// A request to stop a run that a worker holds: its execution id, and who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelSignal {
    pub execution_id: Uuid,
    pub by: String,
}

/// What [`Queue::cancel`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Cancelled {
    /// No such run in flight (finished, or never queued).
    NotInFlight,
    /// It waited: it is now recorded as cancelled by the next worker, unrun.
    Waiting(QueuedRun),
    /// A worker holds it: that worker was told to stop it.
    Running(QueuedRun),
}

/// A finished delivery: acknowledge it, and maybe park its next attempt.
#[derive(Debug, Clone)]
pub struct Settle {
    pub band: Band,
    /// Its run's worker group.
    pub group: String,
    pub handle: String,
    pub config_id: Uuid,
    pub execution_id: Uuid,
    /// The next attempt and when it may run.
    pub retry: Option<(QueuedRun, DateTime<Utc>)>,
}

impl Settle {
    /// Acknowledges the delivery `handle` (in `band`) of `run`, no retry.
    pub fn of(band: Band, handle: String, run: &QueuedRun) -> Self {
        Settle {
            band,
            group: run.job.group().to_owned(),
            handle,
            config_id: run.owner(),
            execution_id: run.execution_id,
            retry: None,
        }
    }
}

/// What the API shows of the queue: how much is waiting, and who works it.
#[async_trait]
pub trait QueueStats: Send + Sync + 'static {
    /// Runs waiting or in progress.
    async fn depth(&self) -> Result<u64, BackendError>;
    /// The workers whose heartbeat is current, by name, sorted.
    async fn live_workers(&self) -> Result<Vec<LiveWorker>, BackendError>;
    /// Every group that has live workers or runs waiting, by name.
    async fn groups(&self) -> Result<Vec<GroupStats>, BackendError>;
    /// How many runs wait for a slot or their turn.
    async fn held_back(&self) -> Result<HeldBack, BackendError>;
    /// The runs in flight (queued, waiting, parked for a retry, or
    /// running) of a config, or of a workflow run (its step runs).
    async fn in_flight(&self, owner: Uuid) -> Result<Vec<Uuid>, BackendError>;
    /// Whether a worker holds each of these runs now, in order.
    async fn held(&self, execution_ids: &[Uuid]) -> Result<Vec<bool>, BackendError>;
}

#[async_trait]
pub trait Queue: QueueStats {
    /// Takes up to `max` runs of `consumer`'s groups, highest band first,
    /// waiting up to `wait` if there are none.
    async fn claim(
        &self,
        consumer: &Consumer,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, BackendError>;
    /// Acknowledges finished runs; call only after their records are committed.
    async fn settle(&self, done: Vec<Settle>) -> Result<(), BackendError>;
    /// Says `consumer` is alive (serving its groups) for the next `ttl`.
    async fn heartbeat(&self, consumer: &Consumer, ttl: Duration) -> Result<(), BackendError>;
    /// Takes over up to `max` runs of `consumer`'s groups held by
    /// consumers whose heartbeat expired.
    async fn reclaim(&self, consumer: &Consumer, max: usize) -> Result<Vec<Delivery>, BackendError>;
    /// Hands `consumer` again, up to `max`, the runs it was given but no
    /// longer knows of (the reply that carried them was lost on the way):
    /// those it holds, idle for at least `idle`, whose handle is not in
    /// `known` (the runs it is running, or finished and not yet settled).
    /// Its heartbeat keeps every other worker off them, so only it can.
    async fn redeliver(
        &self,
        consumer: &Consumer,
        known: &[String],
        idle: Duration,
        max: usize,
    ) -> Result<Vec<Delivery>, BackendError>;
    /// Moves parked retries whose time has come onto the queue, and lets
    /// through the runs whose rate limit has room again.
    async fn promote_retries(&self, now: DateTime<Utc>) -> Result<usize, BackendError>;
    /// For runs fired ahead of their time: should each still run? No if its
    /// schedule was paused, stopped or changed (another job revision) before
    /// the run was due; changes after that do not cancel it.
    /// (The rule is `schedule::ahead::still_current`.)
    async fn still_current(&self, runs: &[&QueuedRun]) -> Result<Vec<bool>, BackendError>;

    /// Cancels the run of `execution_id` (any attempt in flight), as `by`.
    async fn cancel(&self, execution_id: Uuid, by: &str) -> Result<Cancelled, BackendError>;
    /// Requests to stop held runs, from any process, as they are made.
    fn cancel_signals(&self) -> broadcast::Receiver<CancelSignal>;
    /// Which of these held runs someone asked to cancel (and who): what a
    /// worker checks now and then, in case it missed a signal.
    async fn cancel_requests(&self, held: &[Uuid]) -> Result<Vec<CancelSignal>, BackendError>;

    /// Tells every process that step records of these workflow runs were
    /// committed (a hint: a conductor that misses it looks by itself soon).
    async fn signal_progress(&self, workflow_runs: &[Uuid]) -> Result<(), BackendError>;
    /// Workflow runs whose step records were committed, from any process.
    fn progress_signals(&self) -> broadcast::Receiver<Uuid>;
}
