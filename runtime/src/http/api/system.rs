//! `/system`: health (no auth), status, the enums clients need, and a
//! dashboard.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::schedule::{Action, Status};
use crate::store::{ExecutionFilter, Page};

/// Routes that need no token.
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status)).routes(routes!(enums)).routes(routes!(dashboard))
}

/// Counts by status, the last 24 hours' success rate, recent failures and
/// the next runs, in one answer.
#[utoipa::path(get, path = "/system/dashboard", tag = "system",
    responses((status = 200, body = Object)))]
async fn dashboard(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let day_ago = Utc::now() - Duration::hours(24);
    let failures = ExecutionFilter { is_success: Some(false), since: Some(day_ago), ..Default::default() };
    // Five independent reads, asked at once: the answer costs the slowest.
    let (by_status, last_day, (recent_failures, _), next, queue_depth) = tokio::try_join!(
        async { Ok::<_, ApiError>(state.scheduler.counts().await?) },
        async { Ok(state.store.execution_stats(None, Some(day_ago)).await?) },
        async { Ok(state.store.list_executions(&failures, Page { limit: 10, offset: 0 }).await?) },
        async { Ok(state.scheduler.next_runs(10).await?) },
        async { Ok(state.queue.depth().await?) },
    )?;
    let next: Vec<(Uuid, DateTime<Utc>)> = next;
    let next_runs: Vec<Value> =
        next.into_iter().map(|(id, at)| json!({"config_id": id, "next_run": at})).collect();
    Ok(Json(json!({
        "schedules": by_status.iter().map(|(s, n)| (s.as_str(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
        "last_24h": last_day,
        "recent_failures": recent_failures,
        "next_runs": next_runs,
        "queue_depth": queue_depth,
    })))
}

/// Whether the database, the schedule backend and the registry answer (no token needed).
#[utoipa::path(get, path = "/system/health", tag = "system", security(()),
    responses((status = 200, body = Object), (status = 503, description = "a part is unreachable", body = Object)))]
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    // Health answers at once: a part that does not answer within the
    // bound counts as unreachable, and both are asked together.
    let bound = std::time::Duration::from_millis(500);
    let (database, backend) = tokio::join!(
        tokio::time::timeout(bound, state.store.ping()),
        tokio::time::timeout(bound, state.scheduler.ping())
    );
    let (database, backend) = (matches!(database, Ok(Ok(()))), matches!(backend, Ok(Ok(()))));
    let plugins = state.registry.catalog().values().filter(|e| e.plugin.is_some()).count();
    let healthy = database && backend;
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let word = |ok| if ok { "ok" } else { "unreachable" };
    (
        status,
        Json(json!({
            "status": if healthy { "ok" } else { "degraded" },
            "database": word(database),
            "schedule_backend": word(backend),
            "plugins_loaded": plugins,
        })),
    )
}

/// Version, backend, roles, uptime and plugins of this process, and the
/// workers whose heartbeat is current (in any process).
#[utoipa::path(get, path = "/system/status", tag = "system",
    responses((status = 200, body = Object), (status = 503, body = ErrorBody)))]
async fn status(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let catalog = state.registry.catalog();
    let workers = state.queue.live_workers().await?;
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "backend": state.backend_kind,
        "roles": state.roles,
        "uptime_seconds": state.started_at.elapsed().as_secs_f64(),
        "plugins": catalog.values().filter(|e| e.plugin.is_some()).map(|e| &e.info.name).collect::<Vec<_>>(),
        "plugins_failed": catalog.values().filter(|e| e.plugin.is_none()).map(|e| &e.info.name).collect::<Vec<_>>(),
        "workers": workers,
    })))
}

/// The values clients need: scheduler types, actions, statuses, task types.
#[utoipa::path(get, path = "/system/enums", tag = "system", responses((status = 200, body = Object)))]
async fn enums(State(state): State<AppState>) -> Json<Value> {
    let task_types: Vec<String> =
        state.registry.catalog().iter().filter(|(_, e)| e.plugin.is_some()).map(|(n, _)| n.clone()).collect();
    Json(json!({
        "scheduler_types": ["cron", "date", "manual"],
        "schedule_actions": Action::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "schedule_statuses": Status::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "concurrency": ["allow", "forbid", "buffer_one", "replace"],
        "triggers": ["cron", "date", "manual", "retry", "replay"],
        "notify_on": ["failure", "recovery", "always"],
        "task_types": task_types,
    }))
}
