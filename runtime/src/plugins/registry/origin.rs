//! How a plugin arrived: a file in a plugin directory, or an upload. What
//! its sidecar may grant depends on it (`dirs.rs`).

use serde::Serialize;

/// How the version a node serves arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A file in a plugin directory.
    Directory,
    /// An upload (`PUT /api/v1/plugins/{name}`).
    Upload,
}
