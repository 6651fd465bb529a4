//! Runs handed from the shard of their config to the shard that holds
//! their task type's limits (`shards.rs`), and let go there when they
//! leave. Owns that protocol; never decides a run's limits.
//!
//! A task type's concurrency limit and rate count the runs of every
//! config of the type, but a script touches one shard. So a run with a
//! type-level limit whose config lives in another shard than the type's
//! *home* is admitted at the home, through every gate it has (its
//! config's too), and nowhere else:
//!
//! 1. `fire.lua` / `enqueue.lua` put it in its config's shard's `outbox`,
//!    in the same script that settles the tick or queues the run (so what
//!    was acknowledged is kept); its place there is `o|<home>`, which the
//!    overlap policies and cancels see as a run in flight.
//! 2. [`RedisBackend::pass_on`] admits it at the home (`arrive.lua`:
//!    once per hand-off number, however often it is passed on), waits for
//!    a replica there, then marks it forwarded at the origin
//!    (`forwarded.lua`: place `f|<home>`).
//! 3. It is queued, taken, run and settled at the home like any run; a
//!    retry waits there. When it settles for good, the home gives back its
//!    slots (the same script that acknowledges it), then `release.lua`
//!    lets it leave its config's runs in flight.
//!
//! A limit is never exceeded: a run's slots and rate places are taken and
//! given back at one shard, in the scripts that put it on and take it off
//! that shard's stream, as on one Redis. Nothing is lost or leaked by a
//! crash between the steps, because every process's maintenance
//! ([`RedisBackend::look_after`], from `Queue::promote_retries`) redoes
//! them: a hand-off still in an outbox after [`STALE_OUTBOX`] is passed on
//! again (arriving twice admits it once); a run forwarded more than
//! [`STALE_FORWARDED`] ago that its home no longer holds is released; and
//! cancels that met a handed-off run inside a script (the `replace`
//! policy) wait in `cancel_out` until they are passed to the home, removed
//! only once done. A cancel through the API asks the shards in turn and
//! follows a hand-off to its home ([`RedisBackend::cancel_anywhere`]).

use chrono::Utc;
use redis::AsyncCommands;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;
use uuid::Uuid;

use super::{ARRIVE, CANCEL, FORWARDED, RELEASE, RedisBackend};
use crate::contract::BackendError;
use crate::contract::job::QueuedRun;

/// How long a hand-off may wait in its outbox before maintenance passes
/// it on (the process that made it passes it on at once).
pub const STALE_OUTBOX: Duration = Duration::from_secs(5);
/// How long after it was forwarded a run's home is asked whether it still
/// holds the run.
pub const STALE_FORWARDED: Duration = Duration::from_secs(30);
/// How many entries one pass looks at.
const BATCH: usize = 500;

/// What `promote.lua` found to look after in one shard.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Chores {
    pub stale_outbox: i64,
    pub cancels: i64,
    pub stale_forwarded: i64,
}

impl RedisBackend {
    /// The shard a run must be handed to: the home of its task type, when
    /// the run has a type-level limit or rate and the home is not the
    /// shard of its owner.
    pub(super) fn home_of(&self, run: &QueuedRun) -> Option<usize> {
        let job = &run.job;
        if self.shards.count() == 1 || (job.type_max_concurrency.is_none() && job.type_rate_limit.is_none()) {
            return None;
        }
        let home = self.shards.home(&job.task_type);
        (home != self.shard_of(run.owner())).then_some(home)
    }

    /// Passes on what shard `origin` holds for other shards now: its
    /// hand-offs and, with `cancels`, the cancels waiting for them. A
    /// failure is logged; maintenance passes them on later.
    pub(super) async fn pass_on(&self, origin: usize, cancels: bool) {
        if let Err(e) = self.forward(origin, None).await {
            tracing::warn!(error = %e, shard = origin, "cannot hand runs to their home shard yet; retrying later");
        }
        if cancels && let Err(e) = self.pass_cancels(origin).await {
            tracing::warn!(error = %e, shard = origin, "cannot pass cancels to a home shard yet; retrying later");
        }
        self.announce_queued().await;
    }

    /// Does what `chores` says shard `shard` needs (see the module doc).
    pub(super) async fn look_after(&self, shard: usize, chores: Chores) -> Result<(), BackendError> {
        let now = Utc::now().timestamp_millis();
        if chores.stale_outbox > 0 {
            let passed = self.forward(shard, Some(now - STALE_OUTBOX.as_millis() as i64)).await?;
            tracing::warn!(
                shard,
                passed,
                "handed runs to their home shard after a pause (a process stopped?)"
            );
            self.announce_queued().await;
        }
        if chores.cancels > 0 {
            self.pass_cancels(shard).await?;
        }
        if chores.stale_forwarded > 0 {
            self.release_gone(shard, now - STALE_FORWARDED.as_millis() as i64).await?;
        }
        Ok(())
    }

    /// Admits the hand-offs in the outbox of `origin` (those before
    /// `before_ms`, or all) at their homes, then marks them forwarded.
    async fn forward(&self, origin: usize, before_ms: Option<i64>) -> Result<usize, BackendError> {
        let mut conn = self.conn.clone();
        let until = before_ms.map_or_else(|| "+inf".to_owned(), |ms| ms.to_string());
        let execs: Vec<String> = conn
            .zrangebyscore_limit(self.skey(origin, "outbox_at"), "-inf", until, 0, BATCH as isize)
            .await?;
        if execs.is_empty() {
            return Ok(0);
        }
        let entries: Vec<Option<String>> =
            redis::cmd("HMGET").arg(self.skey(origin, "outbox")).arg(&execs).query_async(&mut conn).await?;
        let mut by_home: BTreeMap<usize, Vec<(&str, &str, &str)>> = BTreeMap::new();
        for (exec, entry) in execs.iter().zip(&entries) {
            let mut parts = entry.as_deref().unwrap_or_default().splitn(3, '|');
            let (Some(home), Some(seq), Some(item)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            match home.parse::<usize>() {
                Ok(home) if home < self.shards.count() => {
                    by_home.entry(home).or_default().push((exec, seq, item));
                }
                _ => return Err(BackendError::unknown("a hand-off's home shard", home)),
            }
        }
        let mut passed = 0;
        for (home, list) in by_home {
            let mut arrive = self.call(home, &ARRIVE);
            for (_, seq, item) in &list {
                arrive.arg(origin).arg(*seq).arg(*item);
            }
            let _: i64 = arrive.invoke_async(&mut self.acked.clone()).await?;
            // Forwarded only once its home cannot lose it in a failover.
            self.replicated(home).await?;
            let mut forwarded = self.call(origin, &FORWARDED);
            for (exec, seq, _) in &list {
                forwarded.arg(*exec).arg(*seq);
            }
            let _: i64 = forwarded.invoke_async(&mut self.conn.clone()).await?;
            passed += list.len();
        }
        Ok(passed)
    }

    /// Cancels at their homes the runs whose cancel waits in `cancel_out`
    /// of `origin`; each leaves the list once done.
    async fn pass_cancels(&self, origin: usize) -> Result<(), BackendError> {
        let list = self.skey(origin, "cancel_out");
        let waiting: Vec<String> = self.conn.clone().lrange(&list, 0, BATCH as isize - 1).await?;
        for entry in waiting {
            if let Some((exec, by)) = entry.split_once('|')
                && let Ok(exec) = exec.parse::<Uuid>()
            {
                self.cancel_anywhere(exec, by).await?;
            }
            let _: i64 = self.conn.clone().lrem(&list, 1, &entry).await?;
        }
        Ok(())
    }

    /// Releases at `origin` the runs forwarded before `before_ms` that
    /// their home no longer holds (it settled them, and the release that
    /// follows was cut short); asks again later about the others.
    async fn release_gone(&self, origin: usize, before_ms: i64) -> Result<(), BackendError> {
        let mut conn = self.conn.clone();
        let forwarded = self.skey(origin, "forwarded");
        let execs: Vec<String> =
            conn.zrangebyscore_limit(&forwarded, "-inf", before_ms, 0, BATCH as isize).await?;
        if execs.is_empty() {
            return Ok(());
        }
        let owners: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.skey(origin, "run_config"))
            .arg(&execs)
            .query_async(&mut conn)
            .await?;
        let mut gone = Vec::new();
        for (exec, owner) in execs.iter().zip(owners) {
            let Some(owner) = owner else {
                let _: i64 = conn.zrem(&forwarded, exec).await?;
                continue;
            };
            let place: Option<String> = conn.hget(self.skey(origin, &format!("runs:{owner}")), exec).await?;
            let home = place.as_deref().and_then(|p| p.strip_prefix("f|")).and_then(|h| h.parse().ok());
            let held = match home {
                Some(home) if home < self.shards.count() => {
                    conn.hexists::<_, _, bool>(self.skey(home, "run_config"), exec).await?
                }
                _ => false,
            };
            if held {
                let _: i64 = conn.zadd(&forwarded, exec, Utc::now().timestamp_millis()).await?;
            } else {
                gone.push((owner, exec.clone()));
            }
        }
        if !gone.is_empty() {
            tracing::warn!(
                shard = origin,
                runs = gone.len(),
                "releasing handed-off runs their home shard settled"
            );
            self.release(origin, &gone).await?;
        }
        Ok(())
    }

    /// Lets the handed-off runs `(owner, execution id)` leave the runs in
    /// flight of `origin`.
    pub(super) async fn release(&self, origin: usize, runs: &[(String, String)]) -> Result<(), BackendError> {
        let mut call = self.call(origin, &RELEASE);
        for (owner, exec) in runs {
            call.arg(owner).arg(exec);
        }
        let _: i64 = call.invoke_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Cancels the run of `execution_id` in whichever shard holds it,
    /// following a hand-off to its home: `cancel.lua`'s answer.
    pub(super) async fn cancel_anywhere(
        &self,
        execution_id: Uuid,
        by: &str,
    ) -> Result<Vec<Option<String>>, BackendError> {
        for shard in self.shards.all() {
            let answer = self.cancel_on(shard, execution_id, by).await?;
            match answer.first().cloned().flatten().as_deref() {
                Some("3") => {
                    let home = answer.get(1).cloned().flatten().and_then(|h| h.parse::<usize>().ok());
                    let home = home.filter(|h| *h < self.shards.count()).ok_or_else(|| {
                        BackendError::unknown("a hand-off's home shard", format!("{answer:?}"))
                    })?;
                    self.forward(shard, None).await?;
                    return self.cancel_on(home, execution_id, by).await;
                }
                Some("0") | None => continue,
                Some(_) => return Ok(answer),
            }
        }
        Ok(vec![Some("0".to_owned())])
    }

    async fn cancel_on(
        &self,
        shard: usize,
        execution_id: Uuid,
        by: &str,
    ) -> Result<Vec<Option<String>>, BackendError> {
        Ok(self
            .call(shard, &CANCEL)
            .arg(execution_id.to_string())
            .arg(by)
            .invoke_async(&mut self.conn.clone())
            .await?)
    }

    /// Tells idle workers that runs were queued, where they cannot block
    /// on every shard's streams (`take.rs`); nothing elsewhere. One
    /// message covers every run queued until it is sent, so a busy process
    /// sends about one a millisecond, not one per run.
    pub(super) async fn announce_queued(&self) {
        if !self.notify_queued || self.announcing.swap(true, Ordering::SeqCst) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            // A millisecond's runs share it (a worker waits that much more).
            tokio::time::sleep(Duration::from_millis(1)).await;
            // Runs queued from here on announce themselves anew.
            this.announcing.store(false, Ordering::SeqCst);
            let sent: Result<i64, _> = this.conn.clone().publish(this.key("queued"), "").await;
            if let Err(e) = sent {
                tracing::debug!(error = %e, "cannot announce queued runs; workers look again within a second");
            }
        });
    }
}
