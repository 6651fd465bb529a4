//! The overview: schedules by status, the last 24 hours (counts, each hour,
//! recent failures), the next runs, the queue and its workers, in one read
//! of independent parts asked at once (the answer costs the slowest). The
//! dashboard's first page and `GET /system/dashboard` both show it.

use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

use super::{App, AppError};
use crate::contract::queue::{GroupStats, LiveWorker};
use crate::contract::schedule::Status;
use crate::engine::scheduler::Summary;
use crate::store::{ExecutionFilter, ExecutionStats, Page, StoredExecution};

/// Failures and next runs shown.
const SHOWN: u32 = 10;

/// One hour of the last day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HourCount {
    pub at: DateTime<Utc>,
    pub successes: i64,
    pub failures: i64,
}

pub struct Overview {
    pub summary: Summary,
    /// Configs per status as the backend counts them (its own entries).
    pub by_status: BTreeMap<Status, u64>,
    pub last_day: ExecutionStats,
    /// The 24 hours up to now, oldest first (empty where this process
    /// serves no dashboard).
    pub hours: Vec<HourCount>,
    pub recent_failures: Vec<StoredExecution>,
    pub next_runs: Vec<(Uuid, DateTime<Utc>)>,
    /// Runs waiting or in progress.
    pub queue_depth: u64,
    /// Workers whose heartbeat is current, by name, with their groups.
    pub workers: Vec<LiveWorker>,
    /// Each worker group with live workers or runs waiting.
    pub groups: Vec<GroupStats>,
}

impl App {
    pub async fn overview(&self) -> Result<Overview, AppError> {
        let day_ago = Utc::now() - chrono::Duration::hours(24);
        let failures =
            ExecutionFilter { is_success: Some(false), since: Some(day_ago), ..Default::default() };
        let hourly = async {
            match &self.inner.dashboard {
                Some(store) => Ok(store.hourly(day_ago).await?),
                None => Ok(Vec::new()),
            }
        };
        let (
            summary,
            by_status,
            last_day,
            hourly,
            (recent_failures, _),
            next_runs,
            queue_depth,
            workers,
            groups,
        ) = tokio::try_join!(
            async { Ok::<_, AppError>(self.scheduler().summary().await?) },
            async { Ok(self.scheduler().counts().await?) },
            async { Ok(self.store().execution_stats(None, Some(day_ago)).await?) },
            hourly,
            async { Ok(self.store().list_executions(&failures, Page { limit: SHOWN, offset: 0 }).await?) },
            async { Ok(self.scheduler().next_runs(SHOWN as usize).await?) },
            async { Ok(self.inner.queue.depth().await?) },
            async { Ok(self.inner.queue.live_workers().await?) },
            async { Ok(self.inner.queue.groups().await?) },
        )?;
        let hours = match hourly.is_empty() && self.inner.dashboard.is_none() {
            true => Vec::new(),
            false => {
                let by_hour: HashMap<i64, (i64, i64)> = hourly
                    .iter()
                    .map(|h| (h.hour.timestamp(), (h.successes, h.total - h.successes)))
                    .collect();
                let first = (day_ago.timestamp() / 3600 + 1) * 3600;
                (0..24)
                    .map(|i| {
                        let at = first + i * 3600;
                        let (successes, failures) = by_hour.get(&at).copied().unwrap_or((0, 0));
                        HourCount {
                            at: DateTime::from_timestamp(at, 0).unwrap_or_default(),
                            successes,
                            failures,
                        }
                    })
                    .collect()
            }
        };
        Ok(Overview {
            summary,
            by_status,
            last_day,
            hours,
            recent_failures,
            next_runs,
            queue_depth,
            workers,
            groups,
        })
    }
}
