//! [`ScheduleBackend`] on Redis: every change is one Lua script.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use redis::AsyncCommands;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

use super::{ENQUEUE, FIRE, FORGET, HISTORY_CAP, HISTORY_TTL, RedisBackend, TRANSITION};
use crate::queue::{Band, QueuedRun};
use crate::schedule::backend::*;
use crate::schedule::{HistoryEvent, Status};

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(ms: f64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms as i64).single().unwrap_or_default()
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("schedule types serialise")
}

fn parse_id(s: &str) -> Result<Uuid, BackendError> {
    s.parse().map_err(|_| BackendError::Corrupt(format!("not a config id: {s:?}")))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[async_trait]
impl ScheduleBackend for RedisBackend {
    async fn transition(
        &self,
        config_id: Uuid,
        allowed: &[Status],
        to: Option<Status>,
        entry: EntryChange,
        event: HistoryEvent,
    ) -> Result<Transitioned, BackendError> {
        let allowed: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
        let (op, job, next, revision) = match &entry {
            EntryChange::Keep => ("keep", String::new(), String::new(), 0),
            EntryChange::Remove => ("remove", String::new(), String::new(), 0),
            EntryChange::Set { job, next_run } => {
                ("set", json(job), next_run.map(|t| ms(t).to_string()).unwrap_or_default(), job.revision)
            }
        };
        let (done, status): (i64, String) = TRANSITION
            .arg(&*self.prefix)
            .arg(config_id.to_string())
            .arg(allowed.join(" "))
            .arg(to.map(Status::as_str).unwrap_or(""))
            .arg(op)
            .arg(job)
            .arg(next)
            .arg(json(&event))
            .arg(HISTORY_CAP)
            .arg(HISTORY_TTL.as_secs())
            .arg(ms(Utc::now()))
            .arg(revision.to_string())
            .invoke_async(&mut self.conn.clone())
            .await?;
        let status = BackendError::parse_status(&status)?;
        Ok(if done == 1 { Transitioned::From(status) } else { Transitioned::Refused(status) })
    }

    async fn note(&self, config_id: Uuid, event: HistoryEvent) -> Result<(), BackendError> {
        let key = self.key(&format!("history:{config_id}"));
        let _: () = redis::pipe()
            .atomic()
            .lpush(&key, json(&event))
            .ltrim(&key, 0, HISTORY_CAP as isize - 1)
            .expire(&key, HISTORY_TTL.as_secs() as i64)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn forget(&self, config_id: Uuid) -> Result<(), BackendError> {
        let _: i64 =
            FORGET.arg(&*self.prefix).arg(config_id.to_string()).invoke_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    async fn info(&self, config_id: Uuid, history: usize) -> Result<ScheduleInfo, BackendError> {
        let id = config_id.to_string();
        type Reply = (Option<String>, Option<String>, Option<f64>, HashMap<String, String>, Vec<String>);
        let (status, job, due, metadata, events): Reply = redis::pipe()
            .hget(self.key("status"), &id)
            .hget(self.key("jobs"), &id)
            .zscore(self.key("due"), &id)
            .hgetall(self.key(&format!("meta:{id}")))
            .lrange(self.key(&format!("history:{id}")), 0, history as isize - 1)
            .query_async(&mut self.conn.clone())
            .await?;
        // LRANGE 0 -1 is the whole list: asked for none, give none.
        let events = if history == 0 { Vec::new() } else { events };
        Ok(ScheduleInfo {
            status: status.as_deref().map(BackendError::parse_status).transpose()?,
            job: job
                .map(|j| {
                    serde_json::from_str(&j).map_err(|e| BackendError::Corrupt(format!("job of {id}: {e}")))
                })
                .transpose()?,
            next_run: due.map(from_ms),
            metadata: metadata.into_iter().collect(),
            history: events
                .iter()
                .map(|e| {
                    serde_json::from_str(e).map_err(|e| BackendError::Corrupt(format!("history event: {e}")))
                })
                .collect::<Result<_, _>>()?,
        })
    }

    async fn statuses(&self) -> Result<BTreeMap<Uuid, Status>, BackendError> {
        let all: HashMap<String, String> = self.conn.clone().hgetall(self.key("status")).await?;
        all.iter().map(|(id, s)| Ok((parse_id(id)?, BackendError::parse_status(s)?))).collect()
    }

    async fn due_times(&self) -> Result<BTreeMap<Uuid, DateTime<Utc>>, BackendError> {
        let all: Vec<(String, f64)> = self.conn.clone().zrange_withscores(self.key("due"), 0, -1).await?;
        all.iter().map(|(id, score)| Ok((parse_id(id)?, from_ms(*score)))).collect()
    }

    async fn history(&self, config_id: Uuid, limit: usize) -> Result<Vec<HistoryEvent>, BackendError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let key = self.key(&format!("history:{config_id}"));
        let raw: Vec<String> = self.conn.clone().lrange(key, 0, limit as isize - 1).await?;
        raw.iter()
            .map(|e| {
                serde_json::from_str(e).map_err(|e| BackendError::Corrupt(format!("history event: {e}")))
            })
            .collect()
    }

    async fn summary(&self) -> Result<BTreeMap<Status, u64>, BackendError> {
        let counts: HashMap<String, i64> = self.conn.clone().hgetall(self.key("status_counts")).await?;
        summary_of(counts)
    }

    async fn jobs(&self, ids: &[Uuid]) -> Result<Vec<Option<Job>>, BackendError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let raw: Vec<Option<String>> =
            redis::cmd("HMGET").arg(self.key("jobs")).arg(&ids).query_async(&mut self.conn.clone()).await?;
        raw.into_iter()
            .map(|j| {
                j.map(|j| serde_json::from_str(&j).map_err(|e| BackendError::Corrupt(format!("job: {e}"))))
                    .transpose()
            })
            .collect()
    }

    async fn due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, BackendError> {
        let due: Vec<(String, f64)> = self
            .conn
            .clone()
            .zrangebyscore_limit_withscores(self.key("due"), "-inf", ms(now), 0, limit as isize)
            .await?;
        due.iter().map(|(id, score)| Ok((parse_id(id)?, from_ms(*score)))).collect()
    }

    async fn earliest_due(&self) -> Result<Option<DateTime<Utc>>, BackendError> {
        let first: Vec<(String, f64)> = self.conn.clone().zrange_withscores(self.key("due"), 0, 0).await?;
        Ok(first.first().map(|(_, score)| from_ms(*score)))
    }

    async fn fire(&self, fires: Vec<Fire>) -> Result<Vec<Fired>, BackendError> {
        if fires.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = FIRE.prepare_invoke();
        invocation.arg(&*self.prefix).arg(rfc3339(Utc::now())).arg(HISTORY_CAP).arg(HISTORY_TTL.as_secs());
        for f in &fires {
            let (band, run) = match &f.run {
                Some(run) => (Band::of(run.job.priority).as_str(), json(run)),
                None => ("", String::new()),
            };
            invocation
                .arg(f.config_id.to_string())
                .arg(ms(f.due))
                .arg(f.next.map(|t| ms(t).to_string()).unwrap_or_default())
                .arg(band)
                .arg(run)
                .arg(if f.forbid_overlap { "1" } else { "0" })
                .arg(json(&f.event))
                .arg(f.ending.as_str())
                .arg(f.revision.map(|r| r.to_string()).unwrap_or_default());
        }
        let results: Vec<i64> = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(results
            .into_iter()
            .map(|r| match r {
                1 => Fired::Enqueued,
                2 => Fired::Skipped,
                _ => Fired::Lost,
            })
            .collect())
    }

    async fn enqueue(&self, run: QueuedRun, event: HistoryEvent) -> Result<(), BackendError> {
        let _: i64 = ENQUEUE
            .arg(&*self.prefix)
            .arg(run.job.config_id.to_string())
            .arg(Band::of(run.job.priority).as_str())
            .arg(json(&run))
            .arg(json(&event))
            .arg(HISTORY_CAP)
            .arg(HISTORY_TTL.as_secs())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}
