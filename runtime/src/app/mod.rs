//! The application layer: every command and read a front end offers (the
//! API, the dashboard, the CLI where it talks to a database), each rule
//! once. Creating a config (validated, with its compensating undo), running
//! one now (with a payload and an idempotency key), a signed webhook
//! delivery, a backfill, cancelling, replaying, schedule actions (with `until`, alone or
//! in bulk), a config's merged view, an execution with its notifications,
//! the overview, plugin versions, the doors' data, tokens and who acted,
//! workflow runs (read, retried), and the audit log of changes.
//!
//! Composes the config store, the scheduler service, the plugins and the
//! doors; never speaks HTTP (the front ends map [`AppError`] to answers)
//! and never reaches the schedule backend but through the scheduler
//! service.

mod audit;
mod bulk_runs;
mod configs;
mod doors;
mod enqueue;
mod error;
mod hooks;
mod overview;
mod plugins;
pub mod replay;
mod runs;
mod schedules;
mod sessions;
mod system;
pub mod tokens;
mod validate;
mod workflows;

pub use bulk_runs::{MAX_BULK_RUNS, RunOutcome, RunsAction, RunsDone, RunsSelector};
pub use configs::ConfigView;
pub use doors::{Entry, KeyList};
pub use enqueue::{MAX_KEY, RunInput};
pub use error::AppError;
pub use hooks::{Delivery, is_signed};
pub use overview::{HourCount, Overview};
pub use plugins::Published;
pub use runs::{CancelDone, ExecutionView, RecordRef, hours_ago};
pub use schedules::{BulkDone, BulkResult, BulkTarget};
pub use system::{Health, Status};
pub use tokens::{Actor, Tokens};
pub use workflows::{StepView, WorkflowRunView};

use std::sync::Arc;
use std::time::Instant;

use crate::contract::kv::KeyValue;
use crate::contract::queue::QueueStats;
use crate::doors::secrets::Secrets;
use crate::engine::scheduler::SchedulerService;
use crate::plugins::artifacts::Artifacts;
use crate::plugins::registry::Registry;
use crate::store::{AuditStore, ConfigStore, DashboardStore, DeliveryStore, Page};

/// Rows a list may ask for at once.
pub const MAX_PAGE: u32 = 500;

/// Cheap-to-clone handle on everything a front end may ask.
#[derive(Clone)]
pub struct App {
    inner: Arc<Parts>,
    started_at: Instant,
}

/// What the application layer composes; `None` where this process keeps
/// no such thing (the answers say it is unavailable).
pub struct Parts {
    /// Configs and records (configs read through the cache).
    pub store: Arc<dyn ConfigStore>,
    pub scheduler: SchedulerService,
    /// The versions kept and the registry serving them.
    pub plugins: Artifacts,
    /// Queue depth and live workers.
    pub queue: Arc<dyn QueueStats>,
    pub tokens: Tokens,
    pub kv: Option<Arc<dyn KeyValue>>,
    pub secrets: Option<Secrets>,
    pub deliveries: Option<Arc<dyn DeliveryStore>>,
    pub dashboard: Option<Arc<dyn DashboardStore>>,
    /// Where changes are logged.
    pub audit: Option<Arc<dyn AuditStore>>,
    /// `redis` or `local`, and this process's roles, for the status.
    pub backend_kind: &'static str,
    pub roles: Vec<String>,
}

impl App {
    pub fn new(parts: Parts) -> Self {
        Self { inner: Arc::new(parts), started_at: Instant::now() }
    }

    fn store(&self) -> &dyn ConfigStore {
        self.inner.store.as_ref()
    }

    fn scheduler(&self) -> &SchedulerService {
        &self.inner.scheduler
    }

    /// The registry of plugins this node serves.
    pub fn registry(&self) -> &Registry {
        self.inner.plugins.registry()
    }

    /// The tokens and their roles.
    pub fn tokens(&self) -> &Tokens {
        &self.inner.tokens
    }

    fn dashboard_store(&self) -> Result<&dyn DashboardStore, AppError> {
        self.inner
            .dashboard
            .as_deref()
            .ok_or(AppError::Unavailable("this process serves no dashboard".into()))
    }
}

/// The page asked for by `limit` (default 50) and `offset`.
pub fn page(limit: Option<u32>, offset: Option<u32>) -> Result<Page, AppError> {
    let limit = limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(AppError::invalid("limit", format!("must be between 1 and {MAX_PAGE}")));
    }
    let offset = offset.unwrap_or(0);
    if offset > i32::MAX as u32 {
        return Err(AppError::invalid("offset", format!("must be at most {}", i32::MAX)));
    }
    Ok(Page { limit, offset })
}
