//! Where the `redis` backend connects: one Redis ([`Target::Single`],
//! `TASKBOX_REDIS_URL`) or a Redis Cluster ([`Target::Cluster`],
//! `TASKBOX_REDIS_CLUSTER_NODES`, its seed nodes). Owns opening the
//! connections of either kind behind one type ([`Conn`]) and the key
//! prefix a cluster needs; never what is sent over them.
//!
//! On a cluster every script and pipeline must touch keys of one hash
//! slot. Each shard's keys carry the shard's tag (`shards.rs`); the keys
//! of no shard start with the deployment's prefix, so a prefix that
//! carries a hash tag (`{taskbox}:`) keeps them in one slot:
//! [`Target::tagged`] adds one when the configured prefix has none.
//! Pub/sub needs no slot: a message published on any node of a cluster
//! reaches subscribers on every node, so the listener subscribes on one
//! seed node at a time and moves to the next when it is lost.

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Client, Cmd, Pipeline, RedisError, RedisFuture, Value};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::contract::BackendError;

/// How long a connection attempt to one node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How often, at most, a cluster connection is opened anew after errors.
const REDISCOVER_EVERY_MS: i64 = 500;

/// One Redis, or the seed nodes of a Redis Cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Single(String),
    Cluster(Vec<String>),
}

impl Target {
    /// `redis` or `redis-cluster`, for the status and the log.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Single(_) => "redis",
            Target::Cluster(_) => "redis-cluster",
        }
    }

    /// The key prefix as this target uses it: on a cluster, with a hash
    /// tag (`taskbox:` becomes `{taskbox}:`) unless it carries one.
    pub fn tagged(&self, prefix: &str) -> String {
        match self {
            Target::Cluster(_) if !has_tag(prefix) => match prefix.strip_suffix(':') {
                Some(stem) => format!("{{{stem}}}:"),
                None => format!("{{{prefix}}}"),
            },
            _ => prefix.to_owned(),
        }
    }

    /// The URLs of every node to subscribe on, in the order to try them.
    pub(super) fn subscribe_urls(&self) -> Vec<String> {
        match self {
            Target::Single(url) => vec![url.clone()],
            Target::Cluster(nodes) => nodes.clone(),
        }
    }

    /// A connection that waits at most `response_timeout` for an answer.
    pub(super) async fn open(&self, response_timeout: Duration) -> Result<Conn, BackendError> {
        match self {
            Target::Single(url) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(response_timeout))
                    .set_max_delay(Duration::from_secs(2));
                let client = Client::open(url.as_str())?;
                Ok(Conn::Single(client.get_connection_manager_with_config(config).await?))
            }
            Target::Cluster(nodes) => {
                // A failover takes the cluster a few seconds: a command is
                // retried while the slot has no master, within its timeout.
                let client = ClusterClientBuilder::new(nodes.iter().map(String::as_str))
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(response_timeout)
                    .retries(4)
                    .min_retry_wait(50)
                    .max_retry_wait(500)
                    .build()?;
                let current = client.get_async_connection().await?;
                Ok(Conn::Cluster(Rediscovering {
                    client: Arc::new(client),
                    current: Arc::new(RwLock::new(current)),
                    busy: Arc::new(AtomicBool::new(false)),
                    last_ms: Arc::new(AtomicI64::new(0)),
                }))
            }
        }
    }
}

/// Does `prefix` hold a hash tag (`{…}` with something inside)?
fn has_tag(prefix: &str) -> bool {
    prefix.find('{').is_some_and(|open| prefix[open + 1..].find('}').is_some_and(|close| close > 0))
}

/// A multiplexed, reconnecting connection to either kind of target.
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(Rediscovering),
}

/// A cluster connection opened anew from the seed nodes when commands
/// fail for want of a node: the `redis` crate's connection reconnects to
/// the address it knew, and after a failover that is the dead master, so
/// it would never learn of the replica promoted in its place.
#[derive(Clone)]
pub(super) struct Rediscovering {
    client: Arc<ClusterClient>,
    current: Arc<RwLock<ClusterConnection>>,
    /// A new connection is being opened.
    busy: Arc<AtomicBool>,
    /// When one was last opened (ms since the epoch).
    last_ms: Arc<AtomicI64>,
}

impl Rediscovering {
    fn connection(&self) -> ClusterConnection {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// After `e`: if a node could not be reached or the cluster said it is
    /// failing over, opens a new connection in the background (at most
    /// every [`REDISCOVER_EVERY_MS`]).
    fn noticed(&self, e: &RedisError) {
        let lost =
            e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() || e.is_timeout();
        if !(lost || e.is_cluster_error()) {
            return;
        }
        let now = chrono::Utc::now().timestamp_millis();
        if now - self.last_ms.load(Ordering::Relaxed) < REDISCOVER_EVERY_MS
            || self.busy.swap(true, Ordering::SeqCst)
        {
            return;
        }
        self.last_ms.store(now, Ordering::Relaxed);
        let this = self.clone();
        tokio::spawn(async move {
            match this.client.get_async_connection().await {
                Ok(fresh) => *this.current.write().unwrap_or_else(|e| e.into_inner()) = fresh,
                Err(e) => tracing::debug!(error = %e, "cannot reach the Redis Cluster's seed nodes yet"),
            }
            this.busy.store(false, Ordering::SeqCst);
        });
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => Box::pin(async move {
                let answer = c.connection().req_packed_command(cmd).await;
                if let Err(e) = &answer {
                    c.noticed(e);
                }
                answer
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => Box::pin(async move {
                let answer = c.connection().req_packed_commands(pipeline, offset, count).await;
                if let Err(e) = &answer {
                    c.noticed(e);
                }
                answer
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_prefix_gets_a_hash_tag_unless_it_has_one() {
        let cluster = Target::Cluster(vec!["redis://127.0.0.1:7000".into()]);
        assert_eq!(cluster.tagged("taskbox:"), "{taskbox}:");
        assert_eq!(cluster.tagged("jobs"), "{jobs}");
        assert_eq!(cluster.tagged("{team-a}:taskbox:"), "{team-a}:taskbox:");
        assert_eq!(cluster.tagged("odd{}:"), "{odd{}}:");
        assert_eq!(Target::Single("redis://x".into()).tagged("taskbox:"), "taskbox:");
    }
}
