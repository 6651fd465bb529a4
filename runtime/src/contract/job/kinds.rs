//! The words a config and a run are described by: when a config runs by
//! itself, what to do with an overlapping tick, what started an attempt.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::support::text_enum::text_enum;

/// When a config runs by itself (the seed's `SchedulerType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerType {
    Cron,
    Date,
    Manual,
}

/// What to do with a tick while a run of the same config is in flight
/// (Temporal's overlap policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Concurrency {
    #[default]
    Allow,
    /// Skip a tick while a run of the config is in flight.
    Forbid,
    /// One tick waits for the run in flight; later ticks are skipped.
    BufferOne,
    /// The run in flight is cancelled and the new tick runs.
    Replace,
}

impl Concurrency {
    /// The runs of the config that may be in flight at once under this
    /// policy (`None`: as many as its `max_concurrency` says).
    pub fn one_at_a_time(self) -> bool {
        matches!(self, Concurrency::BufferOne | Concurrency::Replace)
    }
}

/// Which outcomes of a config's runs are notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotifyOn {
    /// A run that failed for good (no retry follows).
    #[default]
    Failure,
    /// The first success after a failure.
    Recovery,
    /// Every final outcome.
    Always,
}

/// What started an execution attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Cron,
    Date,
    Manual,
    Retry,
    /// `POST /executions/{id}/replay`: a past run again, with its version and parameters.
    Replay,
    /// `POST /hooks/{config_id}`: a signed delivery, its body the payload.
    Webhook,
    /// `POST /schedules/{id}/backfill`: a past tick of the schedule.
    Backfill,
}

text_enum!(SchedulerType { Cron = "cron", Date = "date", Manual = "manual" });
text_enum!(Concurrency { Allow = "allow", Forbid = "forbid", BufferOne = "buffer_one", Replace = "replace" });
text_enum!(NotifyOn { Failure = "failure", Recovery = "recovery", Always = "always" });
text_enum!(Trigger {
    Cron = "cron",
    Date = "date",
    Manual = "manual",
    Retry = "retry",
    Replay = "replay",
    Webhook = "webhook",
    Backfill = "backfill",
});
