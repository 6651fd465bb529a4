//! Pieces more than one page shows: a schedule's action buttons, the
//! pager, and the runs table with its rows (also served alone for the
//! live refresh).

use maud::{Markup, html};
use uuid::Uuid;

use super::layout::{outcome, seconds, time};
use super::session::Session;
use crate::contract::schedule::{Action, Status};
use crate::store::StoredExecution;

/// Rows per page of the schedules and runs lists.
pub(crate) const PAGE: u32 = 50;

/// The action buttons that apply to a schedule in `status`.
pub(crate) fn actions(session: &Session, id: Uuid, status: Status, back: &str) -> Markup {
    let buttons = [
        (Action::Start, "Start"),
        (Action::Pause, "Pause"),
        (Action::Resume, "Resume"),
        (Action::Stop, "Stop"),
    ];
    let applies: Vec<(&str, &str)> = buttons
        .into_iter()
        // Stopping what is stopped is allowed, but no button is worth it.
        .filter(|(a, _)| a.applies_to(status) && !(*a == Action::Stop && status == Status::Inactive))
        .map(|(a, label)| (a.as_str(), label))
        .chain([("run", "Run now")])
        .collect();
    html! {
        @for (action, label) in applies {
            form.inline method="post" action={"/ui/schedules/" (id) "/" (action)} {
                (session.csrf_field())
                input type="hidden" name="back" value=(back);
                button type="submit" { (label) }
            }
            " "
        }
    }
}

pub(crate) fn pager(offset: u32, shown: u32, total: u64, query: &dyn Fn(u32) -> String) -> Markup {
    html! {
        nav.pager aria-label="Pages" {
            @if offset > 0 { a href=(query(offset.saturating_sub(PAGE))) { "Previous" } }
            span.muted { (offset + 1.min(shown)) "–" (offset + shown) " of " (total) }
            @if u64::from(offset + shown) < total { a href=(query(offset + PAGE)) { "Next" } }
        }
    }
}

pub(crate) fn runs_table(runs: &[StoredExecution], live: Option<&str>) -> Markup {
    html! {
        table data-refresh=[live] {
            thead { tr {
                th { "Run" } th { "Outcome" } th { "Task type" } th { "Trigger" } th { "Started" }
                th.num { "Duration" } th.hide-narrow { "Error" }
            } }
            tbody { (rows(runs)) }
        }
        @if runs.is_empty() { p.muted { "No runs." } }
    }
}

pub(crate) fn rows(runs: &[StoredExecution]) -> Markup {
    html! {
        @for r in runs {
            tr {
                td { a href={"/ui/runs/" (r.id)} { "#" (r.id) } }
                td { (outcome(r.record.is_success)) }
                td {
                    @match (&r.record.workflow_execution_id, &r.record.step) {
                        (Some(wf), None) => a href={"/ui/workflow-runs/" (wf)} { "workflow run" },
                        (Some(wf), Some(step)) => { (r.record.task_type) " · " a href={"/ui/workflow-runs/" (wf)} { "step " (step) } },
                        _ => (r.record.task_type),
                    }
                }
                td { (r.record.trigger.as_str()) @if r.record.attempt > 1 { " · attempt " (r.record.attempt) } }
                td { (time(Some(r.record.started_at))) }
                td.num { (seconds(r.record.duration_seconds)) }
                td.hide-narrow { (r.record.error_message.clone().unwrap_or_default().chars().take(120).collect::<String>()) }
            }
        }
    }
}
