//! `/secrets`: the secrets plugins may be granted. Admin only, even to
//! list; a value goes in and never comes out (answers carry names and
//! times).

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::Body;
use crate::secrets::{MAX_VALUE_CHARS, Secrets, SecretsError, is_valid_name};
use crate::store::{SecretInfo, TokenRole};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(put, delete))
}

/// A secret's new value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretValue {
    #[schema(min_length = 1, max_length = 16384)]
    value: String,
}

fn admin(role: Option<Extension<TokenRole>>) -> Result<(), ApiError> {
    match role.map(|Extension(r)| r) {
        Some(TokenRole::Admin) => Ok(()),
        _ => Err(ApiError::Forbidden("secrets are for admin tokens only".into())),
    }
}

fn secrets(state: &AppState) -> Result<&Secrets, ApiError> {
    state.secrets.as_ref().ok_or_else(|| ApiError::Unavailable("this process holds no secret key".into()))
}

fn name(name: &str) -> Result<(), ApiError> {
    match is_valid_name(name) {
        true => Ok(()),
        false => {
            Err(ApiError::invalid("name", "a name like SLACK_WEBHOOK ([A-Za-z_][A-Za-z0-9_]*, up to 128)"))
        }
    }
}

impl From<SecretsError> for ApiError {
    fn from(e: SecretsError) -> Self {
        match e {
            SecretsError::Store(e) => e.into(),
            SecretsError::Missing(_) => ApiError::NotFound(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Every secret's name and times (admin).
#[utoipa::path(get, path = "/secrets", operation_id = "list_secrets", tag = "secrets",
    responses((status = 200, body = Vec<SecretInfo>)))]
async fn list(
    State(state): State<AppState>,
    role: Option<Extension<TokenRole>>,
) -> Result<Json<Vec<SecretInfo>>, ApiError> {
    admin(role)?;
    Ok(Json(secrets(&state)?.list().await?))
}

/// Creates or replaces a secret (admin).
#[utoipa::path(put, path = "/secrets/{name}", operation_id = "put_secret", tag = "secrets",
    params(("name" = String, Path, pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")), request_body = SecretValue,
    responses((status = 204, description = "stored")))]
async fn put(
    State(state): State<AppState>,
    role: Option<Extension<TokenRole>>,
    Path(secret): Path<String>,
    Body(body): Body<SecretValue>,
) -> Result<StatusCode, ApiError> {
    admin(role)?;
    name(&secret)?;
    if body.value.is_empty() || body.value.chars().count() > MAX_VALUE_CHARS {
        return Err(ApiError::invalid("value", format!("must be 1 to {MAX_VALUE_CHARS} characters")));
    }
    secrets(&state)?.put(&secret, &body.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a secret (admin).
#[utoipa::path(delete, path = "/secrets/{name}", operation_id = "delete_secret", tag = "secrets",
    params(("name" = String, Path, pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")),
    responses((status = 204, description = "removed"), (status = 404, body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    role: Option<Extension<TokenRole>>,
    Path(secret): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(role)?;
    name(&secret)?;
    match secrets(&state)?.delete(&secret).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::NotFound(format!("no secret named {secret:?}"))),
    }
}
