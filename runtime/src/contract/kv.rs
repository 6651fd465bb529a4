//! The key-value contract (DESIGN §9, the second door): named buckets of
//! byte values that outlive runs, shared by every plugin that names a
//! bucket, as `wasi:keyvalue@0.2.0-draft2` and the `/api/v1/kv` routes see
//! them.
//!
//! Owns the trait both backends implement (the SQLite file in the embedded
//! deployment, Redis in the distributed one), the bounds on keys, values and
//! keys per bucket, and the rules for bucket names. It never decides which
//! plugin may open which bucket (the executor's door does) and holds no
//! data. A leaf: imports nothing of this crate.

use async_trait::async_trait;

/// The bounds every write is checked against, in the backend, atomically
/// with the write (so concurrent writers cannot pass the key count together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub max_key_bytes: usize,
    pub max_value_bytes: usize,
    /// Keys one bucket may hold; a write of a new key beyond it is refused.
    pub max_keys: u64,
}

pub const DEFAULT_BOUNDS: Bounds =
    Bounds { max_key_bytes: 1024, max_value_bytes: 1 << 20, max_keys: 100_000 };

impl Default for Bounds {
    fn default() -> Self {
        DEFAULT_BOUNDS
    }
}

/// Keys per page of [`KeyValue::keys`] when the caller does not say.
pub const PAGE: usize = 100;

/// Why an operation was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    #[error("key is {0} bytes; the bound is {1}")]
    KeyTooLong(usize, usize),
    #[error("key must not be empty")]
    EmptyKey,
    #[error("value is {0} bytes; the bound is {1}")]
    ValueTooLarge(usize, usize),
    #[error("bucket {0:?} holds {1} keys, its bound: a new key cannot be added")]
    BucketFull(String, u64),
    #[error("the value of {0:?} is not a decimal 64-bit integer")]
    NotAnInteger(String),
    #[error("the increment overflows a 64-bit integer")]
    Overflow,
    #[error("bad cursor {0:?}")]
    BadCursor(String),
    #[error("key-value store unavailable: {0}")]
    Unavailable(String),
}

/// One page of keys, in byte order, and where the next page starts (the
/// last key of this one, opaque to callers).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPage {
    pub keys: Vec<String>,
    /// `None` on the last page.
    pub cursor: Option<String>,
}

impl KeyPage {
    /// The page from keys fetched in order, one more than `limit` asked
    /// for: the extra key only says that another page follows.
    pub fn from_fetched(mut keys: Vec<String>, limit: usize) -> Self {
        let more = keys.len() > limit;
        keys.truncate(limit);
        let cursor = if more { keys.last().cloned() } else { None };
        Self { keys, cursor }
    }
}

/// Buckets of byte values. `increment` keeps its value as decimal ASCII
/// (what a `get` returns, as Redis' `HINCRBY` does); an absent key counts
/// as 0. `compare_and_swap` and `increment` are atomic across runs and
/// processes.
#[async_trait]
pub trait KeyValue: Send + Sync + 'static {
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    async fn set(&self, bucket: &str, key: &str, value: &[u8], bounds: &Bounds) -> Result<(), KvError>;
    /// True if the key was there.
    async fn delete(&self, bucket: &str, key: &str) -> Result<bool, KvError>;
    async fn exists(&self, bucket: &str, key: &str) -> Result<bool, KvError>;
    /// Up to `limit` keys after `cursor` (from the start with `None`).
    async fn keys(&self, bucket: &str, cursor: Option<&str>, limit: usize) -> Result<KeyPage, KvError>;
    async fn increment(&self, bucket: &str, key: &str, delta: i64, bounds: &Bounds) -> Result<i64, KvError>;
    /// Sets `key` to `new` if its value is still `expected` (`None`: absent);
    /// false if it was not.
    async fn compare_and_swap(
        &self,
        bucket: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        bounds: &Bounds,
    ) -> Result<bool, KvError>;
}

impl Bounds {
    /// Checks a key; every operation that names one calls this first.
    pub fn check_key(&self, key: &str) -> Result<(), KvError> {
        match key.len() {
            0 => Err(KvError::EmptyKey),
            n if n > self.max_key_bytes => Err(KvError::KeyTooLong(n, self.max_key_bytes)),
            _ => Ok(()),
        }
    }

    /// Checks a key and the value to be written under it.
    pub fn check_write(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.check_key(key)?;
        match value.len() {
            n if n > self.max_value_bytes => Err(KvError::ValueTooLarge(n, self.max_value_bytes)),
            _ => Ok(()),
        }
    }
}

/// The longest bucket name.
pub const MAX_BUCKET_NAME: usize = 64;

/// A bucket name: 1–64 of `[A-Za-z0-9_.-]`.
pub fn is_valid_bucket(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_BUCKET_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The value an increment leaves, from the stored one.
pub fn incremented(key: &str, stored: Option<&[u8]>, delta: i64) -> Result<i64, KvError> {
    let current = match stored {
        None => 0,
        Some(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| KvError::NotAnInteger(key.to_owned()))?,
    };
    current.checked_add(delta).ok_or(KvError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_refuse_empty_and_long_keys_and_large_values() {
        let b = Bounds { max_key_bytes: 3, max_value_bytes: 2, max_keys: 1 };
        assert_eq!(b.check_key(""), Err(KvError::EmptyKey));
        assert_eq!(b.check_key("abcd"), Err(KvError::KeyTooLong(4, 3)));
        assert_eq!(b.check_write("abc", b"xyz"), Err(KvError::ValueTooLarge(3, 2)));
        assert_eq!(b.check_write("abc", b"xy"), Ok(()));
    }

    #[test]
    fn bucket_names() {
        assert!(is_valid_bucket("default"));
        assert!(is_valid_bucket("team.cursors-2"));
        for bad in ["", "a/b", "a b", "ä", &"x".repeat(65)] {
            assert!(!is_valid_bucket(bad), "{bad:?}");
        }
    }

    #[test]
    fn increments_decimal_text() {
        assert_eq!(incremented("k", None, 5), Ok(5));
        assert_eq!(incremented("k", Some(b"-3"), 5), Ok(2));
        assert_eq!(incremented("k", Some(b"x"), 1), Err(KvError::NotAnInteger("k".into())));
        assert_eq!(incremented("k", Some(i64::MAX.to_string().as_bytes()), 1), Err(KvError::Overflow));
    }
}
