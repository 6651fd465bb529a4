//! A run: result, error, logs, timing, notifications, and "run again".

use axum::extract::{Query, State};
use axum::response::Html;
use maud::html;
use std::collections::BTreeMap;

use super::{NoticeQuery, given};
use crate::app::{App, ExecutionView};
use crate::http::error::ApiError;
use crate::http::paths::RecordId;
use crate::http::ui::UiError;
use crate::http::ui::layout::{outcome, page, seconds, time};
use crate::http::ui::session::Session;

/// A run: result, error, logs, timing, and "run again".
pub(crate) async fn run(
    State(app): State<App>,
    session: Session,
    id: Result<RecordId, ApiError>,
    Query(q): Query<NoticeQuery>,
) -> Result<Html<String>, UiError> {
    let ExecutionView { execution: stored, notifications } = app.execution(id?.0).await?;
    let r = &stored.record;
    let result = r.result.as_ref().map(|v| serde_json::to_string_pretty(v).unwrap_or_default());
    let parameters = r.parameters.as_ref().map(|v| serde_json::to_string_pretty(v).unwrap_or_default());
    let mut facts: BTreeMap<&str, String> = BTreeMap::new();
    facts.insert("execution id", r.execution_id.to_string());
    facts.insert("attempt", r.attempt.to_string());
    facts.insert("trigger", r.trigger.as_str().to_owned());
    facts.insert("worker", r.worker.clone());
    facts.insert("plugin digest", r.plugin_digest.clone().unwrap_or_else(|| "—".into()));
    facts.insert("duration", seconds(r.duration_seconds));
    if let Some(t) = r.timeout_seconds {
        facts.insert("deadline", seconds(t));
    }
    if let Some(by) = &r.cancelled_by {
        facts.insert("cancelled by", by.clone());
    }
    let title = format!("Run #{}", stored.id);
    let body = html! {
        p {
            (outcome(r.is_success)) " " (r.task_type)
            @if let Some(config) = r.config_id { " · " a href={"/ui/configs/" (config)} { "its config" } }
            @if let Some(wf) = r.workflow_execution_id {
                " · " a href={"/ui/workflow-runs/" (wf)} {
                    @if let Some(step) = &r.step { "step " (step) " of its workflow run" } @else { "its workflow run" }
                }
            }
        }
        @if session.may_act() { @if let Some(config) = r.config_id {
            form.inline method="post" action={"/ui/runs/" (stored.id) "/again"} {
                (session.csrf_field())
                button type="submit" { "Run again" }
                span.muted { " (a new run of its config, now)" }
                input type="hidden" name="config" value=(config);
            }
        } }
        dl.facts {
            dt { "scheduled" } dd { (time(Some(r.scheduled_at))) }
            dt { "started" } dd { (time(Some(r.started_at))) }
            dt { "completed" } dd { (time(Some(r.completed_at))) }
            @for (k, v) in &facts { dt { (k) } dd { (v) } }
        }
        @if let Some(error) = &r.error_message { h2 { "Error" } pre.error { (error) } }
        @if let Some(result) = &result { h2 { "Result" } pre.result { (result) } }
        h2 { "Logs" }
        @if r.logs.is_empty() { p.muted { "No output." } } @else { pre.logs { (r.logs) } }
        @if let Some(parameters) = &parameters { h2 { "Parameters" } pre { (parameters) } }
        @if !notifications.is_empty() {
            h2 { "Notifications" }
            table {
                thead { tr { th { "Event" } th { "To" } th { "Status" } th.num { "Attempts" } th { "Last error" } } }
                tbody { @for n in &notifications { tr {
                    td { (n.event) } td { (n.url) } td { (n.status) } td.num { (n.attempts) }
                    td { (n.last_error.clone().unwrap_or_default()) }
                } } }
            }
        }
    };
    Ok(Html(page(&title, "Runs", session.viewer(), given(&q.notice), body).into_string()))
}
