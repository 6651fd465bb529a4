//! The front ends over HTTP, on one port: [`api`] (REST under `/api/v1`,
//! with its OpenAPI document) and [`ui`] (the dashboard at `/ui`), over the
//! state both share ([`state`]), with one error type ([`error`]) and one
//! way to read ids from paths ([`paths`]).
//!
//! Handlers parse a request, call the application layer and map its
//! answer; no business rule lives here.

pub mod api;
pub mod error;
pub mod paths;
pub mod state;
pub mod ui;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use error::ApiError;
pub use state::AppState;

/// The API and the dashboard, on one router.
pub fn router(state: AppState) -> Router {
    api::router(state.clone()).merge(ui::router(state))
}

/// Serves `app` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}
