//! Key-value state ([`KeyValue`]) in the SQLite file: `local_kv` (a row per
//! key) and `local_kv_buckets` (keys per bucket). Every write is one
//! IMMEDIATE transaction through the file's one writer, so `increment`,
//! `compare_and_swap` and the bound on keys per bucket hold against every
//! other writer; reads go to the query-only connections.

use async_trait::async_trait;
use sqlx::SqliteConnection;

use super::LocalBackend;
use crate::contract::kv::{Bounds, KeyPage, KeyValue, KvError, incremented};

fn unavailable(e: sqlx::Error) -> KvError {
    KvError::Unavailable(e.to_string())
}

async fn stored(conn: &mut SqliteConnection, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
    sqlx::query_scalar("SELECT value FROM local_kv WHERE bucket = ? AND key = ?")
        .bind(bucket)
        .bind(key)
        .fetch_optional(conn)
        .await
        .map_err(unavailable)
}

/// Whether `key` holds a value (without reading it).
async fn held(conn: &mut SqliteConnection, bucket: &str, key: &str) -> Result<bool, KvError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM local_kv WHERE bucket = ? AND key = ?")
        .bind(bucket)
        .bind(key)
        .fetch_optional(conn)
        .await
        .map_err(unavailable)?;
    Ok(found.is_some())
}

/// Writes `value` under `key`; a key not `held` before is new, and must fit
/// the bucket's bound.
async fn put(
    conn: &mut SqliteConnection,
    bucket: &str,
    key: &str,
    held: bool,
    value: &[u8],
    bounds: &Bounds,
) -> Result<(), KvError> {
    if !held {
        let keys: Option<i64> = sqlx::query_scalar("SELECT keys FROM local_kv_buckets WHERE bucket = ?")
            .bind(bucket)
            .fetch_optional(&mut *conn)
            .await
            .map_err(unavailable)?;
        let keys = keys.unwrap_or(0) as u64;
        if keys >= bounds.max_keys {
            return Err(KvError::BucketFull(bucket.to_owned(), keys));
        }
        sqlx::query(
            "INSERT INTO local_kv_buckets (bucket, keys) VALUES (?, 1) \
             ON CONFLICT (bucket) DO UPDATE SET keys = keys + 1",
        )
        .bind(bucket)
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;
    }
    sqlx::query(
        "INSERT INTO local_kv (bucket, key, value) VALUES (?, ?, ?) \
         ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value",
    )
    .bind(bucket)
    .bind(key)
    .bind(value)
    .execute(conn)
    .await
    .map_err(unavailable)?;
    Ok(())
}

#[async_trait]
impl KeyValue for LocalBackend {
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let mut conn = self.db.read().acquire().await.map_err(unavailable)?;
        stored(&mut conn, bucket, key).await
    }

    async fn set(&self, bucket: &str, key: &str, value: &[u8], bounds: &Bounds) -> Result<(), KvError> {
        bounds.check_write(key, value)?;
        let mut tx = self.db.write().await.map_err(unavailable)?;
        let was_held = held(&mut tx, bucket, key).await?;
        put(&mut tx, bucket, key, was_held, value, bounds).await?;
        tx.commit().await.map_err(unavailable)
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<bool, KvError> {
        let mut tx = self.db.write().await.map_err(unavailable)?;
        let gone = sqlx::query("DELETE FROM local_kv WHERE bucket = ? AND key = ?")
            .bind(bucket)
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected()
            > 0;
        if gone {
            sqlx::query("UPDATE local_kv_buckets SET keys = keys - 1 WHERE bucket = ?")
                .bind(bucket)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(gone)
    }

    async fn exists(&self, bucket: &str, key: &str) -> Result<bool, KvError> {
        let mut conn = self.db.read().acquire().await.map_err(unavailable)?;
        held(&mut conn, bucket, key).await
    }

    async fn keys(&self, bucket: &str, cursor: Option<&str>, limit: usize) -> Result<KeyPage, KvError> {
        let limit = limit.max(1);
        let keys: Vec<String> =
            sqlx::query_scalar("SELECT key FROM local_kv WHERE bucket = ? AND key > ? ORDER BY key LIMIT ?")
                .bind(bucket)
                .bind(cursor.unwrap_or(""))
                .bind(limit as i64 + 1)
                .fetch_all(self.db.read())
                .await
                .map_err(unavailable)?;
        Ok(KeyPage::from_fetched(keys, limit))
    }

    async fn increment(&self, bucket: &str, key: &str, delta: i64, bounds: &Bounds) -> Result<i64, KvError> {
        bounds.check_key(key)?;
        let mut tx = self.db.write().await.map_err(unavailable)?;
        let before = stored(&mut tx, bucket, key).await?;
        let value = incremented(key, before.as_deref(), delta)?;
        put(&mut tx, bucket, key, before.is_some(), value.to_string().as_bytes(), bounds).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(value)
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
        let mut tx = self.db.write().await.map_err(unavailable)?;
        let before = stored(&mut tx, bucket, key).await?;
        if before.as_deref() != expected {
            return Ok(false);
        }
        put(&mut tx, bucket, key, before.is_some(), new, bounds).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(true)
    }
}
