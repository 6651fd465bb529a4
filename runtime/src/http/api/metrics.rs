//! `/metrics` in Prometheus text, and the per-request HTTP counter.
//!
//! The parts record with the `metrics` facade (a no-op until a recorder is
//! installed): `taskbox_runs_total{task_type,outcome}` and
//! `taskbox_run_duration_seconds{task_type}` (worker),
//! `taskbox_fire_lateness_seconds` (fire loop),
//! `taskbox_config_cache_reads_total{outcome}` and
//! `taskbox_config_cache_live` (the API's config cache), and here
//! `taskbox_http_requests_total{method,route,status}`; gauges for the queue
//! depth and the plugins loaded are set when scraped.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

use crate::app::App;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once); `None` if another recorder
/// was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let seconds = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// Prometheus text (no token needed).
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "ops", security(()),
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn render(State(app): State<App>) -> Response {
    let Some(handle) = handle() else {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "metrics recorder unavailable").into_response();
    };
    if let Ok(depth) = app.queue_depth().await {
        metrics::gauge!("taskbox_queue_depth").set(depth as f64);
    }
    metrics::gauge!("taskbox_plugins_loaded").set(app.task_types().len() as f64);
    ([("content-type", "text/plain; version=0.0.4")], handle.render()).into_response()
}

/// Methods counted by name; any other is counted as `other`, so that a
/// client cannot grow the label set (and `/metrics`) at will.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Counts every request by method, route (the router's pattern, or
/// `unmatched`) and status: three bounded label sets.
pub async fn count_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = METHODS.into_iter().find(|m| *m == request.method().as_str()).unwrap_or("other");
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("taskbox_http_requests_total", "method" => method, "route" => route, "status" => status)
        .increment(1);
    response
}
