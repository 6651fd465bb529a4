//! The conductor's loop for one workflow run: start (or take over) its
//! row, then, each time step records arrive (or every [`LOOK_EVERY`]),
//! read where it stands and queue the steps whose parents succeeded; stop
//! queueing at the first step that fails for good and end once the steps
//! in flight have finished; on a cancel, cancel the step runs in flight
//! and end once none is left. Its end becomes the workflow run's record.

use chrono::Utc;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use tokio::sync::watch;

use super::Conductor;
use super::progress::{Progress, Reading, StepStatus};
use super::read::succeeded_steps;
use crate::contract::BackendError;
use crate::contract::job::QueuedRun;
use crate::contract::queue::Cancelled;
use crate::store::{ExecutionRecord, StoreError, StoredExecution, WorkflowEnd, WorkflowRun, WorkflowStatus};
use crate::support::backoff::Backoff;

/// How often a conductor looks at its steps' records without being woken
/// (steps that ran in another process).
pub const LOOK_EVERY: Duration = Duration::from_millis(200);

/// Why a look failed (it is tried again).
#[derive(Debug, thiserror::Error)]
enum LookError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// What ends a conductor's look: the run ended (its record), or the worker
/// is stopping (the run stays on the queue for another to take over).
enum Looked {
    Ended(Box<ExecutionRecord>),
    Again,
}

impl Conductor {
    /// Conducts the workflow run `run` to its end and answers its record;
    /// `None` if `shutdown` came first (the run is left to another worker).
    pub async fn conduct(
        &self,
        run: &QueuedRun,
        worker: &str,
        mut cancel: watch::Receiver<Option<String>>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Option<ExecutionRecord> {
        let fresh = starting(run)?;
        let mut state =
            Conducting { wf: fresh, reused: BTreeMap::new(), enqueued: HashSet::new(), cancelling: None };
        let mut backoff = Backoff::default();
        let mut started = false;
        loop {
            let wake = self.progressed.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            if state.cancelling.is_none() {
                state.cancelling = cancel.borrow().clone();
            }
            let looked = match started {
                false => match self.start(&mut state).await {
                    // Look at once.
                    Ok(()) => {
                        started = true;
                        continue;
                    }
                    Err(e) => Err(e),
                },
                true => self.look(run, worker, &mut state).await,
            };
            let pause = match looked {
                Ok(Looked::Ended(record)) => return Some(*record),
                Ok(Looked::Again) => {
                    backoff.reset();
                    LOOK_EVERY
                }
                Err(e) => {
                    let wait = backoff.next_delay();
                    tracing::warn!(error = %e, workflow_run = %run.execution_id, retry_in = ?wait, "cannot read a workflow run");
                    wait
                }
            };
            tokio::select! {
                _ = wake => {}
                _ = tokio::time::sleep(pause) => {}
                _ = cancel.changed() => {}
                _ = shutdown.changed() => return None,
            }
        }
    }

    /// Stores the run's row (or reads the one a conductor before stored)
    /// and the steps it reuses.
    async fn start(&self, state: &mut Conducting) -> Result<(), LookError> {
        state.wf = self.store.start_workflow_run(&state.wf).await?;
        if let Some(old) = state.wf.retry_of {
            state.reused = succeeded_steps(&*self.store, old).await?;
        }
        Ok(())
    }

    /// One look: read the records, queue what is ready, or end.
    async fn look(&self, run: &QueuedRun, worker: &str, state: &mut Conducting) -> Result<Looked, LookError> {
        if state.wf.status != WorkflowStatus::Running {
            return Ok(Looked::Ended(Box::new(self.record_of(run, worker, &state.wf))));
        }
        let records = self.store.step_records(run.execution_id).await?;
        let reading = Reading { run: &state.wf, reused: &state.reused };
        let progress = Progress::of(&reading, records);
        if let Some(by) = state.cancelling.clone() {
            let mut left = 0;
            for of in progress.in_flight(&state.wf) {
                match self.queue.cancel(of.execution_id(), &by).await {
                    Ok(Cancelled::NotInFlight) => {}
                    Ok(_) => left += 1,
                    Err(e) => return Err(e.into()),
                }
            }
            if left > 0 {
                return Ok(Looked::Again);
            }
            let end = WorkflowEnd {
                status: WorkflowStatus::Cancelled,
                completed_at: Utc::now(),
                result: None,
                error_message: Some(format!("cancelled by {by}")),
            };
            return self.end(run, worker, state, end).await;
        }
        if let Some(broken) = progress.broken() {
            if progress.in_flight(&state.wf).next().is_some() {
                return Ok(Looked::Again);
            }
            let (status, error) = match broken.status {
                StepStatus::Cancelled => {
                    (WorkflowStatus::Cancelled, format!("step {:?} was cancelled", broken.name))
                }
                _ => {
                    let why = broken.error.as_deref().unwrap_or("failed");
                    (WorkflowStatus::Failed, format!("step {:?} failed: {why}", broken.name))
                }
            };
            let end =
                WorkflowEnd { status, completed_at: Utc::now(), result: None, error_message: Some(error) };
            return self.end(run, worker, state, end).await;
        }
        if progress.succeeded() {
            let end = WorkflowEnd {
                status: WorkflowStatus::Succeeded,
                completed_at: Utc::now(),
                result: progress.result(&state.wf.workflow),
                error_message: None,
            };
            return self.end(run, worker, state, end).await;
        }
        // Write the steps down as queued before queueing their runs, so a
        // conductor taking over knows to queue them (again: harmless).
        let ready: Vec<String> = progress.ready(&state.wf).iter().map(|s| s.name.clone()).collect();
        if !ready.is_empty() {
            let mut queued = state.wf.queued.clone();
            queued.extend(ready);
            self.store.set_queued_steps(run.execution_id, &queued).await?;
            state.wf.queued = queued;
        }
        let results: BTreeMap<String, serde_json::Value> =
            progress.steps.iter().filter_map(|s| Some((s.name.clone(), s.result.clone()?))).collect();
        for step in &progress.steps {
            let queued = state.wf.queued.contains(&step.name);
            if !queued || step.pending.is_empty() || state.enqueued.contains(&step.name) {
                continue;
            }
            self.queue_step(run, step, &state.wf.parameters, &results).await?;
            state.enqueued.insert(step.name.clone());
        }
        Ok(Looked::Again)
    }

    /// Ends the run (unless a conductor before ended it) and answers its record.
    async fn end(
        &self,
        run: &QueuedRun,
        worker: &str,
        state: &mut Conducting,
        end: WorkflowEnd,
    ) -> Result<Looked, LookError> {
        self.store.end_workflow_run(run.execution_id, &end).await?;
        if let Some(stored) = self.store.workflow_run(run.execution_id).await? {
            state.wf = stored;
        }
        Ok(Looked::Ended(Box::new(self.record_of(run, worker, &state.wf))))
    }

    /// The workflow run's own record: one per run, counted once.
    fn record_of(&self, run: &QueuedRun, worker: &str, wf: &WorkflowRun) -> ExecutionRecord {
        let completed_at = wf.completed_at.unwrap_or_else(Utc::now);
        let cancelled_by = match wf.status {
            WorkflowStatus::Cancelled => state_cancelled_by(wf),
            _ => None,
        };
        ExecutionRecord {
            config_id: Some(run.job.config_id),
            execution_id: run.execution_id,
            attempt: run.attempt as i32,
            trigger: run.trigger,
            task_type: run.job.task_type.clone(),
            scheduled_at: run.scheduled_at,
            started_at: wf.started_at,
            completed_at,
            duration_seconds: (completed_at - wf.started_at).num_microseconds().unwrap_or(0).max(0) as f64
                / 1e6,
            is_success: wf.status == WorkflowStatus::Succeeded,
            result: wf.result.clone(),
            error_message: wf.error_message.clone(),
            logs: String::new(),
            plugin_digest: None,
            worker: worker.to_owned(),
            parameters: Some(wf.parameters.clone()),
            timeout_seconds: None,
            cancelled_by,
            workflow_execution_id: Some(run.execution_id),
            step: None,
            step_index: None,
        }
    }
}

/// The row of the workflow run `run` conducts, as it starts (`None` for
/// a run that is not a workflow run's). The config's deadline and retries
/// are each step's default: they are set in the run's copy of the steps,
/// which is what the run is read by.
pub fn starting(run: &QueuedRun) -> Option<WorkflowRun> {
    let mut workflow = *run.job.workflow.clone().filter(|_| run.step.is_none())?;
    for step in &mut workflow.steps {
        step.max_retries = step.max_retries.or(Some(run.job.max_retries));
        step.timeout_seconds = step.timeout_seconds.or(run.job.timeout_seconds);
    }
    Some(WorkflowRun {
        execution_id: run.execution_id,
        config_id: Some(run.job.config_id),
        workflow,
        parameters: serde_json::from_str(&run.job.parameters).unwrap_or_else(|_| serde_json::json!({})),
        status: WorkflowStatus::Running,
        queued: Vec::new(),
        retry_of: run.retry_of,
        started_at: Utc::now(),
        completed_at: None,
        result: None,
        error_message: None,
    })
}

/// Who cancelled a cancelled run, as its error says.
fn state_cancelled_by(wf: &WorkflowRun) -> Option<String> {
    let error = wf.error_message.as_deref()?;
    Some(error.strip_prefix("cancelled by ").unwrap_or(error).to_owned())
}

/// What one conductor knows of its run between looks.
struct Conducting {
    wf: WorkflowRun,
    /// The steps reused from the run this one retries, with their records.
    reused: BTreeMap<String, Vec<StoredExecution>>,
    /// The steps whose runs this conductor queued (after taking over, it
    /// queues each queued step's pending runs once more).
    enqueued: HashSet<String>,
    /// Who cancelled the run, once someone did.
    cancelling: Option<String>,
}
