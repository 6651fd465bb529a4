//! A workflow run: its graph (each step's status, linking to its runs),
//! its outcome and result, each step's runs, and "retry from the failed
//! steps".

use axum::extract::{Query, State};
use axum::response::Html;
use maud::html;

use super::{NoticeQuery, given};
use crate::app::App;
use crate::http::error::ApiError;
use crate::http::paths::ExecutionId;
use crate::http::ui::UiError;
use crate::http::ui::graph::{self, Node};
use crate::http::ui::layout::{page, time};
use crate::http::ui::partials::runs_table;
use crate::http::ui::session::Session;
use crate::store::WorkflowStatus;

pub(crate) async fn workflow_run(
    State(app): State<App>,
    session: Session,
    id: Result<ExecutionId, ApiError>,
    Query(q): Query<NoticeQuery>,
) -> Result<Html<String>, UiError> {
    let ExecutionId(id) = id?;
    let run = app.workflow_run(id).await?;
    let config = match run.config_id {
        Some(config_id) => app.config(config_id).await.ok(),
        None => None,
    };
    let nodes: Vec<Node> = run
        .steps
        .iter()
        .map(|s| Node {
            name: &s.name,
            task_type: &s.task_type,
            for_each: s.for_each,
            parents: &s.parents,
            status: Some(s.status),
            href: Some(format!("#step-{}", s.name)),
        })
        .collect();
    let result = run.result.as_ref().map(|v| serde_json::to_string_pretty(v).unwrap_or_default());
    let failed = matches!(run.status, WorkflowStatus::Failed | WorkflowStatus::Cancelled);
    let body = html! {
        p {
            span class={"badge " (run.status)} { (run.status) }
            " · started " (time(Some(run.started_at)))
            @if let Some(done) = run.completed_at { " · ended " (time(Some(done))) }
            @if let Some(config) = &config { " · " a href={"/ui/configs/" (config.id)} { (config.name) } }
            @if let Some(old) = run.retry_of { " · retries " a href={"/ui/workflow-runs/" (old)} { (old) } }
        }
        @if failed && session.may_act() {
            form.inline method="post" action={"/ui/workflow-runs/" (id) "/retry"} {
                (session.csrf_field())
                button type="submit" { "Retry from the failed steps" }
                span.muted { " (a new run that reuses the steps that succeeded)" }
            }
        }
        (graph::workflow(&nodes, "The steps of this run and where each is"))
        @if let Some(error) = &run.error_message { h2 { "Error" } pre.error { (error) } }
        @if let Some(result) = &result { h2 { "Result" } pre.result { (result) } }
        @for s in &run.steps {
            section id={"step-" (s.name)} {
                h2 { (s.name) " " span class={"badge " (s.status)} { (s.status) } }
                p.muted {
                    (s.task_type) @if s.for_each { " · once per element" }
                    @if !s.parents.is_empty() { " · after " (s.parents.join(", ")) }
                    @if s.reused { " · reused from the run this one retries" }
                }
                @if let Some(error) = &s.error { pre.error { (error) } }
                (runs_table(&s.runs, None))
            }
        }
    };
    let title = format!("Workflow run {id}");
    Ok(Html(page(&title, "Runs", session.viewer(), given(&q.notice), body).into_string()))
}
