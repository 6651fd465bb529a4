//! Bearer-token auth for `/api/v1`: the `Authorization: Bearer <token>`
//! header, checked by the application layer's tokens; a viewer may only
//! read. The [`Actor`] is left in the request for handlers that need to
//! know who acted (cancel) or that are admin-only even to read (secrets).

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::ApiError;
use super::audit::{AuditTarget, describe};
use crate::app::tokens::digest;
use crate::app::{Actor, App};

/// The token of an `Authorization: Bearer <token>` value; the scheme is
/// case-insensitive (RFC 9110 §11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(char::is_whitespace)?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Checks the bearer token and the method its role allows, and leaves the
/// [`Actor`] in the request's extensions.
pub async fn require_token(
    State(app): State<App>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .map(digest)
        .ok_or(ApiError::Unauthorized)?;
    let client =
        request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    match app.tokens().actor(presented, client).await? {
        None => Err(ApiError::Unauthorized),
        Some(actor) if !actor.is_admin() && !matches!(*request.method(), Method::GET | Method::HEAD) => {
            Err(ApiError::Forbidden("a viewer token is read-only".into()))
        }
        Some(actor) => {
            let method = request.method().clone();
            let changes = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
            let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
            let path = request.uri().path().to_owned();
            request.extensions_mut().insert::<Actor>(actor);
            let response = next.run(request).await;
            if let (true, true, Some(route)) = (changes, response.status().is_success(), route) {
                let target = response.extensions().get::<AuditTarget>().map(|t| t.0.clone());
                let status = response.status().as_u16();
                log_change(&app, &actor, (&method, &route, &path), target, status).await;
            }
            Ok(response)
        }
    }
}

/// Appends a change that succeeded to the audit log: named by its route,
/// its target by the route's parameters (or the handler's
/// [`AuditTarget`]). The change is made: a log that cannot be written is
/// reported, and the answer stands.
async fn log_change(
    app: &App,
    actor: &Actor,
    (method, route, path): (&Method, &str, &str),
    target: Option<String>,
    status: u16,
) {
    let Some((action, named)) = describe(method, route, path) else { return };
    let target = target.unwrap_or(named);
    let summary = format!("{method} {path} answered {status}");
    if let Err(e) = app.audit(actor, &action, &target, &summary).await {
        tracing::error!(error = %e, %action, %target, "cannot append to the audit log");
    }
}
