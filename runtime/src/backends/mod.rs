//! Which schedule backend a deployment uses (DESIGN §2): `redis` when a
//! Redis URL or the nodes of a Redis Cluster are set, else `local` in the
//! SQLite store's database. Owns that
//! choice and the connecting, nothing else; the parts see only the traits.

pub mod local;
pub mod redis;

use std::sync::Arc;
use tokio::sync::Notify;

use crate::backends::local::LocalBackend;
use crate::backends::redis::{RedisBackend, Target};
use crate::contract::BackendError;
use crate::contract::kv::KeyValue;
use crate::contract::queue::Queue;
use crate::contract::schedule::backend::ScheduleBackend;
use crate::store::Opened;

/// One connected backend, as the traits the parts use.
#[derive(Clone)]
pub struct Backend {
    pub schedule: Arc<dyn ScheduleBackend>,
    pub queue: Arc<dyn Queue>,
    /// Woken when any schedule changes (for the fire loop).
    pub changes: Arc<Notify>,
    /// Plugins' key-value state, on the same Redis or SQLite file.
    pub kv: Arc<dyn KeyValue>,
}

/// How to get a [`Backend`].
#[derive(Clone)]
pub enum Plan {
    /// A connection of its own per [`Plan::connect`]; `shards`: see
    /// [`RedisBackend::connect_sharded`].
    Redis { target: Target, prefix: String, shards: Option<u16> },
    /// One shared backend: every part in this process uses the same one.
    Local(LocalBackend),
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "the local backend keeps its state in the SQLite database, but TASKBOX_DATABASE_URL is \
         PostgreSQL: set TASKBOX_REDIS_URL=redis://… or TASKBOX_REDIS_CLUSTER_NODES (distributed), \
         or use a sqlite:// database (embedded)"
    )]
    LocalNeedsSqlite,
    #[error("{0}")]
    Backend(#[from] BackendError),
}

impl Plan {
    /// The plan for these settings; opens (and migrates) the local backend.
    pub async fn new(redis: Option<&Target>, prefix: &str, store: &Opened) -> Result<Plan, PlanError> {
        Self::sharded(redis, prefix, None, store).await
    }

    /// [`Plan::new`] with a shard count for Redis (`None`: its default).
    pub async fn sharded(
        redis: Option<&Target>,
        prefix: &str,
        shards: Option<u16>,
        store: &Opened,
    ) -> Result<Plan, PlanError> {
        match (redis, store) {
            (Some(target), _) => {
                Ok(Plan::Redis { target: target.clone(), prefix: prefix.to_owned(), shards })
            }
            (None, Opened::Sqlite(store)) => Ok(Plan::Local(LocalBackend::open(store.db().clone()).await?)),
            (None, Opened::Postgres(_)) => Err(PlanError::LocalNeedsSqlite),
        }
    }

    /// Creates the local backend's tables if these settings use it;
    /// connects nothing and starts nothing (`taskbox migrate`).
    pub async fn migrate(redis: Option<&Target>, store: &Opened) -> Result<(), PlanError> {
        match (redis, store) {
            (None, Opened::Sqlite(store)) => Ok(LocalBackend::migrate(store.db()).await?),
            _ => Ok(()),
        }
    }

    /// `redis`, `redis-cluster` or `local`.
    pub fn kind(&self) -> &'static str {
        match self {
            Plan::Redis { target, .. } => target.kind(),
            Plan::Local(_) => "local",
        }
    }

    pub async fn connect(&self) -> Result<Backend, BackendError> {
        match self {
            Plan::Redis { target, prefix, shards } => {
                let redis = RedisBackend::connect_sharded(target, prefix, *shards).await?;
                let changes = redis.changes();
                let redis = Arc::new(redis);
                Ok(Backend { schedule: redis.clone(), queue: redis.clone(), changes, kv: redis })
            }
            Plan::Local(local) => {
                let changes = local.changes();
                let local = Arc::new(local.clone());
                Ok(Backend { schedule: local.clone(), queue: local.clone(), changes, kv: local })
            }
        }
    }
}
