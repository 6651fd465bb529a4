//! Logging in and out, and who a request is. A login takes an API token
//! (the API's tokens and roles), checks it, and answers a session cookie:
//! a random id (256 bits) of which only the sha256 is stored, HttpOnly,
//! SameSite=Strict, Secure when served over https, ending after
//! [`SESSION_HOURS`]. A session stands for its token: revoking the token
//! ends it. Every form carries the session's CSRF token, checked on POST;
//! the login form carries one of its own (a cookie of the same value).
//! No token ever appears in a URL or a log.

use axum::extract::{ConnectInfo, Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;
use std::net::SocketAddr;
use subtle::ConstantTimeEq;

use super::{UiError, layout};
use crate::app::tokens::digest as token_digest;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::{TokenRole, UiSession};

/// How long a login lasts.
pub const SESSION_HOURS: i64 = 12;
const COOKIE: &str = "taskbox_session";
const LOGIN_COOKIE: &str = "taskbox_login";

/// A logged-in request: its role and the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub role: TokenRole,
    pub csrf: String,
    /// The sha256 of the cookie's value (the session's key).
    id_sha256: String,
}

impl Session {
    pub fn may_act(&self) -> bool {
        self.role == TokenRole::Admin
    }

    /// For a state-changing form: the CSRF token must match, and the role
    /// must allow it (403 otherwise; nothing changes).
    pub fn check(&self, csrf: &str) -> Result<(), UiError> {
        if !bool::from(csrf.as_bytes().ct_eq(self.csrf.as_bytes())) {
            return Err(
                ApiError::Forbidden("the form's CSRF token does not match this session".into()).into()
            );
        }
        if !self.may_act() {
            return Err(ApiError::Forbidden("a viewer token is read-only".into()).into());
        }
        Ok(())
    }
}

fn random() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// The stored key of a session: the sha256 of its cookie's value, in hex.
fn sha256(text: &str) -> String {
    hex::encode(token_digest(text))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|part| {
            let (k, v) = part.trim().split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
}

/// Served over https (directly, or behind a proxy that says so)?
fn https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

fn set_cookie(name: &str, value: &str, max_age: i64, headers: &HeaderMap) -> String {
    let secure = if https(headers) { "; Secure" } else { "" };
    format!("{name}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

impl FromRequestParts<AppState> for Session {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, UiError> {
        let Some(id) = cookie(&parts.headers, COOKIE) else { return Err(UiError::Login) };
        let id_sha256 = sha256(&id);
        let Some(session) = state.app.session(&id_sha256).await? else { return Err(UiError::Login) };
        let token: [u8; 32] = match hex::decode(&session.token_sha256).ok().and_then(|b| b.try_into().ok()) {
            Some(t) => t,
            None => return Err(UiError::Login),
        };
        // The token may have been revoked since: then the session ends.
        let client = crate::http::peer(parts).map(|p| p.ip());
        match state.app.tokens().actor(token, client).await? {
            Some(actor) => Ok(Session { role: actor.role, csrf: session.csrf, id_sha256 }),
            None => Err(UiError::Login),
        }
    }
}

/// The login page.
pub(crate) async fn login_form(headers: HeaderMap) -> Response {
    let csrf = random();
    let page = layout::login(&csrf, None);
    let cookie = set_cookie(LOGIN_COOKIE, &csrf, 600, &headers);
    ([(header::SET_COOKIE, cookie)], Html(page.into_string())).into_response()
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    token: String,
    csrf: String,
}

/// Checks the token and starts a session.
pub(crate) async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, UiError> {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(form.csrf.as_bytes())) {
        return Err(ApiError::Forbidden("the login form expired; load the login page again".into()).into());
    }
    let digest = token_digest(form.token.trim());
    if state.app.tokens().actor(digest, Some(peer.ip())).await?.is_none() {
        let csrf = random();
        let page = layout::login(&csrf, Some("That token is not valid."));
        let cookie = set_cookie(LOGIN_COOKIE, &csrf, 600, &headers);
        return Ok((StatusCode::UNAUTHORIZED, [(header::SET_COOKIE, cookie)], Html(page.into_string()))
            .into_response());
    }
    let id = random();
    let session = UiSession {
        token_sha256: hex::encode(digest),
        csrf: random(),
        expires_at: Utc::now() + chrono::Duration::hours(SESSION_HOURS),
    };
    state.app.create_session(&sha256(&id), &session).await?;
    let session_cookie = set_cookie(COOKIE, &id, SESSION_HOURS * 3600, &headers);
    let clear_login = set_cookie(LOGIN_COOKIE, "", 0, &headers);
    let mut response = Redirect::to("/ui/").into_response();
    response.headers_mut().append(header::SET_COOKIE, session_cookie.parse().expect("a cookie header"));
    response.headers_mut().append(header::SET_COOKIE, clear_login.parse().expect("a cookie header"));
    Ok(response)
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    pub csrf: String,
}

/// Ends the session (any role may log out).
pub(crate) async fn logout(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, UiError> {
    if !bool::from(form.csrf.as_bytes().ct_eq(session.csrf.as_bytes())) {
        return Err(ApiError::Forbidden("the form's CSRF token does not match this session".into()).into());
    }
    state.app.delete_session(&session.id_sha256).await?;
    let clear = set_cookie(COOKIE, "", 0, &headers);
    Ok(([(header::SET_COOKIE, clear)], Redirect::to("/ui/login")).into_response())
}

impl Session {
    /// Who is looking, for the page shell.
    pub fn viewer(&self) -> layout::Viewer<'_> {
        layout::Viewer { admin: self.may_act(), csrf: &self.csrf }
    }

    /// The hidden CSRF field of this session's forms.
    pub fn csrf_field(&self) -> maud::Markup {
        layout::csrf_field(&self.csrf)
    }
}
