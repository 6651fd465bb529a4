//! [`ScheduleBackend`] on Redis: every change is one Lua script.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use redis::AsyncCommands;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

use super::{ENQUEUE, FIRE, FORGET, RedisBackend, TRANSITION, gates, lane_of};
use crate::contract::BackendError;
use crate::contract::job::{Job, QueuedRun};
use crate::contract::schedule::backend::*;
use crate::contract::schedule::{HistoryEvent, Status};

fn ms(t: DateTime<Utc>) -> String {
    t.timestamp_millis().to_string()
}

fn from_ms(ms: f64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms as i64).single().unwrap_or_default()
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("schedule types serialise")
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, BackendError> {
    serde_json::from_str(text).map_err(|e| BackendError::corrupt(what, e))
}

fn parse_id(s: &str) -> Result<Uuid, BackendError> {
    s.parse().map_err(|e| BackendError::corrupt(format!("config id {s:?}"), e))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `transition.lua`'s argument. Times are ms as strings, so Redis stores
/// them digit for digit.
#[derive(Serialize)]
struct TransitionArgs<'a> {
    id: String,
    allowed: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<&'static str>,
    op: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    job: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_ms: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<String>,
    event: &'a str,
    now_ms: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    resume_ms: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expect_resume_ms: Option<String>,
}

/// One entry of `fire.lua`'s arguments.
#[derive(Serialize)]
struct FireArgs {
    id: String,
    due_ms: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_ms: Option<String>,
    /// The run's lane (see `lua/common.lua`).
    #[serde(skip_serializing_if = "Option::is_none")]
    band: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exec: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gates: Option<String>,
    policy: &'static str,
    event: String,
    ending: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<String>,
}

impl RedisBackend {
    /// The configs in the sorted set `index` (by ms) at or before `now`,
    /// earliest first, at most `limit`, with their times.
    async fn by_time_until(
        &self,
        index: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, BackendError> {
        let found: Vec<(String, f64)> = self
            .conn
            .clone()
            .zrangebyscore_limit_withscores(
                self.key(index),
                "-inf",
                now.timestamp_millis(),
                0,
                limit as isize,
            )
            .await?;
        found.iter().map(|(id, score)| Ok((parse_id(id)?, from_ms(*score)))).collect()
    }
}

#[async_trait]
impl ScheduleBackend for RedisBackend {
    async fn transition(&self, t: Transition) -> Result<Transitioned, BackendError> {
        let (op, job, next_ms, revision) = match &t.entry {
            EntryChange::Keep => ("keep", None, None, None),
            EntryChange::Remove => ("remove", None, None, None),
            EntryChange::Set { job, next_run } => {
                ("set", Some(json(job)), next_run.map(ms), Some(job.revision.to_string()))
            }
        };
        let event = json(&t.event);
        let args = TransitionArgs {
            id: t.config_id.to_string(),
            allowed: t.allowed.iter().map(|s| s.as_str()).collect(),
            to: t.to.map(Status::as_str),
            op,
            job,
            next_ms,
            revision,
            event: &event,
            now_ms: ms(Utc::now()),
            resume_ms: t.resume_at.map(ms),
            expect_resume_ms: t.expect_resume.map(ms),
        };
        let (done, status): (i64, String) =
            self.call(&TRANSITION).arg(json(&args)).invoke_async(&mut self.conn.clone()).await?;
        let status = parse_status(&status)?;
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
            self.call(&FORGET).arg(config_id.to_string()).invoke_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    async fn info(&self, config_id: Uuid, history: usize) -> Result<ScheduleInfo, BackendError> {
        let id = config_id.to_string();
        type Reply =
            (Option<String>, Option<String>, Option<f64>, Option<f64>, HashMap<String, String>, Vec<String>);
        let (status, job, due, resume, metadata, events): Reply = redis::pipe()
            .hget(self.key("status"), &id)
            .hget(self.key("jobs"), &id)
            .zscore(self.key("due"), &id)
            .zscore(self.key("resumes"), &id)
            .hgetall(self.key(&format!("meta:{id}")))
            .lrange(self.key(&format!("history:{id}")), 0, history as isize - 1)
            .query_async(&mut self.conn.clone())
            .await?;
        // LRANGE 0 -1 is the whole list: asked for none, give none.
        let events = if history == 0 { Vec::new() } else { events };
        Ok(ScheduleInfo {
            status: status.as_deref().map(parse_status).transpose()?,
            job: job.map(|j| parse(&format!("job of {id}"), &j)).transpose()?,
            next_run: due.map(from_ms),
            paused_until: resume.map(from_ms),
            metadata: metadata.into_iter().collect(),
            history: events.iter().map(|e| parse("history event", e)).collect::<Result<_, _>>()?,
        })
    }

    async fn briefs(&self, ids: &[Uuid]) -> Result<Vec<Brief>, BackendError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        type Reply = (Vec<Option<String>>, Vec<Option<f64>>, Vec<Option<f64>>);
        let (statuses, due, resumes): Reply = redis::pipe()
            .cmd("HMGET")
            .arg(self.key("status"))
            .arg(&ids)
            .cmd("ZMSCORE")
            .arg(self.key("due"))
            .arg(&ids)
            .cmd("ZMSCORE")
            .arg(self.key("resumes"))
            .arg(&ids)
            .query_async(&mut self.conn.clone())
            .await?;
        statuses
            .into_iter()
            .zip(due)
            .zip(resumes)
            .map(|((status, due), resume)| {
                Ok(Brief {
                    status: status.as_deref().map(parse_status).transpose()?,
                    next_run: due.map(from_ms),
                    paused_until: resume.map(from_ms),
                })
            })
            .collect()
    }

    async fn statuses(&self) -> Result<BTreeMap<Uuid, Status>, BackendError> {
        let all: HashMap<String, String> = self.conn.clone().hgetall(self.key("status")).await?;
        all.iter().map(|(id, s)| Ok((parse_id(id)?, parse_status(s)?))).collect()
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
        raw.iter().map(|e| parse("history event", e)).collect()
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
        raw.into_iter().map(|j| j.map(|j| parse::<Job>("job", &j)).transpose()).collect()
    }

    async fn due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, BackendError> {
        self.by_time_until("due", now, limit).await
    }

    async fn earliest_due(&self) -> Result<Option<DateTime<Utc>>, BackendError> {
        let (due, resume): (Vec<(String, f64)>, Vec<(String, f64)>) = redis::pipe()
            .zrange_withscores(self.key("due"), 0, 0)
            .zrange_withscores(self.key("resumes"), 0, 0)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(due.iter().chain(&resume).map(|(_, score)| from_ms(*score)).min())
    }

    async fn due_resumes(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, BackendError> {
        self.by_time_until("resumes", now, limit).await
    }

    async fn fire(&self, fires: Vec<Fire>) -> Result<Vec<Fired>, BackendError> {
        if fires.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = self.call(&FIRE);
        invocation.arg(rfc3339(Utc::now()));
        for f in &fires {
            let args = FireArgs {
                id: f.config_id.to_string(),
                due_ms: ms(f.due),
                next_ms: f.next.map(ms),
                band: f.run.as_ref().map(lane_of),
                run: f.run.as_ref().map(json),
                exec: f.run.as_ref().map(|run| run.execution_id.to_string()),
                gates: f.run.as_ref().map(gates),
                policy: f.policy.as_str(),
                event: json(&f.event),
                ending: f.ending.as_str(),
                revision: f.revision.map(|r| r.to_string()),
            };
            invocation.arg(json(&args));
        }
        let results: Vec<i64> = invocation.invoke_async(&mut self.acked.clone()).await?;
        // A settled tick stays settled through a failover.
        self.replicated().await?;
        Ok(results
            .into_iter()
            .map(|r| match r {
                1 => Fired::Enqueued,
                2 => Fired::Skipped,
                _ => Fired::Lost,
            })
            .collect())
    }

    async fn enqueue(
        &self,
        run: QueuedRun,
        event: Option<HistoryEvent>,
        once: Option<&Once>,
    ) -> Result<Enqueued, BackendError> {
        let (key, fingerprint) = once.map_or(("", ""), |o| (o.key.as_str(), o.fingerprint.as_str()));
        let answer: Vec<String> = self
            .call(&ENQUEUE)
            // A step run is kept among its workflow run's runs.
            .arg(run.owner().to_string())
            .arg(lane_of(&run))
            .arg(json(&run))
            .arg(event.as_ref().map(json).unwrap_or_default())
            .arg(run.execution_id.to_string())
            .arg(gates(&run))
            .arg(key)
            .arg(fingerprint)
            .arg(ONCE_TTL.as_millis() as u64)
            .invoke_async(&mut self.acked.clone())
            .await?;
        // Answered 202 only once a replica holds the run.
        self.replicated().await?;
        match answer.first().map(String::as_str) {
            Some("new") => Ok(Enqueued::New),
            Some("conflict") => Ok(Enqueued::Conflict),
            Some("again") => {
                let first = answer.get(1).and_then(|id| id.parse().ok());
                first
                    .map(Enqueued::Again)
                    .ok_or_else(|| BackendError::unknown("an idempotency key's run", answer.join("|")))
            }
            _ => Err(BackendError::unknown("enqueue's answer", answer.join("|"))),
        }
    }

    async fn state_marker(&self, fresh: &str) -> Result<Option<String>, BackendError> {
        // SET … NX GET: set unless present, answering what was there.
        Ok(redis::cmd("SET")
            .arg(self.key("state-marker"))
            .arg(fresh)
            .arg("NX")
            .arg("GET")
            .query_async(&mut self.conn.clone())
            .await?)
    }
}
