//! The HTTP API (`/api/v1`, JSON): validates requests, calls the config
//! store and the scheduler service, and composes answers. It holds no
//! business rules of its own: status rules live in the scheduler service,
//! records in the store.
//!
//! Each route group owns its `router()`, built with utoipa-axum so that a
//! route and its OpenAPI entry are one declaration; this module merges them,
//! adds auth and the body limit, serves `/openapi.json` and `/docs` (Swagger
//! UI, assets compiled in), and serves.

mod auth;
mod configs;
mod error;
mod executions;
mod extract;
mod kv;
mod links;
mod metrics;
mod plugins;
mod schedules;
mod secrets;
mod system;
mod versions;

pub use auth::generate as generate_token;
pub use auth::{digest as token_digest, role_of};
pub use error::ApiError;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::watch;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::artifacts::Artifacts;
use crate::kv::KeyValue;
use crate::queue::QueueStats;
use crate::registry::Registry;
use crate::scheduler::SchedulerService;
use crate::secrets::Secrets;
use crate::settings::Role;
use crate::store::{ConfigStore, Page, TokenStore};
use crate::store::{DashboardStore, DeliveryStore};

/// Largest request body accepted (413 beyond).
pub const MAX_BODY: usize = 1 << 20;
const MAX_PAGE: u32 = 500;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn ConfigStore>,
    pub scheduler: SchedulerService,
    pub registry: Registry,
    /// Versions, uploads and rollbacks over `registry`.
    pub plugins: Artifacts,
    /// Largest plugin upload, in bytes (413 beyond).
    pub max_upload_bytes: u64,
    /// Queue depth and live workers (`/metrics`, `/system`).
    pub queue: Arc<dyn QueueStats>,
    pub tokens: Arc<dyn TokenStore>,
    /// sha256 of `TASKBOX_ADMIN_TOKEN`, if set.
    pub admin_token: Option<[u8; 32]>,
    pub token_cache: Arc<auth::TokenCache>,
    pub roles: BTreeSet<Role>,
    pub started_at: Instant,
    /// `redis` or `local`, for `/system/status`.
    pub backend_kind: &'static str,
    /// Plugins' key-value state (`/kv`); `None`: 503.
    pub kv: Option<Arc<dyn KeyValue>>,
    /// Secrets (`/secrets`); `None`: 503.
    pub secrets: Option<Secrets>,
    /// Notification deliveries, shown with a run; `None`: none shown.
    pub deliveries: Option<Arc<dyn DeliveryStore>>,
    /// What the dashboard reads and its sessions; `None`: `/ui` answers 503.
    pub dashboard: Option<Arc<dyn DashboardStore>>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn ConfigStore>,
        scheduler: SchedulerService,
        registry: Registry,
        queue: Arc<dyn QueueStats>,
        tokens: Arc<dyn TokenStore>,
        admin_token: Option<&str>,
        roles: BTreeSet<Role>,
    ) -> Self {
        Self {
            store,
            scheduler,
            plugins: Artifacts::directory_only(registry.clone()),
            max_upload_bytes: 64 << 20,
            registry,
            queue,
            tokens,
            admin_token: admin_token.map(auth::digest),
            token_cache: Default::default(),
            roles,
            started_at: Instant::now(),
            backend_kind: "redis",
            kv: None,
            secrets: None,
            deliveries: None,
            dashboard: None,
        }
    }

    /// Serves the dashboard (`/ui`) from `dashboard`.
    pub fn with_dashboard(mut self, dashboard: Arc<dyn DashboardStore>) -> Self {
        self.dashboard = Some(dashboard);
        self
    }

    /// Shows each run's notification deliveries from `deliveries`.
    pub fn with_deliveries(mut self, deliveries: Arc<dyn DeliveryStore>) -> Self {
        self.deliveries = Some(deliveries);
        self
    }

    /// Serves `/kv` from `kv` and `/secrets` from `secrets`.
    pub fn with_doors(mut self, kv: Arc<dyn KeyValue>, secrets: Secrets) -> Self {
        self.kv = Some(kv);
        self.secrets = Some(secrets);
        self
    }

    /// Keeps plugin versions through `plugins` (`PUT /plugins/{name}` and
    /// the version routes), accepting uploads of up to `max_upload_bytes`.
    pub fn with_artifacts(mut self, plugins: Artifacts, max_upload_bytes: u64) -> Self {
        self.registry = plugins.registry().clone();
        self.plugins = plugins;
        self.max_upload_bytes = max_upload_bytes;
        self
    }

    /// Names the schedule backend in `/system/status`.
    pub fn with_backend_kind(mut self, kind: &'static str) -> Self {
        self.backend_kind = kind;
        self
    }
}

impl AppState {
    /// Runs waiting or in progress on the queue.
    async fn queue_depth(&self) -> Result<u64, ApiError> {
        Ok(self.queue.depth().await?)
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "taskbox", description = "Schedule and run WebAssembly tasks. \
        Every route under /api/v1 except /system/health takes `Authorization: Bearer <token>`; \
        viewer tokens may only GET."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "configs", description = "Task configs: the static definition of a task"),
        (name = "schedules", description = "Schedule actions, next runs and history"),
        (name = "executions", description = "Execution records"),
        (name = "plugins", description = "The plugin registry"),
        (name = "kv", description = "Plugins' key-value state, by bucket"),
        (name = "secrets", description = "Secrets for plugins (admin only; values are never answered)"),
        (name = "system", description = "Health, status, enums, dashboard"),
        (name = "ops", description = "Operations"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// Adds the answers every protected operation can give (401, 403, 413,
/// 422, 503; 400 where it takes a body) to each one that does not describe
/// them itself, in the one error shape; `/system/health` and `/metrics`
/// need no token.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Ref, ResponseBuilder};
        let common = [
            ("401", "missing or invalid bearer token"),
            ("403", "a viewer token may only read (and not even that for secrets)"),
            ("413", "the request body is over 1 MiB"),
            ("422", "a parameter or field is invalid (the message names it)"),
            ("503", "the database or the schedule backend is unreachable"),
        ];
        let with_body = [("400", "the body is not JSON, or not sent as application/json")];
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/api/v1/") || path == "/api/v1/system/health" {
                continue;
            }
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
            ];
            for operation in operations.into_iter().flatten() {
                let body = operation.request_body.is_some().then_some(with_body).into_iter().flatten();
                for (status, description) in common.into_iter().chain(body) {
                    let answer = ResponseBuilder::new()
                        .description(description)
                        .content_ref("application/json", Ref::from_schema_name("ErrorBody"))
                        .build();
                    operation.responses.responses.entry(status.to_owned()).or_insert(answer.into());
                }
            }
        }
    }
}

/// The routes with their OpenAPI description, before state is attached.
fn documented(state: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let protected = OpenApiRouter::new()
        .merge(configs::router())
        .merge(schedules::router())
        .merge(executions::router())
        .merge(plugins::router())
        .merge(versions::router())
        .merge(kv::router())
        .merge(secrets::router())
        .merge(system::router())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token));
    let api = OpenApiRouter::new().merge(system::public_router()).merge(protected);
    let (routes, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api)
        .routes(routes!(metrics::render))
        .split_for_parts();
    // After the merge: only now are the routes' operations in the document.
    CommonErrors.modify(&mut doc);
    links::add(&mut doc);
    (routes, doc)
}

/// Installs the process-wide metrics recorder (once), so that what the
/// other parts record before the API is built is kept for `/metrics`.
pub fn install_metrics() {
    metrics::handle();
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    metrics::handle();
    let (routes, mut doc) = documented(&state);
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    routes
        .merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed("this route does not take that method (see /openapi.json)".into())
        })
        .layer(axum::middleware::from_fn(metrics::count_requests))
        .layer(axum::middleware::from_fn(close_after_refusal))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// A request with a body that is refused may leave the body unread (auth,
/// a bad header, a size limit), and the connection then cannot carry
/// another request: say so (`Connection: close`), so that a client does
/// not send its next request down it.
async fn close_after_refusal(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::header::{CONNECTION, CONTENT_LENGTH, HeaderValue, TRANSFER_ENCODING};
    let headers = request.headers();
    let has_body = headers.contains_key(TRANSFER_ENCODING)
        || headers.get(CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0");
    let mut response = next.run(request).await;
    if has_body && (response.status().is_client_error() || response.status().is_server_error()) {
        response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Serves until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    serve_router(listener, router(state), shutdown).await
}

/// Serves `app` (the API's router, with whatever is merged into it).
pub async fn serve_router(
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

/// The page asked for by `limit` (default 50) and `offset` query parameters.
/// (Query structs list both fields themselves: `serde(flatten)` would turn
/// every number in a query string into a string.)
fn page(limit: Option<u32>, offset: Option<u32>) -> Result<Page, ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("limit", format!("must be between 1 and {MAX_PAGE}")));
    }
    let offset = offset.unwrap_or(0);
    if offset > i32::MAX as u32 {
        return Err(ApiError::invalid("offset", format!("must be at most {}", i32::MAX)));
    }
    Ok(Page { limit, offset })
}

/// A config id from a path; anything that is not one names no config (404).
fn config_id(id: &str) -> Result<uuid::Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound(format!("no task config with id {id:?}")))
}

/// A page of a list, as every list endpoint answers.
#[derive(Debug, Serialize, ToSchema)]
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
