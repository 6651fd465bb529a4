//! Committing and acknowledging: finished runs are recorded in batches by
//! one committer, each committed batch is acknowledged (parking retries)
//! while the next is committed, and final outcomes of configs that want to
//! hear of them go to the notifier. Nothing is acknowledged before its
//! record is committed; nothing finished is dropped.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::contract::job::NotifyOn;
use crate::contract::queue::{Queue, Settle};
use crate::engine::notifier::Notifier;
use crate::engine::workflow::Conductor;
use crate::store::{ConfigStore, ExecutionRecord};
use crate::support::backoff::retry;

/// Records committed per database round trip, at most.
pub(super) const COMMIT_BATCH: usize = 512;

/// The handles of the runs this worker was handed and has not settled yet
/// (running, or finished and on their way to the database and the queue):
/// any other run the queue says it holds was lost on the way to it.
#[derive(Clone, Default)]
pub(super) struct Unsettled(Arc<Mutex<HashSet<String>>>);

impl Unsettled {
    pub(super) fn add(&self, handle: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(handle.to_owned());
    }

    fn remove(&self, settled: &[Settle]) {
        let mut handles = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for s in settled {
            handles.remove(&s.handle);
        }
    }

    pub(super) fn handles(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }
}

/// A finished run on its way to the database and then the queue; `None`
/// for a run dropped unrun (its schedule changed before it was due).
pub(super) struct Finished {
    pub(super) record: Option<ExecutionRecord>,
    pub(super) settle: Settle,
    /// The config wants to hear of this outcome if it is final.
    pub(super) notify: Option<NotifyOn>,
    /// The span of its run: its record's write is a child of it.
    pub(super) span: tracing::Span,
}

/// Commits finished runs in batches, then hands each committed batch to
/// [`ack_loop`], so the next batch is committed while this one is being
/// acknowledged. A failed commit is retried (with backoff) until it
/// succeeds: nothing is acknowledged before its record is committed, and
/// nothing finished is dropped.
pub(super) async fn commit_loop(
    store: Arc<dyn ConfigStore>,
    queue: Arc<dyn Queue>,
    notifier: Option<Notifier>,
    conductor: Option<Conductor>,
    unsettled: Unsettled,
    mut done: mpsc::Receiver<Finished>,
) {
    let (committed_tx, committed_rx) = mpsc::channel::<Vec<Settle>>(2);
    let acker = tokio::spawn(ack_loop(queue.clone(), unsettled, committed_rx));
    let mut batch = Vec::with_capacity(COMMIT_BATCH);
    while done.recv_many(&mut batch, COMMIT_BATCH).await > 0 {
        // Final outcomes of configs that want to hear of them.
        let mut notices = Vec::new();
        let mut records = Vec::with_capacity(batch.len());
        let mut settles = Vec::with_capacity(batch.len());
        let mut writes = Vec::with_capacity(batch.len());
        for f in batch.drain(..) {
            if let (Some(record), Some(on), None) = (&f.record, f.notify, &f.settle.retry) {
                notices.push((record.clone(), on));
            }
            // Each record's write, in the trace of its run.
            if f.record.is_some() {
                writes.push(tracing::info_span!(parent: &f.span, "record.write"));
            }
            records.extend(f.record);
            settles.push(f.settle);
        }
        retry("cannot commit execution records", None, || store.record_executions(&records)).await;
        drop(writes);
        // Wake the conductors of these workflow runs, here and elsewhere.
        let progressed: HashSet<Uuid> =
            records.iter().filter(|r| r.step.is_some()).filter_map(|r| r.workflow_execution_id).collect();
        if !progressed.is_empty() {
            if let Some(conductor) = &conductor {
                conductor.progressed();
            }
            let ids: Vec<Uuid> = progressed.into_iter().collect();
            if let Err(e) = queue.signal_progress(&ids).await {
                tracing::debug!(error = %e, "cannot signal workflow progress (conductors look by themselves)");
            }
        }
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
async fn ack_loop(queue: Arc<dyn Queue>, unsettled: Unsettled, mut committed: mpsc::Receiver<Vec<Settle>>) {
    while let Some(settles) = committed.recv().await {
        retry("cannot acknowledge finished runs", None, || queue.settle(settles.clone())).await;
        unsettled.remove(&settles);
    }
}
