//! The worker: takes runs off the queue, runs each in the executor with its
//! config's limits, records the outcome in the config store, and only then
//! acknowledges the run (parking its retry, if it failed and has retries
//! left). It never decides when anything fires.
//!
//! One concern a file: taking work (`claim.rs`: the loop, reclaim, retries
//! coming due, the heartbeat), running one (`run.rs`), its next attempt
//! (`retry.rs`), and committing then acknowledging (`commit.rs`: records
//! are written in batches by one committer task; a run's permit is released
//! as soon as it finishes, so a slow commit never idles the sandbox). How
//! many runs one claim takes follows what the runs cost (`pace.rs`), not
//! just the free slots. Every run it holds can be cancelled from any
//! process (`cancel.rs`); a cancelled run is recorded, never retried.
//! Committed outcomes are offered to the notifier, which never holds the
//! worker up. A workflow run is handed to the conductor
//! (`engine::workflow`) without a slot.

mod cancel;
mod claim;
mod commit;
mod pace;
mod retry;
mod run;

pub use retry::{BASE_BACKOFF, backoff};

use std::sync::Arc;
use std::time::Duration;

use crate::contract::kv::KeyValue;
use crate::contract::queue::Queue;
use crate::doors::secrets::Secrets;
use crate::engine::notifier::Notifier;
use crate::engine::workflow::Conductor;
use crate::executor::{Doors, Executor, Grants};
use crate::plugins::artifacts::Artifacts;
use crate::store::ConfigStore;

/// What a worker needs.
#[derive(Clone)]
pub struct Worker {
    pub name: String,
    /// The worker groups whose runs it takes (`TASKBOX_WORKER_GROUPS`).
    pub groups: Vec<String>,
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
    /// What conducts workflow runs; `None`: they fail, saying so.
    pub conductor: Option<Conductor>,
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

impl Worker {
    /// A process-unique worker name: host, pid and a random suffix.
    pub fn default_name() -> String {
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        format!("{}-{}-{}", if host.is_empty() { "taskbox" } else { &host }, std::process::id(), &suffix[..8])
    }
}
