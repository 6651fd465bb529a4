//! Handing runs to workers on Redis Streams: claiming new ones through the
//! `workers` consumer group from the streams of the worker's groups in
//! every shard (highest band first, the shards in turn),
//! reclaiming those of dead workers, redelivering those whose claim reply
//! was lost, and logging the start of each rate-limited run taken
//! (`lua/start.lua`). What a delivery is made of is read here too.

use redis::AsyncCommands;
use redis::streams::{
    StreamId, StreamPendingCountReply, StreamPendingReply, StreamReadOptions, StreamReadReply,
};
use std::time::Duration;

use super::{GROUP, RedisBackend, START, lane};
use crate::contract::BackendError;
use crate::contract::job::{Band, QueuedRun};
use crate::contract::queue::{Consumer, Delivery};

/// A stream a worker reads: its shard, key and band.
struct Source {
    shard: usize,
    stream: String,
    band: Band,
}

impl RedisBackend {
    pub(super) fn stream(&self, shard: usize, band: Band, group: &str) -> String {
        self.skey(shard, &format!("queue:{}", lane(band, group)))
    }

    /// The streams `consumer` reads, highest band first; within a band,
    /// every shard, starting from the next in turn (so none is favoured).
    fn streams_of(&self, consumer: &Consumer) -> Vec<Source> {
        let count = self.shards.count();
        let first = self.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % count;
        let mut sources = Vec::with_capacity(Band::ALL.len() * count * consumer.groups.len());
        for band in Band::ALL {
            for shard in (first..count).chain(0..first) {
                for group in &consumer.groups {
                    sources.push(Source { shard, stream: self.stream(shard, band, group), band });
                }
            }
        }
        sources
    }

    /// Takes up to `max` runs for `consumer` through the group (see
    /// `Queue::claim`).
    pub(super) async fn claim_from_group(
        &self,
        consumer: &Consumer,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, redis::RedisError> {
        let streams = self.streams_of(consumer);
        // Told of runs queued from here on (where it cannot block below).
        let queued = self.queued.notified();
        tokio::pin!(queued);
        queued.as_mut().enable();
        let mut taken = self.read_each(consumer, &streams, max).await?;
        if taken.is_empty() && !wait.is_zero() {
            if self.notify_queued {
                // A cluster cannot block on streams of several slots at
                // once: wait to be told of queued runs (or a second, in
                // case a message was lost), then look again.
                let _ = tokio::time::timeout(wait.min(Duration::from_secs(1)), queued).await;
                taken = self.read_each(consumer, &streams, max).await?;
            } else {
                // Nothing anywhere: block on every stream at once.
                let names: Vec<&str> = streams.iter().map(|s| s.stream.as_str()).collect();
                let ids = vec![">"; names.len()];
                let opts = StreamReadOptions::default()
                    .group(GROUP, &consumer.name)
                    .count(max)
                    .block(wait.as_millis() as usize);
                let reply: Option<StreamReadReply> =
                    self.blocking.clone().xread_options(&names, &ids, &opts).await?;
                for key in reply.map(|r| r.keys).unwrap_or_default() {
                    if let Some(source) = streams.iter().find(|s| s.stream == key.key) {
                        taken.extend(self.deliveries(source, key.ids, 1).await);
                    }
                }
            }
            taken.sort_by_key(|d| d.band);
        }
        self.started(&taken).await?;
        Ok(taken)
    }

    /// Takes up to `max` new runs from `streams`, in their order, without
    /// blocking.
    async fn read_each(
        &self,
        consumer: &Consumer,
        streams: &[Source],
        max: usize,
    ) -> Result<Vec<Delivery>, redis::RedisError> {
        let mut conn = self.blocking.clone();
        let mut taken = Vec::new();
        for source in streams {
            let want = max - taken.len();
            if want == 0 {
                break;
            }
            let opts = StreamReadOptions::default().group(GROUP, &consumer.name).count(want);
            let reply: Option<StreamReadReply> = conn.xread_options(&[&source.stream], &[">"], &opts).await?;
            for key in reply.map(|r| r.keys).unwrap_or_default() {
                taken.extend(self.deliveries(source, key.ids, 1).await);
            }
        }
        Ok(taken)
    }

    /// `Queue::reclaim` through the group: runs of `consumer`'s groups only.
    pub(super) async fn reclaim_dead(
        &self,
        consumer: &Consumer,
        max: usize,
    ) -> Result<Vec<Delivery>, redis::RedisError> {
        let mut conn = self.conn.clone();
        let mut taken = Vec::new();
        for source in self.streams_of(consumer) {
            let stream = &source.stream;
            // Who holds runs at all, then only the dead holders' runs.
            let holders = match conn.xpending(stream, GROUP).await? {
                StreamPendingReply::Data(data) => data.consumers,
                _ => Vec::new(),
            };
            for holder in holders {
                if holder.name == consumer.name || taken.len() >= max {
                    continue;
                }
                let alive: bool = conn.exists(self.key(&format!("worker:{}", holder.name))).await?;
                if alive {
                    continue;
                }
                let want = max - taken.len();
                let pending: StreamPendingCountReply =
                    conn.xpending_consumer_count(stream, GROUP, "-", "+", want, &holder.name).await?;
                for p in pending.ids {
                    // At least as idle as just seen: if another worker
                    // claimed it meanwhile, its idle time restarted and this
                    // claim takes nothing, so a run is never taken twice.
                    let claimed: redis::streams::StreamClaimReply =
                        conn.xclaim(stream, GROUP, &consumer.name, p.last_delivered_ms, &[&p.id]).await?;
                    if claimed.ids.is_empty() {
                        continue;
                    }
                    let deliveries = p.times_delivered as u64 + 1;
                    tracing::warn!(stream = %stream, id = %p.id, from = %p.consumer, "reclaiming a run from a worker that stopped");
                    taken.extend(self.deliveries(&source, claimed.ids, deliveries).await);
                }
            }
        }
        self.started(&taken).await?;
        Ok(taken)
    }

    /// `Queue::redeliver` through the group.
    pub(super) async fn redeliver_lost(
        &self,
        consumer: &Consumer,
        known: &[String],
        idle: Duration,
        max: usize,
    ) -> Result<Vec<Delivery>, redis::RedisError> {
        let mut conn = self.conn.clone();
        let idle_ms = idle.as_millis() as u64;
        let mut taken = Vec::new();
        for source in self.streams_of(consumer) {
            let stream = &source.stream;
            if taken.len() >= max {
                break;
            }
            // Its own entries, idle that long, that it does not know of.
            let pending: StreamPendingCountReply = redis::cmd("XPENDING")
                .arg(stream)
                .arg(GROUP)
                .arg("IDLE")
                .arg(idle_ms)
                .arg("-")
                .arg("+")
                .arg(max + known.len())
                .arg(&consumer.name)
                .query_async(&mut conn)
                .await?;
            let unknown = |p: &&redis::streams::StreamPendingId| {
                !known.contains(&self.shards.handle(source.shard, &p.id))
            };
            for p in pending.ids.iter().filter(unknown).take(max - taken.len()) {
                // Claimed again by itself: its idle time restarts, so the
                // next look does not hand it out a second time.
                let claimed: redis::streams::StreamClaimReply =
                    conn.xclaim(stream, GROUP, &consumer.name, idle_ms, &[&p.id]).await?;
                if claimed.ids.is_empty() {
                    continue;
                }
                tracing::warn!(stream = %stream, id = %p.id, "redelivering a run whose claim reply was lost");
                taken.extend(self.deliveries(&source, claimed.ids, p.times_delivered as u64 + 1).await);
            }
        }
        self.started(&taken).await?;
        Ok(taken)
    }

    /// Logs the start of the rate-limited runs among `taken` (once each),
    /// in the shard each was taken from.
    async fn started(&self, taken: &[Delivery]) -> Result<(), redis::RedisError> {
        let mut rated: std::collections::BTreeMap<usize, Vec<&Delivery>> = Default::default();
        for d in
            taken.iter().filter(|d| d.run.job.rate_limit.is_some() || d.run.job.type_rate_limit.is_some())
        {
            let shard = self.shards.parse_handle(&d.handle).map(|(shard, _)| shard).unwrap_or_default();
            rated.entry(shard).or_default().push(d);
        }
        for (shard, runs) in rated {
            let mut call = self.call(shard, &START);
            for d in runs {
                call.arg(d.run.owner().to_string()).arg(d.run.execution_id.to_string());
            }
            let _: i64 = call.invoke_async(&mut self.conn.clone()).await?;
        }
        Ok(())
    }

    /// A queue read that met a Redis without the consumer group (it lost
    /// its data, or was replaced, or a group's first worker came) creates
    /// the groups of `consumer` and takes nothing this time; any other
    /// answer is passed on.
    pub(super) async fn regrouped<T: Default>(
        &self,
        consumer: &Consumer,
        read: Result<T, redis::RedisError>,
    ) -> Result<T, BackendError> {
        match read {
            Err(e) if e.code() == Some("NOGROUP") => {
                tracing::info!(groups = ?consumer.groups, "creating the consumer group of the queue's streams");
                self.create_groups(&consumer.groups).await?;
                Ok(T::default())
            }
            other => Ok(other?),
        }
    }

    /// Turns stream entries into deliveries; entries that cannot be read are
    /// acknowledged and dropped with an error in the log (they can never run).
    async fn deliveries(&self, source: &Source, ids: Vec<StreamId>, deliveries: u64) -> Vec<Delivery> {
        let (stream, band) = (source.stream.as_str(), source.band);
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
                Ok(run) => {
                    let handle = self.shards.handle(source.shard, &entry.id);
                    out.push(Delivery { band, handle, deliveries, run })
                }
                Err(e) => {
                    tracing::error!(stream = %stream, id = %entry.id, error = %e, "dropping unreadable queue entry");
                    let _: Result<(), _> = self.conn.clone().xack(stream, GROUP, &[&entry.id]).await;
                    let _: Result<(), _> = self.conn.clone().xdel(stream, &[&entry.id]).await;
                }
            }
        }
        out
    }
}
