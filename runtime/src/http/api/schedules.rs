//! `/schedules`: schedule actions (one config, or many by tag or ids), a
//! backfill of past ticks, the list of schedules with their real next run,
//! a config's history, and the summary by status.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::extract::{Body, Query};
use super::{ApiError, List};
use crate::app::{Actor, App, BulkDone, BulkTarget, page};
use crate::contract::schedule::{Action, HistoryEvent, Status};
use crate::engine::scheduler::{ActionDone, Backfilled, ScheduleItem, Summary};
use crate::http::error::ErrorBody;
use crate::http::paths::ConfigId;
use crate::http::state::AppState;
use crate::store::ConfigFilter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(summary))
        .routes(routes!(history))
        .routes(routes!(bulk))
        .routes(routes!(backfill))
        .routes(routes!(act))
}

/// The window of a backfill.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BackfillBody {
    /// The first moment of the window (RFC 3339), included.
    from: DateTime<Utc>,
    /// The end of the window (RFC 3339), excluded.
    to: DateTime<Utc>,
    /// Queue ticks that have a run already too.
    #[serde(default)]
    force: bool,
}

/// Queue one run per tick of a cron config's schedule in `[from, to)`, in
/// its time zone, oldest first (admin tokens only). Each run has its tick
/// as `scheduled_at` and trigger `backfill`, and waits for the config's
/// `max_concurrency` like any other. A tick that already has a `cron` or
/// `backfill` run is skipped unless `force`.
#[utoipa::path(post, path = "/schedules/{id}/backfill", operation_id = "backfill_schedule", tag = "schedules", params(("id" = Uuid, Path)),
    request_body = BackfillBody,
    responses((status = 202, body = Backfilled),
        (status = 403, description = "not an admin token", body = ErrorBody),
        (status = 404, description = "no such config", body = ErrorBody),
        (status = 422, description = "not a cron config, an empty window, or more than 10,000 ticks \
            (the message says how many)", body = ErrorBody)))]
async fn backfill(
    State(app): State<App>,
    Extension(actor): Extension<Actor>,
    ConfigId(id): ConfigId,
    Body(body): Body<BackfillBody>,
) -> Result<(StatusCode, Json<Backfilled>), ApiError> {
    let done = app.backfill(&actor, id, (body.from, body.to), body.force).await?;
    Ok((StatusCode::ACCEPTED, Json(done)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ActQuery {
    /// With `pause`: resume by itself at this time (RFC 3339, in the future).
    until: Option<DateTime<Utc>>,
}

/// Start, stop, pause (for good, or `?until=` a time), resume or reload a
/// config's schedule.
#[utoipa::path(post, path = "/schedules/{id}/{action}", operation_id = "schedule_action", tag = "schedules",
    params(("id" = Uuid, Path), ("action" = Action, Path), ActQuery),
    responses((status = 200, body = ActionDone),
        (status = 404, description = "no such config or action", body = ErrorBody),
        (status = 409, description = "the action does not apply; the message names the current status",
            body = ErrorBody),
        (status = 422, description = "`until` with another action than pause, or not in the future",
            body = ErrorBody)))]
async fn act(
    State(app): State<App>,
    ConfigId(id): ConfigId,
    Path(segments): Path<(String, String)>,
    Query(q): Query<ActQuery>,
) -> Result<Json<ActionDone>, ApiError> {
    let action = segments.1;
    let action = Action::parse(&action).ok_or_else(|| {
        ApiError::NotFound(format!("no schedule action {action:?}; use start, stop, pause, resume or reload"))
    })?;
    Ok(Json(app.act(id, action, q.until).await?))
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

/// Apply one schedule action to many configs (by `tag` or `ids`), each
/// atomically; answers per config what happened.
#[utoipa::path(post, path = "/schedules/actions", operation_id = "bulk_schedule_action", tag = "schedules", request_body = BulkAction,
    responses((status = 200, body = BulkDone), (status = 422, body = ErrorBody)))]
async fn bulk(State(app): State<App>, Body(b): Body<BulkAction>) -> Result<Json<BulkDone>, ApiError> {
    let target = match (b.tag, b.ids) {
        (Some(tag), None) => BulkTarget::Tag(tag),
        (None, Some(ids)) => BulkTarget::Ids(ids),
        _ => return Err(ApiError::invalid("tag", "give either tag or ids")),
    };
    Ok(Json(app.act_in_bulk(b.action, target, b.until).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<Status>,
    /// Schedules of configs carrying this tag.
    #[param(pattern = r"^[^\u0000]*$")]
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
    State(app): State<App>,
    Query(q): Query<ListQuery>,
) -> Result<Json<List<ScheduleItem>>, ApiError> {
    let page = page(q.limit, q.offset)?;
    let filter = ConfigFilter { tag: q.tag, ..Default::default() };
    Ok(Json(List::new(app.schedules(q.status, filter, page).await?, page)))
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
#[utoipa::path(get, path = "/schedules/{id}/history", operation_id = "schedule_history", tag = "schedules",
    params(("id" = Uuid, Path), HistoryQuery),
    responses((status = 200, body = Vec<HistoryEvent>), (status = 404, body = ErrorBody)))]
async fn history(
    State(app): State<App>,
    ConfigId(id): ConfigId,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Vec<HistoryEvent>>, ApiError> {
    Ok(Json(app.history(id, q.limit).await?))
}

/// Configs counted by schedule status (the seed's keys).
#[utoipa::path(get, path = "/schedules/summary", operation_id = "schedule_summary", tag = "schedules", responses((status = 200, body = Summary)))]
async fn summary(State(app): State<App>) -> Result<Json<Summary>, ApiError> {
    Ok(Json(app.summary().await?))
}
