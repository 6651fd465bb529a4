//! Workflow runs as users see them: a run with each step's status and
//! runs (a queued step whose run a worker holds shows as running), and a
//! retry of a failed or cancelled run from the steps that did not succeed.
//! The conductor (`engine::workflow`) moves them; this only reads and asks.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{App, AppError};
use crate::engine::workflow::progress::{StepStatus, pending_ids};
use crate::engine::workflow::read;
use crate::store::{StoredExecution, WorkflowRun, WorkflowStatus};

/// One run of a workflow config.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkflowRunView {
    pub execution_id: Uuid,
    pub config_id: Option<Uuid>,
    pub status: WorkflowStatus,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// In definition order.
    pub steps: Vec<StepView>,
    /// The last step's result, or each last step's by name when there are
    /// several (once the run succeeded).
    pub result: Option<serde_json::Value>,
    /// Why it failed or who cancelled it.
    pub error_message: Option<String>,
    /// The failed run this one retries.
    pub retry_of: Option<Uuid>,
}

/// One step of a workflow run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StepView {
    pub name: String,
    pub task_type: String,
    pub parents: Vec<String>,
    pub for_each: bool,
    pub status: StepStatus,
    /// Its runs' records (every attempt), by element and attempt; those of
    /// the run it retries when `reused`.
    pub runs: Vec<StoredExecution>,
    /// Why it failed.
    pub error: Option<String>,
    /// It succeeded in the run this one retries and did not run again.
    pub reused: bool,
}

impl App {
    pub async fn workflow_run(&self, id: Uuid) -> Result<WorkflowRunView, AppError> {
        let Some((wf, progress)) = read(self.store(), id).await? else {
            return Err(AppError::NotFound(format!("no workflow run with execution_id {id}")));
        };
        // A queued step whose run a worker holds is running.
        let pending = pending_ids(&progress);
        let held = match pending.is_empty() || wf.status != WorkflowStatus::Running {
            true => Vec::new(),
            false => self.inner.queue.held(&pending).await.unwrap_or_default(),
        };
        let running: std::collections::HashSet<Uuid> =
            pending.iter().zip(&held).filter(|(_, h)| **h).map(|(id, _)| *id).collect();
        let steps = progress
            .steps
            .into_iter()
            .map(|s| {
                let def = wf.workflow.step(&s.name);
                let runs_now = s.pending.iter().any(|of| running.contains(&of.execution_id()));
                StepView {
                    task_type: def.map(|d| d.task_type.clone()).unwrap_or_default(),
                    parents: def.map(|d| d.parents.clone()).unwrap_or_default(),
                    for_each: def.is_some_and(|d| d.for_each),
                    status: match (s.status, runs_now) {
                        (StepStatus::Queued, true) => StepStatus::Running,
                        (status, _) => status,
                    },
                    runs: s.records,
                    error: s.error,
                    reused: s.reused,
                    name: s.name,
                }
            })
            .collect();
        Ok(WorkflowRunView {
            execution_id: wf.execution_id,
            config_id: wf.config_id,
            status: wf.status,
            started_at: wf.started_at,
            completed_at: wf.completed_at,
            steps,
            result: wf.result,
            error_message: wf.error_message,
            retry_of: wf.retry_of,
        })
    }

    /// Queues a run that retries the failed (or cancelled) workflow run
    /// `id`: the steps that succeeded there are reused, the rest run.
    pub async fn retry_workflow(&self, id: Uuid) -> Result<Uuid, AppError> {
        let wf: WorkflowRun = self
            .store()
            .workflow_run(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no workflow run with execution_id {id}")))?;
        if !matches!(wf.status, WorkflowStatus::Failed | WorkflowStatus::Cancelled) {
            return Err(AppError::Conflict(format!(
                "workflow run {id} is {}: only a failed or cancelled run is retried",
                wf.status
            )));
        }
        let config = match wf.config_id {
            Some(config_id) => self.store().get_config(config_id).await?,
            None => None,
        };
        let Some(config) = config else {
            return Err(AppError::Conflict(format!(
                "workflow run {id} cannot be retried: its config was deleted"
            )));
        };
        Ok(self.scheduler().retry_workflow(&config, &wf).await?)
    }
}
