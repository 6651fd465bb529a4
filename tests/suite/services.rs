//! Real services for the tests: a fresh PostgreSQL database per test, and a
//! unique Redis key prefix per test; both are removed when dropped.
//!
//! `TASKBOX_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! and `TASKBOX_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) point elsewhere.

use sqlx::Connection;
use taskbox::store::{ConfigStore, PgStore};

pub fn admin_database_url() -> String {
    std::env::var("TASKBOX_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of its own, migrated, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub store: PgStore,
}

impl TestDb {
    pub async fn new() -> Self {
        let name = format!("taskbox_test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_database_url();
        let mut conn = sqlx::PgConnection::connect(&admin).await.expect("PostgreSQL is reachable");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("TASKBOX_TEST_DATABASE_URL must end in /<database>"),
        };
        let store = PgStore::connect_lazy(&url).unwrap();
        store.migrate().await.expect("migrations apply");
        Self { name, store }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        self.store.pool().close_event();
        // Drop runs outside any runtime guarantee; use a thread of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_database_url()).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}
