//! Overview: schedules by status, the last 24 h, queue and workers,
//! plugins that failed to load, recent failures.

use axum::extract::{Query, State};
use axum::response::Html;
use maud::html;

use super::{NoticeQuery, given};
use crate::app::App;
use crate::http::ui::layout::{page, seconds};
use crate::http::ui::partials::runs_table;
use crate::http::ui::session::Session;
use crate::http::ui::{UiError, charts};

pub(crate) async fn overview(
    State(app): State<App>,
    session: Session,
    Query(q): Query<NoticeQuery>,
) -> Result<Html<String>, UiError> {
    let o = app.overview().await?;
    let (summary, stats) = (&o.summary, &o.last_day);
    let catalog = app.registry().catalog();
    let broken: Vec<_> = catalog.values().filter(|e| e.info.error.is_some()).collect();
    let body = html! {
        section.cards aria-label="Schedules by status" {
            div.card { div.n { (summary.total_tasks) } div.l { "configs" } }
            div.card { div.n { (summary.active_tasks) } div.l { "active" } }
            div.card { div.n { (summary.paused_tasks) } div.l { "paused" } }
            div.card { div.n { (summary.inactive_tasks) } div.l { "inactive" } }
            div.card { div.n { (summary.error_tasks) } div.l { "in error" } }
            div.card { div.n { (o.queue_depth) } div.l { "queued or running" } }
            div.card { div.n { (o.workers.len()) } div.l { "live workers" } }
        }
        h2 { "Last 24 hours" }
        p {
            (stats.total) " runs, " (stats.failures) " failed, success rate "
            (format!("{:.1} %", stats.success_rate * 100.0))
            @if let Some(avg) = stats.avg_duration_seconds { ", average " (seconds(avg)) }
        }
        (charts::hourly(&o.hours, "Runs per hour over the last 24 hours: successes and failures"))
        h2 { "Plugins with load errors" }
        @if broken.is_empty() {
            p.muted { "None." }
        } @else {
            ul { @for e in &broken { li { strong { (e.info.name) } ": " (e.info.error.clone().unwrap_or_default()) } } }
        }
        h2 { "Recent failures" }
        (runs_table(&o.recent_failures, None))
        h2 { "Worker groups" }
        @for g in o.groups.iter().filter(|g| g.workers == 0 && g.queued > 0) {
            p.notice role="status" { (g.queued) " run(s) waiting for a worker in group " strong { (g.group) } }
        }
        @if o.groups.is_empty() { p.muted { "No worker is heart-beating." } }
        @else {
            table {
                thead { tr { th { "group" } th { "live workers" } th { "waiting" } th { "oldest waiting" } } }
                tbody { @for g in &o.groups { tr {
                    td { code { (g.group) } } td { (g.workers) } td { (g.queued) }
                    td { @match g.oldest_queued_seconds { Some(s) => (seconds(s)), None => "–" } }
                } } }
            }
        }
        h2 { "Workers" }
        @if o.workers.is_empty() { p.muted { "No worker is heart-beating." } }
        @else { ul { @for w in &o.workers { li { code { (w.name) } " " span.muted { (w.groups.join(", ")) } } } } }
    };
    Ok(Html(page("Overview", "Overview", session.viewer(), given(&q.notice), body).into_string()))
}
