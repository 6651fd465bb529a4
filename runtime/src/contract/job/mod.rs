//! A run to be queued: the leaf types that firing, the queue and the worker
//! hand each other. The job snapshot a schedule fires, the queued run (one
//! attempt of one execution), its priority band, the words that describe
//! them, and the coordination error every backend answers with.
//!
//! Imports nothing of ours but the `text_enum!` helper and the words of
//! `contract::limits` (which it re-exports): the schedule
//! contract, both backends, the worker and the store build on it, so it
//! can be read alone.

mod kinds;
pub mod payload;
pub mod workflow;

pub use crate::contract::limits::{DEFAULT_GROUP, RateLimit, TypeRule, TypeRules, no_type_rules};
pub use kinds::{Concurrency, NotifyOn, SchedulerType, Trigger};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A snapshot of what the scheduler needs to fire a config and a worker
/// needs to run it, taken from the config at start/reload (`Job::of`, in
/// the scheduler service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub config_id: Uuid,
    pub task_type: String,
    /// JSON text.
    pub parameters: String,
    pub scheduler_type: SchedulerType,
    pub schedule_config: serde_json::Value,
    pub timeout_seconds: Option<f64>,
    pub max_retries: i32,
    pub priority: i32,
    pub misfire_grace_seconds: i32,
    pub concurrency: Concurrency,
    /// Run exactly this version of the plugin (a pinned config, or a
    /// replay); `None`: the version current when the run starts.
    #[serde(default)]
    pub plugin_digest: Option<String>,
    /// Runs of this config in flight at once, fleet-wide (`None`: no limit).
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// Runs of this task type in flight at once, fleet-wide: its sidecar's
    /// `max_concurrency`, read when the run is queued.
    #[serde(default)]
    pub type_max_concurrency: Option<u32>,
    /// Runs of this config that may start per window, fleet-wide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Runs of this task type that may start per window, fleet-wide: its
    /// sidecar's `rate_limit`, read when the run is queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_rate_limit: Option<RateLimit>,
    /// The worker group its runs go to: the config's, else (stamped when
    /// the run is queued) its task type's; `None`: [`DEFAULT_GROUP`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_group: Option<String>,
    /// When the config wants to hear of an outcome (`None`: never).
    #[serde(default)]
    pub notify: Option<NotifyOn>,
    /// New with every snapshot. Runs fired ahead of their time carry it, so
    /// a worker can tell that the schedule changed (paused, stopped,
    /// reloaded) before they were due, and drop them
    /// (`schedule::ahead`).
    #[serde(default)]
    pub revision: u64,
    /// A workflow config's steps: a run of this job conducts them
    /// (`task_type` is then empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<Box<workflow::Workflow>>,
}

/// One attempt of one execution, waiting to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedRun {
    pub execution_id: Uuid,
    pub attempt: u32,
    pub trigger: Trigger,
    pub scheduled_at: DateTime<Utc>,
    pub job: Job,
    /// Fired before it was due (`schedule::ahead`): dropped unrun if its
    /// schedule changes before `scheduled_at`.
    #[serde(default)]
    pub ahead: bool,
    /// Cancelled before it started (by whom): a worker records it as
    /// cancelled without running it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
    /// A step run of a workflow run: which one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<workflow::StepOf>,
    /// A workflow run that retries this one: the steps that succeeded in
    /// it are not run again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<Uuid>,
    /// The W3C `traceparent` of the span that queued it (a request, a
    /// fire), so the span that runs it continues that trace on any node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

impl QueuedRun {
    /// The first attempt of a new execution of `job`, due at `scheduled_at`
    /// (`ahead`: fired before it was due).
    pub fn first(job: Job, trigger: Trigger, scheduled_at: DateTime<Utc>, ahead: bool) -> QueuedRun {
        QueuedRun {
            execution_id: Uuid::new_v4(),
            attempt: 1,
            trigger,
            scheduled_at,
            job,
            ahead,
            cancelled_by: None,
            step: None,
            retry_of: None,
            trace: None,
        }
    }

    /// The first attempt of a schedule's tick: its execution id is the
    /// same for the same config, schedule revision and due time, so a tick
    /// settled on a Redis master that died before its replica had it, and
    /// fired again by the replica promoted in its place, is the same
    /// execution, recorded once.
    pub fn tick(job: Job, trigger: Trigger, due: DateTime<Utc>, ahead: bool) -> QueuedRun {
        use sha2::Digest;
        let name = format!("taskbox tick {}/{}/{}", job.config_id, job.revision, due.timestamp_millis());
        let digest = sha2::Sha256::digest(name.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        let mut run = QueuedRun::first(job, trigger, due, ahead);
        run.execution_id = uuid::Builder::from_custom_bytes(bytes).into_uuid();
        run
    }

    /// Whose runs in flight this run counts among: its workflow run's for a
    /// step run (so a config's limits and overlap policy see the workflow
    /// run as one), else its config's.
    pub fn owner(&self) -> Uuid {
        self.step.as_ref().map_or(self.job.config_id, |s| s.workflow_execution_id)
    }

    /// Does this run conduct a workflow (rather than run a plugin)?
    pub fn is_workflow(&self) -> bool {
        self.job.workflow.is_some() && self.step.is_none()
    }
}

impl Job {
    /// The runs of this config that may be in flight at once: its
    /// `max_concurrency`, and one for the overlap policies that wait for
    /// the run in flight (`buffer_one`, `replace`).
    pub fn config_limit(&self) -> Option<u32> {
        let policy = self.concurrency.one_at_a_time().then_some(1);
        match (self.max_concurrency, policy) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether a run of this job may have to wait for a slot or its turn
    /// (a limit or a rate of its config or of its task type).
    pub fn is_gated(&self) -> bool {
        self.config_limit().is_some()
            || self.type_max_concurrency.is_some()
            || self.rate_limit.is_some()
            || self.type_rate_limit.is_some()
    }

    /// The worker group its runs go to.
    pub fn group(&self) -> &str {
        self.worker_group.as_deref().unwrap_or(DEFAULT_GROUP)
    }

    /// Stamps what its task type's sidecar says (`rule`) on a run of this
    /// job about to be queued.
    pub fn stamp(&mut self, rule: TypeRule) {
        self.type_max_concurrency = rule.max_concurrency;
        self.type_rate_limit = rule.rate_limit;
        if self.worker_group.is_none() {
            self.worker_group = rule.worker_group;
        }
    }
}

/// Priority bands: higher bands are taken first when workers are saturated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Band {
    High,
    Normal,
    Low,
}

impl Band {
    /// Highest first.
    pub const ALL: [Band; 3] = [Band::High, Band::Normal, Band::Low];

    pub fn of(priority: i32) -> Band {
        match priority {
            p if p > 0 => Band::High,
            0 => Band::Normal,
            _ => Band::Low,
        }
    }

    /// The band a run waits in.
    pub fn of_run(run: &QueuedRun) -> Band {
        Band::of(run.job.priority)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Band::High => "high",
            Band::Normal => "normal",
            Band::Low => "low",
        }
    }
}
