//! Runs asked for apart from the schedule's own firing: a run now (the
//! API, the dashboard, a webhook delivery) with a payload merged onto the
//! config's parameters and an idempotency key; a recorded run again
//! (replay); and the past ticks of a cron schedule (backfill). Each run is
//! queued by the backend in one atomic step with its key, so a key holds
//! fleet-wide and across restarts. Never decides who may ask (the app does).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::collections::HashSet;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{SchedulerService, ServiceError};
use crate::contract::job::payload::{fingerprint, merge_patch};
use crate::contract::job::{Job, QueuedRun, SchedulerType, Trigger};
use crate::contract::schedule::backend::{Enqueued, Once};
use crate::contract::schedule::{COUNT_CAP, HistoryEvent, ScheduleSpec};
use crate::engine::workflow;
use crate::store::{TaskConfig, WorkflowRun};

/// The most ticks one backfill queues.
pub const MAX_BACKFILL: usize = 10_000;

/// A run asked for now.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// `manual` (the API, the dashboard) or `webhook`.
    pub trigger: Trigger,
    /// Merged onto the config's parameters (RFC 7396); `None`: the
    /// config's parameters as they are.
    pub payload: Option<serde_json::Value>,
    /// Makes the request safe to repeat: an `Idempotency-Key`, or a
    /// webhook's delivery id (each trigger has its own keys).
    pub key: Option<String>,
}

impl RunRequest {
    /// A manual run with the config's parameters.
    pub fn manual() -> Self {
        Self { trigger: Trigger::Manual, payload: None, key: None }
    }
}

/// A run that was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    pub execution_id: Uuid,
    /// The key was used before by the same request: this is the run queued
    /// then, and nothing was queued now.
    pub repeated: bool,
    /// The worker group the run went to.
    pub group: String,
}

/// What a backfill did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Backfilled {
    /// Runs queued, one per tick.
    pub queued: u64,
    /// Ticks that had a run already (a `cron` or `backfill` record, or a
    /// backfill of the last 24 h): not queued again.
    pub skipped: u64,
}

impl SchedulerService {
    /// Queues one run of the config now, whatever its scheduler type.
    pub async fn run_now(&self, config_id: Uuid) -> Result<Uuid, ServiceError> {
        let config = self.config(config_id).await?;
        Ok(self.request_run(&config, RunRequest::manual()).await?.execution_id)
    }

    /// Queues a run of `config` as `request` asks, unless its key was used
    /// before (then answers that run, or [`ServiceError::KeyReused`]).
    #[tracing::instrument(name = "enqueue", skip_all, fields(config = %config.id, trigger = %request.trigger))]
    pub async fn request_run(
        &self,
        config: &TaskConfig,
        request: RunRequest,
    ) -> Result<Requested, ServiceError> {
        let mut job = Job::of(config);
        if let Some(payload) = &request.payload {
            let mut parameters = config.parameters.clone();
            merge_patch(&mut parameters, payload);
            job.parameters = parameters.to_string();
        }
        let once = request.key.as_ref().map(|key| Once {
            key: format!("{}:{key}", request.trigger),
            fingerprint: fingerprint(request.payload.as_ref()),
        });
        let what = match request.trigger {
            Trigger::Webhook => "webhook run",
            _ => "manual run",
        };
        let run = self.first_run(job, request.trigger, Utc::now());
        let (execution_id, group) = (run.execution_id, run.job.group().to_owned());
        let row = workflow::starting(&run);
        let event = HistoryEvent::new("run_requested", format!("{what} {execution_id} queued"), None);
        match self.backend.enqueue(run, Some(event), once.as_ref()).await? {
            Enqueued::New => {
                self.started(row).await?;
                Ok(Requested { execution_id, repeated: false, group })
            }
            Enqueued::Again(first) => Ok(Requested { execution_id: first, repeated: true, group }),
            Enqueued::Conflict => Err(ServiceError::KeyReused(request.key.unwrap_or_default())),
        }
    }

    /// Queues a run of `config` again as a past run of it ran: that task
    /// type at that exact plugin version (`digest`, whatever the config
    /// says now), with those parameters and that deadline.
    pub async fn replay(
        &self,
        config: &TaskConfig,
        (task_type, digest): (&str, &str),
        parameters: &serde_json::Value,
        timeout_seconds: Option<f64>,
    ) -> Result<Uuid, ServiceError> {
        let job = Job {
            task_type: task_type.to_owned(),
            parameters: parameters.to_string(),
            plugin_digest: Some(digest.to_owned()),
            timeout_seconds: timeout_seconds.or(config.timeout_seconds),
            // A step run of a workflow is replayed alone.
            workflow: None,
            ..Job::of(config)
        };
        let run = self.first_run(job, Trigger::Replay, Utc::now());
        let execution_id = run.execution_id;
        let event = HistoryEvent::new("run_requested", format!("replay {execution_id} queued"), None);
        self.backend.enqueue(run, Some(event), None).await?;
        Ok(execution_id)
    }

    /// Queues a workflow run that retries `failed` (a run of `config`):
    /// its steps and parameters as they were; the steps that succeeded
    /// there are not run again (the conductor reuses their results).
    pub async fn retry_workflow(
        &self,
        config: &TaskConfig,
        failed: &WorkflowRun,
    ) -> Result<Uuid, ServiceError> {
        let job = Job {
            task_type: String::new(),
            parameters: failed.parameters.to_string(),
            plugin_digest: None,
            workflow: Some(Box::new(failed.workflow.clone())),
            ..Job::of(config)
        };
        let mut run = self.first_run(job, Trigger::Replay, Utc::now());
        run.retry_of = Some(failed.execution_id);
        let execution_id = run.execution_id;
        let row = workflow::starting(&run);
        let message = format!("retry {execution_id} of workflow run {} queued", failed.execution_id);
        self.backend.enqueue(run, Some(HistoryEvent::new("run_requested", message, None)), None).await?;
        self.started(row).await?;
        Ok(execution_id)
    }

    /// Stores the row of a workflow run just queued, so that its id, once
    /// answered, reads at once (its conductor finds the row there; a run
    /// a schedule fired gets its row from its conductor).
    async fn started(&self, row: Option<WorkflowRun>) -> Result<(), ServiceError> {
        if let Some(row) = row {
            self.store.start_workflow_run(&row).await?;
        }
        Ok(())
    }

    /// Queues one run per tick of `config`'s cron schedule in `[from, to)`
    /// (in its time zone), oldest first, each with its tick's fire time
    /// as `scheduled_at`. Without `force`, a tick with a `cron` or
    /// `backfill` record, or backfilled in the last 24 h, is skipped.
    pub async fn backfill(
        &self,
        config: &TaskConfig,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        force: bool,
    ) -> Result<Backfilled, ServiceError> {
        if config.scheduler_type != SchedulerType::Cron {
            let kind = config.scheduler_type;
            return Err(ServiceError::Backfill(format!(
                "scheduler_type: a {kind} config has no ticks to backfill"
            )));
        }
        if from >= to {
            return Err(ServiceError::Backfill("to: must be after from".into()));
        }
        let job = Job::of(config);
        let fires = ScheduleSpec::of(&job)?.fires_in(from, to, MAX_BACKFILL).map_err(|n| {
            let n = if n >= COUNT_CAP { format!("at least {n}") } else { n.to_string() };
            ServiceError::Backfill(format!(
                "to: the window holds {n} ticks; a backfill queues at most {MAX_BACKFILL} (split the window)"
            ))
        })?;
        let ran: HashSet<i64> = match (force, fires.first(), fires.last()) {
            (false, Some(first), Some(last)) => {
                let until = *last + chrono::Duration::milliseconds(1);
                let times = self.store.tick_runs(config.id, *first, until).await?;
                times.iter().map(DateTime::timestamp_millis).collect()
            }
            _ => HashSet::new(),
        };
        let mut done = Backfilled { queued: 0, skipped: 0 };
        for fire in fires {
            if ran.contains(&fire.timestamp_millis()) {
                done.skipped += 1;
                continue;
            }
            let once = (!force).then(|| Once {
                key: format!("{}:{}", Trigger::Backfill, fire.timestamp_millis()),
                fingerprint: String::new(),
            });
            let run = self.first_run(job.clone(), Trigger::Backfill, fire);
            match self.backend.enqueue(run, None, once.as_ref()).await? {
                Enqueued::New => done.queued += 1,
                Enqueued::Again(_) | Enqueued::Conflict => done.skipped += 1,
            }
        }
        let window = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        let message = format!(
            "backfill of [{}, {}){}: {} runs queued, {} ticks skipped",
            window(from),
            window(to),
            if force { " (forced)" } else { "" },
            done.queued,
            done.skipped
        );
        self.backend.note(config.id, HistoryEvent::new("backfilled", message, None)).await?;
        Ok(done)
    }

    /// The first attempt of a new execution of `job`, stamped with its task
    /// type's rule.
    fn first_run(&self, mut job: Job, trigger: Trigger, scheduled_at: DateTime<Utc>) -> QueuedRun {
        job.stamp((self.type_rules)(&job.task_type));
        let mut run = QueuedRun::first(job, trigger, scheduled_at, false);
        run.trace = crate::support::trace::current_traceparent();
        run
    }
}
