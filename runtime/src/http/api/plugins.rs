//! `/plugins`: what this node serves, one plugin's details (with its load
//! error, where its version came from and this node's file beside it), and
//! a rescan of the plugin directory. Versions live in `versions.rs`.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use crate::app::App;
use crate::http::error::ErrorBody;
use crate::http::paths::PluginName;
use crate::http::state::AppState;
use crate::plugins::registry::PluginInfo;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(reload)).routes(routes!(read))
}

/// Every file in the plugin directory, loaded or not.
#[utoipa::path(get, path = "/plugins", operation_id = "list_plugins", tag = "plugins", responses((status = 200, body = Vec<PluginInfo>)))]
async fn list(State(app): State<App>) -> Json<Vec<PluginInfo>> {
    Json(app.plugins())
}

/// One plugin: shape, digest, size, load time, its load error if any, how
/// the serving version arrived (`origin`), and the digest of this node's
/// file (`directory_digest`): the latest arrival (a changed file, an
/// upload, a rollback) is what serves.
#[utoipa::path(get, path = "/plugins/{name}", operation_id = "read_plugin", tag = "plugins", params(("name" = String, Path)),
    responses((status = 200, body = PluginInfo), (status = 404, body = ErrorBody)))]
async fn read(State(app): State<App>, PluginName(name): PluginName) -> Result<Json<PluginInfo>, ApiError> {
    Ok(Json(app.plugin(&name)?))
}

/// Rescan the plugin directory now.
#[utoipa::path(post, path = "/plugins/reload", operation_id = "reload_plugins", tag = "plugins", responses((status = 200, body = Vec<PluginInfo>)))]
async fn reload(State(app): State<App>) -> Result<Json<Vec<PluginInfo>>, ApiError> {
    app.reload_plugins().await?;
    Ok(Json(app.plugins()))
}
