//! Bearer-token auth for `/api/v1`: the `Authorization: Bearer <token>`
//! header, checked by the application layer's tokens; a viewer may only
//! read. The [`Actor`] is left in the request for handlers that need to
//! know who acted (cancel) or that are admin-only even to read (secrets).

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::ApiError;
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
            request.extensions_mut().insert::<Actor>(actor);
            Ok(next.run(request).await)
        }
    }
}
