//! [`Queue`] on Redis Streams: one stream per priority band, read through
//! the `workers` consumer group; acknowledged (and deleted) only by
//! [`Queue::settle`], after the caller committed the record.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use redis::AsyncCommands;
use redis::streams::{
    StreamId, StreamPendingCountReply, StreamPendingReply, StreamReadOptions, StreamReadReply,
};
use std::time::Duration;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::{CANCEL, GROUP, PROMOTE, RedisBackend, SETTLE, item};
use crate::contract::BackendError;
use crate::contract::job::{Band, QueuedRun};
use crate::contract::queue::{CancelSignal, Cancelled, Delivery, Queue, Settle};
use crate::contract::schedule::ahead::{Stamp, still_current};
use crate::contract::schedule::backend::parse_status;

/// One entry of `settle.lua`'s arguments.
#[derive(serde::Serialize)]
struct SettleArgs<'a> {
    band: &'static str,
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

impl RedisBackend {
    /// Takes up to `max` runs for `consumer` through the group (see
    /// [`Queue::claim`]).
    async fn claim_from_group(
        &self,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, redis::RedisError> {
        let mut conn = self.blocking.clone();
        let mut taken = Vec::new();
        // Highest band first, without blocking.
        for band in Band::ALL {
            let want = max - taken.len();
            if want == 0 {
                break;
            }
            let opts = StreamReadOptions::default().group(GROUP, consumer).count(want);
            let reply: Option<StreamReadReply> =
                conn.xread_options(&[self.stream(band)], &[">"], &opts).await?;
            for key in reply.map(|r| r.keys).unwrap_or_default() {
                taken.extend(self.deliveries(band, key.ids, 1).await);
            }
        }
        if !taken.is_empty() || wait.is_zero() {
            return Ok(taken);
        }
        // Nothing anywhere: block on all bands at once.
        let streams: Vec<String> = Band::ALL.iter().map(|b| self.stream(*b)).collect();
        let opts =
            StreamReadOptions::default().group(GROUP, consumer).count(max).block(wait.as_millis() as usize);
        let reply: Option<StreamReadReply> = conn.xread_options(&streams, &[">", ">", ">"], &opts).await?;
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            if let Some(band) = self.band_of_stream(&key.key) {
                taken.extend(self.deliveries(band, key.ids, 1).await);
            }
        }
        taken.sort_by_key(|d| d.band);
        Ok(taken)
    }

    /// [`Queue::reclaim`] through the group.
    async fn reclaim_dead(&self, consumer: &str, max: usize) -> Result<Vec<Delivery>, redis::RedisError> {
        let mut conn = self.conn.clone();
        let mut taken = Vec::new();
        for band in Band::ALL {
            let stream = self.stream(band);
            // Who holds runs at all, then only the dead holders' runs.
            let holders = match conn.xpending(&stream, GROUP).await? {
                StreamPendingReply::Data(data) => data.consumers,
                _ => Vec::new(),
            };
            for holder in holders {
                if holder.name == consumer || taken.len() >= max {
                    continue;
                }
                let alive: bool = conn.exists(self.key(&format!("worker:{}", holder.name))).await?;
                if alive {
                    continue;
                }
                let want = max - taken.len();
                let pending: StreamPendingCountReply =
                    conn.xpending_consumer_count(&stream, GROUP, "-", "+", want, &holder.name).await?;
                for p in pending.ids {
                    // At least as idle as just seen: if another worker
                    // claimed it meanwhile, its idle time restarted and this
                    // claim takes nothing, so a run is never taken twice.
                    let claimed: redis::streams::StreamClaimReply =
                        conn.xclaim(&stream, GROUP, consumer, p.last_delivered_ms, &[&p.id]).await?;
                    if claimed.ids.is_empty() {
                        continue;
                    }
                    let deliveries = p.times_delivered as u64 + 1;
                    tracing::warn!(stream = %stream, id = %p.id, from = %p.consumer, "reclaiming a run from a worker that stopped");
                    taken.extend(self.deliveries(band, claimed.ids, deliveries).await);
                }
            }
        }
        Ok(taken)
    }

    /// [`Queue::redeliver`] through the group.
    async fn redeliver_lost(
        &self,
        consumer: &str,
        known: &[String],
        idle: Duration,
        max: usize,
    ) -> Result<Vec<Delivery>, redis::RedisError> {
        let mut conn = self.conn.clone();
        let idle_ms = idle.as_millis() as u64;
        let mut taken = Vec::new();
        for band in Band::ALL {
            if taken.len() >= max {
                break;
            }
            let stream = self.stream(band);
            // Its own entries, idle that long, that it does not know of.
            let pending: StreamPendingCountReply = redis::cmd("XPENDING")
                .arg(&stream)
                .arg(GROUP)
                .arg("IDLE")
                .arg(idle_ms)
                .arg("-")
                .arg("+")
                .arg(max + known.len())
                .arg(consumer)
                .query_async(&mut conn)
                .await?;
            for p in pending.ids.into_iter().filter(|p| !known.contains(&p.id)).take(max - taken.len()) {
                // Claimed again by itself: its idle time restarts, so the
                // next look does not hand it out a second time.
                let claimed: redis::streams::StreamClaimReply =
                    conn.xclaim(&stream, GROUP, consumer, idle_ms, &[&p.id]).await?;
                if claimed.ids.is_empty() {
                    continue;
                }
                tracing::warn!(stream = %stream, id = %p.id, "redelivering a run whose claim reply was lost");
                taken.extend(self.deliveries(band, claimed.ids, p.times_delivered as u64 + 1).await);
            }
        }
        Ok(taken)
    }

    /// A queue read that met a Redis without the consumer group (it lost
    /// its data, or was replaced) creates the group again and takes
    /// nothing this time; any other answer is passed on.
    async fn regrouped<T: Default>(&self, read: Result<T, redis::RedisError>) -> Result<T, BackendError> {
        match read {
            Err(e) if e.code() == Some("NOGROUP") => {
                tracing::warn!(
                    "the queue's consumer group is gone (Redis lost its data?): creating it again"
                );
                self.create_groups().await?;
                Ok(T::default())
            }
            other => Ok(other?),
        }
    }

    pub(super) fn stream(&self, band: Band) -> String {
        self.key(&format!("queue:{}", band.as_str()))
    }

    fn band_of_stream(&self, stream: &str) -> Option<Band> {
        Band::ALL.into_iter().find(|b| self.stream(*b) == stream)
    }

    /// Turns stream entries into deliveries; entries that cannot be read are
    /// acknowledged and dropped with an error in the log (they can never run).
    async fn deliveries(&self, band: Band, ids: Vec<StreamId>, deliveries: u64) -> Vec<Delivery> {
        let mut out = Vec::with_capacity(ids.len());
        for entry in ids {
            let parsed = entry
                .get::<String>("run")
                .ok_or_else(|| "no `run` field".to_owned())
                .and_then(|raw| serde_json::from_str::<QueuedRun>(&raw).map_err(|e| e.to_string()))
                .map(|mut run| {
                    // A marker: cancelled before any worker got it.
                    if let Some(by) = entry.get::<String>("cancelled") {
                        run.cancelled_by = Some(by);
                    }
                    run
                });
            match parsed {
                Ok(run) => out.push(Delivery { band, handle: entry.id, deliveries, run }),
                Err(e) => {
                    tracing::error!(stream = %self.stream(band), id = %entry.id, error = %e, "dropping unreadable queue entry");
                    let _: Result<(), _> =
                        self.conn.clone().xack(self.stream(band), GROUP, &[&entry.id]).await;
                    let _: Result<(), _> = self.conn.clone().xdel(self.stream(band), &[&entry.id]).await;
                }
            }
        }
        out
    }
}

#[async_trait]
impl Queue for RedisBackend {
    async fn claim(&self, consumer: &str, max: usize, wait: Duration) -> Result<Vec<Delivery>, BackendError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        self.regrouped(self.claim_from_group(consumer, max, wait).await).await
    }

    async fn settle(&self, done: Vec<Settle>) -> Result<(), BackendError> {
        if done.is_empty() {
            return Ok(());
        }
        let mut invocation = SETTLE.prepare_invoke();
        invocation.arg(&*self.prefix).arg(GROUP);
        for s in &done {
            let args = SettleArgs {
                band: s.band.as_str(),
                entry: &s.handle,
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

    async fn heartbeat(&self, consumer: &str, ttl: Duration) -> Result<(), BackendError> {
        let key = self.key(&format!("worker:{consumer}"));
        let expires = Utc::now().timestamp_millis() + ttl.as_millis() as i64;
        let _: () = redis::pipe()
            .pset_ex(key, 1, ttl.as_millis() as u64)
            .zadd(self.key("workers"), consumer, expires)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn reclaim(&self, consumer: &str, max: usize) -> Result<Vec<Delivery>, BackendError> {
        self.regrouped(self.reclaim_dead(consumer, max).await).await
    }

    async fn redeliver(
        &self,
        consumer: &str,
        known: &[String],
        idle: Duration,
        max: usize,
    ) -> Result<Vec<Delivery>, BackendError> {
        self.regrouped(self.redeliver_lost(consumer, known, idle, max).await).await
    }

    async fn promote_retries(&self, now: DateTime<Utc>) -> Result<usize, BackendError> {
        let moved: i64 = PROMOTE
            .arg(&*self.prefix)
            .arg(now.timestamp_millis())
            .arg(1000)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(moved as usize)
    }

    async fn still_current(&self, runs: &[&QueuedRun]) -> Result<Vec<bool>, BackendError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for run in runs {
            let id = run.job.config_id.to_string();
            pipe.hget(self.key("status"), &id)
                .hget(self.key("revisions"), &id)
                .hget(self.key("changed"), &id);
        }
        let found: Vec<Option<String>> = pipe.query_async(&mut self.conn.clone()).await?;
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
        let answer: Vec<Option<String>> = CANCEL
            .arg(&*self.prefix)
            .arg(execution_id.to_string())
            .arg(by)
            .invoke_async(&mut self.conn.clone())
            .await?;
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
        let found: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.key("cancels"))
            .arg(&ids)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(held
            .iter()
            .zip(found)
            .filter_map(|(id, by)| by.map(|by| CancelSignal { execution_id: *id, by }))
            .collect())
    }
}
