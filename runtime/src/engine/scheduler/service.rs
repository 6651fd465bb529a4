//! Schedule actions (start, stop, pause, resume, reload), the
//! rule that an updated config is re-registered, and the merged view of a
//! config's schedule. Lists and counts are in `read.rs`, runs asked for
//! (now, replays, backfills) in `enqueue.rs`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

use crate::contract::BackendError;

use crate::contract::job::{Job, SchedulerType, TypeRules, no_type_rules};
use crate::contract::queue::{Cancelled, Queue};
use crate::contract::schedule::backend::{EntryChange, ScheduleBackend, Transition, Transitioned};
use crate::contract::schedule::{Action, HistoryEvent, ScheduleSpec, SpecError, Status, TransitionError};
use crate::store::{ConfigFilter, ConfigStore, Intent, IntentStore, Page, StoreError, TaskConfig};

/// Why an action could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("no task config with id {0}")]
    NotFound(Uuid),
    #[error(transparent)]
    Refused(#[from] TransitionError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// An idempotency key used before with another request.
    #[error(
        "idempotency key {0:?} was used with another request for this config \
         (a key holds 24 h; send a new key for a new request)"
    )]
    KeyReused(String),
    /// A backfill that cannot be done; names the field.
    #[error("{0}")]
    Backfill(String),
}

/// An action that was carried out.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActionDone {
    pub config_id: Uuid,
    pub action: Action,
    pub schedule_status: Status,
    pub message: String,
}

/// A config's schedule as clients see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScheduleView {
    pub schedule_status: Status,
    pub is_scheduled: bool,
    /// Status and due entry agree; must always be true.
    pub status_consistent: bool,
    /// The next fire time; for a schedule paused until a time, the first
    /// one after that time.
    pub next_run: Option<DateTime<Utc>>,
    /// A pause that ends by itself at this time.
    pub paused_until: Option<DateTime<Utc>>,
    pub recent_history: Vec<HistoryEvent>,
    pub metadata: BTreeMap<String, String>,
}

/// Cheap-to-clone handle on the scheduler service.
#[derive(Clone)]
pub struct SchedulerService {
    pub(super) store: Arc<dyn ConfigStore>,
    pub(super) backend: Arc<dyn ScheduleBackend>,
    /// Where runs are cancelled; `None`: cancel answers unavailable.
    queue: Option<Arc<dyn Queue>>,
    /// Task types' limits, stamped on each run queued here.
    pub(super) type_rules: TypeRules,
    /// Where each user's decision is kept, for rebuilding lost state;
    /// `None`: not kept (a lost state comes back as the startup rule says).
    pub(super) intents: Option<Arc<dyn IntentStore>>,
}

impl SchedulerService {
    pub fn new(store: Arc<dyn ConfigStore>, backend: Arc<dyn ScheduleBackend>) -> Self {
        Self { store, backend, queue: None, type_rules: no_type_rules(), intents: None }
    }

    /// Keeps each user's decision in `intents` (see [`IntentStore`]).
    pub fn with_intents(self, intents: Arc<dyn IntentStore>) -> Self {
        Self { intents: Some(intents), ..self }
    }

    /// Records the user's decision for a schedule; a failure is logged, not
    /// answered (the action itself is done; only a rebuild would miss it).
    async fn keep_intent(&self, config_id: Uuid, intent: Intent) {
        if let Some(intents) = &self.intents
            && let Err(e) = intents.set_intent(config_id, intent).await
        {
            tracing::warn!(config = %config_id, error = %e, "cannot keep the schedule's decision in the config store");
        }
    }

    /// Cancels runs on `queue`.
    pub fn with_queue(self, queue: Arc<dyn Queue>) -> Self {
        Self { queue: Some(queue), ..self }
    }

    /// Stamps each run queued here with its task type's limit.
    pub fn with_type_rules(self, type_rules: TypeRules) -> Self {
        Self { type_rules, ..self }
    }

    pub(super) async fn config(&self, id: Uuid) -> Result<TaskConfig, ServiceError> {
        self.store.get_config(id).await?.ok_or(ServiceError::NotFound(id))
    }

    /// Carries out `action` on the config's schedule, atomically.
    pub async fn act(&self, config_id: Uuid, action: Action) -> Result<ActionDone, ServiceError> {
        self.act_until(config_id, action, None).await
    }

    /// [`SchedulerService::act`]; a pause with `until` ends by itself then
    /// (by whichever scheduler is up).
    pub async fn act_until(
        &self,
        config_id: Uuid,
        action: Action,
        until: Option<DateTime<Utc>>,
    ) -> Result<ActionDone, ServiceError> {
        let config = self.config(config_id).await?;
        let job = Job::of(&config);
        let spec = ScheduleSpec::of(&job)?;
        let now = Utc::now();
        let (allowed, to) = action.rule();
        // Reload keeps the status, so its entry depends on the current one:
        // compare-and-set on that status and try again if it moved.
        for _ in 0..3 {
            // A pause's end: set by a pause with `until`, kept by a reload,
            // cleared by every other action.
            let mut resume_at = until.filter(|_| action == Action::Pause);
            let (allowed, to, entry, message) = match action {
                Action::Start => {
                    (allowed.to_vec(), to, schedule(&job, spec.first_fire(now)), "schedule started")
                }
                Action::Resume => {
                    (allowed.to_vec(), to, schedule(&job, spec.first_fire(now)), "schedule resumed")
                }
                Action::Pause => (allowed.to_vec(), to, schedule(&job, None), "schedule paused"),
                Action::Stop => (allowed.to_vec(), to, EntryChange::Remove, "schedule stopped"),
                Action::Reload => {
                    let info = self.backend.info(config_id, 0).await?;
                    let current = info.status.unwrap_or(Status::Inactive);
                    resume_at = info.paused_until.filter(|_| current == Status::Paused);
                    let next = (current == Status::Active).then(|| spec.first_fire(now)).flatten();
                    (vec![current], None, schedule(&job, next), "schedule reloaded from the config")
                }
            };
            let message = match until {
                Some(at) => {
                    format!("{message} until {}", at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                }
                None => message.to_owned(),
            };
            let event_status = to.or(allowed.first().copied());
            let event = HistoryEvent::new(past_tense(action), message.clone(), event_status);
            let mut transition = Transition::new(config_id, allowed, to, entry, event);
            transition.resume_at = resume_at;
            match self.backend.transition(transition).await? {
                Transitioned::From(before) => {
                    let after = to.unwrap_or(before);
                    let intent = match action {
                        Action::Start | Action::Resume => Some(Intent::Active),
                        Action::Pause => Some(Intent::Paused(resume_at)),
                        Action::Stop => Some(Intent::Inactive),
                        Action::Reload => None,
                    };
                    if let Some(intent) = intent {
                        self.keep_intent(config_id, intent).await;
                    }
                    return Ok(ActionDone { config_id, action, schedule_status: after, message });
                }
                Transitioned::Refused(current) if action != Action::Reload => {
                    return Err(TransitionError { action: action.as_str(), current }.into());
                }
                Transitioned::Refused(_) => continue,
            }
        }
        let current = self.backend.info(config_id, 0).await?.status.unwrap_or(Status::Inactive);
        Err(TransitionError { action: action.as_str(), current }.into())
    }

    /// After `config` was created: its schedule starts with `auto_start`
    /// (cron and date configs); otherwise the decision not to start it is
    /// recorded (an inactive status), so reconciliation at the next start
    /// keeps it inactive rather than taking it for a config nobody decided
    /// on (one inserted by hand in SQL).
    pub async fn config_created(&self, config: &TaskConfig, auto_start: bool) -> Result<(), ServiceError> {
        if config.scheduler_type == SchedulerType::Manual {
            return Ok(());
        }
        if auto_start {
            self.act(config.id, Action::Start).await?;
            return Ok(());
        }
        let message = "created with auto_start=false; not started";
        let event = HistoryEvent::new("registered", message, Some(Status::Inactive));
        let (allowed, to, entry) = (vec![Status::Inactive], Some(Status::Inactive), EntryChange::Keep);
        self.backend.transition(Transition::new(config.id, allowed, to, entry, event)).await?;
        self.keep_intent(config.id, Intent::Inactive).await;
        Ok(())
    }

    /// After `config` was updated: a scheduled config picks up its new
    /// definition at once (an inactive one takes a fresh snapshot when it
    /// is started).
    pub async fn config_updated(&self, config: &TaskConfig) -> Result<(), ServiceError> {
        let status = self.backend.info(config.id, 0).await?.status.unwrap_or(Status::Inactive);
        if status != Status::Inactive {
            self.act(config.id, Action::Reload).await?;
        }
        Ok(())
    }

    /// Cancels the run of `execution_id`, as `by`: a run waiting in the
    /// queue is recorded as cancelled without running; a running one is
    /// stopped by the worker that holds it.
    pub async fn cancel(&self, execution_id: Uuid, by: &str) -> Result<Cancelled, ServiceError> {
        let queue = self.queue.as_ref().ok_or(BackendError::Stopped("the queue (this process has none)"))?;
        let cancelled = queue.cancel(execution_id, by).await?;
        let (run, was) = match &cancelled {
            Cancelled::Waiting(run) => (run, "queued"),
            Cancelled::Running(run) => (run, "running"),
            Cancelled::NotInFlight => return Ok(cancelled),
        };
        let event =
            HistoryEvent::new("cancelled", format!("run {execution_id} ({was}) cancelled by {by}"), None);
        self.backend.note(run.job.config_id, event).await?;
        Ok(cancelled)
    }

    /// Removes the config's schedule entirely, and its runs no worker
    /// holds (its config is being deleted).
    pub async fn forget(&self, config_id: Uuid) -> Result<(), ServiceError> {
        Ok(self.backend.forget(config_id).await?)
    }

    /// Adds a `plugin` history event to every config of each task type whose
    /// plugin changed (loaded, replaced, failed or removed): (task type,
    /// what happened, in words). Configs pinned to a version are not
    /// affected, and get none.
    pub async fn note_plugin_changes(&self, changes: &[(String, String)]) -> Result<(), ServiceError> {
        for (task_type, change) in changes {
            let filter = ConfigFilter { task_type: Some(task_type.clone()), ..Default::default() };
            let (configs, _) = self.store.list_configs(&filter, Page { limit: u32::MAX, offset: 0 }).await?;
            for config in configs.into_iter().filter(|c| c.plugin_digest.is_none()) {
                let event = HistoryEvent::new("plugin", change.clone(), None);
                self.backend.note(config.id, event).await?;
            }
        }
        Ok(())
    }

    /// Status, entry, history and metadata, merged.
    pub async fn view(&self, config: &TaskConfig, history: usize) -> Result<ScheduleView, ServiceError> {
        let info = self.backend.info(config.id, history).await?;
        let status = info.status.unwrap_or(Status::Inactive);
        let is_scheduled = info.next_run.is_some();
        let status_consistent = match (status, config.scheduler_type) {
            (Status::Active, SchedulerType::Manual) => !is_scheduled,
            (Status::Active, _) => is_scheduled,
            _ => !is_scheduled,
        };
        let next_run = shown_next_run(status, info.next_run, info.paused_until, || {
            info.job.as_ref().and_then(|job| ScheduleSpec::of(job).ok())
        });
        Ok(ScheduleView {
            schedule_status: status,
            is_scheduled,
            status_consistent,
            next_run,
            paused_until: info.paused_until,
            recent_history: info.history,
            metadata: info.metadata,
        })
    }
}

impl Job {
    /// The snapshot of `config` that schedules and runs it, with a new revision.
    pub fn of(config: &TaskConfig) -> Job {
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
            plugin_digest: config.plugin_digest.clone(),
            max_concurrency: config.max_concurrency.map(|n| n.max(1) as u32),
            type_max_concurrency: None,
            rate_limit: config.rate_limit,
            type_rate_limit: None,
            worker_group: config.worker_group.clone(),
            notify: config.notify.as_ref().map(|n| n.on),
            revision: Uuid::new_v4().as_u64_pair().0,
            workflow: config.workflow.clone().map(Box::new),
        }
    }
}

/// The next run as clients see it: the due time, or for a schedule paused
/// until a time, the first fire after that time (by `spec`).
pub(super) fn shown_next_run(
    status: Status,
    due: Option<DateTime<Utc>>,
    paused_until: Option<DateTime<Utc>>,
    spec: impl FnOnce() -> Option<ScheduleSpec>,
) -> Option<DateTime<Utc>> {
    match paused_until.filter(|_| status == Status::Paused) {
        Some(until) => spec().and_then(|s| s.first_fire(until)),
        None => due,
    }
}

fn schedule(job: &Job, next_run: Option<DateTime<Utc>>) -> EntryChange {
    EntryChange::Set { job: job.clone(), next_run }
}

fn past_tense(action: Action) -> &'static str {
    match action {
        Action::Start => "started",
        Action::Stop => "stopped",
        Action::Pause => "paused",
        Action::Resume => "resumed",
        Action::Reload => "reloaded",
    }
}
