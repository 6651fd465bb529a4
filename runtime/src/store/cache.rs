//! A read-through cache of task configs by id, in front of a config store,
//! for the API's hot reads (`GET /configs/{id}`, `POST /configs/{id}/run`).
//!
//! Owns copies only: every call but `get_config` goes to the store
//! underneath, and a write through the cache drops the copy it touched, so a
//! process always reads its own writes. Writes by other processes (or by
//! hand) drop copies through the store's change feed; while that feed is
//! down the cache stands aside and every read goes to the database. No copy
//! is served older than [`MAX_AGE`], whatever the feed says. It never holds
//! a config that is not in the store, nor decides anything about one.
//!
//! The scheduler service reads the store itself: it snapshots a config into
//! the schedule, where a stale copy would outlive the cache. A manual run
//! does carry the copy it was queued from: one queued by this process
//! within milliseconds of another process's change (before the feed brings
//! it) runs the definition from just before, as if it had been asked for
//! just before.
//!
//! Metrics: `taskbox_config_cache_reads_total{outcome}` (`hit`, `miss`, or
//! `off` while the feed is down) and `taskbox_config_cache_live` (1 while
//! copies are served).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};
use uuid::Uuid;

use super::postgres_changes::Feed;
use super::*;

/// The longest a copy is served.
pub const MAX_AGE: Duration = Duration::from_secs(2);
/// Copies kept at most; beyond, the cache starts over.
const CAPACITY: usize = 10_000;

/// The cache for the store `opened` names: on PostgreSQL, kept by the
/// change feed; on SQLite, which one process owns, by its own writes.
pub fn cached(opened: &Opened) -> Arc<dyn ConfigStore> {
    match opened {
        Opened::Postgres(pg) => {
            let mut cache = CachedStore::new(Arc::new(pg.clone()), false);
            let copies = Arc::downgrade(&cache.copies);
            cache.feed = Some(pg.feed_config_changes(move |feed| hear(&copies, feed)));
            Arc::new(cache)
        }
        Opened::Sqlite(sqlite) => Arc::new(CachedStore::new(Arc::new(sqlite.clone()), true)),
    }
}

fn count_read(outcome: &'static str) {
    metrics::counter!("taskbox_config_cache_reads_total", "outcome" => outcome).increment(1);
}

/// Applies the feed to the copies; false once the cache is gone.
fn hear(copies: &Weak<Mutex<Copies>>, feed: Feed) -> bool {
    let Some(copies) = copies.upgrade() else { return false };
    let mut copies = copies.lock().unwrap_or_else(|p| p.into_inner());
    match feed {
        Feed::Changed(id) => copies.drop_one(id),
        Feed::AllChanged => {
            let live = copies.live;
            copies.drop_all(live);
        }
        Feed::Lost => {
            if copies.live {
                tracing::warn!("config cache off: lost the change feed (reads go to the database)");
            }
            copies.drop_all(false);
        }
        Feed::Listening => {
            if !copies.live {
                tracing::info!("config cache on: listening for config changes");
            }
            copies.drop_all(true);
        }
    }
    true
}

/// A [`ConfigStore`] whose `get_config` answers from copies while it can.
struct CachedStore {
    store: Arc<dyn ConfigStore>,
    copies: Arc<Mutex<Copies>>,
    /// The change feed's task, stopped with the cache.
    feed: Option<tokio::task::AbortHandle>,
}

impl Drop for CachedStore {
    fn drop(&mut self) {
        if let Some(feed) = &self.feed {
            feed.abort();
        }
    }
}

/// Drops a config's copy when a write through the cache ends, however it
/// ends (even if the caller stops waiting after the commit).
struct DropCopy<'a>(&'a CachedStore, Uuid);

impl Drop for DropCopy<'_> {
    fn drop(&mut self) {
        self.0.copies().drop_one(self.1);
    }
}

struct Copies {
    by_id: HashMap<Uuid, (TaskConfig, Instant)>,
    /// Moves on every drop: a read that began before one may not keep its
    /// copy, which may predate the change that caused the drop.
    generation: u64,
    /// Are changes heard? If not, nothing is served or kept.
    live: bool,
}

impl Copies {
    fn drop_one(&mut self, id: Uuid) {
        self.by_id.remove(&id);
        self.generation += 1;
    }

    fn drop_all(&mut self, live: bool) {
        self.by_id.clear();
        self.generation += 1;
        self.live = live;
        metrics::gauge!("taskbox_config_cache_live").set(if live { 1.0 } else { 0.0 });
    }
}

impl CachedStore {
    /// `live`: are changes heard from the start (a store no one else writes)?
    fn new(store: Arc<dyn ConfigStore>, live: bool) -> Self {
        let mut copies = Copies { by_id: HashMap::new(), generation: 0, live };
        copies.drop_all(live);
        Self { store, copies: Arc::new(Mutex::new(copies)), feed: None }
    }

    fn copies(&self) -> MutexGuard<'_, Copies> {
        self.copies.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh copy, or the generation a read from the store must keep to
    /// leave its answer here (`None`: do not keep it).
    fn lookup(&self, id: Uuid) -> Result<TaskConfig, Option<u64>> {
        let copies = self.copies();
        if !copies.live {
            count_read("off");
            return Err(None);
        }
        match copies.by_id.get(&id) {
            Some((config, at)) if at.elapsed() < MAX_AGE => {
                count_read("hit");
                Ok(config.clone())
            }
            _ => {
                count_read("miss");
                Err(Some(copies.generation))
            }
        }
    }

    /// Keeps a copy read from the store, dated from before that read began.
    fn keep(&self, generation: u64, config: &TaskConfig, read_at: Instant) {
        let mut copies = self.copies();
        if copies.live && copies.generation == generation {
            if copies.by_id.len() >= CAPACITY {
                copies.by_id.clear();
            }
            copies.by_id.insert(config.id, (config.clone(), read_at));
        }
    }
}

/// Workflow runs are not cached: read and written as they are.
#[async_trait]
impl WorkflowStore for CachedStore {
    async fn start_workflow_run(&self, run: &WorkflowRun) -> Result<WorkflowRun, StoreError> {
        self.store.start_workflow_run(run).await
    }

    async fn workflow_run(&self, execution_id: Uuid) -> Result<Option<WorkflowRun>, StoreError> {
        self.store.workflow_run(execution_id).await
    }

    async fn set_queued_steps(&self, execution_id: Uuid, steps: &[String]) -> Result<(), StoreError> {
        self.store.set_queued_steps(execution_id, steps).await
    }

    async fn end_workflow_run(&self, execution_id: Uuid, end: &WorkflowEnd) -> Result<bool, StoreError> {
        self.store.end_workflow_run(execution_id, end).await
    }

    async fn step_records(&self, workflow_execution_id: Uuid) -> Result<Vec<StoredExecution>, StoreError> {
        self.store.step_records(workflow_execution_id).await
    }
}

#[async_trait]
impl ConfigStore for CachedStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.store.migrate().await
    }

    async fn housekeep(&self) -> Result<(), StoreError> {
        self.store.housekeep().await
    }

    async fn create_config(&self, new: NewConfig) -> Result<TaskConfig, StoreError> {
        self.store.create_config(new).await
    }

    async fn get_config(&self, id: Uuid) -> Result<Option<TaskConfig>, StoreError> {
        let generation = match self.lookup(id) {
            Ok(config) => return Ok(Some(config)),
            Err(generation) => generation,
        };
        let read_at = Instant::now();
        let found = self.store.get_config(id).await?;
        if let (Some(generation), Some(config)) = (generation, &found) {
            self.keep(generation, config, read_at);
        }
        Ok(found)
    }

    async fn list_configs(&self, filter: &ConfigFilter, page: Page) -> Listed<TaskConfig> {
        self.store.list_configs(filter, page).await
    }

    async fn all_configs(&self) -> Result<Vec<TaskConfig>, StoreError> {
        self.store.all_configs().await
    }

    async fn configs_after(
        &self,
        filter: &ConfigFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<TaskConfig>, StoreError> {
        self.store.configs_after(filter, after, limit).await
    }

    async fn update_config(&self, id: Uuid, patch: &ConfigPatch) -> Result<Option<TaskConfig>, StoreError> {
        let _drop = DropCopy(self, id);
        self.store.update_config(id, patch).await
    }

    async fn delete_config(&self, id: Uuid) -> Result<bool, StoreError> {
        let _drop = DropCopy(self, id);
        self.store.delete_config(id).await
    }

    async fn record_executions(&self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        self.store.record_executions(records).await
    }

    async fn list_executions(&self, filter: &ExecutionFilter, page: Page) -> Listed<StoredExecution> {
        self.store.list_executions(filter, page).await
    }

    async fn get_execution(&self, id: i64) -> Result<Option<StoredExecution>, StoreError> {
        self.store.get_execution(id).await
    }

    async fn latest_attempt(&self, execution_id: Uuid) -> Result<Option<StoredExecution>, StoreError> {
        self.store.latest_attempt(execution_id).await
    }

    async fn find_attempt(
        &self,
        execution_id: Uuid,
        attempt: i32,
    ) -> Result<Option<StoredExecution>, StoreError> {
        self.store.find_attempt(execution_id, attempt).await
    }

    async fn tick_runs(
        &self,
        config_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        self.store.tick_runs(config_id, from, to).await
    }

    async fn execution_stats(
        &self,
        config_id: Option<Uuid>,
        since: Option<DateTime<Utc>>,
    ) -> Result<ExecutionStats, StoreError> {
        self.store.execution_stats(config_id, since).await
    }

    async fn delete_executions_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.store.delete_executions_before(before).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }
}
