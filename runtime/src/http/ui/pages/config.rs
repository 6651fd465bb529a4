//! A config: its definition, schedule and history, stats, recent runs and
//! a chart of their durations.

use axum::extract::{Query, State};
use axum::response::Html;
use maud::html;

use super::{NoticeQuery, given};
use crate::app::App;
use crate::http::error::ApiError;
use crate::http::paths::ConfigId;
use crate::http::ui::graph::{self, Node};
use crate::http::ui::layout::{badge, page, seconds, time};
use crate::http::ui::partials::{actions, runs_table};
use crate::http::ui::session::Session;
use crate::http::ui::{UiError, charts, words};
use crate::store::{ExecutionFilter, Page, Workflow};

/// A workflow's steps as its graph draws them (no status: a definition).
fn nodes_of(workflow: &Workflow) -> Vec<Node<'_>> {
    let node = |s| -> Node<'_> {
        let s: &crate::store::Step = s;
        Node {
            name: &s.name,
            task_type: &s.task_type,
            for_each: s.for_each,
            parents: &s.parents,
            status: None,
            href: None,
        }
    };
    workflow.steps.iter().map(node).collect()
}

pub(crate) async fn config(
    State(app): State<App>,
    session: Session,
    id: Result<ConfigId, ApiError>,
    Query(q): Query<NoticeQuery>,
) -> Result<Html<String>, UiError> {
    let ConfigId(config_id) = id?;
    let config = app.config(config_id).await?;
    let recent = ExecutionFilter { config_id: Some(config_id), ..Default::default() };
    let (view, stats, (runs, _)) = tokio::try_join!(
        app.view_of(config.clone(), 50, false),
        app.execution_stats(Some(config_id), None),
        app.executions(&recent, Page { limit: 50, offset: 0 }),
    )?;
    let view = view.schedule;
    let durations: Vec<(f64, bool)> =
        runs.iter().rev().map(|r| (r.record.duration_seconds, r.record.is_success)).collect();
    let here = format!("/ui/configs/{config_id}");
    let definition = serde_json::to_string_pretty(&config).unwrap_or_default();
    let body = html! {
        p {
            (badge(view.schedule_status)) " "
            @if let Some(until) = view.paused_until { "paused until " (time(Some(until))) " · " }
            "next run " (time(view.next_run))
            " · " (words::schedule(config.scheduler_type, &config.schedule_config))
        }
        @if session.may_act() {
            p { (actions(&session, config_id, view.schedule_status, &here)) }
            details {
                summary { "Run with parameters" }
                form.stack method="post" action={"/ui/configs/" (config_id) "/run"} {
                    (session.csrf_field())
                    input type="hidden" name="back" value=(here);
                    label for="parameters" { "Parameters (JSON, merged onto the config's: a " code { "null" } " removes a key)" }
                    textarea #parameters name="parameters" rows="6" data-json
                        placeholder=r#"{"key": "value"}"# aria-describedby="parameters-error" {}
                    p.error #parameters-error data-json-error role="alert" {}
                    button type="submit" { "Run with parameters" }
                }
            }
        }
        section.cards aria-label="Statistics" {
            div.card { div.n { (stats.total) } div.l { "runs" } }
            div.card { div.n { (format!("{:.1} %", stats.success_rate * 100.0)) } div.l { "succeeded" } }
            div.card { div.n { (stats.avg_duration_seconds.map(seconds).unwrap_or_else(|| "—".into())) } div.l { "average" } }
            div.card { div.n { (stats.p95_duration_seconds.map(seconds).unwrap_or_else(|| "—".into())) } div.l { "p95" } }
        }
        h2 { "Durations of the last runs" }
        (charts::durations(&durations, "Durations of the latest runs, oldest first; failures in red"))
        h2 { "Recent runs" }
        (runs_table(&runs[..runs.len().min(20)], None))
        p { a href={"/ui/runs?config_id=" (config_id)} { "All runs of this config" } }
        h2 { "History" }
        ol.timeline {
            @for e in &view.recent_history {
                li { (time(Some(e.at))) " " strong { (e.event) } " " (e.message) }
            }
        }
        @if let Some(workflow) = &config.workflow {
            h2 { "Steps" }
            (graph::workflow(&nodes_of(workflow), "The steps of this workflow"))
        }
        h2 { "Definition" }
        pre { (definition) }
    };
    Ok(Html(page(&config.name, "Schedules", session.viewer(), given(&q.notice), body).into_string()))
}
