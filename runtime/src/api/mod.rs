//! The HTTP API (`/api/v1`, JSON): validates requests, calls the config
//! store and the scheduler service, and composes answers. It holds no
//! business rules of its own: status rules live in the scheduler service,
//! records in the store.
//!
//! Each route group owns its `router()`; this module merges them, adds auth
//! and the body limit, and serves.

mod auth;
mod configs;
mod error;
mod executions;
mod extract;
mod metrics;
mod plugins;
mod schedules;
mod system;

pub use auth::generate as generate_token;
pub use error::ApiError;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::queue::Queue;
use crate::registry::Registry;
use crate::scheduler::SchedulerService;
use crate::settings::Role;
use crate::store::{ConfigStore, Page, TokenStore};

/// Largest request body accepted (413 beyond).
pub const MAX_BODY: usize = 1 << 20;
const MAX_PAGE: u32 = 500;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn ConfigStore>,
    pub scheduler: SchedulerService,
    pub registry: Registry,
    /// For the queue depth in `/metrics`.
    pub queue: Arc<dyn Queue>,
    pub tokens: Arc<dyn TokenStore>,
    /// sha256 of `TASKBOX_ADMIN_TOKEN`, if set.
    pub admin_token: Option<[u8; 32]>,
    pub token_cache: Arc<auth::TokenCache>,
    pub roles: BTreeSet<Role>,
    pub started_at: Instant,
}

impl AppState {
    pub fn new(
        store: Arc<dyn ConfigStore>,
        scheduler: SchedulerService,
        registry: Registry,
        queue: Arc<dyn Queue>,
        tokens: Arc<dyn TokenStore>,
        admin_token: Option<&str>,
        roles: BTreeSet<Role>,
    ) -> Self {
        Self {
            store,
            scheduler,
            registry,
            queue,
            tokens,
            admin_token: admin_token.map(auth::digest),
            token_cache: Default::default(),
            roles,
            started_at: Instant::now(),
        }
    }
}

impl AppState {
    /// Runs waiting or in progress on the queue.
    async fn queue_depth(&self) -> Result<u64, ApiError> {
        Ok(self.queue.depth().await?)
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    metrics::handle();
    let protected = Router::new()
        .merge(configs::router())
        .merge(schedules::router())
        .merge(executions::router())
        .merge(plugins::router())
        .merge(system::router())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token));
    let api = Router::new().merge(system::public_router()).merge(protected);
    Router::new()
        .nest("/api/v1", api)
        .route("/metrics", axum::routing::get(metrics::render))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(axum::middleware::from_fn(metrics::count_requests))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Serves until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}

/// The page asked for by `limit` (default 50) and `offset` query parameters.
/// (Query structs list both fields themselves: `serde(flatten)` would turn
/// every number in a query string into a string.)
fn page(limit: Option<u32>, offset: Option<u32>) -> Result<Page, ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("limit", format!("must be between 1 and {MAX_PAGE}")));
    }
    Ok(Page { limit, offset: offset.unwrap_or(0) })
}

/// A config id from a path; anything that is not one names no config (404).
fn config_id(id: &str) -> Result<uuid::Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound(format!("no task config with id {id:?}")))
}

/// A page of a list, as every list endpoint answers.
#[derive(Debug, Serialize)]
pub struct List<T> {
    items: Vec<T>,
    total: u64,
    limit: u32,
    offset: u32,
}

impl<T> List<T> {
    fn new(items: Vec<T>, total: u64, page: Page) -> Self {
        Self { items, total, limit: page.limit, offset: page.offset }
    }
}
