//! `/schedules`: schedule actions, the list of schedules with their real
//! next run, a config's history, and the summary by status.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::Query;
use super::{AppState, List, config_id, page};
use crate::schedule::{Action, HistoryEvent, Status};
use crate::scheduler::{ActionDone, ScheduleItem, Summary};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(summary))
        .routes(routes!(history))
        .routes(routes!(act))
}

/// Start, stop, pause, resume or reload a config's schedule.
#[utoipa::path(post, path = "/schedules/{id}/{action}", tag = "schedules",
    params(("id" = Uuid, Path), ("action" = Action, Path)),
    responses((status = 200, body = ActionDone),
        (status = 404, description = "no such config or action", body = ErrorBody),
        (status = 409, description = "the action does not apply; the message names the current status",
            body = ErrorBody)))]
async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<ActionDone>, ApiError> {
    let Some(action) = Action::ALL.into_iter().find(|a| a.as_str() == action) else {
        return Err(ApiError::NotFound(format!(
            "no schedule action {action:?}; use start, stop, pause, resume or reload"
        )));
    };
    Ok(Json(state.scheduler.act(config_id(&id)?, action).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<Status>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    #[param(maximum = 2147483647)]
    offset: Option<u32>,
}

/// Every config's schedule with its real next run, by config name.
#[utoipa::path(get, path = "/schedules", operation_id = "list_schedules", tag = "schedules", params(ListQuery),
    responses((status = 200, body = List<ScheduleItem>), (status = 422, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<List<ScheduleItem>>, ApiError> {
    let page = page(q.limit, q.offset)?;
    let (items, total) = state.scheduler.list_schedules(q.status, page).await?;
    Ok(Json(List::new(items, total, page)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    /// 1 to 100 (the default), newest first.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// A config's schedule history, newest first.
#[utoipa::path(get, path = "/schedules/{id}/history", tag = "schedules",
    params(("id" = Uuid, Path), HistoryQuery),
    responses((status = 200, body = Vec<HistoryEvent>), (status = 404, body = ErrorBody)))]
async fn history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Vec<HistoryEvent>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 100"));
    }
    Ok(Json(state.scheduler.history(config_id(&id)?, limit as usize).await?))
}

/// Configs counted by schedule status (the seed's keys).
#[utoipa::path(get, path = "/schedules/summary", tag = "schedules", responses((status = 200, body = Summary)))]
async fn summary(State(state): State<AppState>) -> Result<Json<Summary>, ApiError> {
    Ok(Json(state.scheduler.summary().await?))
}
