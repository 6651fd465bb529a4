//! Where a run may go and how fast runs may start: worker groups and rate
//! limits, as a config or a task type's sidecar sets them. Words only;
//! the backends enforce them (see `contract::queue`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The group of a run whose config and task type name none.
pub const DEFAULT_GROUP: &str = "default";

/// The longest window a rate limit may name: a day.
pub const MAX_RATE_SECONDS: u32 = 86_400;
/// The most runs a rate limit may let start in one window.
pub const MAX_RATE_RUNS: u32 = 10_000;

/// At most `max` runs start in any window of `per_seconds` seconds, across
/// the fleet; more wait in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[schema(minimum = 1, maximum = 10000)]
    pub max: u32,
    #[schema(minimum = 1, maximum = 86400)]
    pub per_seconds: u32,
}

impl RateLimit {
    /// Why this limit cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if !(1..=MAX_RATE_RUNS).contains(&self.max) {
            return Some(format!("max = {}: must be between 1 and {MAX_RATE_RUNS}", self.max));
        }
        if !(1..=MAX_RATE_SECONDS).contains(&self.per_seconds) {
            return Some(format!(
                "per_seconds = {}: must be between 1 and {MAX_RATE_SECONDS}",
                self.per_seconds
            ));
        }
        None
    }

    /// The window in milliseconds.
    pub fn window_ms(&self) -> u64 {
        u64::from(self.per_seconds) * 1000
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} per {} s", self.max, self.per_seconds)
    }
}

/// Is `name` a worker group's name: 1 to 64 of `a-z 0-9 _ -`, starting
/// with a letter or digit?
pub fn is_valid_group(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
}

/// What a task type's sidecar says of its runs, stamped on each run of it
/// when it is queued.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TypeRule {
    /// Runs of the type in flight at once, fleet-wide.
    pub max_concurrency: Option<u32>,
    /// Runs of the type that may start per window, fleet-wide.
    pub rate_limit: Option<RateLimit>,
    /// The group its runs go to when their config names none.
    pub worker_group: Option<String>,
}

/// Each task type's rule, as the process that queues a run knows it.
pub type TypeRules = std::sync::Arc<dyn Fn(&str) -> TypeRule + Send + Sync>;

/// No task type has a rule.
pub fn no_type_rules() -> TypeRules {
    std::sync::Arc::new(|_| TypeRule::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names() {
        for good in ["default", "gpu", "eu-west_1", "0"] {
            assert!(is_valid_group(good), "{good}");
        }
        for bad in ["", "GPU", "-gpu", "a b", "a:b", "a/b", &"x".repeat(65)] {
            assert!(!is_valid_group(bad), "{bad}");
        }
    }

    #[test]
    fn rate_bounds() {
        assert!(RateLimit { max: 5, per_seconds: 2 }.problem().is_none());
        assert!(RateLimit { max: 0, per_seconds: 2 }.problem().unwrap().contains("max = 0"));
        assert!(RateLimit { max: 1, per_seconds: 0 }.problem().unwrap().contains("per_seconds = 0"));
        assert_eq!(RateLimit { max: 1, per_seconds: 1 }.to_string(), "1 per 1 s");
    }
}
