//! The `local_queue` and `local_workers` tables, and [`Queue`] on them: a
//! row is claimed by setting its consumer, and deleted only by
//! [`Queue::settle`], after the caller committed the record. A retry reuses
//! its row with a later `ready_ms`. A delivery's handle is `id:claims`, a
//! count of hand-outs that a retry does not reset (unlike `deliveries`, the
//! deliveries of the current attempt), so a worker that lost its claim
//! (reclaimed after its heartbeat lapsed) cannot settle the row another
//! worker now holds, in this attempt or a later one. Every write to these
//! tables is here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use std::time::Duration;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::LocalBackend;
use super::cancel::{Which, mark_cancelled};
use super::codec::{band_number, from_ms, json, ms, parse_handle};
use crate::contract::BackendError;
use crate::contract::job::{Band, QueuedRun, RateLimit};
use crate::contract::queue::{
    CancelSignal, Cancelled, Consumer, Delivery, GroupStats, HeldBack, LiveWorker, Queue, QueueStats, Settle,
};
use crate::contract::schedule::ahead::{Stamp, still_current};
use crate::contract::schedule::backend::parse_status;

/// Puts runs on the queue (ready now), in order, in one statement.
pub(super) async fn push_runs<'a>(
    tx: &mut SqliteConnection,
    runs: impl IntoIterator<Item = &'a QueuedRun>,
) -> Result<(), BackendError> {
    let now = ms(Utc::now());
    let mut insert = QueryBuilder::<Sqlite>::new(
        "INSERT INTO local_queue (band, config_id, run, ready_ms, execution_id, task_type, cfg_limit, type_limit, \
         worker_group, cfg_rate, type_rate) ",
    );
    insert.push_values(runs, |mut row, run| {
        // A step run is kept among its workflow run's runs.
        row.push_bind(band_number(Band::of_run(run)))
            .push_bind(run.owner())
            .push_bind(json(run))
            .push_bind(now)
            .push_bind(run.execution_id)
            .push_bind(run.job.task_type.clone())
            .push_bind(run.job.config_limit().map(i64::from))
            .push_bind(run.job.type_max_concurrency.map(i64::from))
            .push_bind(run.job.group().to_owned())
            .push_bind(run.job.rate_limit.map(rate_text))
            .push_bind(run.job.type_rate_limit.map(rate_text));
    });
    insert.build().execute(&mut *tx).await?;
    Ok(())
}

/// A rate as a row keeps it: '<max>/<window ms>'.
fn rate_text(rate: RateLimit) -> String {
    format!("{}/{}", rate.max, rate.window_ms())
}

/// `(?, ?, ...)` of `groups`, for `worker_group IN`.
pub(super) fn push_groups(q: &mut QueryBuilder<Sqlite>, groups: &[String]) {
    q.push("(");
    let mut list = q.separated(", ");
    for g in groups {
        list.push_bind(g.clone());
    }
    q.push(")");
}

/// How many runs of this config are queued or running.
pub(super) async fn runs_in_flight(tx: &mut SqliteConnection, config_id: Uuid) -> Result<i64, BackendError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM local_queue WHERE config_id = ?")
        .bind(config_id)
        .fetch_one(&mut *tx)
        .await?)
}

#[async_trait]
impl QueueStats for LocalBackend {
    async fn held(&self, execution_ids: &[Uuid]) -> Result<Vec<bool>, BackendError> {
        let mut held = std::collections::HashSet::new();
        for chunk in execution_ids.chunks(500) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "SELECT execution_id FROM local_queue WHERE consumer IS NOT NULL AND execution_id IN (",
            );
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(")");
            let rows: Vec<Uuid> = q.build_query_scalar().fetch_all(self.db.read()).await?;
            held.extend(rows);
        }
        Ok(execution_ids.iter().map(|id| held.contains(id)).collect())
    }

    async fn live_workers(&self) -> Result<Vec<LiveWorker>, BackendError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT consumer, groups FROM local_workers WHERE expires_ms >= ? ORDER BY consumer",
        )
        .bind(ms(Utc::now()))
        .fetch_all(self.db.read())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(name, groups)| LiveWorker { name, groups: groups.split(',').map(str::to_owned).collect() })
            .collect())
    }

    async fn groups(&self) -> Result<Vec<GroupStats>, BackendError> {
        let now = ms(Utc::now());
        let mut by_group = std::collections::BTreeMap::new();
        fn stats_of<'a>(
            by_group: &'a mut std::collections::BTreeMap<String, GroupStats>,
            group: &str,
        ) -> &'a mut GroupStats {
            by_group.entry(group.to_owned()).or_insert_with(|| GroupStats {
                group: group.to_owned(),
                workers: 0,
                queued: 0,
                oldest_queued_seconds: None,
            })
        }
        for worker in self.live_workers().await? {
            for g in &worker.groups {
                stats_of(&mut by_group, g).workers += 1;
            }
        }
        let waiting: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT worker_group, count(*), min(ready_ms) FROM local_queue \
             WHERE consumer IS NULL AND ready_ms <= ? GROUP BY worker_group",
        )
        .bind(now)
        .fetch_all(self.db.read())
        .await?;
        for (group, queued, oldest) in waiting {
            let stats = stats_of(&mut by_group, &group);
            stats.queued = queued as u64;
            stats.oldest_queued_seconds = Some((now - oldest).max(0) as f64 / 1000.0);
        }
        Ok(by_group.into_values().collect())
    }

    async fn in_flight(&self, owner: Uuid) -> Result<Vec<Uuid>, BackendError> {
        Ok(sqlx::query_scalar("SELECT execution_id FROM local_queue WHERE config_id = ? ORDER BY id")
            .bind(owner)
            .fetch_all(self.db.read())
            .await?)
    }

    async fn held_back(&self) -> Result<HeldBack, BackendError> {
        // Gated rows whose time came and no worker took: waiting for a
        // slot or their turn (for a moment at most, where there is room).
        let (limit, rate): (i64, i64) = sqlx::query_as(
            "SELECT coalesce(sum(cfg_rate IS NULL AND type_rate IS NULL), 0), \
             coalesce(sum(cfg_rate IS NOT NULL OR type_rate IS NOT NULL), 0) FROM local_queue \
             WHERE consumer IS NULL AND ready_ms <= ? AND (cfg_limit IS NOT NULL OR type_limit IS NOT NULL \
             OR cfg_rate IS NOT NULL OR type_rate IS NOT NULL)",
        )
        .bind(ms(Utc::now()))
        .fetch_one(self.db.read())
        .await?;
        Ok(HeldBack { limit: limit as u64, rate: rate as u64 })
    }

    async fn depth(&self) -> Result<u64, BackendError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM local_queue WHERE consumer IS NOT NULL OR ready_ms <= ?",
        )
        .bind(ms(Utc::now()))
        .fetch_one(self.db.read())
        .await?;
        Ok(n as u64)
    }
}

#[async_trait]
impl Queue for LocalBackend {
    async fn claim(
        &self,
        consumer: &Consumer,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, BackendError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Listen before looking, so a run queued in between still wakes us.
            let queued = self.queued.notified();
            tokio::pin!(queued);
            queued.as_mut().enable();
            let taken = self
                .hand_out(consumer, max, true, |q| {
                    q.push("SELECT id FROM local_queue WHERE consumer IS NULL AND ready_ms <= ")
                        .push_bind(ms(Utc::now()))
                        .push(
                            " AND cfg_limit IS NULL AND type_limit IS NULL AND cfg_rate IS NULL \
                             AND type_rate IS NULL AND worker_group IN ",
                        );
                    push_groups(q, &consumer.groups);
                    q.push(" ORDER BY band, id");
                })
                .await?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !taken.is_empty() || left.is_zero() {
                return Ok(taken);
            }
            let _ = tokio::time::timeout(left, queued).await;
        }
    }

    async fn settle(&self, done: Vec<Settle>) -> Result<(), BackendError> {
        if done.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.write().await?;
        for s in &done {
            let (id, claims) =
                parse_handle(&s.handle).ok_or_else(|| BackendError::unknown("queue handle", &s.handle))?;
            match &s.retry {
                Some((run, at)) => {
                    sqlx::query(
                        "UPDATE local_queue SET band = ?, run = ?, ready_ms = ?, consumer = NULL, deliveries = 0, \
                         cancel_by = NULL WHERE id = ? AND claims = ?",
                    )
                    .bind(band_number(Band::of_run(run)))
                    .bind(json(run))
                    .bind(ms(*at))
                    .bind(id)
                    .bind(claims)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM local_queue WHERE id = ? AND claims = ?")
                        .bind(id)
                        .bind(claims)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn heartbeat(&self, consumer: &Consumer, ttl: Duration) -> Result<(), BackendError> {
        let mut tx = self.db.write().await?;
        sqlx::query(
            "INSERT INTO local_workers (consumer, expires_ms, groups) VALUES (?1, ?2, ?3) \
             ON CONFLICT (consumer) DO UPDATE SET expires_ms = ?2, groups = ?3",
        )
        .bind(&consumer.name)
        .bind(ms(Utc::now()) + ttl.as_millis() as i64)
        .bind(consumer.groups.join(","))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn reclaim(&self, consumer: &Consumer, max: usize) -> Result<Vec<Delivery>, BackendError> {
        let taken = self
            .hand_out(consumer, max, false, |q| {
                q.push(
                    "SELECT q.id FROM local_queue q LEFT JOIN local_workers w ON w.consumer = q.consumer \
                     WHERE q.consumer IS NOT NULL AND q.consumer <> ",
                )
                .push_bind(consumer.name.clone())
                .push(" AND (w.expires_ms IS NULL OR w.expires_ms < ")
                .push_bind(ms(Utc::now()))
                .push(") AND q.worker_group IN ");
                push_groups(q, &consumer.groups);
                q.push(" ORDER BY q.band, q.id");
            })
            .await?;
        for d in &taken {
            tracing::warn!(id = %d.handle, config_id = %d.run.job.config_id, "reclaiming a run from a worker that stopped");
        }
        Ok(taken)
    }

    async fn redeliver(
        &self,
        consumer: &Consumer,
        known: &[String],
        _idle: Duration,
        max: usize,
    ) -> Result<Vec<Delivery>, BackendError> {
        // A claim here is one transaction of this process, so its answer
        // cannot be lost on the way; a run its worker lost track of all the
        // same (a task that ended without handing it on) is handed again.
        let known: Vec<i64> = known.iter().filter_map(|h| parse_handle(h)).map(|(id, _)| id).collect();
        let taken = self
            .hand_out(consumer, max, false, |q| {
                q.push("SELECT id FROM local_queue WHERE consumer = ").push_bind(consumer.name.clone());
                q.push(" AND id NOT IN (-1");
                for id in known {
                    q.push(", ").push_bind(id);
                }
                q.push(") ORDER BY band, id");
            })
            .await?;
        for d in &taken {
            tracing::warn!(id = %d.handle, "redelivering a run its worker lost track of");
        }
        Ok(taken)
    }

    async fn cancel(&self, execution_id: Uuid, by: &str) -> Result<Cancelled, BackendError> {
        let mut tx = self.db.write().await?;
        let found = mark_cancelled(&mut tx, Which::Execution(execution_id), by).await?;
        tx.commit().await?;
        let Some((held, run)) = found.into_iter().next() else { return Ok(Cancelled::NotInFlight) };
        Ok(if held {
            let _ = self.cancels.send(CancelSignal { execution_id, by: by.to_owned() });
            Cancelled::Running(run)
        } else {
            self.queued.notify_waiters();
            Cancelled::Waiting(run)
        })
    }

    fn cancel_signals(&self) -> broadcast::Receiver<CancelSignal> {
        self.cancels.subscribe()
    }

    async fn cancel_requests(&self, held: &[Uuid]) -> Result<Vec<CancelSignal>, BackendError> {
        let mut found = Vec::new();
        for chunk in held.chunks(500) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "SELECT execution_id, cancel_by FROM local_queue WHERE cancel_by IS NOT NULL AND execution_id IN (",
            );
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(")");
            let rows: Vec<(Uuid, String)> = q.build_query_as().fetch_all(self.db.read()).await?;
            found.extend(rows.into_iter().map(|(execution_id, by)| CancelSignal { execution_id, by }));
        }
        Ok(found)
    }

    async fn signal_progress(&self, workflow_runs: &[Uuid]) -> Result<(), BackendError> {
        for id in workflow_runs {
            let _ = self.progress.send(*id);
        }
        Ok(())
    }

    fn progress_signals(&self) -> broadcast::Receiver<Uuid> {
        self.progress.subscribe()
    }

    async fn promote_retries(&self, _now: DateTime<Utc>) -> Result<usize, BackendError> {
        // Nothing to move: retries wait in place, and every claim takes the
        // rows whose `ready_ms` has come.
        Ok(0)
    }

    async fn still_current(&self, runs: &[&QueuedRun]) -> Result<Vec<bool>, BackendError> {
        let mut out = Vec::with_capacity(runs.len());
        for run in runs {
            let row: Option<(String, Option<String>, i64)> = sqlx::query_as(
                "SELECT status, revision, changed_ms FROM local_schedules WHERE config_id = ?",
            )
            .bind(run.job.config_id)
            .fetch_optional(self.db.read())
            .await?;
            let stamp = match row {
                Some((status, revision, changed)) => Some(Stamp {
                    status: parse_status(&status)?,
                    revision: revision.and_then(|r| r.parse().ok()),
                    changed_at: Some(from_ms(changed)),
                }),
                None => None,
            };
            out.push(still_current(stamp.as_ref(), run));
        }
        Ok(out)
    }
}
