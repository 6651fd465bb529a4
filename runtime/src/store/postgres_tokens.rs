//! API tokens on PostgreSQL (only their sha256 digests).

use async_trait::async_trait;
use sqlx::FromRow;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{ApiToken, PgStore, StoreError, TokenRole, TokenStore, unique_token};

#[async_trait]
impl TokenStore for PgStore {
    async fn create_token(&self, name: &str, role: TokenRole, sha256: &str) -> Result<ApiToken, StoreError> {
        let row = sqlx::query(
            "INSERT INTO api_tokens (id, name, role, token_sha256) VALUES ($1, $2, $3, $4) \
             RETURNING id, name, role, created_at",
        )
        .bind(Uuid::new_v4())
        .bind(name)
        .bind(role.as_str())
        .bind(sha256)
        .fetch_one(self.pool())
        .await
        .map_err(|e| unique_token(e, name))?;
        token_from_row(&row)
    }

    async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query("SELECT id, name, role, created_at FROM api_tokens ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM api_tokens WHERE name = $1").bind(name).execute(self.pool()).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn token_role(&self, sha256: &str) -> Result<Option<TokenRole>, StoreError> {
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM api_tokens WHERE token_sha256 = $1")
            .bind(sha256)
            .fetch_optional(self.pool())
            .await?;
        role.map(|r| r.parse().map_err(StoreError::Corrupt)).transpose()
    }
}

fn token_from_row(row: &PgRow) -> Result<ApiToken, StoreError> {
    Ok(ApiToken::from_row(row)?)
}
