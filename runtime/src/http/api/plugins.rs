//! `/plugins`: what this node serves, one plugin's details (with its load
//! error, where its version came from and this node's file beside it), and
//! a rescan of the plugin directory. Versions live in `versions.rs`.

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::registry::PluginInfo;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(reload)).routes(routes!(read))
}

/// Every file in the plugin directory, loaded or not.
#[utoipa::path(get, path = "/plugins", operation_id = "list_plugins", tag = "plugins", responses((status = 200, body = Vec<PluginInfo>)))]
async fn list(State(state): State<AppState>) -> Json<Vec<PluginInfo>> {
    Json(state.registry.catalog().values().map(|e| e.info.clone()).collect())
}

/// One plugin: shape, digest, size, load time, its load error if any, how
/// the serving version arrived (`origin`), and the digest of this node's
/// file (`directory_digest`): the latest arrival (a changed file, an
/// upload, a rollback) is what serves.
#[utoipa::path(get, path = "/plugins/{name}", operation_id = "read_plugin", tag = "plugins", params(("name" = String, Path)),
    responses((status = 200, body = PluginInfo), (status = 404, body = ErrorBody)))]
async fn read(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<PluginInfo>, ApiError> {
    match state.registry.entry(&name) {
        Some(entry) => Ok(Json(entry.info.clone())),
        None => Err(ApiError::NotFound(format!("no plugin named {name:?}"))),
    }
}

/// Rescan the plugin directory now.
#[utoipa::path(post, path = "/plugins/reload", tag = "plugins", responses((status = 200, body = Vec<PluginInfo>)))]
async fn reload(State(state): State<AppState>) -> Result<Json<Vec<PluginInfo>>, ApiError> {
    crate::reload::rescan(&state.plugins, Some(&state.scheduler))
        .await
        .map_err(|e| ApiError::Internal(format!("scanning {}: {e}", state.registry.dir().display())))?;
    Ok(Json(state.registry.catalog().values().map(|e| e.info.clone()).collect()))
}
