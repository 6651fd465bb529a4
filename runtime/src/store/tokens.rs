//! The token store, written once for both databases: every [`Dialect`] is
//! a [`TokenStore`], with the reads here and each write the dialect's own.
//! Only a token's sha256 is stored, never the token.
//!
//! Owns the token SQL both databases run as it is, the writes' too (each
//! dialect runs those its own way); it never writes by itself.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Executor, IntoArguments, QueryBuilder};
use uuid::Uuid;

use super::dialect::{Clock, Dialect};
use super::sql::{Decoded, Param};
use super::*;

/// The columns of an [`ApiToken`].
const TOKEN_COLUMNS: &str = "id, name, role, created_at";

#[async_trait]
impl<D> TokenStore for D
where
    D: Dialect,
    String: Param<D::DB>,
    ApiToken: Decoded<<D::DB as Database>::Row>,
    (String,): Decoded<<D::DB as Database>::Row>,
    for<'c> &'c mut <D::DB as Database>::Connection: Executor<'c, Database = D::DB>,
    <D::DB as Database>::Arguments: IntoArguments<D::DB>,
{
    async fn create_token(&self, name: &str, role: TokenRole, sha256: &str) -> Result<ApiToken, StoreError> {
        self.insert_token(name, role, sha256).await
    }

    async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let mut q =
            QueryBuilder::<D::DB>::new(format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY name"));
        Ok(q.build_query_as().fetch_all(self.pool()).await?)
    }

    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        self.remove_token(name).await
    }

    async fn token_role(&self, sha256: &str) -> Result<Option<TokenRole>, StoreError> {
        let role: Option<String> = read_twice(self, || async {
            let mut q = QueryBuilder::<D::DB>::new("SELECT role FROM api_tokens WHERE token_sha256 = ");
            q.push_bind(sha256.to_owned());
            Ok(q.build_query_scalar().fetch_optional(self.pool()).await?)
        })
        .await?;
        role.map(|r| r.parse().map_err(StoreError::Corrupt)).transpose()
    }

    async fn token_name(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        read_twice(self, || async {
            let mut q = QueryBuilder::<D::DB>::new("SELECT name FROM api_tokens WHERE token_sha256 = ");
            q.push_bind(sha256.to_owned());
            Ok(q.build_query_scalar().fetch_optional(self.pool()).await?)
        })
        .await
    }
}

/// The INSERT of a new token, returning it (for a dialect's `insert_token`).
pub(super) fn insert<DB: Database>(
    name: &str,
    role: TokenRole,
    sha256: &str,
    clock: Clock,
) -> QueryBuilder<DB>
where
    Uuid: Param<DB>,
    String: Param<DB>,
    DateTime<Utc>: Param<DB>,
{
    let mut q =
        QueryBuilder::new("INSERT INTO api_tokens (id, name, role, token_sha256, created_at) VALUES (");
    let mut values = q.separated(", ");
    values.push_bind(Uuid::new_v4()).push_bind(name.to_owned()).push_bind(role.to_string());
    values.push_bind(sha256.to_owned());
    clock.push_now(&mut values, Utc::now());
    q.push(format!(") RETURNING {TOKEN_COLUMNS}"));
    q
}

/// The DELETE of a token by name (for a dialect's `remove_token`).
pub(super) fn delete<DB: Database>(name: &str) -> QueryBuilder<DB>
where
    String: Param<DB>,
{
    let mut q = QueryBuilder::new("DELETE FROM api_tokens WHERE name = ");
    q.push_bind(name.to_owned());
    q
}
