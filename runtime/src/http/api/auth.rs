//! Bearer-token auth: `TASKBOX_ADMIN_TOKEN` (if set) and the tokens in the
//! token store, each `admin` (everything) or `viewer` (GET only). Only
//! sha256 digests are kept and compared (in constant time against the
//! configured token). Store lookups are cached for [`CACHE_TTL`], so a
//! revoked token stops working within that time.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::store::TokenRole;

const CACHE_TTL: Duration = Duration::from_secs(10);

/// The sha256 of a token; only digests are kept and compared.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A new random token (244 random bits) and its sha256 in hex.
pub fn generate() -> (String, String) {
    let token = format!("tbx_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let hash = hex::encode(digest(&token));
    (token, hash)
}

/// Recently looked-up digests and their roles (`None`: not a token).
#[derive(Default)]
pub struct TokenCache(Mutex<HashMap<[u8; 32], Looked>>);

/// A token's role (if it is one) and when that was looked up.
type Looked = (Option<TokenRole>, Instant);

/// The role of the token whose sha256 is `presented`, if it is one (cached
/// for a few seconds, so a revoked token stops working within them).
pub async fn role_of(state: &AppState, presented: [u8; 32]) -> Result<Option<TokenRole>, ApiError> {
    if let Some(admin) = &state.admin_token
        && bool::from(presented.ct_eq(admin))
    {
        return Ok(Some(TokenRole::Admin));
    }
    if let Some((role, at)) = state.token_cache.0.lock().unwrap_or_else(|p| p.into_inner()).get(&presented)
        && at.elapsed() < CACHE_TTL
    {
        return Ok(*role);
    }
    let role = state.tokens.token_role(&hex::encode(presented)).await?;
    let mut cache = state.token_cache.0.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() > 10_000 {
        cache.clear();
    }
    cache.insert(presented, (role, Instant::now()));
    Ok(role)
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is
/// case-insensitive (RFC 9110 §11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(char::is_whitespace)?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Checks the bearer token and the method its role allows, and leaves the
/// role in the request's extensions for routes that are admin-only even to
/// read (secrets).
pub async fn require_token(
    State(state): State<AppState>,
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
    match role_of(&state, presented).await? {
        None => Err(ApiError::Unauthorized),
        Some(TokenRole::Viewer) if !matches!(*request.method(), Method::GET | Method::HEAD) => {
            Err(ApiError::Forbidden("a viewer token is read-only".into()))
        }
        Some(role) => {
            request.extensions_mut().insert(role);
            request.extensions_mut().insert(Presented(presented));
            Ok(next.run(request).await)
        }
    }
}

/// The sha256 of the token a request came with.
#[derive(Debug, Clone, Copy)]
pub struct Presented(pub [u8; 32]);

/// Who acted, in words for records: `token <name>`, or the configured
/// admin token.
pub async fn who(state: &AppState, presented: Presented) -> Result<String, ApiError> {
    if let Some(admin) = &state.admin_token
        && bool::from(presented.0.ct_eq(admin))
    {
        return Ok("TASKBOX_ADMIN_TOKEN".into());
    }
    let name = state.tokens.token_name(&hex::encode(presented.0)).await?;
    Ok(format!("token {}", name.unwrap_or_else(|| "(revoked)".into())))
}
