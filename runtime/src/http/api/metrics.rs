//! `/metrics` in Prometheus text, and the per-request HTTP counter.
//!
//! The parts record with the `metrics` facade (a no-op until a recorder is
//! installed); every family is described in [`FAMILIES`] (its `# HELP`),
//! and the gauges of the queue (depth, workers and the oldest waiting run
//! per worker group, runs held back by a limit or a rate) and of the
//! plugins loaded are set when scraped.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

use crate::app::App;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// What a family measures.
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric family taskbox exports, with its `# HELP` text.
const FAMILIES: &[(&str, Kind, &str)] = &[
    ("taskbox_runs_total", Kind::Counter, "Runs finished, by task type and outcome (success or failure)."),
    ("taskbox_run_duration_seconds", Kind::Histogram, "How long runs took, by task type."),
    ("taskbox_retries_total", Kind::Counter, "Failed attempts parked for another try, by task type."),
    ("taskbox_fire_lateness_seconds", Kind::Histogram, "How late schedules fired after their due time."),
    (
        "taskbox_skipped_ticks_total",
        Kind::Counter,
        "Schedule ticks not run, by reason (overlap: the overlap policy; misfire: later than the misfire grace).",
    ),
    (
        "taskbox_notifications_total",
        Kind::Counter,
        "Outcome notifications by result (delivered, failed, refused, dropped: the backlog was full).",
    ),
    (
        "taskbox_http_requests_total",
        Kind::Counter,
        "HTTP requests served, by method, route pattern and status.",
    ),
    ("taskbox_config_cache_reads_total", Kind::Counter, "Config reads of the API's cache, by outcome."),
    (
        "taskbox_config_cache_live",
        Kind::Gauge,
        "1 while the API's config cache follows changes live, 0 while it cannot.",
    ),
    ("taskbox_queue_depth", Kind::Gauge, "Runs waiting or in progress on the queue."),
    (
        "taskbox_queue_oldest_seconds",
        Kind::Gauge,
        "Age of the oldest run waiting for a worker, by worker group (0: none waits).",
    ),
    ("taskbox_workers_live", Kind::Gauge, "Workers whose heartbeat is current, by worker group."),
    (
        "taskbox_runs_held_back",
        Kind::Gauge,
        "Runs waiting for a max_concurrency slot (reason limit) or their rate_limit turn (reason rate).",
    ),
    ("taskbox_plugins_loaded", Kind::Gauge, "Task types whose plugin is loaded."),
];

/// Installs the process-wide recorder (once) and describes every family;
/// `None` if another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let seconds = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0];
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
                .ok()?
                .install_recorder()
                .ok()?;
            for (name, kind, help) in FAMILIES {
                match kind {
                    Kind::Counter => metrics::describe_counter!(*name, *help),
                    Kind::Gauge => metrics::describe_gauge!(*name, *help),
                    Kind::Histogram => metrics::describe_histogram!(*name, *help),
                }
            }
            Some(handle)
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
    if let Ok(status) = app.status().await {
        for g in status.worker_groups {
            let oldest = g.oldest_queued_seconds.unwrap_or(0.0);
            metrics::gauge!("taskbox_queue_oldest_seconds", "group" => g.group.clone()).set(oldest);
            metrics::gauge!("taskbox_workers_live", "group" => g.group).set(g.workers as f64);
        }
        let held = status.held_back;
        metrics::gauge!("taskbox_runs_held_back", "reason" => "limit").set(held.limit as f64);
        metrics::gauge!("taskbox_runs_held_back", "reason" => "rate").set(held.rate as f64);
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
