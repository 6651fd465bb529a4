//! The deployments of DESIGN §2 as test fixtures, so one test body runs
//! against each: `distributed` (a fresh PostgreSQL database and a unique
//! Redis prefix), `cluster` (the same on the test Redis Cluster) and
//! `embedded` (a fresh SQLite file and the local backend).
//! [`conformance!`] turns one body into a test per deployment.

use std::sync::Arc;
use std::time::Duration;
use taskbox::backends::{Backend, Plan};
use taskbox::contract::kv::KeyValue;
use taskbox::contract::queue::Queue;
use taskbox::contract::schedule::backend::ScheduleBackend;
use taskbox::store::{ConfigStore, Opened, TokenStore};
use tokio::sync::Notify;

use super::services::{TestDb, TestRedis};
use taskbox::backends::redis::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Distributed,
    /// Distributed, on a Redis Cluster.
    Cluster,
    Embedded,
}

impl Kind {
    /// Does this deployment keep its schedule state in Redis?
    pub fn on_redis(self) -> bool {
        self != Kind::Embedded
    }
}

pub struct Deployment {
    pub kind: Kind,
    pub store: Arc<dyn ConfigStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub schedule: Arc<dyn ScheduleBackend>,
    pub queue: Arc<dyn Queue>,
    pub changes: Arc<Notify>,
    pub kv: Arc<dyn KeyValue>,
    pub plan: Plan,
    /// For processes of their own (`taskbox serve`).
    pub database_url: String,
    pub opened: Opened,
    /// Dropped with the deployment: the database and keys go away.
    _pg: Option<TestDb>,
    pub redis: Option<TestRedis>,
    _sqlite: Option<tempfile::TempDir>,
}

impl Deployment {
    pub async fn new(kind: Kind) -> Self {
        match kind {
            Kind::Cluster => Self::on_cluster(super::services::cluster_nodes()).await,
            _ => Self::assemble(kind, None).await,
        }
    }

    /// The cluster deployment on the cluster of these seed nodes.
    pub async fn on_cluster(nodes: Vec<String>) -> Self {
        Self::assemble(Kind::Cluster, Some(nodes)).await
    }

    async fn assemble(kind: Kind, nodes: Option<Vec<String>>) -> Self {
        let (pg, redis, sqlite, database_url) = match kind {
            Kind::Distributed | Kind::Cluster => {
                let db = TestDb::new().await;
                let url = db.url.clone();
                let redis = match nodes {
                    Some(nodes) => TestRedis::on(Target::Cluster(nodes)).await,
                    None => TestRedis::new().await,
                };
                (Some(db), Some(redis), None, url)
            }
            Kind::Embedded => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("taskbox.db").display());
                (None, None, Some(dir), url)
            }
        };
        let opened = taskbox::store::open(&database_url).await.expect("the database opens");
        let store = opened.configs();
        store.migrate().await.expect("migrations apply");
        let target = redis.as_ref().map(|r| r.target.clone());
        let prefix = redis.as_ref().map(|r| r.prefix.clone()).unwrap_or_default();
        let plan = Plan::new(target.as_ref(), &prefix, &opened).await.expect("the backend opens");
        let Backend { schedule, queue, changes, kv } = plan.connect().await.expect("the backend connects");
        Self {
            kind,
            tokens: opened.tokens(),
            store,
            schedule,
            queue,
            changes,
            kv,
            plan,
            database_url,
            opened,
            _pg: pg,
            redis,
            _sqlite: sqlite,
        }
    }

    /// The backend as another part would get it: with Redis, a connection
    /// of its own (another process); locally, the shared one.
    pub async fn another(&self) -> Backend {
        self.plan.connect().await.unwrap()
    }

    /// The environment for a `taskbox serve` on this deployment.
    pub fn serve_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("TASKBOX_DATABASE_URL", self.database_url.clone()),
            // Outside the work tree; each test's database checks the key anew.
            ("TASKBOX_SECRET_KEY_FILE", std::env::temp_dir().join("taskbox-tests.key").display().to_string()),
        ];
        if let Some(redis) = &self.redis {
            match &redis.target {
                Target::Single(url) => env.push(("TASKBOX_REDIS_URL", url.clone())),
                Target::Cluster(nodes) => env.push(("TASKBOX_REDIS_CLUSTER_NODES", nodes.join(","))),
            }
            env.push(("TASKBOX_REDIS_PREFIX", redis.prefix.clone()));
        }
        env
    }

    /// The embedded deployment's SQLite store.
    fn sqlite(&self) -> &taskbox::store::SqliteStore {
        match &self.opened {
            Opened::Sqlite(s) => s,
            Opened::Postgres(_) => unreachable!("with PostgreSQL, the deployment is distributed"),
        }
    }

    /// Runs some worker holds right now (claimed, not yet settled).
    pub async fn held(&self) -> u64 {
        match &self.redis {
            Some(redis) => {
                let mut conn = redis.raw();
                let mut held = 0;
                for stream in redis.shard_keys("queue:normal") {
                    let pending: redis::streams::StreamPendingReply =
                        redis::AsyncCommands::xpending(&mut conn, stream, "workers").await.unwrap();
                    held += pending.count() as u64;
                }
                held
            }
            None => {
                let s = self.sqlite();
                let n: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM local_queue WHERE consumer IS NOT NULL")
                        .fetch_one(s.pool())
                        .await
                        .unwrap();
                n as u64
            }
        }
    }

    /// Loses a config's due entry behind the backend's back (a partial
    /// restore, say), for reconciliation to repair.
    pub async fn lose_due_entry(&self, config_id: uuid::Uuid) {
        match &self.redis {
            Some(redis) => {
                let mut conn = redis.raw();
                let _: () = redis::cmd("ZREM")
                    .arg(redis.key_of(config_id, "due"))
                    .arg(config_id.to_string())
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
            None => {
                let mut tx = self.sqlite().db().write().await.unwrap();
                sqlx::query("UPDATE local_schedules SET due_ms = NULL WHERE config_id = ?")
                    .bind(config_id)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        }
    }

    /// How long the config's history is kept from now.
    pub async fn history_ttl(&self, config_id: uuid::Uuid) -> Duration {
        match &self.redis {
            Some(redis) => {
                let mut conn = redis.raw();
                let ttl: i64 = redis::cmd("TTL")
                    .arg(redis.key_of(config_id, &format!("history:{config_id}")))
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                Duration::from_secs(ttl.max(0) as u64)
            }
            None => {
                let s = self.sqlite();
                // The history expires HISTORY_TTL after its newest event.
                let newest: i64 =
                    sqlx::query_scalar("SELECT max(at_ms) FROM local_history WHERE config_id = ?")
                        .bind(config_id)
                        .fetch_one(s.pool())
                        .await
                        .unwrap();
                let expires = newest + taskbox::contract::schedule::backend::HISTORY_TTL.as_millis() as i64;
                Duration::from_millis((expires - chrono::Utc::now().timestamp_millis()).max(0) as u64)
            }
        }
    }
}

/// One test body, run once per deployment: `conformance! { #[tokio::test]
/// async fn name(d) { ... } }` makes `name::distributed`, `name::cluster`
/// and `name::embedded`, each handing the body a fresh `Deployment`.
macro_rules! conformance {
    ($(#[$attr:meta])* async fn $name:ident($d:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn body($d: $crate::support::deploy::Deployment) $body
            $(#[$attr])*
            async fn distributed() {
                body($crate::support::deploy::Deployment::new($crate::support::deploy::Kind::Distributed).await).await
            }
            $(#[$attr])*
            async fn cluster() {
                body($crate::support::deploy::Deployment::new($crate::support::deploy::Kind::Cluster).await).await
            }
            $(#[$attr])*
            async fn embedded() {
                body($crate::support::deploy::Deployment::new($crate::support::deploy::Kind::Embedded).await).await
            }
        }
    };
}
