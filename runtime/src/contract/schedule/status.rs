//! The schedule status machine (the seed's `ScheduleAction`), as pure rules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A config's schedule status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Inactive,
    Active,
    Paused,
    Error,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Inactive, Status::Active, Status::Paused, Status::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Inactive => "inactive",
            Status::Active => "active",
            Status::Paused => "paused",
            Status::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an operator can do to a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Start,
    Stop,
    Pause,
    Resume,
    Reload,
}

impl Action {
    pub const ALL: [Action; 5] = [Action::Start, Action::Stop, Action::Pause, Action::Resume, Action::Reload];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Reload => "reload",
        }
    }

    /// The action of this name, if there is one.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// Does this action apply to a schedule in `status`?
    pub fn applies_to(self, status: Status) -> bool {
        self.rule().0.contains(&status)
    }

    /// The statuses this action applies to, and the status it leads to.
    /// `reload` keeps the status it finds.
    pub fn rule(self) -> (&'static [Status], Option<Status>) {
        use Status::*;
        match self {
            Action::Start => (&[Inactive, Error], Some(Active)),
            Action::Pause => (&[Active], Some(Paused)),
            Action::Resume => (&[Paused], Some(Active)),
            Action::Stop => (&[Inactive, Active, Paused, Error], Some(Inactive)),
            Action::Reload => (&[Inactive, Active, Paused, Error], None),
        }
    }
}

/// An action that does not apply to the current status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot {action} a schedule that is {current}")]
pub struct TransitionError {
    pub action: &'static str,
    pub current: Status,
}

/// One entry of a config's schedule history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryEvent {
    pub at: DateTime<Utc>,
    /// `registered`, `started`, `paused`, `resumed`, `stopped`, `reloaded`,
    /// `fired`, `skipped`, `misfired`, `completed`, `error`, `run_requested`,
    /// `plugin` (its plugin file was loaded, replaced, broken or removed),
    /// `cancelled` (a run of it was cancelled), `replaced` (a tick cancelled
    /// the runs in flight: `concurrency = replace`).
    pub event: String,
    pub message: String,
    /// The status after the event.
    pub status: Option<Status>,
}

impl HistoryEvent {
    pub fn new(event: &str, message: impl Into<String>, status: Option<Status>) -> Self {
        Self { at: Utc::now(), event: event.to_owned(), message: message.into(), status }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_machine_matches_the_seed() {
        use Status::*;
        let applies = |a: Action, s: Status| a.rule().0.contains(&s);
        assert!(applies(Action::Start, Inactive) && applies(Action::Start, Error));
        assert!(!applies(Action::Start, Active) && !applies(Action::Start, Paused));
        assert!(applies(Action::Pause, Active) && !applies(Action::Pause, Paused));
        assert!(applies(Action::Resume, Paused) && !applies(Action::Resume, Active));
        assert!(Status::ALL.iter().all(|&s| applies(Action::Stop, s) && applies(Action::Reload, s)));
    }
}
