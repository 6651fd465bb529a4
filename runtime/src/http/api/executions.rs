//! `/executions`: execution records, newest first, with filters, the recent
//! and failed views, statistics, cleanup, and replay of one record.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::{Presented, who};
use super::error::{ApiError, ErrorBody};
use super::extract::Query;
use super::{AppState, List, page};
use crate::queue::Cancelled;
use crate::store::{ExecutionFilter, ExecutionStats, NotificationDelivery, Page, StoredExecution};

/// The longest look-back of `/recent` and `/failed`: a year.
const MAX_HOURS: i64 = 8760;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, cleanup))
        .routes(routes!(recent))
        .routes(routes!(failed))
        .routes(routes!(stats))
        .routes(routes!(read))
        .routes(routes!(replay))
        .routes(routes!(cancel))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    config_id: Option<Uuid>,
    is_success: Option<bool>,
    since: Option<DateTime<Utc>>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    #[param(maximum = 2147483647)]
    offset: Option<u32>,
}

async fn page_of(
    state: &AppState,
    filter: ExecutionFilter,
    page: Page,
) -> Result<Json<List<StoredExecution>>, ApiError> {
    let (items, total) = state.store.list_executions(&filter, page).await?;
    Ok(Json(List::new(items, total, page)))
}

/// Execution records, newest first.
#[utoipa::path(get, path = "/executions", operation_id = "list_executions", tag = "executions", params(ListQuery),
    responses((status = 200, body = List<StoredExecution>), (status = 422, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<List<StoredExecution>>, ApiError> {
    let filter = ExecutionFilter { config_id: q.config_id, is_success: q.is_success, since: q.since };
    page_of(&state, filter, page(q.limit, q.offset)?).await
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

/// The start of the window of the last `hours` (default 24; 1 to 8760).
fn hours_ago(hours: Option<i64>) -> Result<DateTime<Utc>, ApiError> {
    let hours = hours.unwrap_or(24);
    if !(1..=MAX_HOURS).contains(&hours) {
        return Err(ApiError::invalid("hours", format!("must be between 1 and {MAX_HOURS}")));
    }
    Ok(Utc::now() - Duration::hours(hours))
}

/// Records of the last `hours` (default 24).
#[utoipa::path(get, path = "/executions/recent", tag = "executions", params(RecentQuery),
    responses((status = 200, body = List<StoredExecution>), (status = 422, body = ErrorBody)))]
async fn recent(
    State(state): State<AppState>,
    Query(q): Query<RecentQuery>,
) -> Result<Json<List<StoredExecution>>, ApiError> {
    let since = hours_ago(q.hours)?;
    page_of(&state, ExecutionFilter { since: Some(since), ..Default::default() }, page(q.limit, q.offset)?)
        .await
}

/// Failed records of the last `hours` (default 24).
#[utoipa::path(get, path = "/executions/failed", tag = "executions", params(RecentQuery),
    responses((status = 200, body = List<StoredExecution>), (status = 422, body = ErrorBody)))]
async fn failed(
    State(state): State<AppState>,
    Query(q): Query<RecentQuery>,
) -> Result<Json<List<StoredExecution>>, ApiError> {
    let since = hours_ago(q.hours)?;
    let filter = ExecutionFilter { since: Some(since), is_success: Some(false), ..Default::default() };
    page_of(&state, filter, page(q.limit, q.offset)?).await
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct StatsQuery {
    config_id: Option<Uuid>,
    since: Option<DateTime<Utc>>,
}

/// Counts, success rate and durations, for one config or all.
#[utoipa::path(get, path = "/executions/stats", tag = "executions", params(StatsQuery),
    responses((status = 200, body = ExecutionStats), (status = 422, body = ErrorBody)))]
async fn stats(
    State(state): State<AppState>,
    Query(q): Query<StatsQuery>,
) -> Result<Json<ExecutionStats>, ApiError> {
    Ok(Json(state.store.execution_stats(q.config_id, q.since).await?))
}

/// An execution record, with the notifications of its outcome.
#[derive(Serialize, ToSchema)]
struct ExecutionView {
    #[serde(flatten)]
    execution: StoredExecution,
    /// Each notification sent of this outcome (status, attempts).
    notifications: Vec<NotificationDelivery>,
}

/// One execution record, with its notifications.
#[utoipa::path(get, path = "/executions/{id}", operation_id = "read_execution", tag = "executions", params(("id" = i64, Path)),
    responses((status = 200, body = ExecutionView), (status = 404, body = ErrorBody)))]
async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ExecutionView>, ApiError> {
    let missing = || ApiError::NotFound(format!("no execution with id {id:?}"));
    let numeric: i64 = id.parse().map_err(|_| missing())?;
    let execution = state.store.get_execution(numeric).await?.ok_or_else(missing)?;
    let notifications = match &state.deliveries {
        Some(d) => d.deliveries(execution.record.execution_id, execution.record.attempt).await?,
        None => Vec::new(),
    };
    Ok(Json(ExecutionView { execution, notifications }))
}

/// What a cancel did.
#[derive(Serialize, ToSchema)]
struct CancelDone {
    execution_id: Uuid,
    /// `queued`: it had not started and never will (its record says
    /// cancelled); `running`: the worker holding it stops it (within 500 ms).
    was: &'static str,
    message: String,
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
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(presented): Extension<Presented>,
) -> Result<(StatusCode, Json<CancelDone>), ApiError> {
    let missing = || ApiError::NotFound(format!("no run with execution_id {id:?}"));
    let execution_id: Uuid = id.parse().map_err(|_| missing())?;
    let by = who(&state, presented).await?;
    let (was, message) = match state.scheduler.cancel(execution_id, &by).await? {
        Cancelled::Waiting(_) => ("queued", "removed from the queue; recorded as cancelled".to_owned()),
        Cancelled::Running(run) => {
            // Its record committed, only its acknowledgement pending: done.
            if state.store.find_attempt(execution_id, run.attempt as i32).await?.is_some() {
                return Err(ApiError::Conflict(format!(
                    "run {execution_id} has finished; nothing to cancel"
                )));
            }
            ("running", "the worker holding it is stopping it".to_owned())
        }
        Cancelled::NotInFlight => {
            return Err(match state.store.find_attempt(execution_id, 1).await? {
                Some(_) => ApiError::Conflict(format!("run {execution_id} has finished; nothing to cancel")),
                None => missing(),
            });
        }
    };
    Ok((StatusCode::ACCEPTED, Json(CancelDone { execution_id, was, message })))
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
    params(("id" = i64, Path)),
    responses((status = 202, body = Replayed), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn replay(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Replayed>), ApiError> {
    let missing = || ApiError::NotFound(format!("no execution with id {id:?}"));
    let numeric: i64 = id.parse().map_err(|_| missing())?;
    let record = state.store.get_execution(numeric).await?.ok_or_else(missing)?.record;
    let refuse = |why: &str| Err(ApiError::Conflict(format!("execution {id} cannot be replayed: {why}")));
    let Some(digest) = &record.plugin_digest else {
        return refuse("it never reached a plugin (no digest was recorded)");
    };
    let Some(parameters) = &record.parameters else {
        return refuse("it was recorded before records kept their parameters");
    };
    let config = match record.config_id {
        Some(config_id) => state.store.get_config(config_id).await?,
        None => None,
    };
    let Some(config) = config else {
        return refuse("its config was deleted (taskbox replay runs it locally)");
    };
    let kept = match state.plugins.store() {
        Some(store) => store.version(&record.task_type, digest).await?.is_some(),
        None => false,
    };
    if !kept {
        return refuse(&format!("version {digest} of {:?} is no longer kept", record.task_type));
    }
    let execution_id = state.scheduler.replay(&config, parameters, digest, record.timeout_seconds).await?;
    Ok((StatusCode::ACCEPTED, Json(Replayed { execution_id })))
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
#[utoipa::path(delete, path = "/executions", tag = "executions", params(CleanupQuery),
    responses((status = 200, body = Deleted), (status = 422, body = ErrorBody)))]
async fn cleanup(
    State(state): State<AppState>,
    Query(q): Query<CleanupQuery>,
) -> Result<Json<Deleted>, ApiError> {
    if !(1..=36_500).contains(&q.older_than_days) {
        return Err(ApiError::invalid("older_than_days", "must be between 1 and 36500"));
    }
    let deleted =
        state.store.delete_executions_before(Utc::now() - Duration::days(q.older_than_days)).await?;
    Ok(Json(Deleted { deleted }))
}
