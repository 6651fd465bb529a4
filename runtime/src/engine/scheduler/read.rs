//! What the API reads of schedules, composed here so that handlers hold no
//! schedule rule: the list of schedules with their real next run, a
//! config's history, the summary by status, the next runs, and whether the
//! backend answers.
//!
//! `GET /schedules` pages in the **store**: configs are listed by name
//! there (an index), and the backend answers for just that page's ids in
//! one round trip, so a page costs O(page) whatever the fleet. With a
//! status filter, the store is walked by name in chunks (keyset: each
//! chunk starts after the last name seen, by the name index), each chunk's
//! statuses asked of the backend, until the page is full: O(offset +
//! limit) configs for a common status, up to the whole store for a rare
//! one; the total comes from the backend's per-status counters (O(1)). The backend cannot
//! page by itself: a config with no state at all is `inactive` and only the
//! store knows it exists.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

use super::service::shown_next_run;
use super::{SchedulerService, ServiceError};
use crate::contract::job::SchedulerType;
use crate::contract::schedule::backend::Brief;
use crate::contract::schedule::{HistoryEvent, ScheduleSpec, Status};
use crate::store::{ConfigFilter, Page, TaskConfig};

/// Configs read from the store per step of a filtered walk.
const WALK_CHUNK: u32 = 500;

/// One config's schedule in a list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScheduleItem {
    pub config_id: Uuid,
    pub name: String,
    pub task_type: String,
    pub scheduler_type: SchedulerType,
    pub schedule_config: serde_json::Value,
    pub schedule_status: Status,
    pub is_scheduled: bool,
    /// The next fire time; paused until a time: the first one after it.
    pub next_run: Option<DateTime<Utc>>,
    /// A pause that ends by itself at this time.
    pub paused_until: Option<DateTime<Utc>>,
    pub tags: Vec<String>,
}

impl ScheduleItem {
    fn of(c: TaskConfig, brief: Brief) -> Self {
        let status = brief.status.unwrap_or(Status::Inactive);
        let paused_until = brief.paused_until.filter(|_| status == Status::Paused);
        let next_run = shown_next_run(status, brief.next_run, paused_until, || {
            let spec = ScheduleSpec::parse(c.scheduler_type, &c.schedule_config).ok()?;
            Some(spec.salted(c.id.as_u64_pair().0))
        });
        ScheduleItem {
            config_id: c.id,
            name: c.name,
            task_type: c.task_type,
            scheduler_type: c.scheduler_type,
            schedule_config: c.schedule_config,
            schedule_status: status,
            is_scheduled: brief.next_run.is_some(),
            next_run,
            paused_until,
            tags: c.tags,
        }
    }
}

/// Configs counted by schedule status (the seed's keys).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub total_tasks: u64,
    pub active_tasks: u64,
    pub paused_tasks: u64,
    pub inactive_tasks: u64,
    pub error_tasks: u64,
    pub last_updated: DateTime<Utc>,
}

impl Summary {
    fn count(&self, status: Status) -> u64 {
        match status {
            Status::Active => self.active_tasks,
            Status::Paused => self.paused_tasks,
            Status::Inactive => self.inactive_tasks,
            Status::Error => self.error_tasks,
        }
    }
}

impl SchedulerService {
    /// One page of schedules by config name (all, or those in `status`,
    /// of the configs `filter` matches), and how many there are in all.
    pub async fn list_schedules(
        &self,
        status: Option<Status>,
        filter: ConfigFilter,
        page: Page,
    ) -> Result<(Vec<ScheduleItem>, u64), ServiceError> {
        let tagged = filter.tag.is_some()
            || filter.task_type.is_some()
            || filter.name_contains.is_some()
            || filter.scheduler_type.is_some();
        let all = filter;
        let Some(wanted) = status else {
            let (configs, total) = self.store.list_configs(&all, page).await?;
            let ids: Vec<Uuid> = configs.iter().map(|c| c.id).collect();
            let briefs = self.backend.briefs(&ids).await?;
            let items = configs.into_iter().zip(briefs).map(|(c, b)| ScheduleItem::of(c, b)).collect();
            return Ok((items, total));
        };
        // Filtered, the total is counted on the walk (the backend's
        // counters know no config fields), so the walk goes on to the end.
        let mut total = if tagged { 0 } else { self.summary().await?.count(wanted) };
        let (mut skip, mut items) = (page.offset as u64, Vec::new());
        let mut after: Option<String> = None;
        while tagged || items.len() < page.limit as usize {
            let configs = self.store.configs_after(&all, after.as_deref(), WALK_CHUNK).await?;
            let ids: Vec<Uuid> = configs.iter().map(|c| c.id).collect();
            let briefs = self.backend.briefs(&ids).await?;
            let read = configs.len();
            after = configs.last().map(|c| c.name.clone());
            for (config, brief) in configs.into_iter().zip(briefs) {
                if brief.status.unwrap_or(Status::Inactive) != wanted {
                    continue;
                }
                if tagged {
                    total += 1;
                }
                if items.len() == page.limit as usize {
                    continue;
                }
                match skip {
                    0 => items.push(ScheduleItem::of(config, brief)),
                    _ => skip -= 1,
                }
            }
            if read < WALK_CHUNK as usize {
                break;
            }
        }
        Ok((items, total))
    }

    /// A config's history, newest first, at most `limit`.
    pub async fn history(&self, config_id: Uuid, limit: usize) -> Result<Vec<HistoryEvent>, ServiceError> {
        self.config(config_id).await?;
        Ok(self.backend.history(config_id, limit).await?)
    }

    /// Configs by status: the backend counts active, paused and error; the
    /// rest of the store's configs are inactive (with or without state).
    pub async fn summary(&self) -> Result<Summary, ServiceError> {
        let by_status = self.backend.summary().await?;
        let (_, total) =
            self.store.list_configs(&ConfigFilter::default(), Page { limit: 0, offset: 0 }).await?;
        let count = |s| by_status.get(&s).copied().unwrap_or(0);
        let (active, paused, error) = (count(Status::Active), count(Status::Paused), count(Status::Error));
        Ok(Summary {
            total_tasks: total,
            active_tasks: active,
            paused_tasks: paused,
            inactive_tasks: total.saturating_sub(active + paused + error),
            error_tasks: error,
            last_updated: Utc::now(),
        })
    }

    /// Configs per status as the backend counts them (its own entries).
    pub async fn counts(&self) -> Result<BTreeMap<Status, u64>, ServiceError> {
        Ok(self.backend.summary().await?)
    }

    /// The `limit` soonest due schedules.
    pub async fn next_runs(&self, limit: usize) -> Result<Vec<(Uuid, DateTime<Utc>)>, ServiceError> {
        Ok(self.backend.due(DateTime::<Utc>::MAX_UTC, limit).await?)
    }

    /// Does the schedule backend answer?
    pub async fn ping(&self) -> Result<(), ServiceError> {
        self.backend.summary().await?;
        Ok(())
    }
}
