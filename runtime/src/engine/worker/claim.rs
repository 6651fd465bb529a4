//! Taking work: the worker's loop (claim as slots free up, reclaim what
//! dead workers held, move retries whose time has come onto the queue),
//! its heartbeat, and finishing what is in flight at shutdown within the
//! grace period.

use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};

use super::commit::{COMMIT_BATCH, Finished, Unsettled, commit_loop};
use super::{Worker, cancel, pace};
use crate::contract::BackendError;
use crate::contract::queue::{Consumer, Queue};
use crate::support::backoff::Backoff;

/// How long a worker counts as alive after its last heartbeat.
const HEARTBEAT_TTL: Duration = Duration::from_secs(10);
const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// How often parked retries whose time has come are moved onto the queue
/// (also the longest a claim waits for work), so retry delays are honoured
/// to within this.
const PROMOTE_EVERY: Duration = Duration::from_millis(100);
/// A claim's time counts at most this much towards the claim pace.
const MAX_CLAIM_SAMPLE: Duration = Duration::from_millis(2);
/// A run the queue says this worker holds, unknown to it and idle this
/// long, was lost on its way here (a dropped reply): it is handed again.
const LOST_AFTER: Duration = Duration::from_secs(5);

impl Worker {
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
        let unsettled = Unsettled::default();
        let committer = tokio::spawn(commit_loop(
            self.store.clone(),
            self.queue.clone(),
            self.notifier.clone(),
            self.conductor.clone(),
            unsettled.clone(),
            done_rx,
        ));
        let consumer = Consumer::new(self.name.clone(), self.groups.clone());
        let heartbeat = tokio::spawn(heartbeat_loop(self.queue.clone(), consumer.clone(), shutdown.clone()));
        let held = cancel::Held::default();
        let canceller = tokio::spawn(cancel::listen(self.queue.clone(), held.clone(), shutdown.clone()));
        let follower = self.conductor.clone().map(|c| tokio::spawn(c.follow(shutdown.clone())));
        let mut backoff_on_error = Backoff::default();
        let mut last_reclaim = tokio::time::Instant::now() - Duration::from_secs(60);
        let mut last_promote = last_reclaim;
        let pace = Arc::new(pace::Pace::default());

        while !*shutdown.borrow() {
            // Wait for a free slot before asking for work (or the signal:
            // with every slot busy, the grace starts now all the same).
            let slot = tokio::select! {
                slot = permits.acquire() => slot,
                _ = shutdown.changed() => break,
            };
            let Ok(slot) = slot else { break };
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
                    taken = self.queue.reclaim(&consumer, free).await?;
                    if taken.is_empty() {
                        let known = unsettled.handles();
                        taken = self.queue.redeliver(&consumer, &known, LOST_AFTER, free).await?;
                    }
                }
                if taken.is_empty() {
                    let asked = tokio::time::Instant::now();
                    taken = self.queue.claim(&consumer, want, PROMOTE_EVERY).await?;
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
                        unsettled.add(&delivery.handle);
                        let worker = self.clone();
                        let done_tx = done_tx.clone();
                        // From now until it is handed on, a cancel reaches it.
                        let cancel = held.hold(delivery.run.execution_id);
                        let held = held.clone();
                        if delivery.run.is_workflow() {
                            // Conducted without a slot, until it ends (or
                            // this worker stops: then another takes over).
                            let shutdown = shutdown.clone();
                            tokio::spawn(async move {
                                let id = delivery.run.execution_id;
                                let finished = worker.conduct_one(delivery, cancel, shutdown).await;
                                held.release(id);
                                if let Some(finished) = finished {
                                    let _ = done_tx.send(finished).await;
                                }
                            });
                            continue;
                        }
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
        if let Some(follower) = follower {
            follower.abort();
        }
        // Expire our heartbeat now, so anything left is reclaimed at once.
        let _ = self.queue.heartbeat(&consumer, Duration::from_millis(1)).await;
    }
}

async fn heartbeat_loop(queue: Arc<dyn Queue>, consumer: Consumer, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = queue.heartbeat(&consumer, HEARTBEAT_TTL).await {
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
