//! `/hooks/{config_id}`: signed webhook deliveries. No bearer token: the
//! signature is the credential, checked by the application layer on the
//! raw body before it is parsed. Its own body limit (`TASKBOX_MAX_HOOK_KB`).

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use super::configs::{Queued, accepted};
use super::extract::{Raw, is_json};
use crate::app::{App, Delivery};
use crate::http::error::ErrorBody;
use crate::http::state::AppState;

/// The headers a signature may come in, ours first.
const SIGNATURES: [&str; 2] = ["x-taskbox-signature", "x-hub-signature-256"];
/// The headers a delivery id may come in.
const DELIVERY_IDS: [&str; 2] = ["x-taskbox-delivery", "x-github-delivery"];

/// The route, with deliveries up to `max_bytes`.
pub fn router(max_bytes: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(deliver)).layer(DefaultBodyLimit::max(max_bytes))
}

/// Run a config from a signed webhook delivery (no bearer token). The body
/// must be signed with the config's `webhook.secret`: `X-Taskbox-Signature`
/// or GitHub's `X-Hub-Signature-256`, `sha256=<hex HMAC-SHA256 of the raw
/// body>`. A JSON body is the run's payload (merged onto the config's
/// parameters). A delivery id (`X-Taskbox-Delivery`, `X-GitHub-Delivery`)
/// makes a redelivery answer the first run. Paused and stopped configs run
/// too.
#[utoipa::path(post, path = "/hooks/{config_id}", operation_id = "deliver_webhook", tag = "hooks", security(()),
    params(("config_id" = Uuid, Path),
        ("X-Taskbox-Signature" = Option<String>, Header, description = "`sha256=<hex>`"),
        ("X-Hub-Signature-256" = Option<String>, Header, description = "`sha256=<hex>` (GitHub)"),
        ("X-Taskbox-Delivery" = Option<String>, Header, description = "the delivery's id: its idempotency key"),
        ("X-GitHub-Delivery" = Option<String>, Header, description = "the delivery's id (GitHub)")),
    request_body(content = Object, description = "any JSON (its raw bytes are what is signed)"),
    responses((status = 202, body = Queued, description = "queued (or queued before, for this delivery id)",
            headers(("Idempotent-Replayed" = String, description = "`true` for a redelivery"))),
        (status = 400, description = "the body is not valid JSON", body = ErrorBody),
        (status = 401, description = "not signed with the webhook secret of a config that has one \
            (the same answer for a config that does not exist)", body = ErrorBody),
        (status = 413, description = "the body is over TASKBOX_MAX_HOOK_KB (1 MiB by default)", body = ErrorBody),
        (status = 415, description = "the body is not JSON", body = ErrorBody),
        (status = 422, description = "the delivery id is not 1 to 255 printable ASCII characters", body = ErrorBody),
        (status = 503, description = "the database or the schedule backend is unreachable", body = ErrorBody)))]
async fn deliver(
    State(app): State<App>,
    Path(config): Path<String>,
    headers: HeaderMap,
    Raw(body): Raw,
) -> Result<Response, ApiError> {
    let signatures: Vec<&str> =
        SIGNATURES.iter().flat_map(|name| headers.get_all(*name)).filter_map(|v| v.to_str().ok()).collect();
    // Checked after the signature, by the application layer: as sent.
    let delivery_id = DELIVERY_IDS
        .iter()
        .find_map(|name| headers.get(*name))
        .map(|v| String::from_utf8_lossy(v.as_bytes()));
    let delivery = Delivery {
        config: &config,
        signatures: &signatures,
        delivery_id: delivery_id.as_deref(),
        is_json: is_json(&headers),
        body: &body,
    };
    let requested = app.deliver(delivery).await?;
    accepted(&app, requested).await
}
