//! `/schedules`: schedule actions, the list of schedules with their real
//! next run, a config's history, and the summary by status.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::{ApiError, ErrorBody};
use super::extract::Query;
use super::{AppState, List, config_id, page};
use crate::schedule::{Action, HistoryEvent, Status};
use crate::scheduler::ActionDone;
use crate::store::{ConfigFilter, SchedulerType};

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
    limit: Option<u32>,
    offset: Option<u32>,
}

#[derive(Serialize, ToSchema)]
struct ScheduleItem {
    config_id: Uuid,
    name: String,
    task_type: String,
    scheduler_type: SchedulerType,
    schedule_config: serde_json::Value,
    schedule_status: Status,
    is_scheduled: bool,
    next_run: Option<DateTime<Utc>>,
}

/// Every config's schedule with its real next run.
#[utoipa::path(get, path = "/schedules", tag = "schedules", params(ListQuery),
    responses((status = 200, body = List<ScheduleItem>), (status = 422, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<List<ScheduleItem>>, ApiError> {
    let page = page(q.limit, q.offset)?;
    let backend = state.scheduler.backend();
    let statuses = backend.statuses().await?;
    let due = backend.due_times().await?;
    let items: Vec<ScheduleItem> = state
        .store
        .list_configs(&ConfigFilter::default(), crate::store::Page { limit: u32::MAX, offset: 0 })
        .await?
        .0
        .into_iter()
        .map(|c| {
            let status = statuses.get(&c.id).copied().unwrap_or(Status::Inactive);
            let next_run = due.get(&c.id).copied();
            ScheduleItem {
                config_id: c.id,
                name: c.name,
                task_type: c.task_type,
                scheduler_type: c.scheduler_type,
                schedule_config: c.schedule_config,
                schedule_status: status,
                is_scheduled: next_run.is_some(),
                next_run,
            }
        })
        .filter(|item| q.status.is_none_or(|s| s == item.schedule_status))
        .collect();
    let total = items.len() as u64;
    let items = items.into_iter().skip(page.offset as usize).take(page.limit as usize).collect();
    Ok(Json(List::new(items, total, page)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    /// At most 100 (the default), newest first.
    limit: Option<usize>,
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
    let id = config_id(&id)?;
    if state.store.get_config(id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no task config with id {id}")));
    }
    let limit = q.limit.unwrap_or(100).min(100);
    Ok(Json(state.scheduler.backend().history(id, limit).await?))
}

#[derive(Serialize, ToSchema)]
struct Summary {
    total_tasks: u64,
    active_tasks: u64,
    paused_tasks: u64,
    inactive_tasks: u64,
    error_tasks: u64,
    last_updated: DateTime<Utc>,
}

/// Configs counted by schedule status (the seed's keys).
#[utoipa::path(get, path = "/schedules/summary", tag = "schedules", responses((status = 200, body = Summary)))]
async fn summary(State(state): State<AppState>) -> Result<Json<Summary>, ApiError> {
    let by_status: BTreeMap<Status, u64> = state.scheduler.backend().summary().await?;
    let total = state
        .store
        .list_configs(&ConfigFilter::default(), crate::store::Page { limit: 0, offset: 0 })
        .await?
        .1;
    let count = |s| by_status.get(&s).copied().unwrap_or(0);
    let (active, paused, error) = (count(Status::Active), count(Status::Paused), count(Status::Error));
    Ok(Json(Summary {
        total_tasks: total,
        active_tasks: active,
        paused_tasks: paused,
        inactive_tasks: total.saturating_sub(active + paused + error),
        error_tasks: error,
        last_updated: Utc::now(),
    }))
}
