//! The worker: takes runs off the queue, runs each in the executor with its
//! config's limits, records the outcome in the config store, and only then
//! acknowledges the run (parking its retry, if it failed and has retries
//! left). It never decides when anything fires.
//!
//! Records are written in batches by one committer task; a run's permit is
//! released as soon as it finishes, so a slow commit never idles the sandbox.
//! How many runs one claim takes follows what the runs cost (`pace.rs`),
//! not just the free slots. Every run it holds can be cancelled from any
//! process (`cancel.rs`); a cancelled run is recorded, never retried.
//! Committed outcomes are offered to the notifier, which never holds the
//! worker up.

use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};

mod cancel;
mod pace;

use crate::artifacts::Artifacts;
use crate::backoff::{Backoff, retry};
use crate::executor::{CANCELLED, Doors, Executor, Grants, Outcome, RunContext, RunRequest};
use crate::job::{BackendError, NotifyOn, QueuedRun, Trigger};
use crate::kv::KeyValue;
use crate::notifier::Notifier;
use crate::queue::{Delivery, Queue, Settle};
use crate::secrets::Secrets;
use crate::store::{ConfigStore, ExecutionRecord};

/// How long a worker counts as alive after its last heartbeat.
const HEARTBEAT_TTL: Duration = Duration::from_secs(10);
const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// How often parked retries whose time has come are moved onto the queue
/// (also the longest a claim waits for work), so retry delays are honoured
/// to within this.
const PROMOTE_EVERY: Duration = Duration::from_millis(100);
/// A run handed out this many times (its workers kept dying) is recorded
/// as a failure instead of being run again.
const MAX_DELIVERIES: u64 = 3;
/// Records committed per database round trip, at most.
const COMMIT_BATCH: usize = 512;
/// A claim's time counts at most this much towards the claim pace.
const MAX_CLAIM_SAMPLE: Duration = Duration::from_millis(2);
/// First retry delay; doubled per attempt, capped at [`MAX_BACKOFF`].
pub const BASE_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What a worker needs.
#[derive(Clone)]
pub struct Worker {
    pub name: String,
    pub queue: Arc<dyn Queue>,
    pub store: Arc<dyn ConfigStore>,
    /// The plugin each run uses: the current version, or the one its
    /// config pins (or its replay names).
    pub plugins: Artifacts,
    pub executor: Executor,
    /// Runs in flight at once.
    pub concurrency: usize,
    /// Delay before the first retry (doubled per attempt).
    pub base_backoff: Duration,
    pub doors: WorkerDoors,
    /// Where committed outcomes of configs that want notifications go;
    /// `None`: nowhere.
    pub notifier: Option<Notifier>,
}

/// What the worker opens for runs whose plugins are granted them.
#[derive(Clone, Default)]
pub struct WorkerDoors {
    /// Where granted buckets live; `None`: a grant opens nothing.
    pub kv: Option<Arc<dyn KeyValue>>,
    /// Where granted secrets are read; `None`: a run granted one fails.
    pub secrets: Option<Secrets>,
}

impl WorkerDoors {
    /// The doors of one run of a plugin with `grants`: its secrets' values
    /// read now (so a changed secret reaches the next run), or why not.
    pub async fn open(&self, grants: &Grants) -> Result<Doors, String> {
        let secrets = match (&self.secrets, grants.secrets.is_empty()) {
            (_, true) => Vec::new(),
            (Some(store), false) => store.resolve(&grants.secrets).await.map_err(|e| e.to_string())?,
            (None, false) => return Err("this process holds no secret key: secrets cannot be granted".into()),
        };
        Ok(Doors { kv: self.kv.clone(), secrets })
    }
}

/// A finished run on its way to the database and then the queue; `None`
/// for a run dropped unrun (its schedule changed before it was due).
struct Finished {
    record: Option<ExecutionRecord>,
    settle: Settle,
    /// The config wants to hear of this outcome if it is final.
    notify: Option<NotifyOn>,
}

/// The delay before attempt `attempt + 1`.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(MAX_BACKOFF)
}

impl Worker {
    /// A process-unique worker name: host, pid and a random suffix.
    pub fn default_name() -> String {
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        format!("{}-{}-{}", if host.is_empty() { "taskbox" } else { &host }, std::process::id(), &suffix[..8])
    }

    /// Runs until `shutdown` turns true, then stops taking work, finishes
    /// the runs in flight (waiting at most `grace`) and commits them. Runs
    /// it could not finish stay pending and are reclaimed by other workers
    /// once its heartbeat expires.
    #[tracing::instrument(skip_all, fields(worker = %self.name))]
    pub async fn run(self, mut shutdown: watch::Receiver<bool>, grace: Duration) {
        let permits = Arc::new(Semaphore::new(self.concurrency));
        // Room for two commit batches, whatever the concurrency: a smaller
        // channel would cap every commit (and acknowledgement) at its size.
        let (done_tx, done_rx) = mpsc::channel::<Finished>(2 * COMMIT_BATCH);
        let committer =
            tokio::spawn(commit_loop(self.store.clone(), self.queue.clone(), self.notifier.clone(), done_rx));
        let heartbeat = tokio::spawn(heartbeat_loop(self.queue.clone(), self.name.clone(), shutdown.clone()));
        let held = cancel::Held::default();
        let canceller = tokio::spawn(cancel::listen(self.queue.clone(), held.clone(), shutdown.clone()));
        let mut backoff_on_error = Backoff::default();
        let mut last_reclaim = tokio::time::Instant::now() - Duration::from_secs(60);
        let mut last_promote = last_reclaim;
        let pace = Arc::new(pace::Pace::default());

        while !*shutdown.borrow() {
            // Wait for a free slot before asking for work.
            let Ok(slot) = permits.acquire().await else { break };
            drop(slot);
            let free = permits.available_permits();
            let want = pace.claim_size(free, self.concurrency);
            let taken = async {
                if last_promote.elapsed() >= PROMOTE_EVERY {
                    last_promote = tokio::time::Instant::now();
                    self.queue.promote_retries(Utc::now()).await?;
                }
                let mut taken = Vec::new();
                if last_reclaim.elapsed() >= HEARTBEAT_EVERY {
                    last_reclaim = tokio::time::Instant::now();
                    taken = self.queue.reclaim(&self.name, free).await?;
                }
                if taken.is_empty() {
                    let asked = tokio::time::Instant::now();
                    taken = self.queue.claim(&self.name, want, PROMOTE_EVERY).await?;
                    if !taken.is_empty() {
                        // A claim that found nothing at first waited for
                        // work: count no more than a round trip's worth.
                        pace.claimed(asked.elapsed().min(MAX_CLAIM_SAMPLE));
                    }
                }
                Ok::<_, BackendError>(taken)
            };
            let taken = tokio::select! {
                t = taken => t,
                _ = shutdown.changed() => break,
            };
            match taken {
                Ok(deliveries) => {
                    backoff_on_error.reset();
                    for delivery in deliveries {
                        let worker = self.clone();
                        let done_tx = done_tx.clone();
                        // From now until it is handed on, a cancel reaches it.
                        let cancel = held.hold(delivery.run.execution_id);
                        let held = held.clone();
                        if delivery.run.ahead {
                            // Fired ahead of its time: hold it without a slot.
                            let permits = permits.clone();
                            tokio::spawn(async move {
                                let id = delivery.run.execution_id;
                                let finished = worker.hold_then_run(delivery, permits, cancel).await;
                                held.release(id);
                                let _ = done_tx.send(finished).await;
                            });
                            continue;
                        }
                        let permit = permits.clone().acquire_owned().await.expect("never closed");
                        let pace = pace.clone();
                        tokio::spawn(async move {
                            let started = tokio::time::Instant::now();
                            let id = delivery.run.execution_id;
                            let finished = worker.run_one(delivery, cancel).await;
                            held.release(id);
                            pace.ran(started.elapsed());
                            drop(permit);
                            let _ = done_tx.send(finished).await;
                        });
                    }
                }
                Err(e) => {
                    let wait = backoff_on_error.next_delay();
                    tracing::warn!(error = %e, retry_in = ?wait, "cannot take work from the queue");
                    tokio::time::sleep(wait).await;
                }
            }
        }
        // Finish what is in flight and commit it, within the grace period;
        // whatever is left stays pending for other workers to reclaim.
        let deadline = tokio::time::Instant::now() + grace;
        drop(done_tx);
        if tokio::time::timeout_at(deadline, committer).await.is_err() {
            tracing::warn!(?grace, "runs still in flight at shutdown are left for other workers to reclaim");
        }
        heartbeat.abort();
        canceller.abort();
        // Expire our heartbeat now, so anything left is reclaimed at once.
        let _ = self.queue.heartbeat(&self.name, Duration::from_millis(1)).await;
    }

    /// Waits until a run fired ahead of time is due, drops it if its
    /// schedule changed meanwhile, and runs it otherwise.
    async fn hold_then_run(
        &self,
        delivery: Delivery,
        permits: Arc<Semaphore>,
        cancel: watch::Receiver<Option<String>>,
    ) -> Finished {
        let wait = (delivery.run.scheduled_at - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        let current = match self.queue.still_current(&[&delivery.run]).await {
            Ok(current) => current[0],
            // Cannot tell: run it (at least once) rather than lose it.
            Err(_) => true,
        };
        if !current {
            tracing::info!(config = %delivery.run.job.config_id, due = %delivery.run.scheduled_at,
                "dropping a run fired ahead of time: its schedule changed before it was due");
            let Delivery { band, handle, run, .. } = delivery;
            let (config_id, execution_id) = (run.job.config_id, run.execution_id);
            return Finished {
                record: None,
                settle: Settle { band, handle, config_id, execution_id, retry: None },
                notify: None,
            };
        }
        let _permit = permits.acquire_owned().await.expect("never closed");
        self.run_one(delivery, cancel).await
    }

    async fn run_one(&self, delivery: Delivery, cancel: watch::Receiver<Option<String>>) -> Finished {
        let Delivery { band, handle, deliveries, run } = delivery;
        let (config_id, execution_id) = (run.job.config_id, run.execution_id);
        let mut settle = Settle { band, handle, config_id, execution_id, retry: None };
        let notify = run.job.notify;
        let attempt = run.attempt as i32;
        // Cancelled before it started (a marker, or while it waited here):
        // recorded as such, never run.
        let cancelled = run.cancelled_by.clone().or_else(|| cancel.borrow().clone());
        if let Some(by) = cancelled {
            let mut outcome = lost(CANCELLED.into(), Utc::now());
            outcome.cancelled_by = Some(by);
            return Finished { record: Some(self.record(&run, outcome, None)), settle, notify };
        }
        if deliveries > 1 {
            // Reclaimed from a worker that stopped: if it got as far as the
            // record, only the acknowledgement is missing.
            if let Ok(Some(stored)) = self.store.find_attempt(run.execution_id, attempt).await {
                let stopped = stored.record.is_success || stored.record.cancelled_by.is_some();
                settle.retry = self.retry_of(&run, stopped);
                return Finished { record: Some(stored.record), settle, notify };
            }
        }
        let started_at = Utc::now();
        let mut timeout_seconds = None;
        let outcome = if deliveries > MAX_DELIVERIES {
            lost(
                format!("the workers running it stopped {} times; not run again", deliveries - 1),
                started_at,
            )
        } else {
            match self.plugins.resolve(&run.job.task_type, run.job.plugin_digest.as_deref()).await {
                Ok(plugin) => match self.doors.open(&plugin.runnable.grants).await {
                    Ok(doors) => {
                        let timeout = run.job.timeout_seconds.map(Duration::from_secs_f64);
                        let limits = plugin.limits(timeout, None);
                        timeout_seconds = Some(limits.timeout.as_secs_f64());
                        let request = RunRequest {
                            context: RunContext {
                                config_id: run.job.config_id.to_string(),
                                execution_id: run.execution_id.to_string(),
                                attempt: run.attempt,
                                scheduled_at: run.scheduled_at,
                            },
                            params: run.job.parameters.clone(),
                            limits,
                            doors,
                        };
                        self.executor.run_cancellable(&plugin.runnable, request, cancel).await
                    }
                    Err(message) => lost(message, started_at),
                },
                Err(message) => lost(message, started_at),
            }
        };
        // A cancelled run is not retried.
        settle.retry = self.retry_of(&run, outcome.is_success || outcome.cancelled_by.is_some());
        let outcome_label = if outcome.is_success { "success" } else { "failure" };
        metrics::counter!("taskbox_runs_total", "task_type" => run.job.task_type.clone(), "outcome" => outcome_label)
            .increment(1);
        metrics::histogram!("taskbox_run_duration_seconds", "task_type" => run.job.task_type.clone())
            .record(outcome.duration_seconds);
        Finished { record: Some(self.record(&run, outcome, timeout_seconds)), settle, notify }
    }

    /// The next attempt, unless this one `ended` it (succeeded, or was
    /// cancelled) or no retries are left.
    fn retry_of(&self, run: &QueuedRun, ended: bool) -> Option<(QueuedRun, DateTime<Utc>)> {
        if ended || run.attempt > run.job.max_retries.max(0) as u32 {
            return None;
        }
        let at = Utc::now() + backoff(self.base_backoff, run.attempt);
        let next = QueuedRun {
            attempt: run.attempt + 1,
            trigger: Trigger::Retry,
            ahead: false,
            cancelled_by: None,
            ..run.clone()
        };
        Some((next, at))
    }

    fn record(&self, run: &QueuedRun, o: Outcome, timeout_seconds: Option<f64>) -> ExecutionRecord {
        ExecutionRecord {
            config_id: Some(run.job.config_id),
            execution_id: run.execution_id,
            attempt: run.attempt as i32,
            trigger: run.trigger,
            task_type: run.job.task_type.clone(),
            scheduled_at: run.scheduled_at,
            started_at: o.started_at,
            completed_at: o.completed_at,
            duration_seconds: o.duration_seconds,
            is_success: o.is_success,
            result: o.result,
            error_message: o.error_message,
            logs: o.logs,
            plugin_digest: (!o.plugin_digest.is_empty()).then_some(o.plugin_digest),
            worker: self.name.clone(),
            // Kept as given, so the record alone can replay the run.
            parameters: serde_json::from_str(&run.job.parameters).ok(),
            timeout_seconds,
            cancelled_by: o.cancelled_by,
        }
    }
}

/// An outcome for a run that never reached the sandbox.
fn lost(message: String, started_at: DateTime<Utc>) -> Outcome {
    Outcome {
        is_success: false,
        result: None,
        error_message: Some(message),
        logs: String::new(),
        started_at,
        completed_at: Utc::now(),
        duration_seconds: 0.0,
        plugin_digest: String::new(),
        cancelled_by: None,
    }
}

/// Commits finished runs in batches, then hands each committed batch to
/// [`ack_loop`], so the next batch is committed while this one is being
/// acknowledged. A failed commit is retried (with backoff) until it
/// succeeds: nothing is acknowledged before its record is committed, and
/// nothing finished is dropped.
async fn commit_loop(
    store: Arc<dyn ConfigStore>,
    queue: Arc<dyn Queue>,
    notifier: Option<Notifier>,
    mut done: mpsc::Receiver<Finished>,
) {
    let (committed_tx, committed_rx) = mpsc::channel::<Vec<Settle>>(2);
    let acker = tokio::spawn(ack_loop(queue, committed_rx));
    let mut batch = Vec::with_capacity(COMMIT_BATCH);
    while done.recv_many(&mut batch, COMMIT_BATCH).await > 0 {
        // Final outcomes of configs that want to hear of them.
        let mut notices = Vec::new();
        let mut records = Vec::with_capacity(batch.len());
        let mut settles = Vec::with_capacity(batch.len());
        for f in batch.drain(..) {
            if let (Some(record), Some(on), None) = (&f.record, f.notify, &f.settle.retry) {
                notices.push((record.clone(), on));
            }
            records.extend(f.record);
            settles.push(f.settle);
        }
        retry("cannot commit execution records", None, || store.record_executions(&records)).await;
        if let Some(notifier) = &notifier {
            for (record, on) in notices {
                notifier.offer(record, on);
            }
        }
        if committed_tx.send(settles).await.is_err() {
            break;
        }
    }
    drop(committed_tx);
    let _ = acker.await;
}

/// Acknowledges committed batches, retrying (with backoff) until it succeeds.
async fn ack_loop(queue: Arc<dyn Queue>, mut committed: mpsc::Receiver<Vec<Settle>>) {
    while let Some(settles) = committed.recv().await {
        retry("cannot acknowledge finished runs", None, || queue.settle(settles.clone())).await;
    }
}

async fn heartbeat_loop(queue: Arc<dyn Queue>, name: String, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = queue.heartbeat(&name, HEARTBEAT_TTL).await {
            tracing::warn!(error = %e, "cannot send worker heartbeat");
        }
        tokio::select! {
            _ = tokio::time::sleep(HEARTBEAT_EVERY) => {}
            // Keep beating through the shutdown grace period; stop only
            // when the sender is gone (the worker aborts us anyway).
            changed = shutdown.changed() => if changed.is_err() { return },
        }
    }
}
