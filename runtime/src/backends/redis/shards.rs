//! Virtual shards of the `redis` backend (`TASKBOX_REDIS_SHARDS`): which
//! shard a config's (or a workflow run's) keys live in, which shard holds
//! a task type's limits, each shard's key prefix, and the refusal to start
//! on state kept under another shard count. Owns that arithmetic only;
//! never what is stored under the prefixes.
//!
//! A shard's keys all carry its hash tag (`taskbox:{s3}:`), so every
//! script touches one slot of a Redis Cluster and the shards spread over
//! its masters. One shard keeps today's layout: its prefix is the
//! deployment's own (`taskbox:`, or `{taskbox}:` on a cluster). What
//! belongs to no config (workers and their heartbeats, key-value buckets,
//! the state marker, the pub/sub channels of the API) stays under the
//! deployment's prefix.
//!
//! A config lives in the shard its id picks (the low bits of a UUID are
//! random, so configs spread evenly). A task type's limits (its
//! concurrency limit and rate) must count every config of the type, so its
//! runs are admitted in one shard: the *home* of the task type, picked by
//! a hash of its name. A run whose limits live in another shard than its
//! config is handed over (`handoff.rs`).

use std::sync::Arc;
use uuid::Uuid;

use redis::AsyncCommands;

use crate::contract::BackendError;

/// The shard count on a Redis Cluster unless `TASKBOX_REDIS_SHARDS` says
/// otherwise; a single Redis keeps one (it has one thread to spread over).
pub const CLUSTER_SHARDS: u16 = 16;
/// The most shards a deployment may have.
pub const MAX_SHARDS: u16 = 1024;

/// The shards of one deployment.
#[derive(Debug)]
pub struct Shards {
    prefixes: Vec<Arc<str>>,
}

impl Shards {
    /// `count` shards for the deployment prefix `configured` (as set) and
    /// `tagged` (as the target uses it, [`super::Target::tagged`]).
    pub fn new(configured: &str, tagged: &str, count: u16) -> Self {
        let count = count.clamp(1, MAX_SHARDS);
        let prefixes = match count {
            1 => vec![Arc::from(tagged)],
            n => (0..n).map(|i| Arc::from(format!("{configured}{{s{i}}}:"))).collect(),
        };
        Self { prefixes }
    }

    pub fn count(&self) -> usize {
        self.prefixes.len()
    }

    /// Every shard's index.
    pub fn all(&self) -> std::ops::Range<usize> {
        0..self.count()
    }

    /// The shard of a config or workflow run.
    pub fn of(&self, owner: Uuid) -> usize {
        (owner.as_u128() % self.count() as u128) as usize
    }

    /// The shard that holds the limits of `task_type` (FNV-1a: the same in
    /// every process and every version).
    pub fn home(&self, task_type: &str) -> usize {
        let hash = task_type
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        (hash % self.count() as u64) as usize
    }

    /// The key prefix of shard `shard`.
    pub fn prefix(&self, shard: usize) -> &Arc<str> {
        &self.prefixes[shard]
    }

    /// The shard and stream entry of a delivery's handle (`s3/1700-0`;
    /// with one shard, the entry alone).
    pub fn parse_handle<'h>(&self, handle: &'h str) -> Result<(usize, &'h str), BackendError> {
        if self.count() == 1 {
            return Ok((0, handle));
        }
        handle
            .strip_prefix('s')
            .and_then(|h| h.split_once('/'))
            .and_then(|(shard, entry)| Some((shard.parse().ok().filter(|s| *s < self.count())?, entry)))
            .ok_or_else(|| BackendError::unknown("a delivery's handle", handle))
    }

    /// A delivery's handle for `entry` of `shard`.
    pub fn handle(&self, shard: usize, entry: &str) -> String {
        match self.count() {
            1 => entry.to_owned(),
            _ => format!("s{shard}/{entry}"),
        }
    }
}

/// The state of a deployment is kept under another shard count than the
/// one configured.
#[derive(Debug, thiserror::Error)]
#[error(
    "this deployment's Redis state is kept in {found} shard(s), but TASKBOX_REDIS_SHARDS asks for {wanted}: \
     start with TASKBOX_REDIS_SHARDS={found}, or change the count as the distributed deployment page \
     says (drain the queue, stop every process, delete the deployment's keys, start with the new count: \
     the schedules are restored from the config store)"
)]
pub struct ShardCountChanged {
    pub found: u16,
    pub wanted: u16,
}

impl super::RedisBackend {
    /// Refuses to go on when the state is kept in another number of shards
    /// (one, if it was kept before shards were counted).
    pub(super) async fn check_shard_count(&self) -> Result<(), BackendError> {
        let mut conn = self.conn.clone();
        let wanted = self.shards.count() as u16;
        let refuse = |found| BackendError::Misconfigured(Arc::new(ShardCountChanged { found, wanted }));
        let marked: Option<String> = conn.get(self.key("shards")).await?;
        let found = match marked {
            Some(n) => n.parse().map_err(|e| BackendError::corrupt("shard count", e))?,
            None if wanted > 1 && conn.exists::<_, bool>(self.key("status")).await? => 1,
            None => {
                let set: Option<String> = redis::cmd("SET")
                    .arg(self.key("shards"))
                    .arg(wanted)
                    .arg("NX")
                    .arg("GET")
                    .query_async(&mut conn)
                    .await?;
                match set {
                    Some(n) => n.parse().map_err(|e| BackendError::corrupt("shard count", e))?,
                    None => wanted,
                }
            }
        };
        if found != wanted {
            return Err(refuse(found));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shard_keeps_the_deployment_prefix_and_handles() {
        let one = Shards::new("taskbox:", "{taskbox}:", 1);
        assert_eq!(&**one.prefix(0), "{taskbox}:");
        assert_eq!(one.of(Uuid::new_v4()), 0);
        assert_eq!(one.handle(0, "17-0"), "17-0");
        assert_eq!(one.parse_handle("17-0").unwrap(), (0, "17-0"));
    }

    #[test]
    fn many_shards_tag_each_prefix_and_round_trip_handles() {
        let many = Shards::new("taskbox:", "{taskbox}:", 16);
        assert_eq!(many.count(), 16);
        assert_eq!(&**many.prefix(3), "taskbox:{s3}:");
        assert_eq!(many.parse_handle(&many.handle(15, "17-0")).unwrap(), (15, "17-0"));
        assert!(many.parse_handle("s16/17-0").is_err());
        assert!(many.parse_handle("17-0").is_err());
        assert_eq!(many.home("report"), many.home("report"));
    }

    #[test]
    fn configs_spread_evenly_over_the_shards() {
        let many = Shards::new("taskbox:", "taskbox:", 16);
        let mut counts = [0u32; 16];
        for _ in 0..160_000 {
            counts[many.of(Uuid::new_v4())] += 1;
        }
        let largest = *counts.iter().max().unwrap() as f64;
        assert!(largest / 10_000.0 < 1.05, "{counts:?}");
    }
}
