//! The runs a worker holds, and the requests to cancel them. Every run is
//! held from the claim that brought it until its outcome is handed on, each
//! with a watch that the executor stops on; requests arrive as signals from
//! any process ([`Queue::cancel_signals`]) and, for a signal that was
//! missed (a lost subscription), by asking the queue now and then
//! ([`Queue::cancel_requests`]). Owns the map and that loop; what a
//! cancelled run records is the worker's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use crate::contract::queue::{CancelSignal, Queue};

/// How often held runs are checked against the queue's cancel requests.
const SWEEP_EVERY: Duration = Duration::from_millis(250);

/// The runs this worker holds, by execution id.
#[derive(Clone, Default)]
pub(super) struct Held(Arc<Mutex<HashMap<Uuid, watch::Sender<Option<String>>>>>);

impl Held {
    /// Holds a run; the receiver turns to who cancelled it.
    pub(super) fn hold(&self, execution_id: Uuid) -> watch::Receiver<Option<String>> {
        let (tx, rx) = watch::channel(None);
        self.lock().insert(execution_id, tx);
        rx
    }

    pub(super) fn release(&self, execution_id: Uuid) {
        self.lock().remove(&execution_id);
    }

    fn cancel(&self, signal: &CancelSignal) {
        if let Some(tx) = self.lock().get(&signal.execution_id) {
            tx.send_if_modified(|by| {
                let first = by.is_none();
                if first {
                    *by = Some(signal.by.clone());
                }
                first
            });
        }
    }

    fn ids(&self) -> Vec<Uuid> {
        self.lock().keys().copied().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, watch::Sender<Option<String>>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Passes cancel requests on to the held runs they name, until `shutdown`.
pub(super) async fn listen(queue: Arc<dyn Queue>, held: Held, mut shutdown: watch::Receiver<bool>) {
    let mut signals = queue.cancel_signals();
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            signal = signals.recv() => match signal {
                Ok(signal) => held.cancel(&signal),
                // Missed some: the sweep below finds them.
                Err(broadcast::error::RecvError::Lagged(_)) => sweep.reset_immediately(),
                Err(broadcast::error::RecvError::Closed) => signals = queue.cancel_signals(),
            },
            _ = sweep.tick() => {
                let ids = held.ids();
                if ids.is_empty() {
                    continue;
                }
                match queue.cancel_requests(&ids).await {
                    Ok(found) => found.iter().for_each(|signal| held.cancel(signal)),
                    Err(e) => tracing::debug!(error = %e, "cannot read cancel requests"),
                }
            }
            changed = shutdown.changed() => if changed.is_err() { return },
        }
    }
}
