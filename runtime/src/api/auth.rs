//! Bearer-token auth. For now one admin token (`TASKBOX_ADMIN_TOKEN`),
//! compared in constant time; every route but the health check needs it.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;

/// The sha256 of a token; only digests are kept and compared.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| digest(t.trim()));
    match presented {
        Some(d) if bool::from(d.ct_eq(&state.admin_token)) => Ok(next.run(request).await),
        _ => Err(ApiError::Unauthorized),
    }
}
