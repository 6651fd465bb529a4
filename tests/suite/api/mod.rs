//! The HTTP API, black box: taskbox in-process (`Application::build`) on a
//! random port with its fire loop and worker, on both deployments
//! (PostgreSQL + Redis, SQLite + local); `taskbox serve` processes where a
//! test needs one; and outages of Redis and PostgreSQL.

mod audit;
mod auth;
mod backfill;
mod clients;
mod configs;
mod input;
mod metrics;
mod outages;
mod system;
mod webhooks;

/// Every route behind the token, as the router declares it (the config's
/// DELETE last, so the others still find it in the auth matrix).
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/configs"),
    ("POST", "/configs"),
    ("GET", "/configs/{id}"),
    ("PATCH", "/configs/{id}"),
    ("POST", "/configs/{id}/run"),
    ("GET", "/schedules"),
    ("GET", "/schedules/summary"),
    ("GET", "/schedules/{id}/history"),
    ("POST", "/schedules/{id}/backfill"),
    ("POST", "/schedules/{id}/{action}"),
    ("GET", "/executions"),
    ("GET", "/executions/recent"),
    ("GET", "/executions/failed"),
    ("GET", "/executions/stats"),
    ("GET", "/executions/{id}"),
    ("DELETE", "/executions"),
    ("GET", "/plugins"),
    ("GET", "/plugins/{name}"),
    ("POST", "/plugins/reload"),
    ("PUT", "/plugins/{name}"),
    ("GET", "/plugins/{name}/versions"),
    ("GET", "/plugins/{name}/versions/{digest}"),
    ("DELETE", "/plugins/{name}/versions/{digest}"),
    ("GET", "/plugins/{name}/versions/{digest}/component"),
    ("POST", "/plugins/{name}/rollback"),
    ("POST", "/executions/{id}/replay"),
    ("POST", "/executions/{id}/cancel"),
    ("POST", "/schedules/actions"),
    ("POST", "/executions/actions"),
    ("GET", "/kv/{bucket}"),
    ("GET", "/kv/{bucket}/{key}"),
    ("PUT", "/kv/{bucket}/{key}"),
    ("DELETE", "/kv/{bucket}/{key}"),
    ("GET", "/secrets"),
    ("GET", "/audit"),
    ("PUT", "/secrets/{name}"),
    ("DELETE", "/secrets/{name}"),
    ("GET", "/system/status"),
    ("GET", "/system/enums"),
    ("GET", "/system/dashboard"),
    ("DELETE", "/configs/{id}"),
    ("GET", "/workflow-runs/{execution_id}"),
    ("POST", "/workflow-runs/{execution_id}/retry"),
];
