//! Signed webhooks: a config's webhook secret, sealed with the secrets key
//! before the store sees it; and a delivery, accepted only with a valid
//! HMAC-SHA256 of its raw body under that secret (GitHub's format,
//! `sha256=<hex>`), compared in constant time before the body is parsed.
//! Every refusal (no such config, no webhook, a missing, malformed or
//! wrong signature) is the same answer, so no one can probe which ids
//! exist. A delivery id is the run's idempotency key: a redelivery runs
//! once. A paused or stopped config still runs (like a manual run).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::enqueue::check_key;
use super::{App, AppError};
use crate::contract::job::Trigger;
use crate::engine::scheduler::{Requested, RunRequest};
use crate::store::Webhook;

/// The associated data a webhook secret is sealed under.
const PURPOSE: &str = "webhook";
/// The shortest and longest webhook secret, in bytes.
const SECRET_BYTES: (usize, usize) = (16, 1024);

/// A delivery as it arrived, before anything was parsed.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The config id as the path spelled it.
    pub config: &'a str,
    /// Each signature sent (`X-Taskbox-Signature`, `X-Hub-Signature-256`).
    pub signatures: &'a [&'a str],
    /// `X-Taskbox-Delivery` or `X-GitHub-Delivery`.
    pub delivery_id: Option<&'a str>,
    /// Whether the body was sent as JSON (`application/json`, `+json`).
    pub is_json: bool,
    pub body: &'a [u8],
}

/// Whether `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under
/// `secret`, compared in constant time.
pub fn is_signed(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.trim().strip_prefix("sha256=") else { return false };
    let Ok(expected) = hex::decode(hex) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn unsigned() -> AppError {
    AppError::Unsigned(
        "the delivery is not signed with this config's webhook secret \
         (X-Taskbox-Signature or X-Hub-Signature-256: sha256=<hex HMAC of the body>)"
            .into(),
    )
}

impl App {
    /// A webhook as the store keeps it: its secret checked and sealed.
    pub(super) fn sealed(&self, webhook: Option<Webhook>) -> Result<Option<Webhook>, AppError> {
        let Some(webhook) = webhook else { return Ok(None) };
        let (least, most) = SECRET_BYTES;
        if !(least..=most).contains(&webhook.secret.len()) {
            return Err(AppError::invalid("webhook.secret", format!("must be {least} to {most} bytes")));
        }
        let secrets = self.inner.secrets.as_ref().ok_or_else(|| {
            AppError::Unavailable("this process holds no secret key to seal a webhook secret with".into())
        })?;
        Ok(Some(Webhook { secret: secrets.seal_text(PURPOSE, &webhook.secret) }))
    }

    /// Runs the config a signed delivery names, its JSON body the payload.
    pub async fn deliver(&self, d: Delivery<'_>) -> Result<Requested, AppError> {
        let id = d.config.parse().map_err(|_| unsigned())?;
        let config = self.store().get_config(id).await?.ok_or_else(unsigned)?;
        let sealed = config.webhook.as_ref().ok_or_else(unsigned)?;
        let secrets = self.inner.secrets.as_ref().ok_or_else(unsigned)?;
        let Some(secret) = secrets.open_text(PURPOSE, &sealed.secret) else {
            tracing::warn!(config = %id, "the webhook secret does not open under this key (the key changed?)");
            return Err(unsigned());
        };
        if !d.signatures.iter().any(|s| is_signed(secret.as_bytes(), d.body, s)) {
            return Err(unsigned());
        }
        if let Some(key) = d.delivery_id {
            check_key("X-Taskbox-Delivery", key)?;
        }
        let payload = match (d.body.is_empty(), d.is_json) {
            (true, _) => None,
            (false, false) => {
                return Err(AppError::UnsupportedMediaType(
                    "a webhook body must be JSON (Content-Type: application/json)".into(),
                ));
            }
            (false, true) => Some(
                serde_json::from_slice(d.body)
                    .map_err(|e| AppError::Malformed(format!("body: not JSON: {e}")))?,
            ),
        };
        let request =
            RunRequest { trigger: Trigger::Webhook, payload, key: d.delivery_id.map(str::to_owned) };
        Ok(self.scheduler().request_run(&config, request).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's documented example ("Validating webhook deliveries").
    #[test]
    fn githubs_example_vector_verifies() {
        let secret = b"It's a Secret to Everybody";
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(is_signed(secret, b"Hello, World!", good));
        assert!(!is_signed(secret, b"Hello, World?", good));
        assert!(!is_signed(b"another secret", b"Hello, World!", good));
        assert!(!is_signed(secret, b"Hello, World!", &good[..good.len() - 2]), "truncated");
        assert!(!is_signed(secret, b"Hello, World!", "sha1=757107ea"));
        assert!(!is_signed(secret, b"Hello, World!", ""));
    }
}
