//! Workflows: the run of a workflow config is conducted, not run. Its
//! queued run (which holds the config's place: its limits and overlap
//! policy see the workflow run as one run) is taken by a worker like any
//! other, without a sandbox slot; the conductor then queues each step's
//! runs once their parents succeeded, reads their records, and turns the
//! run's end into the workflow run's own record.
//!
//! Exactly-once progress: a step run's execution id is derived from the
//! workflow run, the step and the element (`StepOf::execution_id`), it is
//! queued with a key of its own (a second enqueue of it queues nothing),
//! and records are kept once per attempt. The steps queued are written
//! down before their runs are queued, so a conductor that takes over (its
//! worker died; the queue hands its run on) queues what may be missing
//! again, and nothing twice. Progress is read from the records, never
//! from memory.
//!
//! Owns the loop ([`Conductor::conduct`]), what a step run is given
//! (`steps.rs`) and reading a run ([`read`]); where a run stands is
//! [`progress`]. Never runs a plugin.

mod conduct;
pub mod progress;
mod read;
mod steps;

pub use conduct::starting;
pub use read::{Reused, read};

use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{Notify, watch};

use crate::contract::job::TypeRules;
use crate::contract::queue::Queue;
use crate::contract::schedule::backend::ScheduleBackend;
use crate::store::ConfigStore;

/// What a conductor queues step runs with and reads them from.
#[derive(Clone)]
pub struct Conductor {
    backend: Arc<dyn ScheduleBackend>,
    queue: Arc<dyn Queue>,
    store: Arc<dyn ConfigStore>,
    /// Each task type's rule, stamped on its step runs.
    type_rules: TypeRules,
    /// Woken when step records are committed in this process.
    progressed: Arc<Notify>,
}

impl Conductor {
    pub fn new(
        backend: Arc<dyn ScheduleBackend>,
        queue: Arc<dyn Queue>,
        store: Arc<dyn ConfigStore>,
        type_rules: TypeRules,
    ) -> Self {
        Self { backend, queue, store, type_rules, progressed: Arc::new(Notify::new()) }
    }

    /// Step records were committed: the conductors of this process look
    /// again now (a conductor that misses every signal looks by itself
    /// every [`conduct::LOOK_EVERY`]).
    pub fn progressed(&self) {
        self.progressed.notify_waiters();
    }

    /// Wakes this process's conductors whenever any process says it
    /// committed step records, until `shutdown`.
    pub async fn follow(self, mut shutdown: watch::Receiver<bool>) {
        let mut signals = self.queue.progress_signals();
        loop {
            tokio::select! {
                signal = signals.recv() => match signal {
                    Ok(_) | Err(RecvError::Lagged(_)) => self.progressed(),
                    Err(RecvError::Closed) => return,
                },
                changed = shutdown.changed() => if changed.is_err() || *shutdown.borrow() { return },
            }
        }
    }
}
