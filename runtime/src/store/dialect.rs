//! What each database does its own way, for the config and token stores
//! that `shared.rs` and `tokens.rs` write once over both.
//!
//! Owns the list of the differences: the sqlx database, the name filter's
//! operator, whose clock stamps a write, and every write. Writes are here,
//! not shared, because SQLite's go through the file's one writer
//! ([`crate::store::sqlite_file::Db::write`]: its lock and a transaction begun
//! IMMEDIATE), where PostgreSQL's run as they are or lock the row.
//! It holds no queries: what both databases run as it is lives in `sql.rs`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Pool};
use uuid::Uuid;

use super::*;

/// Who stamps `created_at` and `updated_at` on a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Clock {
    /// The database, with PostgreSQL's `now()` (the transaction's start).
    Database,
    /// This process, with a bound time: SQLite has no `now()` that writes
    /// sqlx's text form of a time, which is what its columns hold and sort by.
    Process,
}

/// One database under the config and token stores.
#[async_trait]
pub(super) trait Dialect: Send + Sync + 'static {
    type DB: Database;
    /// The case-insensitive `LIKE`: plain `LIKE` where the database's is
    /// one already (SQLite's, for ASCII); PostgreSQL has `ILIKE`.
    const LIKE: &'static str = "LIKE";
    /// What goes before and after a bound tag to test that a config's
    /// `tags` (a JSON array) holds it.
    const HAS_TAG: (&'static str, &'static str);
    /// The database's own, unless it has none that fits its columns.
    const CLOCK: Clock = Clock::Database;

    fn pool(&self) -> &Pool<Self::DB>;

    /// A connection of the pool was found broken (the server ended it):
    /// the others opened until now are checked before their next use.
    fn connections_lost(&self) {}

    async fn run_migrations(&self) -> Result<(), StoreError>;
    /// Periodic upkeep of the schema (PostgreSQL: the records' partitions ahead).
    async fn housekeep(&self) -> Result<(), StoreError> {
        Ok(())
    }
    async fn insert_config(&self, new: NewConfig) -> Result<TaskConfig, StoreError>;
    /// [`ConfigStore::update_config`]: the read and the write in one
    /// transaction that no other writer of the config can enter.
    async fn patch_config(&self, id: Uuid, patch: &ConfigPatch) -> Result<Option<TaskConfig>, StoreError>;
    async fn remove_config(&self, id: Uuid) -> Result<bool, StoreError>;
    /// [`ConfigStore::record_executions`], for a batch that is not empty.
    async fn insert_executions(&self, records: &[ExecutionRecord]) -> Result<(), StoreError>;
    /// The p95 duration of the latest `sample` records `filter` matches
    /// (there are at least that many): SQLite has no `percentile_cont`.
    async fn p95(&self, filter: &ExecutionFilter, sample: i64) -> Result<Option<f64>, StoreError>;
    async fn remove_executions_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    async fn insert_token(&self, name: &str, role: TokenRole, sha256: &str) -> Result<ApiToken, StoreError>;
    async fn remove_token(&self, name: &str) -> Result<bool, StoreError>;
    /// Runs one write statement as it is; how many rows it touched.
    async fn execute(&self, q: sqlx::QueryBuilder<Self::DB>) -> Result<u64, StoreError>;
    /// [`PluginStore::head_changes`]: none unless the database announces them.
    async fn listen_heads(&self) -> Result<Option<HeadChanges>, StoreError> {
        Ok(None)
    }
}
