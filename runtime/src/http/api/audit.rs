//! The audit log in the API: every change an admin token made that
//! succeeded appends an event (a refused or failed request writes
//! nothing), and `GET /audit` reads them (admin only). What a change is
//! called and what it was done to come from its route alone, so no body
//! (a secret's value, a webhook's secret) ever reaches a summary.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::Method;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use crate::app::{Actor, App};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::state::AppState;
use crate::store::{AuditEvent, AuditFilter};

/// Each change the API makes: method, route (under `/api/v1`), the action
/// it is logged as and its target (`{name}`: that path parameter).
const CHANGES: &[(&str, &str, &str, &str)] = &[
    ("POST", "/configs", "config.create", "configs"),
    ("PATCH", "/configs/{id}", "config.update", "config:{id}"),
    ("DELETE", "/configs/{id}", "config.delete", "config:{id}"),
    ("POST", "/configs/{id}/run", "run.start", "config:{id}"),
    ("POST", "/schedules/{id}/backfill", "schedule.backfill", "config:{id}"),
    ("POST", "/schedules/{id}/{action}", "schedule.{action}", "config:{id}"),
    ("POST", "/schedules/actions", "schedules.bulk", "schedules"),
    ("DELETE", "/executions", "executions.cleanup", "executions"),
    ("POST", "/executions/actions", "executions.bulk", "executions"),
    ("POST", "/executions/{id}/replay", "run.replay", "execution:{id}"),
    ("POST", "/executions/{id}/cancel", "run.cancel", "execution:{id}"),
    ("POST", "/workflow-runs/{execution_id}/retry", "workflow.retry", "workflow-run:{execution_id}"),
    ("POST", "/plugins/reload", "plugins.reload", "plugins"),
    ("PUT", "/plugins/{name}", "plugin.upload", "plugin:{name}"),
    ("POST", "/plugins/{name}/rollback", "plugin.rollback", "plugin:{name}"),
    ("DELETE", "/plugins/{name}/versions/{digest}", "plugin.version_delete", "plugin:{name}@{digest}"),
    ("PUT", "/kv/{bucket}/{key}", "kv.put", "kv:{bucket}/{key}"),
    ("DELETE", "/kv/{bucket}/{key}", "kv.delete", "kv:{bucket}/{key}"),
    ("PUT", "/secrets/{name}", "secret.set", "secret:{name}"),
    ("DELETE", "/secrets/{name}", "secret.delete", "secret:{name}"),
];

/// What a change was done to, where its route does not name it (a
/// config just created): handlers put it in their response.
#[derive(Debug, Clone)]
pub struct AuditTarget(pub String);

/// The action and target of a change to `path` (as requested) by its
/// `route` (the router's pattern), if it is one.
pub fn describe(method: &Method, route: &str, path: &str) -> Option<(String, String)> {
    let route = route.strip_prefix("/api/v1").unwrap_or(route);
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    let (_, _, action, target) = CHANGES.iter().find(|(m, r, _, _)| *m == method.as_str() && *r == route)?;
    let (mut action, mut target) = (action.to_string(), target.to_string());
    for (pattern, value) in route.split('/').zip(path.split('/')) {
        if let Some(name) = pattern.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            action = action.replace(pattern, value);
            target = target.replace(&format!("{{{name}}}"), value);
        }
    }
    Some((action, target))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this actor's events (a token's name, or `admin token`).
    #[param(pattern = r"^[^\u0000]*$")]
    actor: Option<String>,
    /// Only this action (`config.update`, `secret.set`, …).
    #[param(pattern = r"^[^\u0000]*$")]
    action: Option<String>,
    /// Only events on this target (`config:<id>`, `secret:<name>`, …).
    #[param(pattern = r"^[^\u0000]*$")]
    target: Option<String>,
    /// Only events at or after this time (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// How many, newest first (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// Changes made through the API, the dashboard and the CLI, newest first
/// (admin tokens only).
#[utoipa::path(get, path = "/audit", operation_id = "audit_events", tag = "system", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEvent>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list(
    State(app): State<App>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEvent>>, ApiError> {
    let filter = AuditFilter { actor: q.actor, action: q.action, target: q.target, since: q.since };
    Ok(Json(app.audit_events(&actor, &filter, q.limit).await?))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}
