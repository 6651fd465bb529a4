//! `/system`: health (no auth), status, the enums clients need, and a
//! dashboard.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use crate::schedule::{Action, Status};
use crate::store::{ExecutionFilter, Page};

/// Routes that need no token.
pub fn public_router() -> Router<AppState> {
    Router::new().route("/system/health", get(health))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/system/status", get(status))
        .route("/system/enums", get(enums))
        .route("/system/dashboard", get(dashboard))
}

/// Counts by status, the last 24 hours' success rate, recent failures and
/// the next runs, in one answer.
async fn dashboard(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let backend = state.scheduler.backend();
    let by_status = backend.summary().await?;
    let day_ago = Utc::now() - Duration::hours(24);
    let last_day = state.store.execution_stats(None, Some(day_ago)).await?;
    let failures = ExecutionFilter { is_success: Some(false), since: Some(day_ago), ..Default::default() };
    let (recent_failures, _) = state.store.list_executions(&failures, Page { limit: 10, offset: 0 }).await?;
    let mut next: Vec<(Uuid, DateTime<Utc>)> = backend.due_times().await?.into_iter().collect();
    next.sort_by_key(|(_, at)| *at);
    next.truncate(10);
    let next_runs: Vec<Value> =
        next.into_iter().map(|(id, at)| json!({"config_id": id, "next_run": at})).collect();
    Ok(Json(json!({
        "schedules": by_status.iter().map(|(s, n)| (s.as_str(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
        "last_24h": last_day,
        "recent_failures": recent_failures,
        "next_runs": next_runs,
        "queue_depth": state.queue.depth().await?,
    })))
}

async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = state.store.ping().await.is_ok();
    let backend = state.scheduler.backend().summary().await.is_ok();
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

async fn status(State(state): State<AppState>) -> Json<Value> {
    let catalog = state.registry.catalog();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "backend": "redis",
        "roles": state.roles,
        "uptime_seconds": state.started_at.elapsed().as_secs_f64(),
        "plugins": catalog.values().filter(|e| e.plugin.is_some()).map(|e| &e.info.name).collect::<Vec<_>>(),
        "plugins_failed": catalog.values().filter(|e| e.plugin.is_none()).map(|e| &e.info.name).collect::<Vec<_>>(),
    }))
}

async fn enums(State(state): State<AppState>) -> Json<Value> {
    let task_types: Vec<String> =
        state.registry.catalog().iter().filter(|(_, e)| e.plugin.is_some()).map(|(n, _)| n.clone()).collect();
    Json(json!({
        "scheduler_types": ["cron", "date", "manual"],
        "schedule_actions": Action::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "schedule_statuses": Status::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "concurrency": ["allow", "forbid"],
        "triggers": ["cron", "date", "manual", "retry"],
        "task_types": task_types,
    }))
}
