//! Runs: newest first, filtered (the filters live in the URL), refreshed
//! live while open; and the rows alone for that refresh.

use axum::extract::{Query, State};
use axum::response::Html;
use chrono::{DateTime, NaiveDateTime, Utc};
use maud::html;
use serde::Deserialize;

use super::{bad, given, query_string};
use crate::app::App;
use crate::http::ui::UiError;
use crate::http::ui::layout::page;
use crate::http::ui::partials::{PAGE, rows, runs_table};
use crate::http::ui::session::Session;
use crate::store::RunFilter;

#[derive(Deserialize, Default, Clone)]
pub(crate) struct RunsQuery {
    /// The CSRF token, when the query is a form's (replay the failures).
    #[serde(default)]
    pub(crate) csrf: Option<String>,
    outcome: Option<String>,
    config_id: Option<String>,
    task_type: Option<String>,
    since: Option<String>,
    until: Option<String>,
    offset: Option<u32>,
    notice: Option<String>,
}

/// A time from a filter: RFC 3339, or a form's `YYYY-MM-DDTHH:MM` (UTC).
fn when(field: &str, v: &Option<String>) -> Result<Option<DateTime<Utc>>, UiError> {
    let Some(text) = given(v) else { return Ok(None) };
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Some(t.and_utc()));
        }
    }
    Err(bad(field, text))
}

impl RunsQuery {
    pub(crate) fn filter(&self) -> Result<RunFilter, UiError> {
        Ok(RunFilter {
            tag: None,
            config_id: match given(&self.config_id) {
                Some(id) => Some(id.parse().map_err(|_| bad("config_id", id))?),
                None => None,
            },
            is_success: match given(&self.outcome) {
                Some("success") => Some(true),
                Some("failure") => Some(false),
                Some(other) => return Err(bad("outcome", other)),
                None => None,
            },
            task_type: given(&self.task_type).map(str::to_owned),
            since: when("since", &self.since)?,
            until: when("until", &self.until)?,
        })
    }

    /// This query string with another offset.
    fn with_offset(&self, path: &str, offset: u32) -> String {
        let offset = offset.to_string();
        let pairs = [
            ("offset", Some(offset.as_str())),
            ("outcome", given(&self.outcome)),
            ("config_id", given(&self.config_id)),
            ("task_type", given(&self.task_type)),
            ("since", given(&self.since)),
            ("until", given(&self.until)),
        ];
        format!("{path}?{}", query_string(&pairs))
    }
}

/// Runs: newest first, filtered, refreshed live while open.
pub(crate) async fn runs(
    State(app): State<App>,
    session: Session,
    Query(q): Query<RunsQuery>,
) -> Result<Html<String>, UiError> {
    let filter = q.filter()?;
    let offset = q.offset.unwrap_or(0).min(i32::MAX as u32);
    let mut found = app.runs_page(&filter, PAGE + 1, offset).await?;
    let more = found.len() > PAGE as usize;
    found.truncate(PAGE as usize);
    let task_types: Vec<String> = app.registry().catalog().keys().cloned().collect();
    let live = q.with_offset("/ui/runs/rows", offset);
    let body = html! {
        form.filters method="get" action="/ui/runs" {
            label { "Outcome"
                select name="outcome" {
                    option value="" { "any" }
                    @for o in ["success", "failure"] { option value=(o) selected[given(&q.outcome) == Some(o)] { (o) } }
                }
            }
            label { "Task type"
                select name="task_type" {
                    option value="" { "any" }
                    @for t in &task_types { option value=(t) selected[given(&q.task_type) == Some(t.as_str())] { (t) } }
                }
            }
            label { "Config id" input type="text" name="config_id" size="36" value=(given(&q.config_id).unwrap_or("")); }
            label { "Started from (UTC)" input type="datetime-local" name="since" value=(given(&q.since).unwrap_or("")); }
            label { "until (UTC)" input type="datetime-local" name="until" value=(given(&q.until).unwrap_or("")); }
            button type="submit" { "Filter" }
        }
        @if session.may_act() && given(&q.outcome) == Some("failure") && !found.is_empty() {
            form method="post" action="/ui/runs/replay" {
                (session.csrf_field())
                @for (name, value) in [("config_id", &q.config_id), ("task_type", &q.task_type), ("since", &q.since), ("until", &q.until)] {
                    @if let Some(v) = given(value) { input type="hidden" name=(name) value=(v); }
                }
                input type="hidden" name="outcome" value="failure";
                button type="submit" { "Replay these failures" }
                span.muted { " each failed run that matches the filter, at its exact plugin version and parameters" }
            }
        }
        (runs_table(&found, Some(&live)))
        nav.pager aria-label="Pages" {
            @if offset > 0 { a href=(q.with_offset("/ui/runs", offset.saturating_sub(PAGE))) { "Newer" } }
            @if more { a href=(q.with_offset("/ui/runs", offset + PAGE)) { "Older" } }
        }
    };
    Ok(Html(page("Runs", "Runs", session.viewer(), given(&q.notice), body).into_string()))
}

/// The rows of the runs table alone (the live refresh).
pub(crate) async fn run_rows(
    State(app): State<App>,
    _session: Session,
    Query(q): Query<RunsQuery>,
) -> Result<Html<String>, UiError> {
    let offset = q.offset.unwrap_or(0).min(i32::MAX as u32);
    let found = app.runs_page(&q.filter()?, PAGE, offset).await?;
    Ok(Html(rows(&found).into_string()))
}
