//! Schedules: every config with its schedule and last outcome, filtered
//! and paged; actions per row.

use axum::extract::{Query, State};
use axum::response::Html;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::{bad, given, query_string};
use crate::app::App;
use crate::contract::schedule::Status;
use crate::http::ui::UiError;
use crate::http::ui::layout::{badge, outcome, page, seconds, time};
use crate::http::ui::partials::{PAGE, actions, pager};
use crate::http::ui::session::Session;
use crate::http::ui::words;
use crate::store::{ConfigFilter, Page};

#[derive(Deserialize, Default)]
pub(crate) struct SchedulesQuery {
    status: Option<String>,
    task_type: Option<String>,
    name: Option<String>,
    offset: Option<u32>,
    notice: Option<String>,
}

/// Schedules: every config with its schedule and last outcome, filtered
/// and paged; actions per row.
pub(crate) async fn schedules(
    State(app): State<App>,
    session: Session,
    Query(q): Query<SchedulesQuery>,
) -> Result<Html<String>, UiError> {
    let status = match given(&q.status) {
        Some(s) => Some(Status::parse(s).ok_or_else(|| bad("status", s))?),
        None => None,
    };
    let filter = ConfigFilter {
        task_type: given(&q.task_type).map(str::to_owned),
        name_contains: given(&q.name).map(str::to_owned),
        ..Default::default()
    };
    let offset = q.offset.unwrap_or(0).min(i32::MAX as u32);
    let (items, total) = app.schedules(status, filter, Page { limit: PAGE, offset }).await?;
    let ids: Vec<Uuid> = items.iter().map(|i| i.config_id).collect();
    let last = app.latest_runs(&ids).await?;
    let task_types: Vec<String> = app.registry().catalog().keys().cloned().collect();
    let query = |offset: u32| {
        let offset = offset.to_string();
        let pairs = [
            ("offset", Some(offset.as_str())),
            ("status", given(&q.status)),
            ("task_type", given(&q.task_type)),
            ("name", given(&q.name)),
        ];
        format!("/ui/schedules?{}", query_string(&pairs))
    };
    let here = query(offset);
    let body = html! {
        form.filters method="get" action="/ui/schedules" {
            label { "Status"
                select name="status" {
                    option value="" { "any" }
                    @for s in Status::ALL { option value=(s.as_str()) selected[status == Some(s)] { (s.as_str()) } }
                }
            }
            label { "Task type"
                select name="task_type" {
                    option value="" { "any" }
                    @for t in &task_types { option value=(t) selected[given(&q.task_type) == Some(t.as_str())] { (t) } }
                }
            }
            label { "Name contains" input type="search" name="name" value=(given(&q.name).unwrap_or("")); }
            button type="submit" { "Filter" }
        }
        p.muted { (total) " configs" }
        table {
            thead { tr {
                th { "Name" } th { "Task type" } th { "Schedule" } th { "Status" } th { "Next run" }
                th { "Last run" } th.num.hide-narrow { "Duration" } th { "Actions" }
            } }
            tbody {
                @for item in &items {
                    @let last_run = last.get(&item.config_id);
                    tr {
                        td { a href={"/ui/configs/" (item.config_id)} { (item.name) } }
                        td { (item.task_type) }
                        td { (words::schedule(item.scheduler_type, &item.schedule_config))
                            @if item.schedule_config.as_object().is_some_and(|o| !o.is_empty()) {
                                br; code.muted { (item.schedule_config.to_string()) }
                            } }
                        td { (badge(item.schedule_status))
                            @if let Some(until) = item.paused_until { br; span.muted { "until " (time(Some(until))) } } }
                        td { (time(item.next_run)) }
                        td { @match last_run {
                            Some(r) => { a href={"/ui/runs/" (r.id)} { (outcome(r.record.is_success)) } " " (time(Some(r.record.started_at))) },
                            None => span.muted { "never" },
                        } }
                        td.num.hide-narrow { @if let Some(r) = last_run { (seconds(r.record.duration_seconds)) } }
                        td { @if session.may_act() { (actions(&session, item.config_id, item.schedule_status, &here)) } }
                    }
                }
            }
        }
        (pager(offset, items.len() as u32, total, &query))
    };
    Ok(Html(page("Schedules", "Schedules", session.viewer(), given(&q.notice), body).into_string()))
}
