//! A config's hooks to the outside, each with a secret that answers never
//! show: where its outcomes are notified (`notify`, out) and the webhook
//! that runs it (`webhook`, in). Owns their shapes only: the app checks
//! and seals them, the notifier and the webhook route use them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::contract::job::NotifyOn;

/// A config's failure notifications: POSTed to `url` on the outcomes `on`
/// names, signed with `secret` (`X-Taskbox-Signature: sha256=<hex HMAC>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// `http://` or `https://`; private addresses only where the operator
    /// allows them (`TASKBOX_NOTIFY_ALLOWED_HOSTS`).
    pub url: String,
    #[serde(default)]
    pub on: NotifyOn,
    /// The HMAC-SHA256 key (write-only). Absent in a patch: the one set
    /// before is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// How a config's notifications are shown: the secret only as set or not.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct NotifyView {
    pub url: String,
    pub on: NotifyOn,
    pub secret_set: bool,
}

impl Notify {
    pub(super) fn serialize_public<S: serde::Serializer>(
        notify: &Option<Notify>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        notify
            .as_ref()
            .map(|n| NotifyView { url: n.url.clone(), on: n.on, secret_set: n.secret.is_some() })
            .serialize(s)
    }
}

/// A config's webhook: a delivery to `POST /hooks/{config_id}` runs the
/// config only if signed with `secret` (HMAC-SHA256 of the raw body, in
/// `X-Taskbox-Signature` or `X-Hub-Signature-256`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// The HMAC key, 16 to 1024 bytes (write-only). Kept sealed with the
    /// secrets key: the app seals it before the store sees it.
    #[schema(min_length = 16, max_length = 1024)]
    pub secret: String,
}

/// How a config's webhook is shown: the secret only as set.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WebhookView {
    pub secret_set: bool,
}

impl Webhook {
    pub(super) fn serialize_public<S: serde::Serializer>(
        webhook: &Option<Webhook>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        webhook.as_ref().map(|_| WebhookView { secret_set: true }).serialize(s)
    }
}
