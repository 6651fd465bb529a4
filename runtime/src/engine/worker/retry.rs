//! The next attempt of a run that failed: when it may run (exponential
//! backoff), and whether there is one (not after a success or a cancel, not
//! past `max_retries`).

use chrono::{DateTime, Utc};
use std::time::Duration;

use super::Worker;
use crate::contract::job::{QueuedRun, Trigger};

/// First retry delay; doubled per attempt, capped at [`MAX_BACKOFF`].
pub const BASE_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The delay before attempt `attempt + 1`.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(MAX_BACKOFF)
}

impl Worker {
    /// The next attempt, unless this one `ended` it (succeeded, or was
    /// cancelled) or no retries are left.
    pub(super) fn retry_of(&self, run: &QueuedRun, ended: bool) -> Option<(QueuedRun, DateTime<Utc>)> {
        // A workflow run is not retried as a whole (its steps are).
        if ended || run.is_workflow() || run.attempt > run.job.max_retries.max(0) as u32 {
            return None;
        }
        let at = Utc::now() + backoff(self.base_backoff, run.attempt);
        metrics::counter!("taskbox_retries_total", "task_type" => run.job.task_type.clone()).increment(1);
        let next = QueuedRun {
            attempt: run.attempt + 1,
            trigger: Trigger::Retry,
            ahead: false,
            cancelled_by: None,
            ..run.clone()
        };
        Some((next, at))
    }
}
