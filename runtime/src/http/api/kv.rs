//! `/kv`: plugins' key-value state, for operators to see and seed. Viewers
//! read; admins write. The same buckets and bounds plugins see.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use super::extract::{Body, Query};
use crate::app::{App, Entry, KeyList};
use crate::http::error::ErrorBody;
use crate::http::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(read, write, delete))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeysQuery {
    /// Where the previous page ended (the `cursor` of its answer).
    #[param(pattern = r"^[^\u0000]*$")]
    cursor: Option<String>,
    /// Keys per page, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// A value to store: as text, or as bytes in base64.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum NewValue {
    Text(TextValue),
    Bytes(BytesValue),
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextValue {
    value: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BytesValue {
    /// Standard base64 with padding.
    #[schema(format = Byte)]
    value_base64: String,
}

/// A bucket's keys, a page at a time, in byte order.
#[utoipa::path(get, path = "/kv/{bucket}", operation_id = "list_kv_keys", tag = "kv",
    params(("bucket" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$"), KeysQuery),
    responses((status = 200, body = KeyList)))]
async fn list(
    State(app): State<App>,
    Path(name): Path<String>,
    Query(q): Query<KeysQuery>,
) -> Result<Json<KeyList>, ApiError> {
    Ok(Json(app.kv_keys(&name, q.cursor.as_deref(), q.limit).await?))
}

/// One key's value.
#[utoipa::path(get, path = "/kv/{bucket}/{key}", operation_id = "read_kv", tag = "kv",
    params(("bucket" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$"),
        ("key" = String, Path, min_length = 1, max_length = 1024, description = "at most 1 KiB in UTF-8")),
    responses((status = 200, body = Entry), (status = 404, body = ErrorBody)))]
async fn read(
    State(app): State<App>,
    Path((name, key)): Path<(String, String)>,
) -> Result<Json<Entry>, ApiError> {
    Ok(Json(app.kv_get(&name, &key).await?))
}

/// Sets one key (admin).
#[utoipa::path(put, path = "/kv/{bucket}/{key}", operation_id = "write_kv", tag = "kv",
    params(("bucket" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$"),
        ("key" = String, Path, min_length = 1, max_length = 1024, description = "at most 1 KiB in UTF-8")), request_body = NewValue,
    responses((status = 200, body = Entry), (status = 409, body = ErrorBody, description = "the bucket holds its bound of keys")))]
async fn write(
    State(app): State<App>,
    Path((name, key)): Path<(String, String)>,
    Body(new): Body<NewValue>,
) -> Result<Json<Entry>, ApiError> {
    let bytes = match new {
        NewValue::Text(t) => t.value.into_bytes(),
        NewValue::Bytes(b) => {
            BASE64.decode(b.value_base64.trim()).map_err(|e| ApiError::invalid("value_base64", e))?
        }
    };
    Ok(Json(app.kv_set(&name, &key, bytes).await?))
}

/// Removes one key (admin).
#[utoipa::path(delete, path = "/kv/{bucket}/{key}", operation_id = "delete_kv", tag = "kv",
    params(("bucket" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$"),
        ("key" = String, Path, min_length = 1, max_length = 1024, description = "at most 1 KiB in UTF-8")),
    responses((status = 204, description = "removed"), (status = 404, body = ErrorBody)))]
async fn delete(
    State(app): State<App>,
    Path((name, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    app.kv_delete(&name, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}
