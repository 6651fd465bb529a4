//! `/configs`: create, list, read, update, delete task configs, and run one
//! now. Validates before anything is stored; schedule changes go through
//! the scheduler service.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Query};
use super::{AppState, List, config_id, page};
use crate::schedule::ScheduleSpec;
use crate::scheduler::ScheduleView;
use crate::store::{ConfigFilter, ConfigPatch, ExecutionStats, NewConfig, SchedulerType, TaskConfig};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(read, update, remove))
        .routes(routes!(run_now))
}

const MAX_NAME: usize = 200;
const MAX_RETRIES: i32 = 100;
/// A deadline shorter than a few epoch ticks cannot be kept (nor meant).
const MIN_TIMEOUT_SECONDS: f64 = 0.01;
const MAX_TIMEOUT_SECONDS: f64 = 7.0 * 24.0 * 3600.0;
const MAX_GRACE_SECONDS: i32 = 24 * 3600;
const RECENT_HISTORY: usize = 10;
/// Tags a config may carry, and how long each may be.
const MAX_TAGS: usize = 20;
const MAX_TAG: usize = 64;
const MAX_CONCURRENCY: i32 = 10_000;
const MAX_URL: usize = 2048;
const MAX_SECRET: usize = 256;

/// A tag: 1 to 64 letters, digits or `_ - . : /`.
pub(super) fn is_valid_tag(tag: &str) -> bool {
    (1..=MAX_TAG).contains(&tag.len())
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/'))
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
    task_type: Option<String>,
    scheduler_type: Option<SchedulerType>,
    /// Case-insensitive substring of the name.
    name: Option<String>,
    /// Configs carrying this tag.
    tag: Option<String>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    #[param(maximum = 2147483647)]
    offset: Option<u32>,
}

/// A config merged with its live schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigView {
    #[serde(flatten)]
    config: TaskConfig,
    #[serde(flatten)]
    schedule: ScheduleView,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<ExecutionStats>,
}

/// Does any string (or object key) in `value` hold a NUL character?
/// PostgreSQL refuses the byte in text and JSON, and a guest should never
/// see it: one rule for both databases, refused at the door.
fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Checks a whole config as it would be stored.
fn validate(state: &AppState, c: &TaskConfig, check_run_date: bool) -> Result<(), ApiError> {
    let texts = [("name", c.name.contains('\0')), ("description", c.description.contains('\0'))];
    let json = [("parameters", has_nul(&c.parameters)), ("schedule_config", has_nul(&c.schedule_config))];
    if let Some((field, _)) = texts.iter().chain(&json).find(|(_, nul)| *nul) {
        return Err(ApiError::invalid(field, "must not contain a NUL character (\\u0000)"));
    }
    let name = c.name.trim();
    if name.is_empty() || c.name.chars().count() > MAX_NAME {
        return Err(ApiError::invalid("name", format!("must be 1 to {MAX_NAME} characters, not blank")));
    }
    // A pinned config names a version, which `validate_pin` checks.
    if c.plugin_digest.is_none() && state.registry.get(&c.task_type).is_none() {
        let known: Vec<String> = state
            .registry
            .catalog()
            .iter()
            .filter(|(_, e)| e.plugin.is_some())
            .map(|(n, _)| n.clone())
            .collect();
        return Err(ApiError::invalid(
            "task_type",
            format!("unknown task type {:?}; loaded: [{}]", c.task_type, known.join(", ")),
        ));
    }
    let spec = ScheduleSpec::parse(c.scheduler_type, &c.schedule_config)
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
    if let (true, ScheduleSpec::Date(at)) = (check_run_date, &spec)
        && *at <= Utc::now()
    {
        return Err(ApiError::invalid("schedule_config.run_date", format!("{at} is in the past")));
    }
    if c.scheduler_type == SchedulerType::Cron && spec.first_fire(Utc::now()).is_none() {
        return Err(ApiError::invalid(
            "schedule_config",
            "this schedule never fires (no such date in any year)",
        ));
    }
    if !(0..=MAX_RETRIES).contains(&c.max_retries) {
        return Err(ApiError::invalid("max_retries", format!("must be between 0 and {MAX_RETRIES}")));
    }
    if let Some(t) = c.timeout_seconds
        && !(MIN_TIMEOUT_SECONDS..=MAX_TIMEOUT_SECONDS).contains(&t)
    {
        return Err(ApiError::invalid(
            "timeout_seconds",
            format!("must be between {MIN_TIMEOUT_SECONDS} and {MAX_TIMEOUT_SECONDS}"),
        ));
    }
    if !(0..=MAX_GRACE_SECONDS).contains(&c.misfire_grace_seconds) {
        return Err(ApiError::invalid(
            "misfire_grace_seconds",
            format!("must be between 0 and {MAX_GRACE_SECONDS}"),
        ));
    }
    if let Some(gap) = spec.shortest_gap(Utc::now())
        && spec.jitter() >= gap
    {
        return Err(ApiError::invalid(
            "schedule_config.jitter_seconds",
            format!("must be shorter than the time between runs ({}s)", gap.as_secs_f64()),
        ));
    }
    if c.tags.len() > MAX_TAGS {
        return Err(ApiError::invalid("tags", format!("at most {MAX_TAGS} tags")));
    }
    if let Some(bad) = c.tags.iter().find(|t| !is_valid_tag(t)) {
        return Err(ApiError::invalid(
            "tags",
            format!("{bad:?}: a tag is 1 to {MAX_TAG} letters, digits or _ - . : /"),
        ));
    }
    if let Some(n) = c.max_concurrency
        && !(1..=MAX_CONCURRENCY).contains(&n)
    {
        return Err(ApiError::invalid("max_concurrency", format!("must be between 1 and {MAX_CONCURRENCY}")));
    }
    if let Some(notify) = &c.notify {
        let url = reqwest::Url::parse(&notify.url).ok().filter(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && notify.url.len() <= MAX_URL
        });
        if url.is_none() {
            return Err(ApiError::invalid("notify.url", "must be an http:// or https:// URL naming a host"));
        }
        if notify.secret.as_ref().is_some_and(|s| s.is_empty() || s.len() > MAX_SECRET) {
            return Err(ApiError::invalid("notify.secret", format!("must be 1 to {MAX_SECRET} bytes")));
        }
    }
    Ok(())
}

/// A pinned config's digest must name a version of its task type.
async fn validate_pin(state: &AppState, c: &TaskConfig) -> Result<(), ApiError> {
    let Some(digest) = &c.plugin_digest else { return Ok(()) };
    let invalid = |why: String| Err(ApiError::invalid("plugin_digest", why));
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return invalid("must be a sha256 digest: 64 lowercase hex digits".into());
    }
    let Some(store) = state.plugins.store() else {
        return invalid("this process keeps no plugin versions to pin".into());
    };
    if store.version(&c.task_type, digest).await?.is_none() {
        return invalid(format!(
            "no version {digest} of {:?} (see GET /plugins/{}/versions)",
            c.task_type, c.task_type
        ));
    }
    Ok(())
}

/// Tags as stored: in order of first mention, each once.
fn tidy(tags: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    tags.into_iter().filter(|t| seen.insert(t.clone())).collect()
}

async fn view(state: &AppState, config: TaskConfig, stats: bool) -> Result<ConfigView, ApiError> {
    let schedule = state.scheduler.view(&config, RECENT_HISTORY).await?;
    let stats = match stats {
        true => Some(state.store.execution_stats(Some(config.id), None).await?),
        false => None,
    };
    Ok(ConfigView { config, schedule, stats })
}

/// Create a task config (and start its schedule with `auto_start=true`).
#[utoipa::path(post, path = "/configs", tag = "configs", params(CreateQuery), request_body = NewConfig,
    responses((status = 201, body = ConfigView), (status = 409, description = "duplicate name", body = ErrorBody),
        (status = 422, description = "invalid field (named in the message)", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    Query(query): Query<CreateQuery>,
    Body(mut new): Body<NewConfig>,
) -> Result<(StatusCode, Json<ConfigView>), ApiError> {
    new.name = new.name.trim().to_owned();
    new.tags = tidy(std::mem::take(&mut new.tags));
    validate(&state, &new.preview(), true)?;
    validate_pin(&state, &new.preview()).await?;
    let config = state.store.create_config(new).await?;
    if let Err(e) = state.scheduler.config_created(&config, query.auto_start).await {
        // Refused as a whole: a config left without its decision would be
        // started by the next reconciliation whatever auto_start said.
        if let Err(undo) = state.store.delete_config(config.id).await {
            tracing::error!(config = %config.id, error = %undo, "cannot remove a config whose schedule step failed");
        }
        return Err(e.into());
    }
    Ok((StatusCode::CREATED, Json(view(&state, config, false).await?)))
}

/// List task configs with their schedules.
#[utoipa::path(get, path = "/configs", operation_id = "list_configs", tag = "configs", params(ListQuery),
    responses((status = 200, body = List<ConfigView>), (status = 422, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<List<ConfigView>>, ApiError> {
    let page = page(q.limit, q.offset)?;
    let filter = ConfigFilter {
        task_type: q.task_type,
        scheduler_type: q.scheduler_type,
        name_contains: q.name,
        tag: q.tag,
    };
    let (configs, total) = state.store.list_configs(&filter, page).await?;
    let mut items = Vec::with_capacity(configs.len());
    for config in configs {
        items.push(view(&state, config, false).await?);
    }
    Ok(Json(List::new(items, total, page)))
}

async fn fetch(state: &AppState, id: &str) -> Result<TaskConfig, ApiError> {
    let id = config_id(id)?;
    state
        .store
        .get_config(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no task config with id {id}")))
}

/// One task config merged with its live schedule.
#[utoipa::path(get, path = "/configs/{id}", operation_id = "read_config", tag = "configs", params(("id" = Uuid, Path), ReadQuery),
    responses((status = 200, body = ConfigView), (status = 404, body = ErrorBody)))]
async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ReadQuery>,
) -> Result<Json<ConfigView>, ApiError> {
    let config = fetch(&state, &id).await?;
    Ok(Json(view(&state, config, q.include_stats).await?))
}

/// Change fields of a config; a scheduled config is re-registered at once.
#[utoipa::path(patch, path = "/configs/{id}", tag = "configs", params(("id" = Uuid, Path)),
    request_body = ConfigPatch,
    responses((status = 200, body = ConfigView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(mut patch): Body<ConfigPatch>,
) -> Result<Json<ConfigView>, ApiError> {
    let current = fetch(&state, &id).await?;
    patch.name = patch.name.map(|n| n.trim().to_owned());
    patch.tags = patch.tags.map(tidy);
    let schedule_changed = patch.scheduler_type.is_some() || patch.schedule_config.is_some();
    validate(&state, &patch.apply(current.clone()), schedule_changed)?;
    validate_pin(&state, &patch.apply(current.clone())).await?;
    let updated = state
        .store
        .update_config(current.id, &patch)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no task config with id {id}")))?;
    state.scheduler.config_updated(&updated).await?;
    Ok(Json(view(&state, updated, false).await?))
}

/// Delete a config: its schedule, its queued runs (runs already started
/// finish), the config and its execution records.
#[utoipa::path(delete, path = "/configs/{id}", tag = "configs", params(("id" = Uuid, Path)),
    responses((status = 204, description = "deleted"), (status = 404, body = ErrorBody)))]
async fn remove(State(state): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let config = fetch(&state, &id).await?;
    // Unschedule first, so nothing fires for a config that is going away.
    state.scheduler.forget(config.id).await?;
    state.store.delete_config(config.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
struct Queued {
    execution_id: Uuid,
}

/// Queue a run now, whatever the scheduler type.
#[utoipa::path(post, path = "/configs/{id}/run", tag = "configs", params(("id" = Uuid, Path)),
    responses((status = 202, body = Queued), (status = 404, body = ErrorBody)))]
async fn run_now(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    let config = fetch(&state, &id).await?;
    let execution_id = state.scheduler.run_config_now(&config).await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { execution_id })))
}
