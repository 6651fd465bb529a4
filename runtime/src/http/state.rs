//! What every handler of both front ends can reach: the application layer
//! and the few settings that are HTTP's own. Handlers take `State<App>`
//! (or `State<AppState>` where they need the rest).

use axum::extract::FromRef;

use crate::app::App;

/// Largest request body accepted, JSON or form (413 beyond).
pub const MAX_BODY: usize = 1 << 20;

#[derive(Clone)]
pub struct AppState {
    pub app: App,
    /// Largest plugin upload, in bytes (413 beyond).
    pub max_upload_bytes: u64,
    /// Largest webhook delivery, in bytes (413 beyond).
    pub max_hook_bytes: usize,
}

impl AppState {
    pub fn new(app: App, max_upload_bytes: u64, max_hook_bytes: usize) -> Self {
        Self { app, max_upload_bytes, max_hook_bytes }
    }
}

impl FromRef<AppState> for App {
    fn from_ref(state: &AppState) -> App {
        state.app.clone()
    }
}
