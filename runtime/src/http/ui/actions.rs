//! The dashboard's buttons: a schedule action (or run now), a run with
//! parameters, "run again" of a run's config, a retry of a failed
//! workflow run, "replay these failures" of the runs page, and a rescan
//! of the plugin directory. Each checks the
//! session's CSRF token and role, makes the application layer's call the
//! API makes, and goes back to the page it came from with its result in
//! words.

use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::UiError;
use super::pages::{RunsQuery, given, query_string};
use super::session::{CsrfForm, Session};
use crate::app::{App, AppError, RunInput, RunsSelector};
use crate::contract::schedule::Action;
use crate::http::error::ApiError;
use crate::http::paths::{ConfigId, ExecutionId, RecordId};

/// Where to come back to after an action: a dashboard path only (else
/// `otherwise`); one with a control character is refused (400).
fn back_to(back: &Option<String>, otherwise: &str) -> Result<String, UiError> {
    match given(back) {
        Some(b) if b.chars().any(char::is_control) => {
            Err(ApiError::BadRequest("back: must be a path without control characters".into()).into())
        }
        Some(b) if b.starts_with("/ui/") && !b.starts_with("//") => Ok(b.to_owned()),
        _ => Ok(otherwise.to_owned()),
    }
}

/// Appends a change made from the dashboard to the audit log (the change
/// is made: a log that cannot be written is reported, and the page goes on).
async fn audited(app: &App, action: &str, target: &str, summary: &str) {
    if let Err(e) = app.audit_by(DASHBOARD, action, target, summary).await {
        tracing::error!(error = %e, %action, %target, "cannot append to the audit log");
    }
}

/// Who the audit log says acted from the dashboard.
const DASHBOARD: &str = "dashboard (admin session)";

/// `path` with a notice in its query.
fn with_notice(path: &str, notice: &str) -> Response {
    let joiner = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{joiner}{}", query_string(&[("notice", Some(notice))]))).into_response()
}

#[derive(Deserialize)]
pub(crate) struct ActionForm {
    csrf: String,
    back: Option<String>,
}

/// A schedule action (or run now) from a button; back with its result.
pub(crate) async fn act(
    State(app): State<App>,
    session: Session,
    id: Result<ConfigId, ApiError>,
    Path((_, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Response, UiError> {
    session.check(&form.csrf)?;
    let back = back_to(&form.back, "/ui/schedules")?;
    let ConfigId(id) = id?;
    let config = app.config(id).await?;
    let target = format!("config:{id}");
    let notice = if action == "run" {
        let execution = app.run_now(id).await?;
        audited(&app, "run.start", &target, &format!("queued run {execution} from the dashboard")).await;
        format!("Queued a run of {} ({execution}).", config.name)
    } else {
        let action = Action::parse(&action)
            .ok_or_else(|| ApiError::NotFound(format!("no schedule action {action:?}")))?;
        match app.act(id, action, None).await {
            Ok(done) => {
                let logged = format!("schedule.{}", action.as_str());
                audited(&app, &logged, &target, &format!("{} from the dashboard", done.message)).await;
                format!("{}: {} (now {}).", config.name, done.message, done.schedule_status)
            }
            Err(AppError::Conflict(refused)) => format!("{}: {refused}.", config.name),
            Err(e) => return Err(e.into()),
        }
    };
    Ok(with_notice(&back, &notice))
}

#[derive(Deserialize)]
pub(crate) struct RunForm {
    csrf: String,
    back: Option<String>,
    /// JSON merged onto the config's parameters; empty: none.
    #[serde(default)]
    parameters: String,
}

/// "Run with parameters": a run now with a payload (checked in the page
/// first; here again, a 422 if it is not JSON).
pub(crate) async fn run_with(
    State(app): State<App>,
    session: Session,
    id: Result<ConfigId, ApiError>,
    Form(form): Form<RunForm>,
) -> Result<Response, UiError> {
    session.check(&form.csrf)?;
    let ConfigId(id) = id?;
    let back = back_to(&form.back, &format!("/ui/configs/{id}"))?;
    let text = form.parameters.trim();
    let payload = match text.is_empty() {
        true => None,
        false => Some(
            serde_json::from_str(text)
                .map_err(|e| ApiError::invalid("parameters", format!("not JSON: {e}")))?,
        ),
    };
    let config = app.config(id).await?;
    let run = app.run(id, RunInput { payload, key: None }).await?;
    let summary = format!("queued run {} with parameters from the dashboard", run.execution_id);
    audited(&app, "run.start", &format!("config:{id}"), &summary).await;
    Ok(with_notice(
        &back,
        &format!("Queued a run of {} with parameters ({}).", config.name, run.execution_id),
    ))
}

/// "Run again": a new run of the run's config.
pub(crate) async fn run_again(
    State(app): State<App>,
    session: Session,
    id: Result<RecordId, ApiError>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, UiError> {
    session.check(&form.csrf)?;
    let (config, execution) = app.run_config_of(id?.0).await?;
    audited(
        &app,
        "run.start",
        &format!("config:{config}"),
        &format!("queued run {execution} again from the dashboard"),
    )
    .await;
    Ok(with_notice(&format!("/ui/runs?config_id={config}"), &format!("Queued a new run ({execution}).")))
}

/// Retries a failed workflow run from its failed steps.
pub(crate) async fn retry_workflow(
    State(app): State<App>,
    session: Session,
    id: Result<ExecutionId, ApiError>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, UiError> {
    session.check(&form.csrf)?;
    let failed = id?.0;
    let retry = app.retry_workflow(failed).await?;
    audited(
        &app,
        "workflow.retry",
        &format!("workflow-run:{failed}"),
        &format!("queued retry {retry} from the dashboard"),
    )
    .await;
    Ok(with_notice(&format!("/ui/workflow-runs/{retry}"), "Queued a retry from the failed steps."))
}

/// Rescans the plugin directory.
pub(crate) async fn reload(
    State(app): State<App>,
    session: Session,
    Form(form): Form<CsrfForm>,
) -> Result<Response, UiError> {
    session.check(&form.csrf)?;
    let changed = app.reload_plugins().await?;
    audited(&app, "plugins.reload", "plugins", &format!("rescanned from the dashboard: {changed} changed"))
        .await;
    Ok(with_notice("/ui/plugins", &format!("Rescanned the plugin directory: {changed} changed.")))
}

/// "Replay these failures": every failed run the runs page's filter
/// matches, replayed at its exact version and parameters.
pub(crate) async fn replay_failures(
    State(app): State<App>,
    session: Session,
    Form(form): Form<RunsQuery>,
) -> Result<Response, UiError> {
    session.check(form.csrf.as_deref().unwrap_or_default())?;
    let filter = form.filter()?;
    let selector = RunsSelector {
        config_id: filter.config_id,
        task_type: filter.task_type,
        is_success: Some(false),
        since: filter.since,
        until: filter.until,
        tag: None,
    };
    let done = app.replay_in_bulk(selector).await?;
    let summary = format!("replayed {} failed runs from the dashboard ({} refused)", done.done, done.refused);
    audited(&app, "executions.bulk", "executions", &summary).await;
    Ok(with_notice(
        "/ui/runs?outcome=failure",
        &format!("Replayed {} failed runs ({} could not be).", done.done, done.refused),
    ))
}
