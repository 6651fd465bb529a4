//! Group commit of queued runs. `enqueue` hands its run to one writer task,
//! which writes every run waiting at that moment in one transaction and
//! answers each caller once that transaction has committed: under load one
//! commit carries many runs instead of one commit each; alone, a run waits
//! for nothing but its own commit.
//!
//! Owns the writer task and its channel. Never reorders runs, and never
//! answers before the commit (a failed commit fails every run it carried,
//! none of which was written). A run handed over is committed even if its
//! caller stops waiting, as a Redis enqueue already sent would be.

use futures::FutureExt;
use sqlx::SqlitePool;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{Mutex, Notify, mpsc, oneshot};

use super::push_histories;
use super::schedule::push_runs;
use crate::queue::QueuedRun;
use crate::schedule::HistoryEvent;
use crate::schedule::backend::BackendError;

/// Runs one commit carries at most (its queue insert binds 4 values a run,
/// its history insert 3: far below SQLite's 32766 a statement).
const MAX_BATCH: usize = 256;

/// A run to queue, its history event, and who waits for the commit.
pub(super) struct Enqueue {
    pub run: QueuedRun,
    pub event: HistoryEvent,
    pub done: oneshot::Sender<Result<(), BackendError>>,
}

/// Starts the writer; it stops once every sender is dropped.
pub(super) fn start(pool: SqlitePool, write: Arc<Mutex<()>>, queued: Arc<Notify>) -> mpsc::Sender<Enqueue> {
    let (sender, mut waiting) = mpsc::channel(4 * MAX_BATCH);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
            // A panic fails this batch (rolled back), not every later one.
            let outcome = AssertUnwindSafe(commit(&pool, &write, &batch))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(BackendError::Unavailable("the local queue writer failed".into())));
            if outcome.is_ok() {
                queued.notify_waiters();
            }
            for enqueue in batch.drain(..) {
                let _ = enqueue.done.send(outcome.clone());
            }
        }
    });
    sender
}

/// Writes the batch's runs and history events in one transaction.
async fn commit(pool: &SqlitePool, write: &Mutex<()>, batch: &[Enqueue]) -> Result<(), BackendError> {
    let _write = write.lock().await;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    push_runs(&mut tx, batch.iter().map(|e| &e.run)).await?;
    let events: Vec<_> = batch.iter().map(|e| (e.run.job.config_id, &e.event)).collect();
    push_histories(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(())
}
