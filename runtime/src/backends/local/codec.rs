//! How the local tables store times and values: milliseconds since the
//! epoch, JSON text, priority bands as numbers, and a delivery's handle
//! (`id:claims`). Owns nothing else.

use chrono::{DateTime, TimeZone, Utc};

use crate::contract::BackendError;
use crate::contract::job::Band;

pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

pub(super) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("schedule types serialise")
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, BackendError> {
    serde_json::from_str(text).map_err(|e| BackendError::corrupt(what, e))
}

pub(super) fn band_number(band: Band) -> i64 {
    match band {
        Band::High => 0,
        Band::Normal => 1,
        Band::Low => 2,
    }
}

pub(super) fn band_of(n: i64) -> Band {
    match n {
        0 => Band::High,
        1 => Band::Normal,
        _ => Band::Low,
    }
}

/// `id:claims`.
pub(super) fn parse_handle(handle: &str) -> Option<(i64, i64)> {
    let (id, claims) = handle.split_once(':')?;
    Some((id.parse().ok()?, claims.parse().ok()?))
}
