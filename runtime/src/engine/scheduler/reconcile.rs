//! Reconciliation: the schedule backend made to agree with the config
//! store. At startup (the seed's rule), and again at once when the
//! backend's state is found lost (a Redis without persistence restarted:
//! [`watch_state`]):
//!
//! - a config with no schedule state at all is given the status its user
//!   last chose, as the config store keeps it (active, paused until a time
//!   or for good, stopped or created without auto_start), with a
//!   `restored` history event; one with no decision kept is started (the
//!   seed's startup rule);
//! - an active config whose due entry is missing is repaired;
//! - schedule state left behind by deleted configs is removed.
//!
//! What a lost state cannot give back: the history and counters, runs
//! that were queued in it (their records exist only if they ran), parked
//! retries, and plugins' key-value data kept in the same Redis.

use chrono::Utc;
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

use super::{SchedulerService, ServiceError};
use crate::contract::job::{Job, SchedulerType};
use crate::contract::schedule::backend::{EntryChange, Transition};
use crate::contract::schedule::{Action, HistoryEvent, ScheduleSpec, Status};
use crate::store::{Intent, TaskConfig};

/// How often a scheduler checks that the backend still holds its state.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// What reconciliation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub started: usize,
    pub restored: usize,
    pub repaired: usize,
    pub forgotten: usize,
}

impl SchedulerService {
    pub async fn reconcile(&self) -> Result<Reconciled, ServiceError> {
        let configs = self.store.all_configs().await?;
        let statuses = self.backend.statuses().await?;
        let due = self.backend.due_times().await?;
        let intents = match &self.intents {
            Some(store) => store.intents().await?,
            None => Default::default(),
        };
        let mut done = Reconciled::default();
        for config in &configs {
            if config.scheduler_type == SchedulerType::Manual {
                continue;
            }
            match (statuses.get(&config.id), intents.get(&config.id)) {
                (None, Some(intent)) => match self.restore(config, *intent).await {
                    Ok(()) => done.restored += 1,
                    Err(e) => tracing::warn!(config = %config.id, error = %e, "cannot restore a schedule"),
                },
                (None, None) => match self.act(config.id, Action::Start).await {
                    Ok(_) => done.started += 1,
                    Err(e) => {
                        tracing::warn!(config = %config.id, error = %e, "cannot start config at startup")
                    }
                },
                (Some(Status::Active), _) if !due.contains_key(&config.id) => {
                    if self.repair(config).await? {
                        done.repaired += 1;
                    }
                }
                (Some(_), _) => {}
            }
        }
        let known: HashSet<_> = configs.iter().map(|c| c.id).collect();
        for id in statuses.keys().chain(due.keys()).filter(|id| !known.contains(id)).collect::<HashSet<_>>() {
            self.backend.forget(*id).await?;
            done.forgotten += 1;
        }
        Ok(done)
    }

    /// Gives a config with no state the status `intent` says, in one step.
    async fn restore(&self, config: &TaskConfig, intent: Intent) -> Result<(), ServiceError> {
        let job = Job::of(config);
        let spec = ScheduleSpec::of(&job)?;
        let now = Utc::now();
        let (to, entry, resume_at) = match intent {
            Intent::Paused(Some(until)) if until <= now => (Status::Active, None, None),
            Intent::Active => (Status::Active, None, None),
            Intent::Paused(until) => {
                (Status::Paused, Some(EntryChange::Set { job: job.clone(), next_run: None }), until)
            }
            Intent::Inactive => (Status::Inactive, Some(EntryChange::Keep), None),
        };
        let (to, entry) = match (to, entry) {
            (Status::Active, _) => match spec.first_fire(now) {
                Some(next) => (Status::Active, EntryChange::Set { job, next_run: Some(next) }),
                // A date that passed meanwhile: nothing is left to fire.
                None => (Status::Inactive, EntryChange::Keep),
            },
            (to, entry) => (to, entry.unwrap_or(EntryChange::Keep)),
        };
        let message = format!("the schedule state was lost; restored as {to} from the config store");
        let event = HistoryEvent::new("restored", message, Some(to));
        let mut restore = Transition::new(config.id, vec![Status::Inactive], Some(to), entry, event);
        restore.resume_at = resume_at;
        self.backend.transition(restore).await?;
        Ok(())
    }

    /// Re-registers an active config whose due entry is missing; false if
    /// it has no fire time left.
    async fn repair(&self, config: &TaskConfig) -> Result<bool, ServiceError> {
        let job = Job::of(config);
        let next = match ScheduleSpec::of(&job) {
            Ok(spec) => spec.first_fire(Utc::now()),
            Err(e) => {
                tracing::warn!(config = %config.id, error = %e, "active config has an invalid schedule");
                return Ok(false);
            }
        };
        if next.is_none() {
            return Ok(false);
        }
        let event =
            HistoryEvent::new("repaired", "due entry was missing; re-registered", Some(Status::Active));
        let entry = EntryChange::Set { job, next_run: next };
        let repair = Transition::new(config.id, vec![Status::Active], None, entry, event);
        self.backend.transition(repair).await?;
        Ok(true)
    }
}

/// Watches that the schedule backend still holds its state (a marker it
/// keeps; see `ScheduleBackend::state_marker`) until `shutdown`; when the
/// marker is gone, the state went with it: logged, and reconciled from the
/// config store at once. Of several schedulers, the one that sets the new
/// marker first restores; the others see it set.
#[tracing::instrument(skip_all, name = "state_watch")]
pub async fn watch_state(service: SchedulerService, mut shutdown: watch::Receiver<bool>) {
    let (mut seen, mut restoring) = (false, false);
    while !*shutdown.borrow() {
        let fresh = Uuid::new_v4().to_string();
        match service.backend.state_marker(&fresh).await {
            Ok(Some(_)) => seen = true,
            Ok(None) => {
                if seen {
                    tracing::warn!(
                        "the schedule state was lost (the schedule backend lost its data); restoring it from the config store"
                    );
                    restoring = true;
                }
                seen = true;
            }
            Err(_) => {}
        }
        if restoring {
            match service.reconcile().await {
                Ok(done) => {
                    restoring = false;
                    tracing::info!(
                        restored = done.restored,
                        started = done.started,
                        repaired = done.repaired,
                        "restored the schedule state"
                    );
                }
                Err(e) => tracing::error!(error = %e, "cannot restore the schedule state yet; trying again"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(WATCH_EVERY) => {}
            changed = shutdown.changed() => if changed.is_err() { return },
        }
    }
}
