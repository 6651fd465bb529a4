//! The dashboard at `/ui`: server-rendered pages (overview, schedules, a
//! config, runs, a run, a workflow run with its graph, plugins) over the
//! same store and scheduler-service calls as the API, a login that turns an API token into a session
//! cookie, a CSRF token on every form, and headers that keep the pages
//! safe (a Content-Security-Policy without inline script, no framing).
//!
//! Owns presentation only: every read and action is a call of the
//! application layer the API makes too; no business rule lives here. Everything from
//! users or guests is escaped by the templates (maud).

mod actions;
mod assets;
mod charts;
mod graph;
mod layout;
mod pages;
mod partials;
mod session;
mod words;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::app::AppError;
use crate::http::error::ApiError;
use crate::http::state::AppState;

/// The dashboard's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(pages::overview))
        .route("/ui/login", get(session::login_form).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route("/ui/schedules", get(pages::schedules))
        .route("/ui/schedules/{id}/{action}", post(actions::act))
        .route("/ui/configs/{id}", get(pages::config))
        .route("/ui/configs/{id}/run", post(actions::run_with))
        .route("/ui/runs", get(pages::runs))
        .route("/ui/runs/rows", get(pages::run_rows))
        .route("/ui/runs/replay", post(actions::replay_failures))
        .route("/ui/runs/{id}", get(pages::run))
        .route("/ui/runs/{id}/again", post(actions::run_again))
        .route("/ui/workflow-runs/{id}", get(pages::workflow_run))
        .route("/ui/workflow-runs/{id}/retry", post(actions::retry_workflow))
        .route("/ui/plugins", get(pages::plugins))
        .route("/ui/audit", get(pages::audit))
        .route("/ui/plugins/reload", post(actions::reload))
        .route("/ui/assets/{file}", get(assets::serve))
        .layer(axum::middleware::from_fn(safe_headers))
        .with_state(state)
}

/// Every page: only this origin's scripts, styles and images, no inline
/// script or style, no framing, no referrer, no sniffing, no caching of
/// pages (assets say otherwise themselves).
async fn safe_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    let csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
               form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Why a page cannot be shown: the API's reasons, as a page; or not
/// logged in (to the login page).
#[derive(Debug)]
pub(crate) enum UiError {
    Login,
    Api(ApiError),
}

macro_rules! from_api_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for UiError {
            fn from(e: $t) -> Self {
                UiError::Api(e.into())
            }
        }
    )*};
}
from_api_errors!(ApiError, AppError);

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::Login => Redirect::to("/ui/login").into_response(),
            UiError::Api(e) => {
                let status = e.status();
                if status == StatusCode::INTERNAL_SERVER_ERROR {
                    tracing::error!(error = ?e, "internal error answering a dashboard page");
                }
                let message = e.to_string();
                let page = layout::bare(status.canonical_reason().unwrap_or("Error"), &message);
                (status, axum::response::Html(page.into_string())).into_response()
            }
        }
    }
}
