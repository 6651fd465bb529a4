//! [`QueueStats`] on Redis: what the API shows of the queue (its depth,
//! the live workers, each worker group, the runs held back) and which runs a worker holds now. Reads only.

use async_trait::async_trait;
use chrono::Utc;
use uuid::Uuid;

use redis::AsyncCommands;
use std::collections::{BTreeMap, HashMap};

use super::{GROUP, HELD, RedisBackend};
use crate::contract::BackendError;
use crate::contract::job::{Band, DEFAULT_GROUP};
use crate::contract::queue::{GroupStats, HeldBack, LiveWorker, QueueStats};

#[async_trait]
impl QueueStats for RedisBackend {
    async fn held(&self, execution_ids: &[Uuid]) -> Result<Vec<bool>, BackendError> {
        let mut out = Vec::with_capacity(execution_ids.len());
        for chunk in execution_ids.chunks(500) {
            // A run is held in its config's shard or its type's home.
            let mut held = vec![false; chunk.len()];
            for shard in self.shards.all() {
                let mut call = self.call(shard, &HELD);
                for id in chunk {
                    call.arg(id.to_string());
                }
                let found: Vec<i64> = call.invoke_async(&mut self.conn.clone()).await?;
                held.iter_mut().zip(found).for_each(|(h, f)| *h |= f == 1);
            }
            out.extend(held);
        }
        Ok(out)
    }

    async fn live_workers(&self) -> Result<Vec<LiveWorker>, BackendError> {
        let now = Utc::now().timestamp_millis();
        let (workers, groups) = (self.key("workers"), self.key("worker_groups"));
        let mut conn = self.conn.clone();
        let gone: Vec<String> = conn.zrangebyscore(&workers, "-inf", now - 1).await?;
        if !gone.is_empty() {
            let _: () =
                redis::pipe().zrem(&workers, &gone).hdel(&groups, &gone).query_async(&mut conn).await?;
        }
        let names: Vec<String> = conn.zrangebyscore(&workers, now, "+inf").await?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let served: Vec<Option<String>> =
            redis::cmd("HMGET").arg(&groups).arg(&names).query_async(&mut conn).await?;
        let mut live: Vec<LiveWorker> = names
            .into_iter()
            .zip(served)
            .map(|(name, groups)| LiveWorker {
                name,
                groups: groups
                    .as_deref()
                    .unwrap_or(DEFAULT_GROUP)
                    .split(',')
                    .filter(|g| !g.is_empty())
                    .map(str::to_owned)
                    .collect(),
            })
            .collect();
        live.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(live)
    }

    async fn groups(&self) -> Result<Vec<GroupStats>, BackendError> {
        let mut by_group: BTreeMap<String, GroupStats> = BTreeMap::new();
        let blank = |group: &str| GroupStats {
            group: group.to_owned(),
            workers: 0,
            queued: 0,
            oldest_queued_seconds: None,
        };
        for worker in self.live_workers().await? {
            for g in worker.groups {
                by_group.entry(g.clone()).or_insert_with(|| blank(&g)).workers += 1;
            }
        }
        let now = Utc::now().timestamp_millis();
        for (shard, band, group) in self.lanes().await? {
            let (queued, oldest_ms) = self.waiting_on(&self.stream(shard, band, &group)).await?;
            let stats = by_group.entry(group.clone()).or_insert_with(|| blank(&group));
            stats.queued += queued;
            if let Some(ms) = oldest_ms {
                let age = (now - ms).max(0) as f64 / 1000.0;
                stats.oldest_queued_seconds = Some(stats.oldest_queued_seconds.map_or(age, |a| a.max(age)));
            }
        }
        Ok(by_group.into_values().collect())
    }

    async fn in_flight(&self, owner: Uuid) -> Result<Vec<Uuid>, BackendError> {
        let key = self.skey(self.shard_of(owner), &format!("runs:{owner}"));
        let ids: Vec<String> = self.conn.clone().hkeys(key).await?;
        Ok(ids.iter().filter_map(|id| id.parse().ok()).collect())
    }

    async fn held_back(&self) -> Result<HeldBack, BackendError> {
        let each: Vec<HashMap<String, i64>> = self
            .each_shard(|shard, mut conn| async move { conn.hgetall(self.skey(shard, "held_back")).await })
            .await?;
        let count =
            |kind: &str| each.iter().map(|c| c.get(kind).copied().unwrap_or(0).max(0) as u64).sum::<u64>();
        Ok(HeldBack { limit: count("s"), rate: count("r") })
    }

    async fn depth(&self) -> Result<u64, BackendError> {
        // One pipeline per shard: a cluster answers a pipeline from one slot.
        let mut by_shard: BTreeMap<usize, redis::Pipeline> = BTreeMap::new();
        for (shard, band, group) in self.lanes().await? {
            by_shard.entry(shard).or_insert_with(redis::pipe).xlen(self.stream(shard, band, &group));
        }
        let mut depth = 0;
        for pipe in by_shard.values() {
            let lens: Vec<u64> = pipe.query_async(&mut self.conn.clone()).await?;
            depth += lens.iter().sum::<u64>();
        }
        Ok(depth)
    }
}

impl RedisBackend {
    /// Every lane of every shard that may hold runs: the default group's,
    /// and those of the other groups runs were queued in.
    async fn lanes(&self) -> Result<Vec<(usize, Band, String)>, BackendError> {
        let mut lanes = Vec::new();
        let others: Vec<Vec<String>> = self
            .each_shard(|shard, mut conn| async move { conn.smembers(self.skey(shard, "lanes")).await })
            .await?;
        for (shard, others) in others.into_iter().enumerate() {
            lanes.extend(Band::ALL.map(|b| (shard, b, DEFAULT_GROUP.to_owned())));
            for other in others {
                let parsed = other.split_once(':').and_then(|(band, group)| {
                    Some((Band::ALL.into_iter().find(|b| b.as_str() == band)?, group))
                });
                if let Some((band, group)) = parsed {
                    lanes.push((shard, band, group.to_owned()));
                }
            }
        }
        Ok(lanes)
    }

    /// How many entries of `stream` no worker took yet, and when the
    /// oldest of them was put there (ms).
    async fn waiting_on(&self, stream: &str) -> Result<(u64, Option<i64>), BackendError> {
        let mut conn = self.conn.clone();
        let info: redis::RedisResult<redis::streams::StreamInfoGroupsReply> = conn.xinfo_groups(stream).await;
        let Some(group) = info.ok().and_then(|i| i.groups.into_iter().find(|g| g.name == GROUP)) else {
            // No worker ever read it: everything in it waits.
            let len: u64 = conn.xlen(stream).await?;
            let first: redis::streams::StreamRangeReply = conn.xrange_count(stream, "-", "+", 1).await?;
            return Ok((len, first.ids.first().and_then(|e| entry_ms(&e.id))));
        };
        let len: u64 = conn.xlen(stream).await?;
        let pending = group.pending as u64;
        let after = format!("({}", group.last_delivered_id);
        let next: redis::streams::StreamRangeReply = conn.xrange_count(stream, &after, "+", 1).await?;
        Ok((len.saturating_sub(pending), next.ids.first().and_then(|e| entry_ms(&e.id))))
    }
}

/// The time (ms) in a stream entry's id.
fn entry_ms(id: &str) -> Option<i64> {
    id.split_once('-').and_then(|(ms, _)| ms.parse().ok())
}
