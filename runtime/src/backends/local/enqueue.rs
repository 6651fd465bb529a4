//! Group commit of queued runs. [`Enqueuer::enqueue`] hands its run to one
//! writer task, which writes every run waiting at that moment in one
//! transaction and answers each caller once that transaction has committed:
//! under load one commit carries many runs instead of one commit each;
//! alone, a run waits for nothing but its own commit.
//!
//! Owns the writer task and its channel. Never reorders runs, and never
//! answers before the commit (a failed commit fails every run it carried,
//! none of which was written). A run handed over is committed even if its
//! caller stops waiting, as a Redis enqueue already sent would be. The task
//! ends when the last handle is dropped.

use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{Notify, mpsc, oneshot};

use super::{history, queue};
use crate::contract::BackendError;
use crate::contract::job::QueuedRun;
use crate::contract::schedule::HistoryEvent;
use crate::store::sqlite_file::Db;

/// Runs one commit carries at most (its queue insert binds 4 values a run,
/// its history insert 3: far below SQLite's 32766 a statement).
const MAX_BATCH: usize = 256;

/// A run to queue, its history event, and who waits for the commit.
struct Request {
    run: QueuedRun,
    event: HistoryEvent,
    done: oneshot::Sender<Result<(), BackendError>>,
}

/// Cheap-to-clone handle on the writer task.
#[derive(Clone)]
pub(super) struct Enqueuer {
    requests: mpsc::Sender<Request>,
}

impl Enqueuer {
    /// Starts the writer; `queued` is woken after each commit.
    pub(super) fn start(db: Db, queued: Arc<Notify>) -> Self {
        let (requests, mut waiting) = mpsc::channel::<Request>(4 * MAX_BATCH);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
                // A panic fails this batch (rolled back), not every later one.
                let outcome = AssertUnwindSafe(commit(&db, &batch))
                    .catch_unwind()
                    .await
                    .unwrap_or(Err(BackendError::Stopped("the local queue writer")));
                if outcome.is_ok() {
                    queued.notify_waiters();
                }
                for request in batch.drain(..) {
                    let _ = request.done.send(outcome.clone());
                }
            }
        });
        Self { requests }
    }

    /// Queues `run` with its history `event`; returns once committed.
    pub(super) async fn enqueue(&self, run: QueuedRun, event: HistoryEvent) -> Result<(), BackendError> {
        let gone = || BackendError::Stopped("the local queue writer");
        let (done, committed) = oneshot::channel();
        self.requests.send(Request { run, event, done }).await.map_err(|_| gone())?;
        committed.await.map_err(|_| gone())?
    }
}

/// Writes the batch's runs and history events in one transaction.
async fn commit(db: &Db, batch: &[Request]) -> Result<(), BackendError> {
    let mut tx = db.write().await?;
    queue::push_runs(&mut tx, batch.iter().map(|r| &r.run)).await?;
    let events: Vec<_> = batch.iter().map(|r| (r.run.job.config_id, &r.event)).collect();
    history::push_many(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(())
}
