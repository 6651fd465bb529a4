//! The secret store, written once for both databases: sealed secrets
//! (nonce and ciphertext, never a value) by name, and the key-check row.
//! Every [`Dialect`] is a [`SecretStore`]; reads run here, each write through
//! the dialect's own [`Dialect::execute`].
//!
//! Owns the SQL of `secrets` and `secret_key_check`; it never sees a key or
//! a value in clear (the `secrets` module seals and opens them).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Database, Executor, IntoArguments, QueryBuilder};

use super::dialect::Dialect;
use super::sql::{Decoded, Param};
use super::*;

/// A secret as it may be shown: its name and times, never its value.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct SecretInfo {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A secret as stored: sealed.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SealedSecret {
    pub name: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// Sealed secrets by name.
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// Creates or replaces a secret.
    async fn put_secret(&self, sealed: &SealedSecret) -> Result<(), StoreError>;
    async fn list_secrets(&self) -> Result<Vec<SecretInfo>, StoreError>;
    /// The sealed secrets of these names that exist.
    async fn sealed_secrets(&self, names: &[String]) -> Result<Vec<SealedSecret>, StoreError>;
    /// False if there was no such secret.
    async fn delete_secret(&self, name: &str) -> Result<bool, StoreError>;
    /// Stores `check` as the key-check row unless one is there; answers the
    /// row that is there afterwards.
    async fn key_check(&self, check: &SealedSecret) -> Result<SealedSecret, StoreError>;
}

#[async_trait]
impl<D> SecretStore for D
where
    D: Dialect,
    String: Param<D::DB>,
    Vec<u8>: Param<D::DB>,
    i32: Param<D::DB>,
    DateTime<Utc>: Param<D::DB>,
    SecretInfo: Decoded<<D::DB as Database>::Row>,
    SealedSecret: Decoded<<D::DB as Database>::Row>,
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    <D::DB as Database>::Arguments: IntoArguments<D::DB>,
{
    async fn put_secret(&self, sealed: &SealedSecret) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut q = QueryBuilder::<D::DB>::new(
            "INSERT INTO secrets (name, nonce, ciphertext, created_at, updated_at) VALUES (",
        );
        let mut values = q.separated(", ");
        values.push_bind(sealed.name.clone()).push_bind(sealed.nonce.clone());
        values.push_bind(sealed.ciphertext.clone()).push_bind(now).push_bind(now);
        q.push(
            ") ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce, \
             ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
        );
        self.execute(q).await.map(|_| ())
    }

    async fn list_secrets(&self) -> Result<Vec<SecretInfo>, StoreError> {
        let mut q =
            QueryBuilder::<D::DB>::new("SELECT name, created_at, updated_at FROM secrets ORDER BY name");
        Ok(q.build_query_as().fetch_all(self.pool()).await?)
    }

    async fn sealed_secrets(&self, names: &[String]) -> Result<Vec<SealedSecret>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<D::DB>::new("SELECT name, nonce, ciphertext FROM secrets WHERE name IN (");
        let mut list = q.separated(", ");
        for name in names {
            list.push_bind(name.clone());
        }
        q.push(")");
        Ok(q.build_query_as().fetch_all(self.pool()).await?)
    }

    async fn delete_secret(&self, name: &str) -> Result<bool, StoreError> {
        let mut q = QueryBuilder::<D::DB>::new("DELETE FROM secrets WHERE name = ");
        q.push_bind(name.to_owned());
        Ok(self.execute(q).await? > 0)
    }

    async fn key_check(&self, check: &SealedSecret) -> Result<SealedSecret, StoreError> {
        let mut q =
            QueryBuilder::<D::DB>::new("INSERT INTO secret_key_check (id, nonce, ciphertext) VALUES (");
        let mut values = q.separated(", ");
        values.push_bind(1i32).push_bind(check.nonce.clone()).push_bind(check.ciphertext.clone());
        q.push(") ON CONFLICT (id) DO NOTHING");
        self.execute(q).await?;
        let mut q = QueryBuilder::<D::DB>::new(
            "SELECT 'key-check' AS name, nonce, ciphertext FROM secret_key_check WHERE id = 1",
        );
        Ok(q.build_query_as().fetch_one(self.pool()).await?)
    }
}
