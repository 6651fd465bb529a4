//! `/system`: health (no auth), status, the enums clients need, and an
//! overview.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use crate::app::App;
use crate::http::error::ErrorBody;
use crate::http::state::AppState;

/// Routes that need no token.
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status)).routes(routes!(enums)).routes(routes!(dashboard))
}

/// Counts by status, the last 24 hours' success rate, recent failures and
/// the next runs, in one answer.
#[utoipa::path(get, path = "/system/dashboard", operation_id = "system_dashboard", tag = "system",
    responses((status = 200, body = Object)))]
async fn dashboard(State(app): State<App>) -> Result<Json<Value>, ApiError> {
    let o = app.overview().await?;
    let next_runs: Vec<Value> =
        o.next_runs.into_iter().map(|(id, at)| json!({"config_id": id, "next_run": at})).collect();
    Ok(Json(json!({
        "schedules": o.by_status.iter().map(|(s, n)| (s.as_str(), *n)).collect::<BTreeMap<_, _>>(),
        "last_24h": o.last_day,
        "recent_failures": o.recent_failures,
        "next_runs": next_runs,
        "queue_depth": o.queue_depth,
    })))
}

/// Whether the database, the schedule backend and the registry answer (no token needed).
#[utoipa::path(get, path = "/system/health", operation_id = "system_health", tag = "system", security(()),
    responses((status = 200, body = Object), (status = 503, description = "a part is unreachable", body = Object)))]
async fn health(State(app): State<App>) -> (StatusCode, Json<Value>) {
    let health = app.health().await;
    let status = if health.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!(health)))
}

/// Version, backend, roles, uptime and plugins of this process, and the
/// workers whose heartbeat is current (in any process).
#[utoipa::path(get, path = "/system/status", operation_id = "system_status", tag = "system",
    responses((status = 200, body = Object), (status = 503, body = ErrorBody)))]
async fn status(State(app): State<App>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(app.status().await?)))
}

/// The values clients need: scheduler types, actions, statuses, task types.
#[utoipa::path(get, path = "/system/enums", operation_id = "system_enums", tag = "system", responses((status = 200, body = Object)))]
async fn enums(State(app): State<App>) -> Json<Value> {
    Json(app.enums())
}
