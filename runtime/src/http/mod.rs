//! The front ends over HTTP, on one port: [`api`] (REST under `/api/v1`,
//! with its OpenAPI document) and [`ui`] (the dashboard at `/ui`), over the
//! state both share ([`state`]), with one error type ([`error`]), one way
//! to read ids from paths ([`paths`]), and one way to serve them within
//! the bounds slow or many clients must meet ([`serve()`]).
//!
//! Handlers parse a request, call the application layer and map its
//! answer; no business rule lives here.

pub mod api;
pub mod error;
pub mod paths;
mod serve;
pub mod state;
pub mod ui;

use axum::Router;

pub use error::ApiError;
pub use serve::{Limits, peer, serve};
pub use state::AppState;

/// The API and the dashboard, on one router.
pub fn router(state: AppState) -> Router {
    api::router(state.clone()).merge(ui::router(state))
}
