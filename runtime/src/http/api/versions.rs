//! `/plugins/{name}` as versioned artifacts: upload a new version (it
//! becomes current on every node), list the versions with what refers to
//! them, read one (its metadata or its component), roll back to one, and
//! delete one that nothing needs.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Body as JsonBody, Query};
use super::{ApiError, List};
use crate::app::{App, Published, page};
use crate::http::error::ErrorBody;
use crate::http::paths::PluginName;
use crate::http::state::AppState;
use crate::plugins::artifacts::Upload;
use crate::store::PluginVersion;

/// The header an upload's sidecar comes in, as base64 of its TOML text.
pub const SIDECAR_HEADER: &str = "taskbox-sidecar";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(versions))
        .routes(routes!(version, remove))
        .routes(routes!(component))
        .routes(routes!(rollback))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackTo {
    /// A digest from `GET /plugins/{name}/versions`.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    digest: String,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    #[param(maximum = 2147483647)]
    offset: Option<u32>,
}

/// Upload a component as the new current version of task type `name`, on
/// every node (within about a second). The body is the component; a
/// sidecar may come as base64 of its TOML in the `Taskbox-Sidecar` header.
/// It is validated exactly as a file in the plugin directory: a broken
/// one is a 422 naming the reason, and nothing changes.
#[utoipa::path(put, path = "/plugins/{name}", operation_id = "upload_plugin", tag = "plugins",
    params(("name" = String, Path, pattern = "^[a-z0-9_-]{1,64}$"),
        ("taskbox-sidecar" = Option<String>, Header, description = "the sidecar's TOML text, base64")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the component (any content type: application/wasm is usual)"),
    responses((status = 201, body = Published, description = "a new version, now current"),
        (status = 200, body = Published, description = "a known version, now current"),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn upload(
    State(state): State<AppState>,
    PluginName(name): PluginName,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    state.app.accepts_upload(&name)?;
    let sidecar = sidecar(&headers)?;
    let (spooled, digest, size) = spool(body, state.max_upload_bytes).await?;
    let upload = Upload { name, file: spooled.path().to_owned(), digest, size, sidecar };
    let (published, created) = state.app.upload_plugin(upload).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(published)))
}

/// The versions of task type `name`, most recently seen first: digest,
/// size, shape, how it arrived, first and last seen, runs recorded with
/// it, configs pinned to it, and which is current.
#[utoipa::path(get, path = "/plugins/{name}/versions", operation_id = "list_plugin_versions", tag = "plugins",
    params(("name" = String, Path), PageQuery),
    responses((status = 200, body = List<PluginVersion>), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn versions(
    State(app): State<App>,
    PluginName(name): PluginName,
    Query(q): Query<PageQuery>,
) -> Result<Json<List<PluginVersion>>, ApiError> {
    let page = page(q.limit, q.offset)?;
    Ok(Json(List::new(app.plugin_versions(&name, page).await?, page)))
}

/// One version of task type `name`, with its sidecar text.
#[utoipa::path(get, path = "/plugins/{name}/versions/{digest}", operation_id = "read_plugin_version", tag = "plugins",
    params(("name" = String, Path), ("digest" = String, Path)),
    responses((status = 200, body = PluginVersion), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn version(
    State(app): State<App>,
    Path((name, digest)): Path<(String, String)>,
) -> Result<Json<PluginVersion>, ApiError> {
    Ok(Json(app.plugin_version(&name, &digest).await?))
}

/// The component of one version, as it was stored (what
/// `taskbox replay` runs).
#[utoipa::path(get, path = "/plugins/{name}/versions/{digest}/component", operation_id = "read_plugin_component",
    tag = "plugins", params(("name" = String, Path), ("digest" = String, Path)),
    responses((status = 200, content_type = "application/wasm", body = Vec<u8>), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn component(
    State(app): State<App>,
    Path((name, digest)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let bytes = app.plugin_component(&name, &digest).await?;
    Ok(([(header::CONTENT_TYPE, "application/wasm")], bytes).into_response())
}

/// Make an older version of task type `name` current again, on every
/// node; configs that follow the current version get a history event.
#[utoipa::path(post, path = "/plugins/{name}/rollback", operation_id = "rollback_plugin", tag = "plugins",
    params(("name" = String, Path)), request_body = RollbackTo,
    responses((status = 200, body = Published), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn rollback(
    State(app): State<App>,
    PluginName(name): PluginName,
    JsonBody(to): JsonBody<RollbackTo>,
) -> Result<Json<Published>, ApiError> {
    Ok(Json(app.rollback_plugin(&name, &to.digest).await?))
}

/// Delete a version nothing needs: refused (409) while it is current or a
/// config pins it. Records that ran it keep its digest.
#[utoipa::path(delete, path = "/plugins/{name}/versions/{digest}", operation_id = "delete_plugin_version",
    tag = "plugins", params(("name" = String, Path), ("digest" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn remove(
    State(app): State<App>,
    Path((name, digest)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    app.delete_plugin_version(&name, &digest).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The sidecar text from its header, if there is one.
fn sidecar(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(SIDECAR_HEADER) else { return Ok(None) };
    let bad = |why: &str| ApiError::invalid("Taskbox-Sidecar", why);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.as_bytes())
        .map_err(|_| bad("must be the sidecar's TOML text in base64"))?;
    String::from_utf8(bytes).map(Some).map_err(|_| bad("the sidecar must be UTF-8 text"))
}

/// Writes the body into a private temporary file as it arrives, hashing
/// it; refuses it past `limit` bytes.
async fn spool(body: Body, limit: u64) -> Result<(tempfile::NamedTempFile, String, u64), ApiError> {
    let internal = |e: std::io::Error| ApiError::Internal(format!("spooling an upload: {e}"));
    let spooled = tempfile::Builder::new().prefix("taskbox-upload-").tempfile().map_err(internal)?;
    let mut file = tokio::fs::File::from_std(spooled.reopen().map_err(internal)?);
    let (mut hash, mut size) = (Sha256::new(), 0u64);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(ApiError::TooLarge(format!(
                "the component is over the upload limit of {} MiB (TASKBOX_MAX_UPLOAD_MB)",
                limit >> 20
            )));
        }
        hash.update(&chunk);
        file.write_all(&chunk).await.map_err(internal)?;
    }
    file.flush().await.map_err(internal)?;
    if size == 0 {
        return Err(ApiError::invalid("component", "the body is empty: send the .wasm file as the body"));
    }
    Ok((spooled, hex::encode(hash.finalize()), size))
}
