//! The config store: task configs and execution records in SQL.
//!
//! Owns the static definition of every task and the `is_success` record of
//! every attempt. It never holds scheduling state (status, next run,
//! history): that belongs to the schedule backend. One trait over two
//! databases: PostgreSQL (distributed) and SQLite (embedded), chosen by
//! the URL's scheme through [`open`].
//!
//! The two databases share their SQL: `sql.rs` builds the queries both run
//! as they are, `shared.rs` and `tokens.rs` implement the traits once over
//! any `Dialect` (`dialect.rs`), as `secrets.rs` does the secret store, `audit.rs` the audit log,
//! `versions.rs` the plugin versions, `deliveries.rs` the notification
//! deliveries and `intents.rs` the schedules' last decisions, and
//! `postgres.rs` and `sqlite.rs` hold
//! only what each database does its own way.

mod audit;
mod cache;
mod compiled;
mod dashboard;
mod deliveries;
mod dialect;
mod hooks;
mod intents;
mod model;
mod partitions;
mod patch;
mod postgres;
mod postgres_changes;
mod rollups;
mod secrets;
mod shared;
mod sql;
mod sqlite;
pub mod sqlite_file;
mod tokens;
mod versions;
mod workflows;

pub use audit::{AuditEvent, AuditFilter, AuditStore, NewAuditEvent};
pub use cache::{MAX_AGE as CACHE_MAX_AGE, cached};
pub use compiled::{Compiled, CompiledStore};
pub use dashboard::{DashboardStore, HourCount, RunFilter, UiSession};
pub use deliveries::{DeliveryStore, DeliveryUpdate, NotificationDelivery};
pub use intents::{Intent, IntentStore};
pub use model::*;
pub use patch::ConfigPatch;
pub use postgres::PgStore;
pub use secrets::{SealedSecret, SecretInfo, SecretStore};
pub use sqlite::SqliteStore;
pub use versions::{
    CHUNK_BYTES, Head, HeadChanges, KeptBecause, NewVersion, PluginStore, PluginVersion, VersionSource,
};
pub use workflows::{WorkflowEnd, WorkflowRun, WorkflowStatus, WorkflowStore};

/// A store opened from a database URL.
#[derive(Clone)]
pub enum Opened {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

impl Opened {
    pub fn configs(&self) -> std::sync::Arc<dyn ConfigStore> {
        match self {
            Opened::Postgres(s) => std::sync::Arc::new(s.clone()),
            Opened::Sqlite(s) => std::sync::Arc::new(s.clone()),
        }
    }

    pub fn secrets(&self) -> std::sync::Arc<dyn SecretStore> {
        match self {
            Opened::Postgres(s) => std::sync::Arc::new(s.clone()),
            Opened::Sqlite(s) => std::sync::Arc::new(s.clone()),
        }
    }

    pub fn plugins(&self) -> std::sync::Arc<dyn PluginStore> {
        match self {
            Opened::Postgres(s) => std::sync::Arc::new(s.clone()),
            Opened::Sqlite(s) => std::sync::Arc::new(s.clone()),
        }
    }

    pub fn dashboard(&self) -> std::sync::Arc<dyn DashboardStore> {
        match self {
            Opened::Postgres(s) => std::sync::Arc::new(s.clone()),
            Opened::Sqlite(s) => std::sync::Arc::new(s.clone()),
        }
    }

    pub fn audit(&self) -> std::sync::Arc<dyn AuditStore> {
        match self {
            Opened::Postgres(s) => std::sync::Arc::new(s.clone()),
            Opened::Sqlite(s) => std::sync::Arc::new(s.clone()),
        }
    }

    pub fn deliveries(&self) -> std::sync::Arc<dyn DeliveryStore> {
        match self {
            Opened::Postgres(s) => std::sync::Arc::new(s.clone()),
            Opened::Sqlite(s) => std::sync::Arc::new(s.clone()),
        }
    }

    pub fn intents(&self) -> std::sync::Arc<dyn IntentStore> {
        match self {
            Opened::Postgres(s) => std::sync::Arc::new(s.clone()),
            Opened::Sqlite(s) => std::sync::Arc::new(s.clone()),
        }
    }

    pub fn tokens(&self) -> std::sync::Arc<dyn TokenStore> {
        match self {
            Opened::Postgres(s) => std::sync::Arc::new(s.clone()),
            Opened::Sqlite(s) => std::sync::Arc::new(s.clone()),
        }
    }
}

/// Opens the store a URL names: `postgres://…` (connects lazily, so a
/// database that is down is an error on use) or `sqlite://path` (the file
/// is created if missing).
pub async fn open(url: &str) -> Result<Opened, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Opened::Postgres(PgStore::connect_lazy(url)?))
    } else if url.starts_with("sqlite:") {
        Ok(Opened::Sqlite(SqliteStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.split(':').next().unwrap_or("").to_owned()))
    }
}

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
    /// The name a token was created with (who acted, for records).
    async fn token_name(&self, sha256: &str) -> Result<Option<String>, StoreError>;
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
    #[error("unsupported database URL scheme {0:?}: use postgres://… or sqlite://…")]
    UnsupportedUrl(String),
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
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            // The server ended the connection (a restart, a failover,
            // pg_terminate_backend: 57P01–57P03) or lost it (class 08).
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P0")) =>
            {
                StoreError::Unavailable(e)
            }
            sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => StoreError::Corrupt(e.to_string()),
            _ => StoreError::Other(e),
        }
    }
}

/// Runs an idempotent `read` on `db`, and once more if the first met a
/// connection the server had ended: that once on a connection checked to
/// be alive (or a fresh one), since every older one is checked first.
async fn read_twice<
    D: dialect::Dialect + ?Sized,
    T,
    F: std::future::Future<Output = Result<T, StoreError>>,
>(
    db: &D,
    read: impl Fn() -> F,
) -> Result<T, StoreError> {
    match read().await {
        Err(StoreError::Unavailable(e)) if broken_connection(&e) => {
            tracing::debug!(error = %e, "a read met a lost database connection; asking again");
            db.connections_lost();
            read().await
        }
        other => other,
    }
}

/// An error of a connection the server ended or that broke in use (not a
/// database that cannot be reached at all).
fn broken_connection(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P0")),
        _ => false,
    }
}

/// A config insert or update that may meet the unique name.
fn unique_name(e: sqlx::Error, name: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::DuplicateName(name.to_owned()),
        _ => e.into(),
    }
}

/// A token insert that may meet the unique name.
fn unique_token(e: sqlx::Error, name: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::DuplicateToken(name.to_owned()),
        _ => e.into(),
    }
}

/// What the list methods return: one page, and how many match in all.
type Listed<T> = Result<(Vec<T>, u64), StoreError>;

/// Task configs and execution records.
#[async_trait]
pub trait ConfigStore: WorkflowStore + Send + Sync + 'static {
    /// Creates the schema or brings it up to date.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Hourly upkeep (PostgreSQL: creates the records' partitions ahead).
    async fn housekeep(&self) -> Result<(), StoreError>;

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
    /// Up to `limit` configs by name after the name `after` (from the
    /// first with `None`): a walk through every config that costs each
    /// step its own rows (by the name index), not the rows before it.
    async fn configs_after(
        &self,
        filter: &ConfigFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<TaskConfig>, StoreError>;
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
    /// The record of the latest attempt of a run that has one.
    async fn latest_attempt(&self, execution_id: Uuid) -> Result<Option<StoredExecution>, StoreError>;
    /// The record of one attempt, if it was committed.
    async fn find_attempt(
        &self,
        execution_id: Uuid,
        attempt: i32,
    ) -> Result<Option<StoredExecution>, StoreError>;
    /// The `scheduled_at` of this config's `cron` and `backfill` records
    /// in `[from, to)`: the ticks that ran (what a backfill skips).
    async fn tick_runs(
        &self,
        config_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, StoreError>;
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
