//! The words a config and a run are described by: when a config runs by
//! itself, what to do with an overlapping tick, what started an attempt.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::text_enum::text_enum;

/// When a config runs by itself (the seed's `SchedulerType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerType {
    Cron,
    Date,
    Manual,
}

/// What to do with a tick while a run of the same config is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Concurrency {
    #[default]
    Allow,
    Forbid,
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
}

text_enum!(SchedulerType { Cron = "cron", Date = "date", Manual = "manual" });
text_enum!(Concurrency { Allow = "allow", Forbid = "forbid" });
text_enum!(Trigger { Cron = "cron", Date = "date", Manual = "manual", Retry = "retry", Replay = "replay" });
