//! Schedule actions, for one config or many (by tag or ids), each one
//! atomic step of the scheduler service; the list of schedules, a
//! config's history and the summary by status.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::validate;
use super::{App, AppError};
use crate::contract::schedule::{Action, HistoryEvent, Status};
use crate::engine::scheduler::{ActionDone, ScheduleItem, ServiceError, Summary};
use crate::store::{ConfigFilter, Page};

/// Configs one bulk action may name or match, at most.
pub const MAX_BULK: usize = 10_000;
/// History events one read may ask for, at most.
const MAX_HISTORY: u32 = 100;

/// Which configs a bulk action is for.
#[derive(Debug, Clone)]
pub enum BulkTarget {
    /// Every config carrying this tag.
    Tag(String),
    /// These configs.
    Ids(Vec<Uuid>),
}

/// What happened to one config of a bulk action.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResult {
    pub config_id: Uuid,
    /// Whether the action was carried out.
    pub ok: bool,
    /// The status after (or, when refused, as it is).
    pub schedule_status: Option<Status>,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkDone {
    pub action: Action,
    /// Configs the action was carried out on, and those it was not.
    pub done: usize,
    pub refused: usize,
    pub results: Vec<BulkResult>,
}

/// Only a pause takes an end, and it must be in the future.
fn check_until(action: Action, until: Option<DateTime<Utc>>) -> Result<(), AppError> {
    let Some(until) = until else { return Ok(()) };
    if action != Action::Pause {
        return Err(AppError::invalid("until", "only a pause takes an end time"));
    }
    if until <= Utc::now() {
        return Err(AppError::invalid("until", format!("{until} is not in the future")));
    }
    Ok(())
}

impl App {
    /// Carries out `action` on the config's schedule; a pause with `until`
    /// ends by itself then.
    pub async fn act(
        &self,
        config_id: Uuid,
        action: Action,
        until: Option<DateTime<Utc>>,
    ) -> Result<ActionDone, AppError> {
        check_until(action, until)?;
        Ok(self.scheduler().act_until(config_id, action, until).await?)
    }

    /// One action for many configs, each atomically; what happened to each.
    pub async fn act_in_bulk(
        &self,
        action: Action,
        target: BulkTarget,
        until: Option<DateTime<Utc>>,
    ) -> Result<BulkDone, AppError> {
        check_until(action, until)?;
        let ids = match target {
            BulkTarget::Tag(tag) => {
                validate::tag(&tag)?;
                let filter = ConfigFilter { tag: Some(tag), ..Default::default() };
                let page = Page { limit: MAX_BULK as u32 + 1, offset: 0 };
                let (configs, _) = self.store().list_configs(&filter, page).await?;
                if configs.len() > MAX_BULK {
                    return Err(AppError::invalid("tag", format!("matches more than {MAX_BULK} configs")));
                }
                configs.into_iter().map(|c| c.id).collect()
            }
            BulkTarget::Ids(ids) if ids.len() <= MAX_BULK => ids,
            BulkTarget::Ids(_) => return Err(AppError::invalid("ids", format!("at most {MAX_BULK}"))),
        };
        let mut results = Vec::with_capacity(ids.len());
        for id in ids {
            let (ok, schedule_status, message) = match self.scheduler().act_until(id, action, until).await {
                Ok(done) => (true, Some(done.schedule_status), done.message),
                Err(ServiceError::Refused(e)) => (false, Some(e.current), e.to_string()),
                Err(e @ (ServiceError::NotFound(_) | ServiceError::Spec(_))) => (false, None, e.to_string()),
                Err(e) => return Err(e.into()),
            };
            results.push(BulkResult { config_id: id, ok, schedule_status, message });
        }
        let done = results.iter().filter(|r| r.ok).count();
        Ok(BulkDone { action, done, refused: results.len() - done, results })
    }

    /// One page of schedules by config name (all, or those in `status`).
    pub async fn schedules(
        &self,
        status: Option<Status>,
        filter: ConfigFilter,
        page: Page,
    ) -> Result<(Vec<ScheduleItem>, u64), AppError> {
        Ok(self.scheduler().list_schedules(status, filter, page).await?)
    }

    /// A config's history, newest first (1 to 100 events, default 100).
    pub async fn history(&self, config_id: Uuid, limit: Option<u32>) -> Result<Vec<HistoryEvent>, AppError> {
        let limit = limit.unwrap_or(MAX_HISTORY);
        if !(1..=MAX_HISTORY).contains(&limit) {
            return Err(AppError::invalid("limit", format!("must be between 1 and {MAX_HISTORY}")));
        }
        Ok(self.scheduler().history(config_id, limit as usize).await?)
    }

    /// Configs counted by schedule status.
    pub async fn summary(&self) -> Result<Summary, AppError> {
        Ok(self.scheduler().summary().await?)
    }
}
