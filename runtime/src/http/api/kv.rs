//! `/kv`: plugins' key-value state, for operators to see and seed. Viewers
//! read; admins write. The same buckets and bounds plugins see.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Query};
use crate::kv::{DEFAULT_BOUNDS, KeyValue, KvError, is_valid_bucket};

const MAX_KEYS_PAGE: usize = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(read, write, delete))
}

/// One page of a bucket's keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    bucket: String,
    keys: Vec<String>,
    /// Pass as `cursor` for the next page; null on the last.
    cursor: Option<String>,
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

/// One key and its value.
#[derive(Debug, Serialize, ToSchema)]
pub struct Entry {
    bucket: String,
    key: String,
    /// The value as text, if it is UTF-8.
    value: Option<String>,
    /// The value's bytes in base64.
    value_base64: String,
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

fn store(state: &AppState) -> Result<Arc<dyn KeyValue>, ApiError> {
    state.kv.clone().ok_or_else(|| ApiError::Unavailable("this process has no key-value store".into()))
}

fn bucket(name: &str) -> Result<(), ApiError> {
    match is_valid_bucket(name) {
        true => Ok(()),
        false => Err(ApiError::invalid("bucket", "1 to 64 of A-Z a-z 0-9 _ - .")),
    }
}

impl From<KvError> for ApiError {
    fn from(e: KvError) -> Self {
        match e {
            KvError::Unavailable(_) => ApiError::Unavailable("the key-value store is unreachable".into()),
            KvError::KeyTooLong(..) | KvError::EmptyKey => ApiError::invalid("key", e),
            KvError::BadCursor(_) => ApiError::invalid("cursor", e),
            KvError::BucketFull(..) => ApiError::Conflict(e.to_string()),
            other => ApiError::invalid("value", other),
        }
    }
}

/// A bucket's keys, a page at a time, in byte order.
#[utoipa::path(get, path = "/kv/{bucket}", operation_id = "list_kv_keys", tag = "kv",
    params(("bucket" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$"), KeysQuery),
    responses((status = 200, body = KeyList)))]
async fn list(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<KeysQuery>,
) -> Result<Json<KeyList>, ApiError> {
    bucket(&name)?;
    let limit = q.limit.unwrap_or(crate::kv::PAGE);
    if !(1..=MAX_KEYS_PAGE).contains(&limit) {
        return Err(ApiError::invalid("limit", format!("must be between 1 and {MAX_KEYS_PAGE}")));
    }
    let page = store(&state)?.keys(&name, q.cursor.as_deref(), limit).await?;
    Ok(Json(KeyList { bucket: name, keys: page.keys, cursor: page.cursor }))
}

/// One key's value.
#[utoipa::path(get, path = "/kv/{bucket}/{key}", operation_id = "read_kv", tag = "kv",
    params(("bucket" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$"),
        ("key" = String, Path, min_length = 1, max_length = 1024, description = "at most 1 KiB in UTF-8")),
    responses((status = 200, body = Entry), (status = 404, body = ErrorBody)))]
async fn read(
    State(state): State<AppState>,
    Path((name, key)): Path<(String, String)>,
) -> Result<Json<Entry>, ApiError> {
    bucket(&name)?;
    DEFAULT_BOUNDS.check_key(&key)?;
    match store(&state)?.get(&name, &key).await? {
        Some(bytes) => Ok(Json(Entry {
            value_base64: BASE64.encode(&bytes),
            value: String::from_utf8(bytes).ok(),
            bucket: name,
            key,
        })),
        None => Err(ApiError::NotFound(format!("bucket {name:?} has no key {key:?}"))),
    }
}

/// Sets one key (admin).
#[utoipa::path(put, path = "/kv/{bucket}/{key}", operation_id = "write_kv", tag = "kv",
    params(("bucket" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$"),
        ("key" = String, Path, min_length = 1, max_length = 1024, description = "at most 1 KiB in UTF-8")), request_body = NewValue,
    responses((status = 200, body = Entry), (status = 409, body = ErrorBody, description = "the bucket holds its bound of keys")))]
async fn write(
    State(state): State<AppState>,
    Path((name, key)): Path<(String, String)>,
    Body(new): Body<NewValue>,
) -> Result<Json<Entry>, ApiError> {
    bucket(&name)?;
    let bytes = match new {
        NewValue::Text(t) => t.value.into_bytes(),
        NewValue::Bytes(b) => {
            BASE64.decode(b.value_base64.trim()).map_err(|e| ApiError::invalid("value_base64", e))?
        }
    };
    store(&state)?.set(&name, &key, &bytes, &DEFAULT_BOUNDS).await?;
    Ok(Json(Entry {
        value_base64: BASE64.encode(&bytes),
        value: String::from_utf8(bytes).ok(),
        bucket: name,
        key,
    }))
}

/// Removes one key (admin).
#[utoipa::path(delete, path = "/kv/{bucket}/{key}", operation_id = "delete_kv", tag = "kv",
    params(("bucket" = String, Path, pattern = r"^[A-Za-z0-9_.-]{1,64}$"),
        ("key" = String, Path, min_length = 1, max_length = 1024, description = "at most 1 KiB in UTF-8")),
    responses((status = 204, description = "removed"), (status = 404, body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    Path((name, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    bucket(&name)?;
    DEFAULT_BOUNDS.check_key(&key)?;
    match store(&state)?.delete(&name, &key).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::NotFound(format!("bucket {name:?} has no key {key:?}"))),
    }
}
