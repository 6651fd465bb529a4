//! Workflow runs, written once for both databases: the row of each run of
//! a workflow config (its definition and parameters as it started, its
//! status, its result) and the reading of its step runs' records. Every
//! [`Dialect`] is a [`WorkflowStore`]; reads run here, each write through
//! the dialect's own [`Dialect::execute`].
//!
//! Owns the SQL of `workflow_runs`; never decides what runs next (the
//! conductor, `engine::workflow`, does).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Database, Executor, IntoArguments, QueryBuilder};
use utoipa::ToSchema;
use uuid::Uuid;

use super::dialect::Dialect;
use super::sql::{Decoded, Param, RECORD_COLUMNS};
use super::*;
use crate::support::text_enum::text_enum;

/// Where a workflow run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

text_enum!(WorkflowStatus {
    Running = "running",
    Succeeded = "succeeded",
    Failed = "failed",
    Cancelled = "cancelled",
});

/// One run of a workflow config, as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WorkflowRun {
    pub execution_id: Uuid,
    pub config_id: Option<Uuid>,
    /// The steps as they were when the run started.
    #[sqlx(json)]
    pub workflow: Workflow,
    /// The run's parameters (the config's, with any payload merged).
    pub parameters: serde_json::Value,
    #[sqlx(try_from = "String")]
    pub status: WorkflowStatus,
    /// The steps queued so far, in order.
    #[sqlx(json)]
    pub queued: Vec<String>,
    /// The failed run this one retries (its succeeded steps are reused).
    pub retry_of: Option<Uuid>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub result: Option<serde_json::Value>,
    pub error_message: Option<String>,
}

const COLUMNS: &str = "execution_id, config_id, workflow, parameters, status, queued, retry_of, \
     started_at, completed_at, result, error_message";

/// The end of a workflow run.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowEnd {
    pub status: WorkflowStatus,
    pub completed_at: DateTime<Utc>,
    pub result: Option<serde_json::Value>,
    pub error_message: Option<String>,
}

#[async_trait]
pub trait WorkflowStore: Send + Sync + 'static {
    /// Stores `run` unless a run with its id is stored; answers the stored one.
    async fn start_workflow_run(&self, run: &WorkflowRun) -> Result<WorkflowRun, StoreError>;
    async fn workflow_run(&self, execution_id: Uuid) -> Result<Option<WorkflowRun>, StoreError>;
    /// Records which steps were queued (the conductor's alone to write).
    async fn set_queued_steps(&self, execution_id: Uuid, steps: &[String]) -> Result<(), StoreError>;
    /// Ends a running workflow run; false if it had ended already.
    async fn end_workflow_run(&self, execution_id: Uuid, end: &WorkflowEnd) -> Result<bool, StoreError>;
    /// Every record of the step runs of a workflow run, by step, element
    /// and attempt.
    async fn step_records(&self, workflow_execution_id: Uuid) -> Result<Vec<StoredExecution>, StoreError>;
}

#[async_trait]
impl<D> WorkflowStore for D
where
    D: Dialect,
    Uuid: Param<D::DB>,
    Option<Uuid>: Param<D::DB>,
    String: Param<D::DB>,
    Option<String>: Param<D::DB>,
    DateTime<Utc>: Param<D::DB>,
    Option<DateTime<Utc>>: Param<D::DB>,
    serde_json::Value: Param<D::DB>,
    Option<serde_json::Value>: Param<D::DB>,
    WorkflowRun: Decoded<<D::DB as Database>::Row>,
    StoredExecution: Decoded<<D::DB as Database>::Row>,
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    <D::DB as Database>::Arguments: IntoArguments<D::DB>,
{
    async fn start_workflow_run(&self, run: &WorkflowRun) -> Result<WorkflowRun, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new(format!("INSERT INTO workflow_runs ({COLUMNS}) SELECT "));
        let mut values = q.separated(", ");
        values.push_bind(run.execution_id);
        // NULL for a config deleted meanwhile (as records do).
        values.push("(SELECT id FROM task_configs WHERE id = ");
        values.push_bind_unseparated(run.config_id).push_unseparated(")");
        values.push_bind(serde_json::to_value(&run.workflow).expect("a workflow serialises"));
        values.push_bind(run.parameters.clone()).push_bind(run.status.to_string());
        values.push_bind(serde_json::json!(run.queued)).push_bind(run.retry_of);
        values.push_bind(run.started_at).push_bind(None::<DateTime<Utc>>);
        values.push_bind(None::<serde_json::Value>).push_bind(None::<String>);
        q.push(" ON CONFLICT (execution_id) DO NOTHING");
        self.execute(q).await?;
        self.workflow_run(run.execution_id).await?.ok_or_else(|| {
            StoreError::Corrupt(format!("workflow run {} vanished as it was stored", run.execution_id))
        })
    }

    async fn workflow_run(&self, execution_id: Uuid) -> Result<Option<WorkflowRun>, StoreError> {
        let mut q =
            QueryBuilder::<D::DB>::new(format!("SELECT {COLUMNS} FROM workflow_runs WHERE execution_id = "));
        q.push_bind(execution_id);
        Ok(q.build_query_as().fetch_optional(self.pool()).await?)
    }

    async fn set_queued_steps(&self, execution_id: Uuid, steps: &[String]) -> Result<(), StoreError> {
        let mut q = QueryBuilder::<D::DB>::new("UPDATE workflow_runs SET queued = ");
        q.push_bind(serde_json::json!(steps)).push(" WHERE execution_id = ").push_bind(execution_id);
        self.execute(q).await.map(|_| ())
    }

    async fn end_workflow_run(&self, execution_id: Uuid, end: &WorkflowEnd) -> Result<bool, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new("UPDATE workflow_runs SET status = ");
        q.push_bind(end.status.to_string());
        q.push(", completed_at = ").push_bind(end.completed_at);
        q.push(", result = ").push_bind(end.result.clone());
        q.push(", error_message = ").push_bind(end.error_message.clone());
        q.push(" WHERE status = 'running' AND execution_id = ").push_bind(execution_id);
        Ok(self.execute(q).await? > 0)
    }

    async fn step_records(&self, workflow_execution_id: Uuid) -> Result<Vec<StoredExecution>, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new(format!("SELECT id, {RECORD_COLUMNS} FROM task_executions"));
        q.push(" WHERE step IS NOT NULL AND workflow_execution_id = ").push_bind(workflow_execution_id);
        q.push(" ORDER BY step, step_index, attempt");
        Ok(q.build_query_as().fetch_all(self.pool()).await?)
    }
}
