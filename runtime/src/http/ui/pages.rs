//! The pages and their actions. Each page reads one page of data (never a
//! whole table) through the store, the scheduler service and the registry,
//! as the API does; each action is the scheduler-service or registry call
//! the API makes, after the session's CSRF and role checks, and comes back
//! to the page it was taken on with its result in words.

use axum::extract::{Form, Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

use super::layout::{badge, outcome, page, seconds, time};
use super::session::Session;
use super::{UiError, charts, words};
use crate::api::{ApiError, AppState};
use crate::schedule::{Action, Status};
use crate::scheduler::ServiceError;
use crate::store::{ConfigFilter, ExecutionFilter, Page, RunFilter, StoredExecution};

/// Rows per page of the schedules and runs lists.
const PAGE: u32 = 50;

/// A query string's value: absent or empty is `None`.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn bad(field: &str, value: &str) -> UiError {
    ApiError::invalid(field, format!("{value:?} is not valid here")).into()
}

/// Where to come back to after an action: a dashboard path only.
fn back_to(back: &Option<String>, otherwise: &str) -> String {
    match given(back) {
        Some(b) if b.starts_with("/ui/") && !b.starts_with("//") => b.to_owned(),
        _ => otherwise.to_owned(),
    }
}

/// `path` with a notice in its query.
fn with_notice(path: &str, notice: &str) -> Redirect {
    let joiner = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{joiner}{}", query_string(&[("notice", Some(notice))])))
}

/// `pairs` as a query string (URL-encoded), leaving out absent values.
fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    let given: Vec<(&str, &str)> = pairs.iter().filter_map(|(k, v)| Some((*k, (*v)?))).collect();
    serde_urlencoded::to_string(given).expect("string pairs encode")
}

fn dashboard(state: &AppState) -> Result<&dyn crate::store::DashboardStore, UiError> {
    Ok(state.dashboard.as_deref().ok_or(ApiError::Unavailable("this process serves no dashboard".into()))?)
}

#[derive(Deserialize, Default)]
pub(crate) struct NoticeQuery {
    notice: Option<String>,
}

/// Overview: schedules by status, the last 24 h, queue and workers,
/// plugins that failed to load, recent failures.
pub(crate) async fn overview(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<NoticeQuery>,
) -> Result<Html<String>, UiError> {
    let day_ago = Utc::now() - chrono::Duration::hours(24);
    let failures = ExecutionFilter { is_success: Some(false), since: Some(day_ago), ..Default::default() };
    let store = dashboard(&state)?;
    let (summary, stats, hourly, depth, workers, (failed, _)) = tokio::try_join!(
        async { Ok::<_, UiError>(state.scheduler.summary().await?) },
        async { Ok(state.store.execution_stats(None, Some(day_ago)).await?) },
        async { Ok(store.hourly(day_ago).await?) },
        async { Ok(state.queue.depth().await?) },
        async { Ok(state.queue.live_workers().await?) },
        async { Ok(state.store.list_executions(&failures, Page { limit: 10, offset: 0 }).await?) },
    )?;
    let hours: Vec<(DateTime<Utc>, i64, i64)> = {
        let by_hour: HashMap<i64, (i64, i64)> =
            hourly.iter().map(|h| (h.hour.timestamp(), (h.successes, h.total - h.successes))).collect();
        let first = (day_ago.timestamp() / 3600 + 1) * 3600;
        (0..24)
            .map(|i| {
                let at = first + i * 3600;
                let (ok, bad) = by_hour.get(&at).copied().unwrap_or((0, 0));
                (DateTime::from_timestamp(at, 0).unwrap_or_default(), ok, bad)
            })
            .collect()
    };
    let catalog = state.registry.catalog();
    let broken: Vec<_> = catalog.values().filter(|e| e.info.error.is_some()).collect();
    let body = html! {
        section.cards aria-label="Schedules by status" {
            div.card { div.n { (summary.total_tasks) } div.l { "configs" } }
            div.card { div.n { (summary.active_tasks) } div.l { "active" } }
            div.card { div.n { (summary.paused_tasks) } div.l { "paused" } }
            div.card { div.n { (summary.inactive_tasks) } div.l { "inactive" } }
            div.card { div.n { (summary.error_tasks) } div.l { "in error" } }
            div.card { div.n { (depth) } div.l { "queued or running" } }
            div.card { div.n { (workers.len()) } div.l { "live workers" } }
        }
        h2 { "Last 24 hours" }
        p {
            (stats.total) " runs, " (stats.failures) " failed, success rate "
            (format!("{:.1} %", stats.success_rate * 100.0))
            @if let Some(avg) = stats.avg_duration_seconds { ", average " (seconds(avg)) }
        }
        (charts::hourly(&hours, "Runs per hour over the last 24 hours: successes and failures"))
        h2 { "Plugins with load errors" }
        @if broken.is_empty() {
            p.muted { "None." }
        } @else {
            ul { @for e in &broken { li { strong { (e.info.name) } ": " (e.info.error.clone().unwrap_or_default()) } } }
        }
        h2 { "Recent failures" }
        (runs_table(&failed, None))
        h2 { "Workers" }
        @if workers.is_empty() { p.muted { "No worker is heart-beating." } }
        @else { ul { @for w in &workers { li { code { (w) } } } } }
    };
    Ok(Html(page("Overview", "Overview", session.viewer(), given(&q.notice), body).into_string()))
}

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
    State(state): State<AppState>,
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
    let (items, total) = state.scheduler.list_schedules(status, filter, Page { limit: PAGE, offset }).await?;
    let ids: Vec<Uuid> = items.iter().map(|i| i.config_id).collect();
    let last: HashMap<Uuid, StoredExecution> = dashboard(&state)?
        .latest_runs(&ids)
        .await?
        .into_iter()
        .filter_map(|r| Some((r.record.config_id?, r)))
        .collect();
    let task_types: Vec<String> = state.registry.catalog().keys().cloned().collect();
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

/// The action buttons that apply to a schedule in `status`.
fn actions(session: &Session, id: Uuid, status: Status, back: &str) -> Markup {
    let applies: Vec<(&str, &str)> =
        [("start", "Start"), ("pause", "Pause"), ("resume", "Resume"), ("stop", "Stop")]
            .into_iter()
            .filter(|(a, _)| {
                Action::ALL.iter().find(|x| x.as_str() == *a).is_some_and(|x| x.rule().0.contains(&status))
                    && !(*a == "stop" && status == Status::Inactive)
            })
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

fn pager(offset: u32, shown: u32, total: u64, query: &dyn Fn(u32) -> String) -> Markup {
    html! {
        nav.pager aria-label="Pages" {
            @if offset > 0 { a href=(query(offset.saturating_sub(PAGE))) { "Previous" } }
            span.muted { (offset + 1.min(shown)) "–" (offset + shown) " of " (total) }
            @if u64::from(offset + shown) < total { a href=(query(offset + PAGE)) { "Next" } }
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ActionForm {
    csrf: String,
    back: Option<String>,
}

/// A schedule action (or run now) from a button; back with its result.
pub(crate) async fn act(
    State(state): State<AppState>,
    session: Session,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Response, UiError> {
    session.check(&form.csrf)?;
    let id: Uuid = id.parse().map_err(|_| ApiError::NotFound(format!("no task config with id {id:?}")))?;
    let back = back_to(&form.back, "/ui/schedules");
    let config = state
        .store
        .get_config(id)
        .await?
        .ok_or(ApiError::NotFound(format!("no task config with id {id}")))?;
    let notice = if action == "run" {
        let execution = state.scheduler.run_now(id).await?;
        format!("Queued a run of {} ({execution}).", config.name)
    } else {
        let action = Action::ALL
            .into_iter()
            .find(|a| a.as_str() == action)
            .ok_or_else(|| ApiError::NotFound(format!("no schedule action {action:?}")))?;
        match state.scheduler.act(id, action).await {
            Ok(done) => format!("{}: {} (now {}).", config.name, done.message, done.schedule_status),
            Err(ServiceError::Refused(e)) => format!("{}: {e}.", config.name),
            Err(e) => return Err(e.into()),
        }
    };
    Ok(with_notice(&back, &notice).into_response())
}

/// A config: its definition, schedule and history, stats, recent runs and
/// a chart of their durations.
pub(crate) async fn config(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Html<String>, UiError> {
    let missing = || ApiError::NotFound(format!("no task config with id {id:?}"));
    let config_id: Uuid = id.parse().map_err(|_| missing())?;
    let config = state.store.get_config(config_id).await?.ok_or_else(missing)?;
    let recent = ExecutionFilter { config_id: Some(config_id), ..Default::default() };
    let (view, stats, (runs, _)) = tokio::try_join!(
        async { Ok::<_, UiError>(state.scheduler.view(&config, 50).await?) },
        async { Ok(state.store.execution_stats(Some(config_id), None).await?) },
        async { Ok(state.store.list_executions(&recent, Page { limit: 50, offset: 0 }).await?) },
    )?;
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
        @if session.may_act() { p { (actions(&session, config_id, view.schedule_status, &here)) } }
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
        h2 { "Definition" }
        pre { (definition) }
    };
    Ok(Html(page(&config.name, "Schedules", session.viewer(), given(&q.notice), body).into_string()))
}

#[derive(Deserialize, Default, Clone)]
pub(crate) struct RunsQuery {
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
    fn filter(&self) -> Result<RunFilter, UiError> {
        Ok(RunFilter {
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
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<RunsQuery>,
) -> Result<Html<String>, UiError> {
    let filter = q.filter()?;
    let offset = q.offset.unwrap_or(0).min(i32::MAX as u32);
    let mut found = dashboard(&state)?.page_runs(&filter, PAGE + 1, offset).await?;
    let more = found.len() > PAGE as usize;
    found.truncate(PAGE as usize);
    let task_types: Vec<String> = state.registry.catalog().keys().cloned().collect();
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
    State(state): State<AppState>,
    _session: Session,
    Query(q): Query<RunsQuery>,
) -> Result<Html<String>, UiError> {
    let offset = q.offset.unwrap_or(0).min(i32::MAX as u32);
    let found = dashboard(&state)?.page_runs(&q.filter()?, PAGE, offset).await?;
    Ok(Html(rows(&found).into_string()))
}

fn runs_table(runs: &[StoredExecution], live: Option<&str>) -> Markup {
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

fn rows(runs: &[StoredExecution]) -> Markup {
    html! {
        @for r in runs {
            tr {
                td { a href={"/ui/runs/" (r.id)} { "#" (r.id) } }
                td { (outcome(r.record.is_success)) }
                td { (r.record.task_type) }
                td { (r.record.trigger.as_str()) @if r.record.attempt > 1 { " · attempt " (r.record.attempt) } }
                td { (time(Some(r.record.started_at))) }
                td.num { (seconds(r.record.duration_seconds)) }
                td.hide-narrow { (r.record.error_message.clone().unwrap_or_default().chars().take(120).collect::<String>()) }
            }
        }
    }
}

/// A run: result, error, logs, timing, and "run again".
pub(crate) async fn run(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Html<String>, UiError> {
    let missing = || ApiError::NotFound(format!("no execution with id {id:?}"));
    let row: i64 = id.parse().map_err(|_| missing())?;
    let stored = state.store.get_execution(row).await?.ok_or_else(missing)?;
    let notifications = match &state.deliveries {
        Some(d) => d.deliveries(stored.record.execution_id, stored.record.attempt).await?,
        None => Vec::new(),
    };
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

#[derive(Deserialize)]
pub(crate) struct AgainForm {
    csrf: String,
}

/// "Run again": a new run of the run's config.
pub(crate) async fn run_again(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<AgainForm>,
) -> Result<Response, UiError> {
    session.check(&form.csrf)?;
    let missing = || ApiError::NotFound(format!("no execution with id {id:?}"));
    let row: i64 = id.parse().map_err(|_| missing())?;
    let stored = state.store.get_execution(row).await?.ok_or_else(missing)?;
    let config = stored.record.config_id.ok_or(ApiError::Conflict("its config was deleted".into()))?;
    let execution = state.scheduler.run_now(config).await?;
    Ok(with_notice(&format!("/ui/runs?config_id={config}"), &format!("Queued a new run ({execution})."))
        .into_response())
}

/// Plugins: what this node serves, its grants, and load errors.
pub(crate) async fn plugins(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<NoticeQuery>,
) -> Result<Html<String>, UiError> {
    let catalog = state.registry.catalog();
    let body = html! {
        @if session.may_act() {
            form method="post" action="/ui/plugins/reload" {
                (session.csrf_field())
                button type="submit" { "Reload" } span.muted { " rescans the plugin directory" }
            }
        }
        table {
            thead { tr {
                th { "Name" } th { "Shape" } th { "Digest" } th.num { "Size" } th { "Loaded" }
                th { "Grants" } th { "Error" }
            } }
            tbody {
                @for (name, entry) in catalog.iter() {
                    @let info = &entry.info;
                    tr {
                        td { strong { (name) } }
                        td { (info.shape.map(|s| format!("{s:?}").to_lowercase()).unwrap_or_default()) }
                        td { code title=(info.digest.clone().unwrap_or_default()) {
                            (info.digest.as_deref().map(|d| &d[..d.len().min(12)]).unwrap_or("—")) } }
                        td.num { (format!("{:.1} KiB", info.size as f64 / 1024.0)) }
                        td { (time(info.loaded_at)) }
                        td { @if let Some(plugin) = &entry.plugin { (grants(&plugin.sidecar)) } }
                        td { @if let Some(error) = &info.error { span.badge.bad { "error" } " " (error) } }
                    }
                }
            }
        }
    };
    Ok(Html(page("Plugins", "Plugins", session.viewer(), given(&q.notice), body).into_string()))
}

/// What a sidecar grants, in short.
fn grants(s: &crate::registry::Sidecar) -> Markup {
    let mut said: Vec<String> = Vec::new();
    if !s.allowed_outbound_hosts.is_empty() {
        said.push(format!("http: {}", s.allowed_outbound_hosts.join(", ")));
    }
    if !s.key_value_stores.is_empty() {
        said.push(format!("kv: {}", s.key_value_stores.join(", ")));
    }
    if !s.secrets.is_empty() {
        said.push(format!("secrets: {}", s.secrets.join(", ")));
    }
    if !s.env.is_empty() {
        said.push(format!("env: {}", s.env.keys().cloned().collect::<Vec<_>>().join(", ")));
    }
    if !s.dirs.is_empty() {
        said.push(format!("dirs: {}", s.dirs.keys().cloned().collect::<Vec<_>>().join(", ")));
    }
    if let Some(mb) = s.memory_mb {
        said.push(format!("memory {mb} MiB"));
    }
    if let Some(t) = s.timeout_seconds {
        said.push(format!("timeout {t} s"));
    }
    if let Some(n) = s.max_concurrency {
        said.push(format!("{n} at once"));
    }
    html! {
        @if said.is_empty() { span.muted { "nothing" } }
        @else { @for (i, g) in said.iter().enumerate() { @if i > 0 { br; } (g) } }
    }
}

/// Rescans the plugin directory.
pub(crate) async fn reload(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<AgainForm>,
) -> Result<Response, UiError> {
    session.check(&form.csrf)?;
    let changes = crate::reload::rescan(&state.plugins, Some(&state.scheduler))
        .await
        .map_err(|e| ApiError::Internal(format!("scanning {}: {e}", state.registry.dir().display())))?;
    let notice = format!("Rescanned the plugin directory: {} changed.", changes.len());
    Ok(with_notice("/ui/plugins", &notice).into_response())
}
