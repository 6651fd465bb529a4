//! One notification POST: where it may go and how it is signed. A
//! destination obeys the rule plugins' outbound HTTP does (DESIGN §9):
//! its name is resolved once and the connection pinned to the address
//! checked; loopback, private, link-local and metadata addresses are
//! refused unless the operator's `TASKBOX_NOTIFY_ALLOWED_HOSTS` names the
//! host literally. Any public `http`/`https` host is allowed. Redirects are
//! not followed.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::doors::outbound::{AllowedHosts, InvalidEntry, Scheme};

/// The header that carries the body's signature: `sha256=<hex HMAC-SHA256
/// of the body under the config's secret>` (GitHub's convention).
pub const SIGNATURE_HEADER: &str = "X-Taskbox-Signature";
/// How long one attempt may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why an attempt did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Not allowed (no retry can change that).
    #[error("{0}")]
    Refused(String),
    #[error("cannot reach the destination: {0}")]
    Unreachable(String),
}

/// Any public host on either scheme, plus the operator's entries.
pub(super) fn destinations(extra: &[String]) -> Result<AllowedHosts, InvalidEntry> {
    let mut entries = vec!["http://*:*".to_owned(), "https://*:*".to_owned()];
    entries.extend(extra.iter().cloned());
    AllowedHosts::parse(&entries)
}

/// The signature header's value for `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs `body` to `url`; the HTTP status answered.
pub(super) async fn post(
    allowed: &AllowedHosts,
    url: &str,
    event: &str,
    body: &[u8],
    secret: Option<&str>,
) -> Result<u16, SendError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| SendError::Refused(format!("{url:?} is not a URL: {e}")))?;
    let scheme = Scheme::parse(parsed.scheme())
        .ok_or_else(|| SendError::Refused(format!("{url:?}: only http and https are allowed")))?;
    let host =
        parsed.host_str().ok_or_else(|| SendError::Refused(format!("{url:?} names no host")))?.to_owned();
    let port = parsed.port().unwrap_or(scheme.default_port());
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let resolved: Vec<IpAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| SendError::Unreachable(format!("cannot resolve {host}: {e}")))?
            .map(|a| a.ip())
            .collect(),
    };
    let ip = allowed.check(scheme, &host, port, &resolved).map_err(|e| SendError::Refused(e.to_string()))?;
    // No proxy, whatever HTTP_PROXY and its kind say: the address checked
    // above is the one dialled.
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .resolve(bare, SocketAddr::new(ip, port))
        .build()
        .map_err(|e| SendError::Unreachable(e.to_string()))?;
    let mut request = client
        .post(parsed)
        .header("content-type", "application/json")
        .header("user-agent", concat!("taskbox/", env!("CARGO_PKG_VERSION")))
        .header("x-taskbox-event", event)
        .body(body.to_vec());
    if let Some(secret) = secret {
        request = request.header(SIGNATURE_HEADER, signature(secret, body));
    }
    let answer = request.send().await.map_err(|e| SendError::Unreachable(e.to_string()))?;
    Ok(answer.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_githubs() {
        // GitHub's documented example: secret "It's a Secret to Everybody",
        // payload "Hello, World!".
        assert_eq!(
            signature("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }
}
