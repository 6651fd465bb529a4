//! [`ScheduleBackend`] on the local tables: each change one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use std::collections::BTreeMap;
use uuid::Uuid;

use super::LocalBackend;
use super::codec::{from_ms, json, ms, parse};
use super::{cancel, history, queue};
use crate::contract::BackendError;
use crate::contract::job::{Concurrency, Job, QueuedRun};
use crate::contract::queue::CancelSignal;
use crate::contract::schedule::backend::*;
use crate::contract::schedule::{HistoryEvent, Status};

/// Changes a config's metadata (a JSON object of strings) in place.
async fn update_metadata(
    tx: &mut SqliteConnection,
    id: Uuid,
    change: impl FnOnce(&mut BTreeMap<String, String>),
) -> Result<(), BackendError> {
    let text: Option<String> = sqlx::query_scalar("SELECT metadata FROM local_schedules WHERE config_id = ?")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let mut meta: BTreeMap<String, String> = match text {
        Some(t) => parse("metadata", &t)?,
        None => return Ok(()),
    };
    change(&mut meta);
    sqlx::query("UPDATE local_schedules SET metadata = ? WHERE config_id = ?")
        .bind(json(&meta))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

fn increment(meta: &mut BTreeMap<String, String>, key: &str) {
    let n: i64 = meta.get(key).and_then(|v| v.parse().ok()).unwrap_or(0);
    meta.insert(key.to_owned(), (n + 1).to_string());
}

impl LocalBackend {
    /// The configs whose time in `column` (`due_ms` or `resume_ms`, each
    /// with its partial index) is at or before `now`, earliest first, at
    /// most `limit`, with that time.
    async fn by_time_until(
        &self,
        column: &'static str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, BackendError> {
        let sql = format!(
            "SELECT config_id, {column} FROM local_schedules WHERE {column} IS NOT NULL AND {column} <= ? \
             ORDER BY {column} LIMIT ?"
        );
        let rows: Vec<(Uuid, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(ms(now))
            .bind(limit as i64)
            .fetch_all(self.db.read())
            .await?;
        Ok(rows.into_iter().map(|(id, at)| (id, from_ms(at))).collect())
    }

    /// The rows of `select` (which ends in `IN (`) for `ids`, 500 ids a
    /// statement, in no particular order.
    async fn rows_of<T>(&self, select: &'static str, ids: &[Uuid]) -> Result<Vec<T>, BackendError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
    {
        let mut rows = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let mut q = QueryBuilder::<Sqlite>::new(select);
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(")");
            rows.extend(q.build_query_as::<T>().fetch_all(self.db.read()).await?);
        }
        Ok(rows)
    }
}

#[async_trait]
impl ScheduleBackend for LocalBackend {
    async fn transition(&self, t: Transition) -> Result<Transitioned, BackendError> {
        let Transition { config_id, allowed, to, entry, event, resume_at, expect_resume } = t;
        let mut tx = self.db.write().await?;
        let existing: Option<(String, Option<i64>)> =
            sqlx::query_as("SELECT status, resume_ms FROM local_schedules WHERE config_id = ?")
                .bind(config_id)
                .fetch_optional(&mut *tx)
                .await?;
        let resume_ms = existing.as_ref().and_then(|(_, r)| *r);
        let existing = existing.map(|(s, _)| s);
        let current = existing.as_deref().map(parse_status).transpose()?.unwrap_or(Status::Inactive);
        if !allowed.contains(&current) || expect_resume.is_some_and(|at| resume_ms != Some(ms(at))) {
            return Ok(Transitioned::Refused(current));
        }
        let to = to.unwrap_or(current);
        let now = ms(Utc::now());
        sqlx::query(
            "INSERT INTO local_schedules (config_id, status, changed_ms, resume_ms) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (config_id) DO UPDATE SET status = ?2, changed_ms = ?3, resume_ms = ?4",
        )
        .bind(config_id)
        .bind(to.as_str())
        .bind(now)
        .bind(resume_at.map(ms))
        .execute(&mut *tx)
        .await?;
        match &entry {
            EntryChange::Keep => {}
            EntryChange::Remove => {
                sqlx::query(
                    "UPDATE local_schedules SET job = NULL, revision = NULL, due_ms = NULL WHERE config_id = ?",
                )
                .bind(config_id)
                .execute(&mut *tx)
                .await?;
            }
            EntryChange::Set { job, next_run } => {
                sqlx::query(
                    "UPDATE local_schedules SET job = ?, revision = ?, due_ms = ? WHERE config_id = ?",
                )
                .bind(json(job))
                .bind(job.revision.to_string())
                .bind(next_run.map(ms))
                .bind(config_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        if to != current || existing.is_none() {
            update_metadata(&mut tx, config_id, |m| {
                m.insert(meta::STATUS_CHANGED_AT.into(), now.to_string());
            })
            .await?;
        }
        history::push(&mut tx, config_id, &event).await?;
        tx.commit().await?;
        self.changes.notify_one();
        Ok(Transitioned::From(current))
    }

    async fn note(&self, config_id: Uuid, event: HistoryEvent) -> Result<(), BackendError> {
        let mut tx = self.db.write().await?;
        history::push(&mut tx, config_id, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn forget(&self, config_id: Uuid) -> Result<(), BackendError> {
        let mut tx = self.db.write().await?;
        sqlx::query("DELETE FROM local_schedules WHERE config_id = ?")
            .bind(config_id)
            .execute(&mut *tx)
            .await?;
        // Its runs no worker holds go with it; held ones finish as usual.
        sqlx::query("DELETE FROM local_queue WHERE config_id = ? AND consumer IS NULL")
            .bind(config_id)
            .execute(&mut *tx)
            .await?;
        history::forget(&mut tx, config_id).await?;
        tx.commit().await?;
        self.changes.notify_one();
        Ok(())
    }

    async fn info(&self, config_id: Uuid, history: usize) -> Result<ScheduleInfo, BackendError> {
        let mut conn = self.db.read().acquire().await?;
        let row = sqlx::query(
            "SELECT status, job, due_ms, resume_ms, metadata FROM local_schedules WHERE config_id = ?",
        )
        .bind(config_id)
        .fetch_optional(&mut *conn)
        .await?;
        let events = history::read(&mut conn, config_id, history).await?;
        let Some(row) = row else {
            return Ok(ScheduleInfo {
                status: None,
                job: None,
                next_run: None,
                paused_until: None,
                metadata: BTreeMap::new(),
                history: events,
            });
        };
        let job: Option<String> = row.try_get("job")?;
        let due: Option<i64> = row.try_get("due_ms")?;
        let resume: Option<i64> = row.try_get("resume_ms")?;
        Ok(ScheduleInfo {
            status: Some(parse_status(row.try_get("status")?)?),
            job: job.map(|j| parse("job", &j)).transpose()?,
            next_run: due.map(from_ms),
            paused_until: resume.map(from_ms),
            metadata: parse("metadata", row.try_get("metadata")?)?,
            history: events,
        })
    }

    async fn briefs(&self, ids: &[Uuid]) -> Result<Vec<Brief>, BackendError> {
        let select = "SELECT config_id, status, due_ms, resume_ms FROM local_schedules WHERE config_id IN (";
        let rows: Vec<(Uuid, String, Option<i64>, Option<i64>)> = self.rows_of(select, ids).await?;
        let mut found = BTreeMap::new();
        for (id, status, due, resume) in rows {
            let brief = Brief {
                status: Some(parse_status(&status)?),
                next_run: due.map(from_ms),
                paused_until: resume.map(from_ms),
            };
            found.insert(id, brief);
        }
        Ok(ids.iter().map(|id| found.get(id).copied().unwrap_or_default()).collect())
    }

    async fn statuses(&self) -> Result<BTreeMap<Uuid, Status>, BackendError> {
        let rows: Vec<(Uuid, String)> =
            sqlx::query_as("SELECT config_id, status FROM local_schedules").fetch_all(self.db.read()).await?;
        rows.into_iter().map(|(id, s)| Ok((id, parse_status(&s)?))).collect()
    }

    async fn due_times(&self) -> Result<BTreeMap<Uuid, DateTime<Utc>>, BackendError> {
        let rows: Vec<(Uuid, i64)> =
            sqlx::query_as("SELECT config_id, due_ms FROM local_schedules WHERE due_ms IS NOT NULL")
                .fetch_all(self.db.read())
                .await?;
        Ok(rows.into_iter().map(|(id, due)| (id, from_ms(due))).collect())
    }

    async fn history(&self, config_id: Uuid, limit: usize) -> Result<Vec<HistoryEvent>, BackendError> {
        let mut conn = self.db.read().acquire().await?;
        history::read(&mut conn, config_id, limit).await
    }

    async fn summary(&self) -> Result<BTreeMap<Status, u64>, BackendError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, count(*) FROM local_schedules GROUP BY status")
                .fetch_all(self.db.read())
                .await?;
        summary_of(rows)
    }

    async fn jobs(&self, ids: &[Uuid]) -> Result<Vec<Option<Job>>, BackendError> {
        let select = "SELECT config_id, job FROM local_schedules WHERE job IS NOT NULL AND config_id IN (";
        let rows: Vec<(Uuid, String)> = self.rows_of(select, ids).await?;
        let mut found = BTreeMap::new();
        for (id, job) in rows {
            found.insert(id, parse::<Job>("job", &job)?);
        }
        Ok(ids.iter().map(|id| found.get(id).cloned()).collect())
    }

    async fn due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, BackendError> {
        self.by_time_until("due_ms", now, limit).await
    }

    async fn earliest_due(&self) -> Result<Option<DateTime<Utc>>, BackendError> {
        let first: Option<i64> = sqlx::query_scalar(
            "SELECT min(at) FROM (SELECT min(due_ms) AS at FROM local_schedules \
             UNION ALL SELECT min(resume_ms) FROM local_schedules)",
        )
        .fetch_one(self.db.read())
        .await?;
        Ok(first.map(from_ms))
    }

    async fn due_resumes(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, BackendError> {
        self.by_time_until("resume_ms", now, limit).await
    }

    async fn fire(&self, fires: Vec<Fire>) -> Result<Vec<Fired>, BackendError> {
        if fires.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.db.write().await?;
        let now = Utc::now();
        let mut results = Vec::with_capacity(fires.len());
        let mut enqueued = false;
        let mut signals = Vec::new();
        for f in fires {
            let row: Option<(Option<i64>, String, Option<String>)> =
                sqlx::query_as("SELECT due_ms, status, revision FROM local_schedules WHERE config_id = ?")
                    .bind(f.config_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let still_due = matches!(&row, Some((Some(due), status, revision))
                if *due == ms(f.due) && status == "active"
                    && f.revision.is_none_or(|r| revision.as_deref() == Some(r.to_string().as_str())));
            if !still_due {
                results.push(Fired::Lost);
                continue;
            }
            let mut result = Fired::Skipped;
            let mut event = f.event;
            match &f.run {
                Some(run) => {
                    let in_flight = match f.policy {
                        Concurrency::Allow => 0,
                        _ => queue::runs_in_flight(&mut tx, f.config_id).await?,
                    };
                    let skip = match f.policy {
                        Concurrency::Forbid if in_flight > 0 => Some(events::SKIPPED),
                        Concurrency::BufferOne if in_flight > 1 => Some(events::SKIPPED_BUFFERED),
                        _ => None,
                    };
                    if let Some(skip) = skip {
                        event = HistoryEvent::of(skip);
                        update_metadata(&mut tx, f.config_id, |m| increment(m, meta::SKIPS)).await?;
                    } else {
                        if f.policy == Concurrency::Replace && in_flight > 0 {
                            let by = "concurrency=replace";
                            let found =
                                cancel::mark_cancelled(&mut tx, cancel::Which::Config(f.config_id), by)
                                    .await?;
                            signals.extend(found.into_iter().filter(|(held, _)| *held).map(|(_, run)| {
                                CancelSignal { execution_id: run.execution_id, by: by.to_owned() }
                            }));
                            history::push(&mut tx, f.config_id, &HistoryEvent::of(events::REPLACED)).await?;
                        }
                        queue::push_runs(&mut tx, [run]).await?;
                        update_metadata(&mut tx, f.config_id, |m| {
                            increment(m, meta::FIRES);
                            let at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                            m.insert(meta::LAST_FIRED_AT.into(), at);
                        })
                        .await?;
                        result = Fired::Enqueued;
                        enqueued = true;
                    }
                }
                None => update_metadata(&mut tx, f.config_id, |m| increment(m, meta::MISFIRES)).await?,
            }
            history::push(&mut tx, f.config_id, &event).await?;
            match f.next {
                Some(next) => {
                    sqlx::query("UPDATE local_schedules SET due_ms = ? WHERE config_id = ?")
                        .bind(ms(next))
                        .bind(f.config_id)
                        .execute(&mut *tx)
                        .await?;
                }
                None => {
                    // The end of the schedule is not a change that cancels
                    // the run just fired ahead of its time (schedule::ahead).
                    sqlx::query(
                        "UPDATE local_schedules SET due_ms = NULL, status = ?, changed_ms = max(changed_ms, ?) \
                         WHERE config_id = ?",
                    )
                    .bind(f.ending.as_str())
                    .bind(ms(f.due))
                    .bind(f.config_id)
                    .execute(&mut *tx)
                    .await?;
                    if f.ending == Status::Inactive {
                        history::push(&mut tx, f.config_id, &HistoryEvent::of(events::COMPLETED)).await?;
                    }
                }
            }
            results.push(result);
        }
        tx.commit().await?;
        if enqueued {
            self.queued.notify_waiters();
        }
        for signal in signals {
            let _ = self.cancels.send(signal);
        }
        Ok(results)
    }

    async fn enqueue(
        &self,
        run: QueuedRun,
        event: Option<HistoryEvent>,
        once: Option<&Once>,
    ) -> Result<Enqueued, BackendError> {
        self.enqueuer.enqueue(run, event, once.cloned()).await
    }

    async fn state_marker(&self, _fresh: &str) -> Result<Option<String>, BackendError> {
        // The local state lives in the database file with the configs: it
        // is never lost apart from them, so its marker is always there.
        Ok(Some("local".into()))
    }
}
