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

use super::ApiError;
use super::extract::Body;
use crate::app::{Actor, App};
use crate::http::error::ErrorBody;
use crate::http::state::AppState;
use crate::store::SecretInfo;

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

/// Every secret's name and times (admin).
#[utoipa::path(get, path = "/secrets", operation_id = "list_secrets", tag = "secrets",
    responses((status = 200, body = Vec<SecretInfo>)))]
async fn list(
    State(app): State<App>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<Vec<SecretInfo>>, ApiError> {
    Ok(Json(app.secrets_list(&actor).await?))
}

/// Creates or replaces a secret (admin).
#[utoipa::path(put, path = "/secrets/{name}", operation_id = "put_secret", tag = "secrets",
    params(("name" = String, Path, pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")), request_body = SecretValue,
    responses((status = 204, description = "stored")))]
async fn put(
    State(app): State<App>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
    Body(body): Body<SecretValue>,
) -> Result<StatusCode, ApiError> {
    app.secret_put(&actor, &name, &body.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a secret (admin).
#[utoipa::path(delete, path = "/secrets/{name}", operation_id = "delete_secret", tag = "secrets",
    params(("name" = String, Path, pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")),
    responses((status = 204, description = "removed"), (status = 404, body = ErrorBody)))]
async fn delete(
    State(app): State<App>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.secret_delete(&actor, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
