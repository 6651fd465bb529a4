//! `/workflow-runs`: one run of a workflow config with its steps, and a
//! retry of a failed one from the steps that did not succeed.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ApiError;
use crate::app::{App, WorkflowRunView};
use crate::http::error::ErrorBody;
use crate::http::paths::ExecutionId;
use crate::http::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read)).routes(routes!(retry))
}

/// A workflow run: its status, each step's status and runs, and its result.
#[utoipa::path(get, path = "/workflow-runs/{execution_id}", operation_id = "read_workflow_run", tag = "workflows",
    params(("execution_id" = Uuid, Path, description = "the workflow run's execution_id")),
    responses((status = 200, body = WorkflowRunView), (status = 404, body = ErrorBody)))]
async fn read(
    State(app): State<App>,
    ExecutionId(execution_id): ExecutionId,
) -> Result<Json<WorkflowRunView>, ApiError> {
    Ok(Json(app.workflow_run(execution_id).await?))
}

#[derive(Serialize, ToSchema)]
struct Retried {
    /// The new workflow run.
    execution_id: Uuid,
}

/// Run a failed (or cancelled) workflow run again from the steps that did
/// not succeed: a new workflow run with the same steps and parameters,
/// which reuses the results of the steps that succeeded. 409 when the run
/// has not failed or its config was deleted.
#[utoipa::path(post, path = "/workflow-runs/{execution_id}/retry", operation_id = "retry_workflow_run", tag = "workflows",
    params(("execution_id" = Uuid, Path, description = "the failed workflow run's execution_id")),
    responses((status = 202, body = Retried), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn retry(
    State(app): State<App>,
    ExecutionId(execution_id): ExecutionId,
) -> Result<(StatusCode, Json<Retried>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(Retried { execution_id: app.retry_workflow(execution_id).await? })))
}
