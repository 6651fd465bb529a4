//! `/executions`: execution records, newest first, with filters, the recent
//! and failed views, statistics, and cleanup.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::ApiError;
use super::extract::Query;
use super::{AppState, List, page};
use crate::store::{ExecutionFilter, ExecutionStats, Page, StoredExecution};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/executions", get(list).delete(cleanup))
        .route("/executions/recent", get(recent))
        .route("/executions/failed", get(failed))
        .route("/executions/stats", get(stats))
        .route("/executions/{id}", get(read))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    config_id: Option<Uuid>,
    is_success: Option<bool>,
    since: Option<DateTime<Utc>>,
    limit: Option<u32>,
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

async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<List<StoredExecution>>, ApiError> {
    let filter = ExecutionFilter { config_id: q.config_id, is_success: q.is_success, since: q.since };
    page_of(&state, filter, page(q.limit, q.offset)?).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecentQuery {
    /// Look back this many hours (default 24).
    hours: Option<i64>,
    limit: Option<u32>,
    offset: Option<u32>,
}

async fn recent(
    State(state): State<AppState>,
    Query(q): Query<RecentQuery>,
) -> Result<Json<List<StoredExecution>>, ApiError> {
    let since = Utc::now() - Duration::hours(q.hours.unwrap_or(24).clamp(1, 24 * 365));
    page_of(&state, ExecutionFilter { since: Some(since), ..Default::default() }, page(q.limit, q.offset)?)
        .await
}

async fn failed(
    State(state): State<AppState>,
    Query(q): Query<RecentQuery>,
) -> Result<Json<List<StoredExecution>>, ApiError> {
    let since = Utc::now() - Duration::hours(q.hours.unwrap_or(24).clamp(1, 24 * 365));
    let filter = ExecutionFilter { since: Some(since), is_success: Some(false), ..Default::default() };
    page_of(&state, filter, page(q.limit, q.offset)?).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsQuery {
    config_id: Option<Uuid>,
    since: Option<DateTime<Utc>>,
}

async fn stats(
    State(state): State<AppState>,
    Query(q): Query<StatsQuery>,
) -> Result<Json<ExecutionStats>, ApiError> {
    Ok(Json(state.store.execution_stats(q.config_id, q.since).await?))
}

async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<StoredExecution>, ApiError> {
    let missing = || ApiError::NotFound(format!("no execution with id {id:?}"));
    let numeric: i64 = id.parse().map_err(|_| missing())?;
    state.store.get_execution(numeric).await?.map(Json).ok_or_else(missing)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CleanupQuery {
    older_than_days: i64,
}

#[derive(Serialize)]
struct Deleted {
    deleted: u64,
}

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
