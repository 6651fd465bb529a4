//! How the local tables store times and values: milliseconds since the
//! epoch, and JSON text. Owns nothing else.

use chrono::{DateTime, TimeZone, Utc};

use crate::job::BackendError;

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
