//! The config store: task configs and execution records in SQL.
//!
//! Owns the static definition of every task and the `is_success` record of
//! every attempt. It never holds scheduling state (status, next run,
//! history): that belongs to the schedule backend. One trait, one
//! implementation per database.

mod model;
mod postgres;
mod postgres_tokens;

pub use model::*;
pub use postgres::PgStore;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// API tokens, by the sha256 (hex) of the token.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    async fn create_token(&self, name: &str, role: TokenRole, sha256: &str) -> Result<ApiToken, StoreError>;
    async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError>;
    /// False if there was no such token.
    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError>;
    async fn token_role(&self, sha256: &str) -> Result<Option<TokenRole>, StoreError>;
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A config (or token) with this name exists already.
    #[error("a config named {0:?} exists already")]
    DuplicateName(String),
    #[error("a token named {0:?} exists already")]
    DuplicateToken(String),
    /// The database could not be reached or refused the operation.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
    #[error("cannot apply migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value that this version cannot read.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_) => StoreError::Unavailable(e),
            _ => StoreError::Other(e),
        }
    }
}

/// Task configs and execution records.
#[async_trait]
pub trait ConfigStore: Send + Sync + 'static {
    /// Creates the schema or brings it up to date.
    async fn migrate(&self) -> Result<(), StoreError>;

    async fn create_config(&self, new: NewConfig) -> Result<TaskConfig, StoreError>;
    async fn get_config(&self, id: Uuid) -> Result<Option<TaskConfig>, StoreError>;
    /// One page of configs by name, and how many match in all.
    async fn list_configs(
        &self,
        filter: &ConfigFilter,
        page: Page,
    ) -> Result<(Vec<TaskConfig>, u64), StoreError>;
    /// Every config, for reconciliation.
    async fn all_configs(&self) -> Result<Vec<TaskConfig>, StoreError>;
    /// Applies `patch`; `None` if there is no such config.
    async fn update_config(&self, id: Uuid, patch: &ConfigPatch) -> Result<Option<TaskConfig>, StoreError>;
    /// Deletes the config and its executions; false if there was none.
    async fn delete_config(&self, id: Uuid) -> Result<bool, StoreError>;

    /// Stores records; a record whose (execution_id, attempt) is stored
    /// already is left as it is, so a re-delivered attempt is harmless.
    async fn record_executions(&self, records: &[ExecutionRecord]) -> Result<(), StoreError>;
    /// One page of executions, newest first, and how many match in all.
    async fn list_executions(
        &self,
        filter: &ExecutionFilter,
        page: Page,
    ) -> Result<(Vec<StoredExecution>, u64), StoreError>;
    async fn get_execution(&self, id: i64) -> Result<Option<StoredExecution>, StoreError>;
    /// The record of one attempt, if it was committed.
    async fn find_attempt(
        &self,
        execution_id: Uuid,
        attempt: i32,
    ) -> Result<Option<StoredExecution>, StoreError>;
    /// Statistics for one config, or all configs with `None`.
    async fn execution_stats(
        &self,
        config_id: Option<Uuid>,
        since: Option<DateTime<Utc>>,
    ) -> Result<ExecutionStats, StoreError>;
    /// Deletes records that started before `before`; returns how many.
    async fn delete_executions_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Is the database reachable?
    async fn ping(&self) -> Result<(), StoreError>;
}
