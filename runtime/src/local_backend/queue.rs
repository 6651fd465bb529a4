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

use super::LocalBackend;
use super::codec::{from_ms, json, ms};
use crate::job::{BackendError, Band, QueuedRun};
use crate::queue::{Delivery, Queue, QueueStats, Settle};
use crate::schedule::ahead::{Stamp, still_current};
use crate::schedule::backend::parse_status;

fn band_number(band: Band) -> i64 {
    match band {
        Band::High => 0,
        Band::Normal => 1,
        Band::Low => 2,
    }
}

fn band_of(n: i64) -> Band {
    match n {
        0 => Band::High,
        1 => Band::Normal,
        _ => Band::Low,
    }
}

/// `id:claims`.
fn parse_handle(handle: &str) -> Option<(i64, i64)> {
    let (id, claims) = handle.split_once(':')?;
    Some((id.parse().ok()?, claims.parse().ok()?))
}

/// Puts runs on the queue (ready now), in order, in one statement.
pub(super) async fn push_runs<'a>(
    tx: &mut SqliteConnection,
    runs: impl IntoIterator<Item = &'a QueuedRun>,
) -> Result<(), BackendError> {
    let now = ms(Utc::now());
    let mut insert = QueryBuilder::<Sqlite>::new("INSERT INTO local_queue (band, config_id, run, ready_ms) ");
    insert.push_values(runs, |mut row, run| {
        row.push_bind(band_number(Band::of_run(run)))
            .push_bind(run.job.config_id)
            .push_bind(json(run))
            .push_bind(now);
    });
    insert.build().execute(&mut *tx).await?;
    Ok(())
}

/// Is a run of this config queued or running?
pub(super) async fn has_runs(tx: &mut SqliteConnection, config_id: uuid::Uuid) -> Result<bool, BackendError> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM local_queue WHERE config_id = ?)")
        .bind(config_id)
        .fetch_one(&mut *tx)
        .await?)
}

impl LocalBackend {
    /// Hands the rows chosen by `pick` (a subquery of ids, in order) to
    /// `consumer`, at most `max`, and reads them back as deliveries.
    async fn hand_out(
        &self,
        consumer: &str,
        max: usize,
        pick: impl FnOnce(&mut QueryBuilder<Sqlite>),
    ) -> Result<Vec<Delivery>, BackendError> {
        let mut q = QueryBuilder::<Sqlite>::new("UPDATE local_queue SET consumer = ");
        q.push_bind(consumer.to_owned())
            .push(", deliveries = deliveries + 1, claims = claims + 1 WHERE id IN (");
        pick(&mut q);
        q.push(" LIMIT ").push_bind(max as i64).push(") RETURNING id, band, run, deliveries, claims");
        let mut tx = self.db.write().await?;
        let rows: Vec<(i64, i64, String, i64, i64)> = q.build_query_as().fetch_all(&mut *tx).await?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, band, run, deliveries, claims) in rows {
            match serde_json::from_str::<QueuedRun>(&run) {
                Ok(run) => out.push(Delivery {
                    band: band_of(band),
                    handle: format!("{id}:{claims}"),
                    deliveries: deliveries as u64,
                    run,
                }),
                Err(e) => {
                    tracing::error!(id, error = %e, "dropping unreadable queue entry");
                    sqlx::query("DELETE FROM local_queue WHERE id = ?").bind(id).execute(&mut *tx).await?;
                }
            }
        }
        tx.commit().await?;
        out.sort_by_key(|d| (d.band, parse_handle(&d.handle).map_or(0, |(id, _)| id)));
        Ok(out)
    }
}

#[async_trait]
impl QueueStats for LocalBackend {
    async fn live_workers(&self) -> Result<Vec<String>, BackendError> {
        Ok(sqlx::query_scalar("SELECT consumer FROM local_workers WHERE expires_ms >= ? ORDER BY consumer")
            .bind(ms(Utc::now()))
            .fetch_all(self.db.read())
            .await?)
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
    async fn claim(&self, consumer: &str, max: usize, wait: Duration) -> Result<Vec<Delivery>, BackendError> {
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
                .hand_out(consumer, max, |q| {
                    q.push("SELECT id FROM local_queue WHERE consumer IS NULL AND ready_ms <= ")
                        .push_bind(ms(Utc::now()))
                        .push(" ORDER BY band, id");
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
                        "UPDATE local_queue SET band = ?, run = ?, ready_ms = ?, consumer = NULL, deliveries = 0 \
                         WHERE id = ? AND claims = ?",
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

    async fn heartbeat(&self, consumer: &str, ttl: Duration) -> Result<(), BackendError> {
        let mut tx = self.db.write().await?;
        sqlx::query(
            "INSERT INTO local_workers (consumer, expires_ms) VALUES (?1, ?2) \
             ON CONFLICT (consumer) DO UPDATE SET expires_ms = ?2",
        )
        .bind(consumer)
        .bind(ms(Utc::now()) + ttl.as_millis() as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn reclaim(&self, consumer: &str, max: usize) -> Result<Vec<Delivery>, BackendError> {
        let taken = self
            .hand_out(consumer, max, |q| {
                q.push(
                    "SELECT q.id FROM local_queue q LEFT JOIN local_workers w ON w.consumer = q.consumer \
                     WHERE q.consumer IS NOT NULL AND q.consumer <> ",
                )
                .push_bind(consumer.to_owned())
                .push(" AND (w.expires_ms IS NULL OR w.expires_ms < ")
                .push_bind(ms(Utc::now()))
                .push(") ORDER BY q.band, q.id");
            })
            .await?;
        for d in &taken {
            tracing::warn!(id = %d.handle, config_id = %d.run.job.config_id, "reclaiming a run from a worker that stopped");
        }
        Ok(taken)
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
