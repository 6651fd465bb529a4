//! [`ScheduleBackend`] on Redis: every change is one Lua script on the
//! shard of its config; what reads every config reads every shard.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use redis::AsyncCommands;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

use super::{ENQUEUE, FORGET, RedisBackend, TRANSITION, gates, lane_of};
use crate::contract::BackendError;
use crate::contract::job::{Job, QueuedRun};
use crate::contract::schedule::backend::*;
use crate::contract::schedule::{HistoryEvent, Status};

pub(super) fn ms(t: DateTime<Utc>) -> String {
    t.timestamp_millis().to_string()
}

fn from_ms(ms: f64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms as i64).single().unwrap_or_default()
}

pub(super) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("schedule types serialise")
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, BackendError> {
    serde_json::from_str(text).map_err(|e| BackendError::corrupt(what, e))
}

fn parse_id(s: &str) -> Result<Uuid, BackendError> {
    s.parse().map_err(|e| BackendError::corrupt(format!("config id {s:?}"), e))
}

pub(super) fn rfc3339(t: DateTime<Utc>) -> String {
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

impl RedisBackend {
    /// The configs in the sorted set `index` (by ms) of every shard at or
    /// before `now`, earliest first, at most `limit`, with their times.
    async fn by_time_until(
        &self,
        index: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, BackendError> {
        let found: Vec<Vec<(String, f64)>> = self
            .each_shard(|shard, mut conn| async move {
                conn.zrangebyscore_limit_withscores(
                    self.skey(shard, index),
                    "-inf",
                    now.timestamp_millis(),
                    0,
                    limit as isize,
                )
                .await
            })
            .await?;
        let mut all: Vec<(Uuid, DateTime<Utc>)> = found
            .iter()
            .flatten()
            .map(|(id, score)| Ok((parse_id(id)?, from_ms(*score))))
            .collect::<Result<_, BackendError>>()?;
        all.sort_by_key(|(_, at)| *at);
        all.truncate(limit);
        Ok(all)
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
        let (done, status): (i64, String) = self
            .call(self.shard_of(t.config_id), &TRANSITION)
            .arg(json(&args))
            .invoke_async(&mut self.conn.clone())
            .await?;
        let status = parse_status(&status)?;
        Ok(if done == 1 { Transitioned::From(status) } else { Transitioned::Refused(status) })
    }

    async fn note(&self, config_id: Uuid, event: HistoryEvent) -> Result<(), BackendError> {
        let key = self.skey(self.shard_of(config_id), &format!("history:{config_id}"));
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
        // Its own shard first, then the runs it handed to other shards.
        let own = self.shard_of(config_id);
        for shard in std::iter::once(own).chain(self.shards.all().filter(|s| *s != own)) {
            let _: i64 = self
                .call(shard, &FORGET)
                .arg(config_id.to_string())
                .invoke_async(&mut self.conn.clone())
                .await?;
        }
        Ok(())
    }

    async fn info(&self, config_id: Uuid, history: usize) -> Result<ScheduleInfo, BackendError> {
        let id = config_id.to_string();
        let shard = self.shard_of(config_id);
        let key = |name: &str| self.skey(shard, name);
        type Reply =
            (Option<String>, Option<String>, Option<f64>, Option<f64>, HashMap<String, String>, Vec<String>);
        let (status, job, due, resume, metadata, events): Reply = redis::pipe()
            .hget(key("status"), &id)
            .hget(key("jobs"), &id)
            .zscore(key("due"), &id)
            .zscore(key("resumes"), &id)
            .hgetall(key(&format!("meta:{id}")))
            .lrange(key(&format!("history:{id}")), 0, history as isize - 1)
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
        let mut out: Vec<Option<Brief>> = vec![None; ids.len()];
        for (shard, at) in self.by_shard(ids) {
            let ids: Vec<String> = at.iter().map(|i| ids[*i].to_string()).collect();
            type Reply = (Vec<Option<String>>, Vec<Option<f64>>, Vec<Option<f64>>);
            let (statuses, due, resumes): Reply = redis::pipe()
                .cmd("HMGET")
                .arg(self.skey(shard, "status"))
                .arg(&ids)
                .cmd("ZMSCORE")
                .arg(self.skey(shard, "due"))
                .arg(&ids)
                .cmd("ZMSCORE")
                .arg(self.skey(shard, "resumes"))
                .arg(&ids)
                .query_async(&mut self.conn.clone())
                .await?;
            for (i, ((status, due), resume)) in at.into_iter().zip(statuses.into_iter().zip(due).zip(resumes))
            {
                out[i] = Some(Brief {
                    status: status.as_deref().map(parse_status).transpose()?,
                    next_run: due.map(from_ms),
                    paused_until: resume.map(from_ms),
                });
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    async fn statuses(&self) -> Result<BTreeMap<Uuid, Status>, BackendError> {
        let all: Vec<HashMap<String, String>> = self
            .each_shard(|shard, mut conn| async move { conn.hgetall(self.skey(shard, "status")).await })
            .await?;
        all.iter().flatten().map(|(id, s)| Ok((parse_id(id)?, parse_status(s)?))).collect()
    }

    async fn due_times(&self) -> Result<BTreeMap<Uuid, DateTime<Utc>>, BackendError> {
        let all: Vec<Vec<(String, f64)>> = self
            .each_shard(|shard, mut conn| async move {
                conn.zrange_withscores(self.skey(shard, "due"), 0, -1).await
            })
            .await?;
        all.iter().flatten().map(|(id, score)| Ok((parse_id(id)?, from_ms(*score)))).collect()
    }

    async fn history(&self, config_id: Uuid, limit: usize) -> Result<Vec<HistoryEvent>, BackendError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let key = self.skey(self.shard_of(config_id), &format!("history:{config_id}"));
        let raw: Vec<String> = self.conn.clone().lrange(key, 0, limit as isize - 1).await?;
        raw.iter().map(|e| parse("history event", e)).collect()
    }

    async fn summary(&self) -> Result<BTreeMap<Status, u64>, BackendError> {
        let each: Vec<HashMap<String, i64>> = self
            .each_shard(
                |shard, mut conn| async move { conn.hgetall(self.skey(shard, "status_counts")).await },
            )
            .await?;
        let mut counts: HashMap<String, i64> = HashMap::new();
        for (status, n) in each.into_iter().flatten() {
            *counts.entry(status).or_default() += n;
        }
        summary_of(counts)
    }

    async fn jobs(&self, ids: &[Uuid]) -> Result<Vec<Option<Job>>, BackendError> {
        let mut out: Vec<Option<Job>> = vec![None; ids.len()];
        for (shard, at) in self.by_shard(ids) {
            let keys: Vec<String> = at.iter().map(|i| ids[*i].to_string()).collect();
            let raw: Vec<Option<String>> = redis::cmd("HMGET")
                .arg(self.skey(shard, "jobs"))
                .arg(&keys)
                .query_async(&mut self.conn.clone())
                .await?;
            for (i, job) in at.into_iter().zip(raw) {
                out[i] = job.map(|j| parse::<Job>("job", &j)).transpose()?;
            }
        }
        Ok(out)
    }

    async fn due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, BackendError> {
        self.by_time_until("due", now, limit).await
    }

    async fn earliest_due(&self) -> Result<Option<DateTime<Utc>>, BackendError> {
        type Firsts = (Vec<(String, f64)>, Vec<(String, f64)>);
        let each: Vec<Firsts> = self
            .each_shard(|shard, mut conn| async move {
                redis::pipe()
                    .zrange_withscores(self.skey(shard, "due"), 0, 0)
                    .zrange_withscores(self.skey(shard, "resumes"), 0, 0)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(each.iter().flat_map(|(due, resume)| due.iter().chain(resume)).map(|(_, s)| from_ms(*s)).min())
    }

    async fn due_resumes(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, BackendError> {
        self.by_time_until("resumes", now, limit).await
    }

    async fn fire(&self, fires: Vec<Fire>) -> Result<Vec<Fired>, BackendError> {
        let ids: Vec<Uuid> = fires.iter().map(|f| f.config_id).collect();
        let groups = self.by_shard(&ids);
        let fired = futures::future::try_join_all(groups.iter().map(|(shard, at)| {
            let entries: Vec<&Fire> = at.iter().map(|i| &fires[*i]).collect();
            async move { self.fire_on(*shard, &entries).await }
        }))
        .await?;
        let mut out = vec![Fired::Lost; fires.len()];
        for ((_, at), results) in groups.iter().zip(fired) {
            for (i, result) in at.iter().zip(results) {
                out[*i] = result;
            }
        }
        Ok(out)
    }

    async fn enqueue(
        &self,
        run: QueuedRun,
        event: Option<HistoryEvent>,
        once: Option<&Once>,
    ) -> Result<Enqueued, BackendError> {
        let (key, fingerprint) = once.map_or(("", ""), |o| (o.key.as_str(), o.fingerprint.as_str()));
        let shard = self.shard_of(run.owner());
        let home = self.home_of(&run);
        let answer: Vec<String> = self
            .call(shard, &ENQUEUE)
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
            .arg(home.map(|h| h.to_string()).unwrap_or_default())
            .invoke_async(&mut self.acked.clone())
            .await?;
        // Answered 202 only once a replica holds the run.
        self.replicated(shard).await?;
        if home.is_some() && answer.first().is_some_and(|a| a == "new") {
            self.pass_on(shard, false).await;
        } else if answer.first().is_some_and(|a| a == "new") {
            self.announce_queued().await;
        }
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
