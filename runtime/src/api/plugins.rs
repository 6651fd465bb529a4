//! `/plugins`: what the registry loaded, one plugin's details (with its
//! load error), and a rescan of the plugin directory.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::AppState;
use super::error::ApiError;
use crate::registry::PluginInfo;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/plugins", get(list))
        .route("/plugins/reload", post(reload))
        .route("/plugins/{name}", get(read))
}

async fn list(State(state): State<AppState>) -> Json<Vec<PluginInfo>> {
    Json(state.registry.catalog().values().map(|e| e.info.clone()).collect())
}

async fn read(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<PluginInfo>, ApiError> {
    match state.registry.entry(&name) {
        Some(entry) => Ok(Json(entry.info.clone())),
        None => Err(ApiError::NotFound(format!("no plugin named {name:?}"))),
    }
}

async fn reload(State(state): State<AppState>) -> Result<Json<Vec<PluginInfo>>, ApiError> {
    let catalog = state
        .registry
        .scan()
        .await
        .map_err(|e| ApiError::Internal(format!("scanning {}: {e}", state.registry.dir().display())))?;
    Ok(Json(catalog.values().map(|e| e.info.clone()).collect()))
}
