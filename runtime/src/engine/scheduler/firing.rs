//! The fire loop: sleeps until the earliest due entry (or until any process
//! changes a schedule), then settles every due entry in one atomic step
//! each. Several loops on one backend never fire the same tick twice: each
//! settle is a compare-and-set on the entry's due time. Entries are
//! settled up to `LOOKAHEAD` early: see `schedule::ahead`.

use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::contract::BackendError;
use crate::contract::job::{Job, QueuedRun, SchedulerType, Trigger, TypeRules};
use crate::contract::schedule::ahead::LOOKAHEAD;
use crate::contract::schedule::backend::{
    EntryChange, Fire, Fired, ScheduleBackend, Transition, Transitioned,
};
use crate::contract::schedule::{HistoryEvent, ScheduleSpec, SpecError, Status};
use crate::support::backoff::Backoff;

/// Due entries taken per pass, and settled per backend round trip; the
/// chunks of one pass are in flight together, so planning one overlaps the
/// backend settling another.
const BATCH: usize = 10_000;
const CHUNK: usize = 500;
const CHUNKS_IN_FLIGHT: usize = 4;
/// Longest sleep with nothing due: a safety net, not a poll.
const MAX_IDLE: Duration = Duration::from_secs(60);

/// Runs until `shutdown` turns true. Never returns early: backend errors are
/// logged and retried with backoff.
#[tracing::instrument(skip_all, name = "fire_loop")]
pub async fn fire_loop(
    backend: Arc<dyn ScheduleBackend>,
    changes: Arc<Notify>,
    type_rules: TypeRules,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::default();
    // Lives across passes: a config's spec is parsed once per schedule.
    let specs = SpecCache { rules: type_rules, ..SpecCache::default() };
    while !*shutdown.borrow() {
        let pass = async {
            resume_due(backend.as_ref()).await?;
            fire_due_with(backend.as_ref(), &specs).await
        };
        let wait = match pass.await {
            Ok(wait) => {
                backoff.reset();
                wait
            }
            Err(e) => {
                let wait = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?wait, "cannot fire due schedules");
                wait
            }
        };
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = changes.notified() => {}
            // A dropped sender is a shutdown too.
            changed = shutdown.changed() => if changed.is_err() { return },
        }
    }
}

/// Parsed schedule specs by config, reused while the config's schedule is
/// unchanged: parsing a cron expression costs more than firing it.
struct SpecCache {
    specs: Mutex<HashMap<Uuid, CachedSpec>>,
    /// Task types' rules, stamped on each run fired.
    rules: TypeRules,
}

impl Default for SpecCache {
    fn default() -> Self {
        Self { specs: Mutex::default(), rules: crate::contract::job::no_type_rules() }
    }
}

/// A parsed spec and the schedule it was parsed from.
type CachedSpec = (SchedulerType, serde_json::Value, Arc<ScheduleSpec>);

impl SpecCache {
    fn get(&self, job: &Job) -> Result<Arc<ScheduleSpec>, SpecError> {
        let mut cache = self.specs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((t, config, spec)) = cache.get(&job.config_id)
            && *t == job.scheduler_type
            && *config == job.schedule_config
        {
            return Ok(spec.clone());
        }
        let spec = Arc::new(ScheduleSpec::of(job)?);
        if cache.len() > 1_000_000 {
            cache.clear();
        }
        cache.insert(job.config_id, (job.scheduler_type, job.schedule_config.clone(), spec.clone()));
        Ok(spec)
    }
}

/// Settles what is due now; returns how long to sleep before the next due
/// entry. (One pass with a spec cache of its own; the loop keeps one.)
pub async fn fire_due(backend: &dyn ScheduleBackend) -> Result<Duration, BackendError> {
    fire_due_with(backend, &SpecCache::default()).await
}

async fn fire_due_with(backend: &dyn ScheduleBackend, specs: &SpecCache) -> Result<Duration, BackendError> {
    let lookahead = chrono::Duration::from_std(LOOKAHEAD).expect("a small duration");
    let due = backend.due(Utc::now() + lookahead, BATCH).await?;
    if !due.is_empty() {
        let chunks: Vec<Vec<(Uuid, DateTime<Utc>)>> = due.chunks(CHUNK).map(<[_]>::to_vec).collect();
        let settled: Vec<Result<usize, BackendError>> = stream::iter(chunks)
            .map(|chunk| async move {
                let ids: Vec<Uuid> = chunk.iter().map(|(id, _)| *id).collect();
                let jobs = backend.jobs(&ids).await?;
                let now = Utc::now();
                let fires: Vec<Fire> =
                    chunk.iter().zip(jobs).map(|(&(id, at), job)| plan(id, at, job, now, specs)).collect();
                // A fire without a run is a misfire (counted when planned).
                let with_run: Vec<bool> = fires.iter().map(|f| f.run.is_some()).collect();
                let results = backend.fire(fires).await?;
                let settled_at = Utc::now();
                for ((&(_, due), fired), with_run) in chunk.iter().zip(&results).zip(with_run) {
                    match fired {
                        Fired::Enqueued => {
                            let late = (settled_at - due).to_std().unwrap_or_default();
                            metrics::histogram!("taskbox_fire_lateness_seconds").record(late.as_secs_f64());
                        }
                        // Its overlap policy skipped the tick.
                        Fired::Skipped if with_run => {
                            metrics::counter!("taskbox_skipped_ticks_total", "reason" => "overlap")
                                .increment(1);
                        }
                        _ => {}
                    }
                }
                Ok(results.iter().filter(|r| **r == Fired::Enqueued).count())
            })
            .buffer_unordered(CHUNKS_IN_FLIGHT)
            .collect()
            .await;
        let fired: usize = settled.into_iter().collect::<Result<Vec<_>, _>>()?.into_iter().sum();
        tracing::debug!(due = due.len(), fired, "settled due schedules");
        if due.len() == BATCH {
            return Ok(Duration::ZERO);
        }
    }
    Ok(match backend.earliest_due().await? {
        Some(at) => (at - lookahead - Utc::now()).to_std().unwrap_or(Duration::ZERO).min(MAX_IDLE),
        None => MAX_IDLE,
    })
}

/// Resumes the schedules whose pause ended, each atomically and only if it
/// is still the same pause (a scheduler that lost the race, or a schedule
/// paused again meanwhile, changes nothing).
async fn resume_due(backend: &dyn ScheduleBackend) -> Result<(), BackendError> {
    let now = Utc::now();
    let due = backend.due_resumes(now, CHUNK).await?;
    if due.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = due.iter().map(|(id, _)| *id).collect();
    let jobs = backend.jobs(&ids).await?;
    for ((id, until), job) in due.into_iter().zip(jobs) {
        let next =
            job.as_ref().and_then(|job| ScheduleSpec::of(job).ok()).and_then(|spec| spec.first_fire(now));
        let entry = match job {
            Some(job) => EntryChange::Set { job, next_run: next },
            None => EntryChange::Keep,
        };
        let at = until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let event = HistoryEvent::new("resumed", format!("the pause until {at} ended"), Some(Status::Active));
        let mut resume = Transition::new(id, vec![Status::Paused], Some(Status::Active), entry, event);
        resume.expect_resume = Some(until);
        if let Transitioned::From(_) = backend.transition(resume).await? {
            tracing::info!(config = %id, until = %at, "resumed a schedule whose pause ended");
        }
    }
    Ok(())
}

/// What to do with one due entry: run it (or not, if it misfired beyond its
/// grace), and when it is due next.
fn plan(
    config_id: Uuid,
    due: DateTime<Utc>,
    job: Option<Job>,
    now: DateTime<Utc>,
    specs: &SpecCache,
) -> Fire {
    let lost = |message: String| Fire {
        config_id,
        due,
        revision: None,
        next: None,
        ending: Status::Error,
        run: None,
        policy: Default::default(),
        event: HistoryEvent::new("error", message, Some(Status::Error)),
    };
    let Some(job) = job else { return lost("the schedule entry has no job; unscheduled".into()) };
    let spec = match specs.get(&job) {
        Ok(spec) => spec,
        Err(e) => return lost(format!("the schedule no longer parses ({e}); unscheduled")),
    };
    let next = if spec.is_recurring() { spec.next_after(now.max(due)) } else { None };
    let late = (now - due).to_std().unwrap_or_default();
    let grace = Duration::from_secs(job.misfire_grace_seconds.max(0) as u64);
    let (run, event) = if late > grace {
        let message = format!(
            "missed the run due {due} by {:.1}s (grace {}s); skipped",
            late.as_secs_f64(),
            grace.as_secs()
        );
        metrics::counter!("taskbox_skipped_ticks_total", "reason" => "misfire").increment(1);
        (None, HistoryEvent::new("misfired", message, Some(Status::Active)))
    } else {
        let trigger = if job.scheduler_type == SchedulerType::Date { Trigger::Date } else { Trigger::Cron };
        let mut job = job.clone();
        job.stamp((specs.rules)(&job.task_type));
        let mut run = QueuedRun::tick(job, trigger, due, due > now);
        // A fired run's trace starts here.
        let fire = tracing::info_span!(parent: None, "fire", config = %config_id, due = %due, execution_id = %run.execution_id);
        run.trace = fire.in_scope(crate::support::trace::current_traceparent);
        let message = format!("run {} queued for {due}", run.execution_id);
        (Some(run), HistoryEvent::new("fired", message, Some(Status::Active)))
    };
    let revision = Some(job.revision);
    Fire { config_id, due, revision, next, ending: Status::Inactive, run, policy: job.concurrency, event }
}
