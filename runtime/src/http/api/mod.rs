//! The HTTP API (`/api/v1`, JSON): parses requests, calls the application
//! layer, and answers in JSON with the status its outcome maps to. It
//! holds no business rules of its own.
//!
//! Each route group owns its `router()`, built with utoipa-axum so that a
//! route and its OpenAPI entry are one declaration; this module merges them,
//! adds auth and the body limit, serves `/openapi.json` and `/docs` (Swagger
//! UI, assets compiled in), and serves.

mod audit;
mod auth;
mod configs;
mod executions;
mod extract;
mod hooks;
mod kv;
mod links;
mod metrics;
mod plugins;
mod schedules;
mod secrets;
mod spans;
mod system;
mod versions;
mod workflows;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use super::error::ApiError;
use super::state::{AppState, MAX_BODY};
use crate::store::Page;

#[derive(OpenApi)]
#[openapi(
    info(title = "taskbox", description = "Schedule and run WebAssembly tasks. \
        Every route under /api/v1 except /system/health and /hooks takes `Authorization: Bearer <token>`; \
        viewer tokens may only GET."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "configs", description = "Task configs: the static definition of a task"),
        (name = "schedules", description = "Schedule actions, next runs and history"),
        (name = "executions", description = "Execution records"),
        (name = "workflows", description = "Workflow runs: steps, their runs, retry from failed steps"),
        (name = "plugins", description = "The plugin registry"),
        (name = "kv", description = "Plugins' key-value state, by bucket"),
        (name = "secrets", description = "Secrets for plugins (admin only; values are never answered)"),
        (name = "hooks", description = "Signed webhook deliveries (no bearer token: the signature is the credential)"),
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
        use utoipa::openapi::{Content, Ref, ResponseBuilder};
        let common = [
            ("401", "missing or invalid bearer token"),
            ("403", "a viewer token may only read (and not even that for secrets)"),
            ("413", "the request body is over 1 MiB"),
            ("422", "a parameter or field is invalid (the message names it)"),
            ("503", "the database or the schedule backend is unreachable"),
        ];
        let with_body = [("400", "the body is not JSON, or not sent as application/json")];
        for (path, item) in openapi.paths.paths.iter_mut() {
            let public = path == "/api/v1/system/health" || path.starts_with("/api/v1/hooks/");
            if !path.starts_with("/api/v1/") || public {
                continue;
            }
            for operation in operations(item) {
                let body = operation.request_body.is_some().then_some(with_body).into_iter().flatten();
                for (status, description) in common.into_iter().chain(body) {
                    let answer = ResponseBuilder::new()
                        .description(description)
                        .content("application/json", Content::new(Some(Ref::from_schema_name("ErrorBody"))))
                        .build();
                    operation.responses.responses.entry(status.to_owned()).or_insert(answer.into());
                }
            }
        }
    }
}

/// Every operation of one path, whatever its method.
fn operations(
    item: &mut utoipa::openapi::path::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    let methods = [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
    ];
    methods.into_iter().flatten()
}

/// Gives every answer without a description its status's reason phrase
/// ("OK", "Accepted", ...): OpenAPI requires one, and validators and
/// client generators refuse a document without.
struct Described;

impl Modify for Described {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                for (status, response) in operation.responses.responses.iter_mut() {
                    if let RefOr::T(response) = response
                        && response.description.is_empty()
                    {
                        let reason =
                            status.parse().ok().and_then(|s| axum::http::StatusCode::from_u16(s).ok());
                        let reason = reason.and_then(|s| s.canonical_reason()).unwrap_or("The answer");
                        response.description = reason.to_owned();
                    }
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
        .merge(workflows::router())
        .merge(audit::router())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token));
    let api = OpenApiRouter::new()
        .merge(system::public_router())
        .merge(hooks::router(state.max_hook_bytes))
        .merge(protected);
    let (routes, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api)
        .routes(routes!(metrics::render))
        .split_for_parts();
    // After the merge: only now are the routes' operations in the document.
    CommonErrors.modify(&mut doc);
    Described.modify(&mut doc);
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
        .layer(axum::middleware::from_fn(spans::trace_request))
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

/// A page of a list, as every list endpoint answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T> {
    items: Vec<T>,
    total: u64,
    limit: u32,
    offset: u32,
}

impl<T> List<T> {
    fn new((items, total): (Vec<T>, u64), page: Page) -> Self {
        Self { items, total, limit: page.limit, offset: page.offset }
    }
}
