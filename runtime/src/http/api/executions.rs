//! `/executions`: execution records, newest first, with filters, the recent
//! and failed views, statistics, cleanup, and replay of one record.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::{Body, Query};
use super::{ApiError, List};
use crate::app::{
    Actor, App, CancelDone, ExecutionView, RunsAction, RunsDone, RunsSelector, hours_ago, page,
};
use crate::http::error::ErrorBody;
use crate::http::paths::{ExecutionId, RecordId};
use crate::http::state::AppState;
use crate::store::{ExecutionFilter, ExecutionStats, Page, StoredExecution};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, cleanup))
        .routes(routes!(recent))
        .routes(routes!(failed))
        .routes(routes!(stats))
        .routes(routes!(read))
        .routes(routes!(replay))
        .routes(routes!(cancel))
        .routes(routes!(act_on_runs))
}

/// A bulk action on runs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RunsActionBody {
    action: RunsAction,
    /// Which runs (absent: all).
    #[serde(default)]
    filter: RunsSelector,
}

/// Replay every recorded run a filter matches (its latest attempt, at its
/// exact plugin version and parameters), or cancel every matching run in
/// flight; admin tokens only; at most 10,000 runs (more: a 422 naming how
/// many matched, and nothing is done). Answers per run and in totals.
#[utoipa::path(post, path = "/executions/actions", operation_id = "bulk_runs_action", tag = "executions",
    request_body = RunsActionBody,
    responses((status = 200, body = RunsDone), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn act_on_runs(
    State(app): State<App>,
    Extension(actor): Extension<Actor>,
    Body(b): Body<RunsActionBody>,
) -> Result<Json<RunsDone>, ApiError> {
    Ok(Json(app.act_on_runs(&actor, b.action, b.filter).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    config_id: Option<Uuid>,
    is_success: Option<bool>,
    since: Option<DateTime<Utc>>,
    /// The step runs of this workflow run (without it: runs, each workflow
    /// run by its own record).
    workflow_execution_id: Option<Uuid>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    #[param(maximum = 2147483647)]
    offset: Option<u32>,
}

async fn page_of(
    app: &App,
    filter: ExecutionFilter,
    page: Page,
) -> Result<Json<List<StoredExecution>>, ApiError> {
    Ok(Json(List::new(app.executions(&filter, page).await?, page)))
}

/// Execution records, newest first.
#[utoipa::path(get, path = "/executions", operation_id = "list_executions", tag = "executions", params(ListQuery),
    responses((status = 200, body = List<StoredExecution>), (status = 422, body = ErrorBody)))]
async fn list(
    State(app): State<App>,
    Query(q): Query<ListQuery>,
) -> Result<Json<List<StoredExecution>>, ApiError> {
    let filter = ExecutionFilter {
        config_id: q.config_id,
        is_success: q.is_success,
        since: q.since,
        workflow_execution_id: q.workflow_execution_id,
    };
    page_of(&app, filter, page(q.limit, q.offset)?).await
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RecentQuery {
    /// Look back this many hours (default 24).
    #[param(minimum = 1, maximum = 8760)]
    hours: Option<i64>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    #[param(maximum = 2147483647)]
    offset: Option<u32>,
}

/// Records of the last `hours` (default 24).
#[utoipa::path(get, path = "/executions/recent", operation_id = "recent_executions", tag = "executions", params(RecentQuery),
    responses((status = 200, body = List<StoredExecution>), (status = 422, body = ErrorBody)))]
async fn recent(
    State(app): State<App>,
    Query(q): Query<RecentQuery>,
) -> Result<Json<List<StoredExecution>>, ApiError> {
    let since = hours_ago(q.hours)?;
    page_of(&app, ExecutionFilter { since: Some(since), ..Default::default() }, page(q.limit, q.offset)?)
        .await
}

/// Failed records of the last `hours` (default 24).
#[utoipa::path(get, path = "/executions/failed", operation_id = "failed_executions", tag = "executions", params(RecentQuery),
    responses((status = 200, body = List<StoredExecution>), (status = 422, body = ErrorBody)))]
async fn failed(
    State(app): State<App>,
    Query(q): Query<RecentQuery>,
) -> Result<Json<List<StoredExecution>>, ApiError> {
    let since = hours_ago(q.hours)?;
    let filter = ExecutionFilter { since: Some(since), is_success: Some(false), ..Default::default() };
    page_of(&app, filter, page(q.limit, q.offset)?).await
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct StatsQuery {
    config_id: Option<Uuid>,
    since: Option<DateTime<Utc>>,
}

/// Counts, success rate and durations, for one config or all.
#[utoipa::path(get, path = "/executions/stats", operation_id = "execution_stats", tag = "executions", params(StatsQuery),
    responses((status = 200, body = ExecutionStats), (status = 422, body = ErrorBody)))]
async fn stats(
    State(app): State<App>,
    Query(q): Query<StatsQuery>,
) -> Result<Json<ExecutionStats>, ApiError> {
    Ok(Json(app.execution_stats(q.config_id, q.since).await?))
}

/// One execution record, with its notifications.
#[utoipa::path(get, path = "/executions/{id}", operation_id = "read_execution", tag = "executions",
    params(("id" = String, Path, description = "the record's id, or a run's execution_id (its latest attempt)")),
    responses((status = 200, body = ExecutionView), (status = 404, body = ErrorBody)))]
async fn read(State(app): State<App>, RecordId(id): RecordId) -> Result<Json<ExecutionView>, ApiError> {
    Ok(Json(app.execution(id).await?))
}

/// Cancel a run by its `execution_id` (the UUID `POST /configs/{id}/run`
/// answers): a queued run is removed and recorded as cancelled; a running
/// one is stopped by the worker that holds it, on whichever node, and
/// recorded with `is_success = false`, error "cancelled" and who cancelled
/// it. No retry follows. 409 when it has finished.
#[utoipa::path(post, path = "/executions/{id}/cancel", operation_id = "cancel_execution", tag = "executions",
    params(("id" = Uuid, Path, description = "the run's execution_id")),
    responses((status = 202, body = CancelDone), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel(
    State(app): State<App>,
    ExecutionId(execution_id): ExecutionId,
    Extension(actor): Extension<Actor>,
) -> Result<(StatusCode, Json<CancelDone>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(app.cancel(execution_id, &actor).await?)))
}

#[derive(Serialize, ToSchema)]
struct Replayed {
    execution_id: Uuid,
}

/// Run a recorded execution again: a new run of the same config with the
/// exact plugin version, parameters and deadline the record names,
/// recorded with trigger `replay`. 409 when the record cannot be replayed
/// (its config or version is gone, or it never reached a plugin).
#[utoipa::path(post, path = "/executions/{id}/replay", operation_id = "replay_execution", tag = "executions",
    params(("id" = String, Path, description = "the record's id, or a run's execution_id (its latest attempt)")),
    responses((status = 202, body = Replayed), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn replay(
    State(app): State<App>,
    RecordId(id): RecordId,
) -> Result<(StatusCode, Json<Replayed>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(Replayed { execution_id: app.replay(id).await? })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct CleanupQuery {
    /// 1 to 36500.
    #[param(minimum = 1, maximum = 36500)]
    older_than_days: i64,
}

#[derive(Serialize, ToSchema)]
struct Deleted {
    deleted: u64,
}

/// Delete records that started more than `older_than_days` ago.
#[utoipa::path(delete, path = "/executions", operation_id = "delete_executions", tag = "executions", params(CleanupQuery),
    responses((status = 200, body = Deleted), (status = 422, body = ErrorBody)))]
async fn cleanup(State(app): State<App>, Query(q): Query<CleanupQuery>) -> Result<Json<Deleted>, ApiError> {
    Ok(Json(Deleted { deleted: app.delete_executions_older_than(q.older_than_days).await? }))
}
