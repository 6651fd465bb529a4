//! The embedded deployment's one SQLite file, shared by the config store and
//! the local backend: a pool of query-only connections for reads, and one
//! writer reached only through [`Db::write`], which takes this process's
//! writer lock and begins an IMMEDIATE transaction together. A write
//! without the lock cannot be written: the read connections refuse writes
//! (`PRAGMA query_only`), and the writer connection is not reachable
//! otherwise.
//!
//! Why a lock of our own: writers queue on it in turn, rather than meet
//! SQLite's file lock and sleep in its busy handler (1, 2, 5, 10 ms, …).
//! Owns the file's pools and that lock; never knows a table.

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Cheap-to-clone handle on one SQLite database file.
#[derive(Clone)]
pub struct Db {
    /// Query-only connections, any number of readers at once (WAL).
    reader: SqlitePool,
    /// The one connection that writes, used only under `lock`.
    writer: SqlitePool,
    lock: Arc<Mutex<()>>,
}

/// A write transaction (BEGIN IMMEDIATE) holding the writer lock; dropped
/// without [`Write::commit`], it rolls back.
pub struct Write {
    // Declared first so it is dropped (rolled back) before the lock is freed.
    tx: Transaction<'static, Sqlite>,
    _lock: OwnedMutexGuard<()>,
}

impl Db {
    /// Opens (creating it if missing) the file a `sqlite://path` URL names,
    /// in WAL mode with foreign keys on.
    pub async fn open(url: &str) -> Result<Self, sqlx::Error> {
        let base = SqliteConnectOptions::from_str(url)?
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // Durable against a crash of this process (not of the machine's
            // power) at a fraction of FULL's cost.
            .synchronous(SqliteSynchronous::Normal);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            // A file does not hang up: no ping (a round trip to the
            // connection's thread) before each use.
            .test_before_acquire(false)
            .connect_with(base.clone().create_if_missing(true).journal_mode(SqliteJournalMode::Wal))
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false)
            .connect_with(base.pragma("query_only", "ON"))
            .await?;
        Ok(Self { reader, writer, lock: Arc::new(Mutex::new(())) })
    }

    /// For reads: these connections refuse to write.
    pub fn read(&self) -> &SqlitePool {
        &self.reader
    }

    /// Waits for the writer lock, then begins an IMMEDIATE transaction.
    pub async fn write(&self) -> Result<Write, sqlx::Error> {
        let lock = self.lock.clone().lock_owned().await;
        let tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Write { tx, _lock: lock })
    }

    /// Applies `migrator`'s migrations, under the writer lock.
    pub async fn migrate(
        &self,
        migrator: &sqlx::migrate::Migrator,
    ) -> Result<(), sqlx::migrate::MigrateError> {
        let _lock = self.lock.lock().await;
        migrator.run(&self.writer).await
    }
}

impl Write {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl Deref for Write {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl DerefMut for Write {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}
