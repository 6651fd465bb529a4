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

use super::{history, once, queue};
use crate::contract::BackendError;
use crate::contract::job::QueuedRun;
use crate::contract::schedule::HistoryEvent;
use crate::contract::schedule::backend::{Enqueued, Once};
use crate::store::sqlite_file::Db;

/// Runs one commit carries at most (its queue insert binds 4 values a run,
/// its history insert 3: far below SQLite's 32766 a statement).
const MAX_BATCH: usize = 256;

/// A run to queue, its history event, its idempotency key, and who waits
/// for the commit.
struct Request {
    run: QueuedRun,
    event: Option<HistoryEvent>,
    once: Option<Once>,
    done: oneshot::Sender<Result<Enqueued, BackendError>>,
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
                match outcome {
                    Ok(answers) => {
                        queued.notify_waiters();
                        for (request, answer) in batch.drain(..).zip(answers) {
                            let _ = request.done.send(Ok(answer));
                        }
                    }
                    Err(e) => {
                        for request in batch.drain(..) {
                            let _ = request.done.send(Err(e.clone()));
                        }
                    }
                }
            }
        });
        Self { requests }
    }

    /// Queues `run` with its history `event` if any (unless `once` was used
    /// before); returns once committed.
    pub(super) async fn enqueue(
        &self,
        run: QueuedRun,
        event: Option<HistoryEvent>,
        once: Option<Once>,
    ) -> Result<Enqueued, BackendError> {
        let gone = || BackendError::Stopped("the local queue writer");
        let (done, committed) = oneshot::channel();
        self.requests.send(Request { run, event, once, done }).await.map_err(|_| gone())?;
        committed.await.map_err(|_| gone())?
    }
}

/// Writes the batch's runs and history events in one transaction, but
/// not those whose key was used before (by an earlier batch or an earlier
/// request of this one); answers each request in order.
async fn commit(db: &Db, batch: &[Request]) -> Result<Vec<Enqueued>, BackendError> {
    let mut tx = db.write().await?;
    let mut answers = Vec::with_capacity(batch.len());
    for r in batch {
        answers.push(match &r.once {
            Some(key) => once::claim(&mut tx, r.run.owner(), key, r.run.execution_id).await?,
            None => Enqueued::New,
        });
    }
    let new = || batch.iter().zip(&answers).filter(|(_, a)| **a == Enqueued::New).map(|(r, _)| r);
    if new().next().is_some() {
        queue::push_runs(&mut tx, new().map(|r| &r.run)).await?;
        let events: Vec<_> = new().filter_map(|r| Some((r.run.job.config_id, r.event.as_ref()?))).collect();
        if !events.is_empty() {
            history::push_many(&mut tx, &events).await?;
        }
    }
    tx.commit().await?;
    Ok(answers)
}
