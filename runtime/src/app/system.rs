//! This process as clients see it: whether its parts answer, what it runs
//! (version, backend, roles, plugins, live workers), and the words clients
//! need (scheduler types, actions, statuses, task types).

use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;

use super::{App, AppError};
use crate::contract::queue::{GroupStats, HeldBack};
use crate::contract::schedule::{Action, Status as ScheduleStatus};

/// A part that does not answer within this counts as unreachable.
const HEALTH_BOUND: Duration = Duration::from_millis(500);

/// Whether the database and the schedule backend answer.
#[derive(Debug, Serialize)]
pub struct Health {
    pub status: &'static str,
    pub database: &'static str,
    pub schedule_backend: &'static str,
    pub plugins_loaded: usize,
}

impl Health {
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

/// What this process runs.
#[derive(Debug, Serialize)]
pub struct Status {
    pub version: &'static str,
    pub backend: &'static str,
    pub roles: Vec<String>,
    pub uptime_seconds: f64,
    pub plugins: Vec<String>,
    pub plugins_failed: Vec<String>,
    /// Workers whose heartbeat is current, in any process.
    pub workers: Vec<String>,
    /// Each worker group with live workers or runs waiting: its live
    /// workers, its runs waiting for one, and how long the oldest waited.
    pub worker_groups: Vec<GroupStats>,
    /// Runs waiting for a slot (`max_concurrency`) or their turn (`rate_limit`).
    pub held_back: HeldBack,
}

impl App {
    /// Asks the database and the backend at once, each within a bound.
    pub async fn health(&self) -> Health {
        let (database, backend) = tokio::join!(
            tokio::time::timeout(HEALTH_BOUND, self.store().ping()),
            tokio::time::timeout(HEALTH_BOUND, self.scheduler().ping())
        );
        let (database, backend) = (matches!(database, Ok(Ok(()))), matches!(backend, Ok(Ok(()))));
        let word = |ok| if ok { "ok" } else { "unreachable" };
        Health {
            status: if database && backend { "ok" } else { "degraded" },
            database: word(database),
            schedule_backend: word(backend),
            plugins_loaded: self.registry().catalog().values().filter(|e| e.plugin.is_some()).count(),
        }
    }

    pub async fn status(&self) -> Result<Status, AppError> {
        let catalog = self.registry().catalog();
        let names = |loaded: bool| {
            catalog.values().filter(|e| e.plugin.is_some() == loaded).map(|e| e.info.name.clone()).collect()
        };
        let queue = &self.inner.queue;
        let (workers, worker_groups, held_back) =
            tokio::try_join!(queue.live_workers(), queue.groups(), queue.held_back())?;
        Ok(Status {
            version: env!("CARGO_PKG_VERSION"),
            backend: self.inner.backend_kind,
            roles: self.inner.roles.clone(),
            uptime_seconds: self.started_at.elapsed().as_secs_f64(),
            plugins: names(true),
            plugins_failed: names(false),
            workers: workers.into_iter().map(|w| w.name).collect(),
            worker_groups,
            held_back,
        })
    }

    /// Why a run of `group` would wait now, in words, if no live worker
    /// serves that group.
    pub async fn group_wait(&self, group: &str) -> Result<Option<String>, AppError> {
        let workers = self.inner.queue.live_workers().await?;
        Ok(match workers.iter().any(|w| w.groups.iter().any(|g| g == group)) {
            true => None,
            false => Some(format!("waiting for a worker in group {group}")),
        })
    }

    /// Runs waiting or in progress.
    pub async fn queue_depth(&self) -> Result<u64, AppError> {
        Ok(self.inner.queue.depth().await?)
    }

    /// The task types that are loaded, by name.
    pub fn task_types(&self) -> Vec<String> {
        self.registry().catalog().iter().filter(|(_, e)| e.plugin.is_some()).map(|(n, _)| n.clone()).collect()
    }

    /// The values clients need.
    pub fn enums(&self) -> Value {
        json!({
            "scheduler_types": ["cron", "date", "manual"],
            "schedule_actions": Action::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            "schedule_statuses": ScheduleStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "concurrency": ["allow", "forbid", "buffer_one", "replace"],
            "triggers": ["cron", "date", "manual", "retry", "replay", "webhook", "backfill"],
            "notify_on": ["failure", "recovery", "always"],
            "task_types": self.task_types(),
        })
    }
}
