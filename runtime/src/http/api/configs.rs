//! `/configs`: create, list, read, update, delete task configs, and run one
//! now (with a payload and an idempotency key).

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::audit::AuditTarget;
use super::extract::{Body, MaybeBody, Query};
use super::{ApiError, List};
use crate::app::{App, ConfigView, MAX_KEY, RunInput, page};
use crate::engine::scheduler::Requested;
use crate::http::error::ErrorBody;
use crate::http::paths::ConfigId;
use crate::http::state::AppState;
use crate::store::{ConfigFilter, ConfigPatch, NewConfig, SchedulerType};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(read, update, remove))
        .routes(routes!(run_now))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct CreateQuery {
    /// Start the schedule at once (cron and date configs).
    #[serde(default)]
    auto_start: bool,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ReadQuery {
    /// Add execution statistics (`stats`).
    #[serde(default)]
    include_stats: bool,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[param(pattern = r"^[^\u0000]*$")]
    task_type: Option<String>,
    scheduler_type: Option<SchedulerType>,
    /// Case-insensitive substring of the name.
    #[param(pattern = r"^[^\u0000]*$")]
    name: Option<String>,
    /// Configs carrying this tag.
    #[param(pattern = r"^[^\u0000]*$")]
    tag: Option<String>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    #[param(maximum = 2147483647)]
    offset: Option<u32>,
}

/// Create a task config (and start its schedule with `auto_start=true`).
#[utoipa::path(post, path = "/configs", operation_id = "create_config", tag = "configs", params(CreateQuery), request_body = NewConfig,
    responses((status = 201, body = ConfigView), (status = 409, description = "duplicate name", body = ErrorBody),
        (status = 422, description = "invalid field (named in the message)", body = ErrorBody)))]
async fn create(
    State(app): State<App>,
    Query(query): Query<CreateQuery>,
    Body(new): Body<NewConfig>,
) -> Result<Response, ApiError> {
    let view = app.create_config(new, query.auto_start).await?;
    let target = AuditTarget(format!("config:{}", view.config.id));
    Ok((StatusCode::CREATED, Extension(target), Json(view)).into_response())
}

/// List task configs with their schedules.
#[utoipa::path(get, path = "/configs", operation_id = "list_configs", tag = "configs", params(ListQuery),
    responses((status = 200, body = List<ConfigView>), (status = 422, body = ErrorBody)))]
async fn list(
    State(app): State<App>,
    Query(q): Query<ListQuery>,
) -> Result<Json<List<ConfigView>>, ApiError> {
    let page = page(q.limit, q.offset)?;
    let filter = ConfigFilter {
        task_type: q.task_type,
        scheduler_type: q.scheduler_type,
        name_contains: q.name,
        tag: q.tag,
    };
    Ok(Json(List::new(app.list_configs(filter, page).await?, page)))
}

/// One task config merged with its live schedule.
#[utoipa::path(get, path = "/configs/{id}", operation_id = "read_config", tag = "configs", params(("id" = Uuid, Path), ReadQuery),
    responses((status = 200, body = ConfigView), (status = 404, body = ErrorBody)))]
async fn read(
    State(app): State<App>,
    ConfigId(id): ConfigId,
    Query(q): Query<ReadQuery>,
) -> Result<Json<ConfigView>, ApiError> {
    Ok(Json(app.config_view(id, q.include_stats).await?))
}

/// Change fields of a config; a scheduled config is re-registered at once.
#[utoipa::path(patch, path = "/configs/{id}", operation_id = "update_config", tag = "configs", params(("id" = Uuid, Path)),
    request_body = ConfigPatch,
    responses((status = 200, body = ConfigView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
    State(app): State<App>,
    ConfigId(id): ConfigId,
    Body(patch): Body<ConfigPatch>,
) -> Result<Json<ConfigView>, ApiError> {
    Ok(Json(app.update_config(id, patch).await?))
}

/// Delete a config: its schedule, its queued runs (runs already started
/// finish), the config and its execution records.
#[utoipa::path(delete, path = "/configs/{id}", operation_id = "delete_config", tag = "configs", params(("id" = Uuid, Path)),
    responses((status = 204, description = "deleted"), (status = 404, body = ErrorBody)))]
async fn remove(State(app): State<App>, ConfigId(id): ConfigId) -> Result<StatusCode, ApiError> {
    app.delete_config(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A run's input (the body may be left out: the config's parameters as
/// they are).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// Merged onto the config's `parameters` as an RFC 7396 JSON merge
    /// patch: an object merges key by key, `null` inside it removes a key,
    /// anything else replaces them. The config itself is unchanged.
    pub parameters: Option<serde_json::Value>,
}

/// A queued run.
#[derive(Serialize, ToSchema)]
pub struct Queued {
    pub execution_id: Uuid,
    /// Why it may not start soon, when it can be told now: "waiting for a
    /// worker in group gpu" (no live worker serves its group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
}

/// `Idempotency-Key` (or a webhook's delivery id), as text.
pub fn header_text(headers: &HeaderMap, name: &str) -> Result<Option<String>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(|v| Some(v.to_owned())).map_err(|_| {
            ApiError::invalid(name, format!("must be 1 to {MAX_KEY} printable ASCII characters"))
        }),
    }
}

/// The answer to a run asked for: 202, and `Idempotent-Replayed: true`
/// when its key had queued it before.
pub async fn accepted(app: &App, requested: Requested) -> Result<Response, ApiError> {
    // Queued all the same: a failed look at the workers says nothing.
    let waiting = app.group_wait(&requested.group).await.ok().flatten();
    let queued = Queued { execution_id: requested.execution_id, waiting };
    let mut response = (StatusCode::ACCEPTED, Json(queued)).into_response();
    if requested.repeated {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Queue a run now, whatever the scheduler type, optionally with a payload
/// merged onto the config's parameters. With an `Idempotency-Key`, the
/// same request again within 24 h answers the same run and queues nothing.
#[utoipa::path(post, path = "/configs/{id}/run", operation_id = "run_config", tag = "configs",
    params(("id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters: \
            the same key with the same body within 24 h answers the first run (and \
            `Idempotent-Replayed: true`); with another body, a 409")),
    request_body(content = Option<RunBody>, description = "optional: without a body the run takes the config's parameters"),
    responses((status = 202, body = Queued, description = "queued (or queued before, with this key)",
            headers(("Idempotent-Replayed" = String, description = "`true` when the key had queued this run before"))),
        (status = 404, description = "no such config", body = ErrorBody),
        (status = 409, description = "the idempotency key was used with another body", body = ErrorBody)))]
async fn run_now(
    State(app): State<App>,
    ConfigId(id): ConfigId,
    headers: HeaderMap,
    MaybeBody(body): MaybeBody<RunBody>,
) -> Result<Response, ApiError> {
    let key = header_text(&headers, "Idempotency-Key")?;
    let payload = body.and_then(|b| b.parameters);
    let requested = app.run(id, RunInput { payload, key }).await?;
    accepted(&app, requested).await
}
