//! Acknowledged means replicated: on a Redis Cluster, a write the API
//! answers for (a run queued: 202) or that settles a tick (a fire) is
//! confirmed by a replica of its master before taskbox goes on, so a
//! failover (the master killed, its replica promoted) cannot take back what
//! was acknowledged. Owns that wait only; which writes need it is the
//! callers'.
//!
//! Replication is asynchronous: `WAIT 1 <ms>` after the write, on the same
//! connection to the same master, answers once a replica has everything
//! that connection wrote. A master left without a replica (its replica is
//! the one that failed, or was just promoted from one) cannot be waited
//! for: writes then go on unconfirmed, as on a single Redis, with a
//! warning, and whether a replica came back is asked again (`INFO`, no
//! wait) every few seconds. The writes that wait have a connection of their
//! own, so a wait never holds up the reads and the queue behind it, and
//! they share their waits: one `WAIT` confirms every write finished before
//! it was sent, so writers that finish while one is under way take the
//! next one together (a group commit) instead of one `WAIT` each.

use redis::aio::ConnectionLike;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use super::RedisBackend;
use crate::contract::BackendError;

/// How long a write waits for its replica before it is refused (503).
pub const REPLICA_WAIT: Duration = Duration::from_millis(500);
/// How long, once a master is found without replicas, writes go on
/// without asking again.
const ALONE_FOR_MS: i64 = 5000;

/// Whether writes wait for a replica, and since when there was none.
#[derive(Debug, Default)]
pub(super) struct Replication {
    /// On a cluster: yes.
    pub(super) wait: bool,
    /// Until when (ms since the epoch) the master is taken to have no
    /// replica to wait for.
    alone_until: AtomicI64,
    /// How many writes have finished (each takes the next number).
    written: AtomicU64,
    /// The newest write number a replica confirmed; held while a `WAIT` is
    /// under way.
    confirmed: tokio::sync::Mutex<u64>,
}

impl Replication {
    pub(super) fn new(wait: bool) -> Self {
        Self { wait, ..Self::default() }
    }
}

impl RedisBackend {
    /// Waits until a replica holds every write made so far on this
    /// backend's connection to the master of shard `shard`; a no-op on a
    /// single Redis.
    pub(super) async fn replicated(&self, shard: usize) -> Result<(), BackendError> {
        let replication = &self.replication[shard];
        let status = self.skey(shard, "status");
        let now = chrono::Utc::now().timestamp_millis();
        let alone_until = replication.alone_until.load(Ordering::Relaxed);
        if !replication.wait || now < alone_until {
            return Ok(());
        }
        // The keyed command routes the pipeline to the master of this
        // shard's slot, where the writes went.
        let mut conn = self.acked.clone();
        if alone_until > 0 {
            // It had no replica a moment ago: has one come (back)?
            if replicas(&mut conn, &status).await? == 0 {
                replication.alone_until.store(now + ALONE_FOR_MS, Ordering::Relaxed);
                return Ok(());
            }
            replication.alone_until.store(0, Ordering::Relaxed);
            tracing::info!("the Redis master of this deployment's keys has a replica again");
        }
        let mine = replication.written.fetch_add(1, Ordering::SeqCst) + 1;
        let mut done = replication.confirmed.lock().await;
        // Covered by the wait before, or that wait found no replica to wait for.
        let alone = chrono::Utc::now().timestamp_millis() < replication.alone_until.load(Ordering::Relaxed);
        if *done >= mine || alone {
            return Ok(());
        }
        // Every write numbered up to here has finished: this WAIT covers them all.
        let upto = replication.written.load(Ordering::SeqCst);
        let (_, confirmed): (i64, i64) = redis::pipe()
            .exists(&status)
            .cmd("WAIT")
            .arg(1)
            .arg(REPLICA_WAIT.as_millis() as u64)
            .query_async(&mut conn)
            .await?;
        if confirmed >= 1 {
            *done = upto;
            return Ok(());
        }
        if replicas(&mut conn, &status).await? == 0 {
            tracing::warn!(
                "the Redis master of this deployment's keys has no replica: writes are acknowledged unreplicated"
            );
            replication.alone_until.store(now + ALONE_FOR_MS, Ordering::Relaxed);
            return Ok(());
        }
        Err(BackendError::unavailable(NotReplicated))
    }
}

/// A write no replica confirmed in time, on a master that has replicas.
#[derive(Debug, thiserror::Error)]
#[error("no replica confirmed the write within {} ms (the cluster may be failing over)", REPLICA_WAIT.as_millis())]
struct NotReplicated;

/// How many replicas the master holding `key` has connected.
async fn replicas(conn: &mut (impl ConnectionLike + Send), key: &str) -> Result<u64, BackendError> {
    let (_, info): (i64, String) =
        redis::pipe().exists(key).cmd("INFO").arg("replication").query_async(conn).await?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("connected_slaves:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0))
}
