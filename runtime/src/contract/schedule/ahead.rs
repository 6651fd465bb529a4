//! The fired-ahead protocol: how a run settled before it is due is dropped
//! if its schedule changed first. One rule, stated and decided here; the
//! parts below only keep the data it reads.
//!
//! 1. **Firing early.** The fire loop settles due entries up to
//!    [`LOOKAHEAD`] before their due time (so a large fleet firing on one
//!    second is on the queue by then) and marks such runs `ahead`. Each run
//!    carries the job revision of the snapshot it was fired from.
//! 2. **The stamp.** Every backend keeps a [`Stamp`] per config: its status,
//!    the revision of the job its entry holds, and `changed_at`, the time of
//!    its last transition (start, pause, resume, stop, reload, repair), set
//!    in the same atomic step as the transition. A new snapshot (start,
//!    reload) gets a new revision; stop and remove clear it.
//! 3. **The natural end is no change.** When a fire ends a schedule (a date
//!    job's only tick, a cron's last), its status leaves `active`, but that
//!    is not a change made before the run was due: the fire raises
//!    `changed_at` to at least the run's due time, in the same step.
//! 4. **Holding.** A worker holds an `ahead` run, without a slot, until its
//!    due time, then asks the queue for the config's stamp and calls
//!    [`still_current`]: the run goes ahead if the schedule is still active
//!    with the same revision, or if the last change came at or after the
//!    due time (a change after a run was due does not cancel it). A config
//!    with no stamp at all was deleted: the run is dropped.
//! 5. **Doubt runs it.** If the backend cannot be asked, the worker runs it
//!    (at least once, never lost).
//!
//! The Redis backend keeps the stamp in the `status`, `revisions` and
//! `changed` hashes (`transition.lua` and `fire.lua` write them); the local
//! backend in `local_schedules (status, revision, changed_ms)`.

use chrono::{DateTime, Utc};
use std::time::Duration;

use super::Status;
use crate::contract::job::QueuedRun;

/// How far ahead of its due time an entry is settled.
pub const LOOKAHEAD: Duration = Duration::from_secs(1);

/// What a backend keeps of a config for this rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub status: Status,
    /// The revision of the job in the config's entry, if it has one.
    pub revision: Option<u64>,
    /// The last transition (or the due time of the fire that ended the
    /// schedule, if later); `None` if never recorded.
    pub changed_at: Option<DateTime<Utc>>,
}

/// Should `run`, fired ahead of its time, still run now that it is due?
/// `stamp` is `None` when the backend has no trace of the config.
pub fn still_current(stamp: Option<&Stamp>, run: &QueuedRun) -> bool {
    let Some(stamp) = stamp else { return false };
    let unchanged = stamp.status == Status::Active && stamp.revision == Some(run.job.revision);
    let changed_after_due = stamp.changed_at.is_some_and(|at| at >= run.scheduled_at);
    unchanged || changed_after_due
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::job::{Concurrency, Job, SchedulerType, Trigger};

    fn run(revision: u64, due: DateTime<Utc>) -> QueuedRun {
        let job = Job {
            config_id: uuid::Uuid::nil(),
            task_type: "echo".into(),
            parameters: "{}".into(),
            scheduler_type: SchedulerType::Cron,
            schedule_config: serde_json::json!({}),
            timeout_seconds: None,
            max_retries: 0,
            priority: 0,
            misfire_grace_seconds: 60,
            concurrency: Concurrency::Allow,
            plugin_digest: None,
            max_concurrency: None,
            type_max_concurrency: None,
            rate_limit: None,
            type_rate_limit: None,
            worker_group: None,
            notify: None,
            revision,
            workflow: None,
        };
        QueuedRun {
            execution_id: uuid::Uuid::nil(),
            attempt: 1,
            trigger: Trigger::Cron,
            scheduled_at: due,
            job,
            ahead: true,
            cancelled_by: None,
            step: None,
            retry_of: None,
            trace: None,
        }
    }

    #[test]
    fn a_run_is_dropped_only_for_a_change_before_it_was_due() {
        let due = Utc::now();
        let before = Some(due - chrono::Duration::milliseconds(500));
        let after = Some(due + chrono::Duration::milliseconds(1));
        let stamp = |status, revision, changed_at| Stamp { status, revision, changed_at };
        let r = run(7, due);
        assert!(still_current(Some(&stamp(Status::Active, Some(7), before)), &r), "unchanged");
        assert!(!still_current(Some(&stamp(Status::Paused, Some(7), before)), &r), "paused first");
        assert!(!still_current(Some(&stamp(Status::Active, Some(8), before)), &r), "reloaded first");
        assert!(!still_current(Some(&stamp(Status::Inactive, None, before)), &r), "stopped first");
        assert!(still_current(Some(&stamp(Status::Paused, Some(7), after)), &r), "paused after due");
        assert!(still_current(Some(&stamp(Status::Inactive, Some(7), Some(due))), &r), "natural end");
        assert!(!still_current(None, &r), "deleted");
    }
}
