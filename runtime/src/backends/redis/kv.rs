//! Key-value state ([`KeyValue`]) on Redis: per bucket a hash
//! `kv:<bucket>` (key → value) and a sorted set `kv_keys:<bucket>` (its
//! keys, for ordered paging), both under the prefix. Every write is one
//! script (`lua/kv_write.lua`), so `increment`, `compare_and_swap` and the
//! bound on keys per bucket hold across processes.

use async_trait::async_trait;
use redis::{AsyncCommands, Script, Value};
use std::sync::LazyLock;

use super::RedisBackend;
use crate::contract::kv::{Bounds, KeyPage, KeyValue, KvError};

static WRITE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/kv_write.lua")));

fn failed(e: impl std::fmt::Display) -> KvError {
    KvError::Unavailable(e.to_string())
}

/// What the write script answered.
enum Wrote {
    Done(Option<Value>),
    Mismatch,
    Full(u64),
}

impl RedisBackend {
    fn kv_keys(&self, bucket: &str) -> (String, String) {
        (self.key(&format!("kv:{bucket}")), self.key(&format!("kv_keys:{bucket}")))
    }

    async fn kv_write(
        &self,
        bucket: &str,
        key: &str,
        op: &str,
        args: &[&[u8]],
        bounds: &Bounds,
    ) -> Result<Wrote, KvError> {
        let (hash, keys) = self.kv_keys(bucket);
        let mut call = WRITE.key(hash);
        call.key(keys).arg(op).arg(key).arg(bounds.max_keys);
        for a in args {
            call.arg(*a);
        }
        let mut conn = self.conn.clone();
        let answer: Vec<Value> = call.invoke_async(&mut conn).await.map_err(|e| {
            let text = e.to_string();
            if text.contains("not an integer") {
                KvError::NotAnInteger(key.to_owned())
            } else if text.contains("overflow") {
                KvError::Overflow
            } else {
                failed(e)
            }
        })?;
        let mut answer = answer.into_iter();
        let code: i64 = answer.next().map(redis::from_redis_value).transpose().map_err(failed)?.unwrap_or(0);
        Ok(match code {
            1 => Wrote::Done(answer.next()),
            0 => Wrote::Mismatch,
            _ => Wrote::Full(
                answer.next().map(redis::from_redis_value).transpose().map_err(failed)?.unwrap_or(0),
            ),
        })
    }
}

fn full(bucket: &str, keys: u64) -> KvError {
    KvError::BucketFull(bucket.to_owned(), keys)
}

#[async_trait]
impl KeyValue for RedisBackend {
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let mut conn = self.conn.clone();
        conn.hget(self.kv_keys(bucket).0, key).await.map_err(failed)
    }

    async fn set(&self, bucket: &str, key: &str, value: &[u8], bounds: &Bounds) -> Result<(), KvError> {
        bounds.check_write(key, value)?;
        match self.kv_write(bucket, key, "set", &[value], bounds).await? {
            Wrote::Full(n) => Err(full(bucket, n)),
            _ => Ok(()),
        }
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<bool, KvError> {
        match self.kv_write(bucket, key, "del", &[], &Bounds::default()).await? {
            Wrote::Done(Some(gone)) => Ok(redis::from_redis_value::<i64>(gone).map_err(failed)? > 0),
            _ => Ok(false),
        }
    }

    async fn exists(&self, bucket: &str, key: &str) -> Result<bool, KvError> {
        let mut conn = self.conn.clone();
        conn.hexists(self.kv_keys(bucket).0, key).await.map_err(failed)
    }

    async fn keys(&self, bucket: &str, cursor: Option<&str>, limit: usize) -> Result<KeyPage, KvError> {
        let limit = limit.max(1);
        let start = match cursor {
            Some(after) => format!("({after}"),
            None => "-".to_owned(),
        };
        let mut conn = self.conn.clone();
        let keys: Vec<String> = redis::cmd("ZRANGEBYLEX")
            .arg(self.kv_keys(bucket).1)
            .arg(start)
            .arg("+")
            .arg("LIMIT")
            .arg(0)
            .arg(limit + 1)
            .query_async(&mut conn)
            .await
            .map_err(failed)?;
        Ok(KeyPage::from_fetched(keys, limit))
    }

    async fn increment(&self, bucket: &str, key: &str, delta: i64, bounds: &Bounds) -> Result<i64, KvError> {
        bounds.check_key(key)?;
        match self.kv_write(bucket, key, "incr", &[delta.to_string().as_bytes()], bounds).await? {
            Wrote::Done(Some(value)) => {
                let text: String = redis::from_redis_value(value).map_err(failed)?;
                text.parse().map_err(|_| KvError::NotAnInteger(key.to_owned()))
            }
            Wrote::Full(n) => Err(full(bucket, n)),
            _ => Err(KvError::Unavailable("the increment script answered nothing".into())),
        }
    }

    async fn compare_and_swap(
        &self,
        bucket: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        bounds: &Bounds,
    ) -> Result<bool, KvError> {
        bounds.check_write(key, new)?;
        let (flag, expected): (&[u8], &[u8]) = match expected {
            Some(v) => (b"1", v),
            None => (b"0", b""),
        };
        match self.kv_write(bucket, key, "cas", &[flag, expected, new], bounds).await? {
            Wrote::Done(_) => Ok(true),
            Wrote::Mismatch => Ok(false),
            Wrote::Full(n) => Err(full(bucket, n)),
        }
    }
}
