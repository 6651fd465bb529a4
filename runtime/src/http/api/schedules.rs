//! `/schedules`: schedule actions (one config, or many by tag or ids), the
//! list of schedules with their real next run, a config's history, and the
//! summary by status.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Query};
use super::{AppState, List, config_id, page};
use crate::schedule::{Action, HistoryEvent, Status};
use crate::scheduler::{ActionDone, ScheduleItem, Summary};
use crate::store::{ConfigFilter, Page};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(summary))
        .routes(routes!(history))
        .routes(routes!(bulk))
        .routes(routes!(act))
}

/// Configs one bulk action may name or match, at most.
const MAX_BULK: usize = 10_000;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ActQuery {
    /// With `pause`: resume by itself at this time (RFC 3339, in the future).
    until: Option<DateTime<Utc>>,
}

/// Start, stop, pause (for good, or `?until=` a time), resume or reload a
/// config's schedule.
#[utoipa::path(post, path = "/schedules/{id}/{action}", tag = "schedules",
    params(("id" = Uuid, Path), ("action" = Action, Path), ActQuery),
    responses((status = 200, body = ActionDone),
        (status = 404, description = "no such config or action", body = ErrorBody),
        (status = 409, description = "the action does not apply; the message names the current status",
            body = ErrorBody),
        (status = 422, description = "`until` with another action than pause, or not in the future",
            body = ErrorBody)))]
async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    Query(q): Query<ActQuery>,
) -> Result<Json<ActionDone>, ApiError> {
    let action = action_named(&action).ok_or_else(|| {
        ApiError::NotFound(format!("no schedule action {action:?}; use start, stop, pause, resume or reload"))
    })?;
    let id = config_id(&id)?;
    if let Some(until) = q.until {
        if action != Action::Pause {
            return Err(ApiError::invalid("until", "only a pause takes an end time"));
        }
        if until <= Utc::now() {
            return Err(ApiError::invalid("until", format!("{until} is not in the future")));
        }
    }
    Ok(Json(state.scheduler.act_until(id, action, q.until).await?))
}

fn action_named(name: &str) -> Option<Action> {
    Action::ALL.into_iter().find(|a| a.as_str() == name)
}

/// One action for many configs: those carrying `tag`, or those of `ids`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BulkAction {
    action: Action,
    /// Every config carrying this tag (give this or `ids`).
    tag: Option<String>,
    /// These configs (give this or `tag`); at most 10,000.
    #[schema(max_items = 10000)]
    ids: Option<Vec<Uuid>>,
    /// With `pause`: resume by itself at this time.
    until: Option<DateTime<Utc>>,
}

/// What happened to one config of a bulk action.
#[derive(Debug, Serialize, ToSchema)]
struct BulkResult {
    config_id: Uuid,
    /// Whether the action was carried out.
    ok: bool,
    /// The status after (or, when refused, as it is).
    schedule_status: Option<Status>,
    message: String,
}

#[derive(Debug, Serialize, ToSchema)]
struct BulkDone {
    action: Action,
    /// Configs the action was carried out on, and those it was not.
    done: usize,
    refused: usize,
    results: Vec<BulkResult>,
}

/// Apply one schedule action to many configs (by `tag` or `ids`), each
/// atomically; answers per config what happened.
#[utoipa::path(post, path = "/schedules/actions", tag = "schedules", request_body = BulkAction,
    responses((status = 200, body = BulkDone), (status = 422, body = ErrorBody)))]
async fn bulk(State(state): State<AppState>, Body(b): Body<BulkAction>) -> Result<Json<BulkDone>, ApiError> {
    if let Some(until) = b.until {
        if b.action != Action::Pause {
            return Err(ApiError::invalid("until", "only a pause takes an end time"));
        }
        if until <= Utc::now() {
            return Err(ApiError::invalid("until", format!("{until} is not in the future")));
        }
    }
    let ids = match (b.tag, b.ids) {
        (Some(tag), None) => {
            if !super::configs::is_valid_tag(&tag) {
                return Err(ApiError::invalid("tag", "a tag is 1 to 64 letters, digits or _ - . : /"));
            }
            let filter = ConfigFilter { tag: Some(tag), ..Default::default() };
            let page = Page { limit: MAX_BULK as u32 + 1, offset: 0 };
            let (configs, _) = state.store.list_configs(&filter, page).await?;
            if configs.len() > MAX_BULK {
                return Err(ApiError::invalid("tag", format!("matches more than {MAX_BULK} configs")));
            }
            configs.into_iter().map(|c| c.id).collect()
        }
        (None, Some(ids)) if ids.len() <= MAX_BULK => ids,
        (None, Some(_)) => return Err(ApiError::invalid("ids", format!("at most {MAX_BULK}"))),
        _ => return Err(ApiError::invalid("tag", "give either tag or ids")),
    };
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        let result = match state.scheduler.act_until(id, b.action, b.until).await {
            Ok(done) => BulkResult {
                config_id: id,
                ok: true,
                schedule_status: Some(done.schedule_status),
                message: done.message,
            },
            Err(crate::scheduler::ServiceError::Refused(e)) => BulkResult {
                config_id: id,
                ok: false,
                schedule_status: Some(e.current),
                message: e.to_string(),
            },
            Err(
                e @ (crate::scheduler::ServiceError::NotFound(_) | crate::scheduler::ServiceError::Spec(_)),
            ) => BulkResult { config_id: id, ok: false, schedule_status: None, message: e.to_string() },
            Err(e) => return Err(e.into()),
        };
        results.push(result);
    }
    let done = results.iter().filter(|r| r.ok).count();
    Ok(Json(BulkDone { action: b.action, done, refused: results.len() - done, results }))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<Status>,
    /// Schedules of configs carrying this tag.
    tag: Option<String>,
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
    let filter = ConfigFilter { tag: q.tag, ..Default::default() };
    let (items, total) = state.scheduler.list_schedules(q.status, filter, page).await?;
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
