//! [`Queue`] on Redis Streams: one stream per shard, priority band and
//! worker group, read through the `workers` consumer group (`take.rs`);
//! acknowledged (and deleted) only by [`Queue::settle`], after the caller
//! committed the record.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use std::time::Duration;
use tokio::sync::broadcast;
use uuid::Uuid;

use std::collections::BTreeMap;

use super::handoff::{Chores, STALE_FORWARDED, STALE_OUTBOX};
use super::{GROUP, PROMOTE, RedisBackend, SETTLE, item, lane};
use crate::contract::BackendError;
use crate::contract::job::QueuedRun;
use crate::contract::queue::{CancelSignal, Cancelled, Consumer, Delivery, Queue, Settle};
use crate::contract::schedule::ahead::{Stamp, still_current};
use crate::contract::schedule::backend::parse_status;

/// One entry of `settle.lua`'s arguments.
#[derive(serde::Serialize)]
struct SettleArgs<'a> {
    /// Its lane.
    band: String,
    entry: &'a str,
    id: String,
    exec: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry: Option<RetryArgs>,
}

/// A retry to park until `at_ms` (ms as a string), as `lua/common.lua`'s item.
#[derive(serde::Serialize)]
struct RetryArgs {
    item: String,
    at_ms: String,
}

#[async_trait]
impl Queue for RedisBackend {
    async fn claim(
        &self,
        consumer: &Consumer,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, BackendError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        self.regrouped(consumer, self.claim_from_group(consumer, max, wait).await).await
    }

    async fn settle(&self, done: Vec<Settle>) -> Result<(), BackendError> {
        let mut by_shard: BTreeMap<usize, Vec<(&Settle, &str)>> = BTreeMap::new();
        for s in &done {
            let (shard, entry) = self.shards.parse_handle(&s.handle)?;
            by_shard.entry(shard).or_default().push((s, entry));
        }
        for (shard, list) in by_shard {
            self.settle_on(shard, &list).await?;
            let handed: Vec<&Settle> =
                list.iter().map(|(s, _)| *s).filter(|s| self.shard_of(s.config_id) != shard).collect();
            self.release_settled(shard, &handed).await?;
        }
        // Slots given back may have let waiting runs through.
        self.announce_queued().await;
        Ok(())
    }

    async fn heartbeat(&self, consumer: &Consumer, ttl: Duration) -> Result<(), BackendError> {
        let key = self.key(&format!("worker:{}", consumer.name));
        let expires = Utc::now().timestamp_millis() + ttl.as_millis() as i64;
        let _: () = redis::pipe()
            .pset_ex(key, 1, ttl.as_millis() as u64)
            .zadd(self.key("workers"), &consumer.name, expires)
            .hset(self.key("worker_groups"), &consumer.name, consumer.groups.join(","))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn reclaim(&self, consumer: &Consumer, max: usize) -> Result<Vec<Delivery>, BackendError> {
        self.regrouped(consumer, self.reclaim_dead(consumer, max).await).await
    }

    async fn redeliver(
        &self,
        consumer: &Consumer,
        known: &[String],
        idle: Duration,
        max: usize,
    ) -> Result<Vec<Delivery>, BackendError> {
        self.regrouped(consumer, self.redeliver_lost(consumer, known, idle, max).await).await
    }

    async fn promote_retries(&self, now: DateTime<Utc>) -> Result<usize, BackendError> {
        let mut moved = 0;
        for shard in self.shards.all() {
            let now = now.timestamp_millis();
            let [retries, stale_outbox, cancels, stale_forwarded]: [i64; 4] = self
                .call(shard, &PROMOTE)
                .arg(now)
                .arg(1000)
                .arg(now - STALE_OUTBOX.as_millis() as i64)
                .arg(now - STALE_FORWARDED.as_millis() as i64)
                .invoke_async(&mut self.conn.clone())
                .await?;
            moved += retries as usize;
            if stale_outbox + cancels + stale_forwarded > 0 {
                self.look_after(shard, Chores { stale_outbox, cancels, stale_forwarded }).await?;
            }
        }
        if moved > 0 {
            self.announce_queued().await;
        }
        Ok(moved)
    }

    async fn still_current(&self, runs: &[&QueuedRun]) -> Result<Vec<bool>, BackendError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = runs.iter().map(|run| run.job.config_id).collect();
        let mut found: Vec<Option<String>> = vec![None; runs.len() * 3];
        for (shard, at) in self.by_shard(&ids) {
            let mut pipe = redis::pipe();
            for i in &at {
                let id = ids[*i].to_string();
                pipe.hget(self.skey(shard, "status"), &id)
                    .hget(self.skey(shard, "revisions"), &id)
                    .hget(self.skey(shard, "changed"), &id);
            }
            let got: Vec<Option<String>> = pipe.query_async(&mut self.conn.clone()).await?;
            for (i, three) in at.iter().zip(got.chunks(3)) {
                found[i * 3..i * 3 + 3].clone_from_slice(three);
            }
        }
        let mut out = Vec::with_capacity(runs.len());
        for (run, got) in runs.iter().zip(found.chunks(3)) {
            let stamp = match &got[0] {
                Some(status) => Some(Stamp {
                    status: parse_status(status)?,
                    revision: got[1].as_deref().and_then(|r| r.parse().ok()),
                    changed_at: got[2]
                        .as_deref()
                        .and_then(|t| t.parse().ok())
                        .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
                }),
                // No trace at all: the config was deleted before the run was due.
                None => None,
            };
            out.push(still_current(stamp.as_ref(), run));
        }
        Ok(out)
    }

    async fn cancel(&self, execution_id: Uuid, by: &str) -> Result<Cancelled, BackendError> {
        // {0} (not in flight), or {1 | 2, run}.
        let answer = self.cancel_anywhere(execution_id, by).await?;
        let done = answer.first().cloned().flatten().unwrap_or_default();
        let run = match answer.get(1).cloned().flatten() {
            Some(raw) => serde_json::from_str::<QueuedRun>(&raw)
                .map_err(|e| BackendError::corrupt(format!("run of {execution_id}"), e))?,
            None => return Ok(Cancelled::NotInFlight),
        };
        Ok(match done.as_str() {
            "1" => Cancelled::Waiting(run),
            "2" => Cancelled::Running(run),
            _ => Cancelled::NotInFlight,
        })
    }

    async fn signal_progress(&self, workflow_runs: &[Uuid]) -> Result<(), BackendError> {
        let mut pipe = redis::pipe();
        for id in workflow_runs {
            pipe.publish(self.key("progress"), id.to_string()).ignore();
        }
        let () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    fn progress_signals(&self) -> broadcast::Receiver<Uuid> {
        self.progress.subscribe()
    }

    fn cancel_signals(&self) -> broadcast::Receiver<CancelSignal> {
        self.cancels.subscribe()
    }

    async fn cancel_requests(&self, held: &[Uuid]) -> Result<Vec<CancelSignal>, BackendError> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = held.iter().map(Uuid::to_string).collect();
        let ids = &ids;
        // Held runs are in any shard (their config's, or their type's home).
        let found: Vec<Vec<Option<String>>> = self
            .each_shard(|shard, mut conn| async move {
                redis::cmd("HMGET").arg(self.skey(shard, "cancels")).arg(ids).query_async(&mut conn).await
            })
            .await?;
        let mut out = Vec::new();
        for (i, id) in held.iter().enumerate() {
            if let Some(by) = found.iter().find_map(|shard| shard[i].clone()) {
                out.push(CancelSignal { execution_id: *id, by });
            }
        }
        Ok(out)
    }
}

impl RedisBackend {
    /// Lets the runs among `handed` (handed to shard `home` by their
    /// config's shard, and just settled there) go at their origin, once
    /// their home holds them no more (not a retry, nor an attempt that a
    /// stale handle's settle left running).
    async fn release_settled(&self, home: usize, handed: &[&Settle]) -> Result<(), BackendError> {
        if handed.is_empty() {
            return Ok(());
        }
        let execs: Vec<String> = handed.iter().map(|s| s.execution_id.to_string()).collect();
        let mut pipe = redis::pipe();
        for exec in &execs {
            pipe.hexists(self.skey(home, "run_config"), exec);
        }
        let held: Vec<bool> = pipe.query_async(&mut self.conn.clone()).await?;
        let mut released: BTreeMap<usize, Vec<(String, String)>> = BTreeMap::new();
        for ((s, exec), held) in handed.iter().zip(execs).zip(held) {
            if !held {
                released.entry(self.shard_of(s.config_id)).or_default().push((s.config_id.to_string(), exec));
            }
        }
        for (origin, runs) in released {
            self.release(origin, &runs).await?;
        }
        Ok(())
    }

    /// Settles runs taken from the streams of shard `shard` (`settle.lua`).
    async fn settle_on(&self, shard: usize, done: &[(&Settle, &str)]) -> Result<(), BackendError> {
        let mut invocation = self.call(shard, &SETTLE);
        invocation.arg(GROUP);
        for (s, entry) in done {
            let args = SettleArgs {
                band: lane(s.band, &s.group),
                entry,
                id: s.config_id.to_string(),
                exec: s.execution_id.to_string(),
                retry: s
                    .retry
                    .as_ref()
                    .map(|(run, at)| RetryArgs { item: item(run), at_ms: at.timestamp_millis().to_string() }),
            };
            invocation.arg(serde_json::to_string(&args).expect("settle arguments serialise"));
        }
        let _: i64 = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(())
    }
}
