//! Startup reconciliation (the seed's startup rule): every non-manual config
//! with no schedule state at all is started; paused and stopped ones stay
//! as they are; an active config whose due entry is missing is repaired; and
//! schedule state left behind by deleted configs is removed.

use chrono::Utc;
use std::collections::HashSet;

use super::{SchedulerService, ServiceError};
use crate::contract::job::{Job, SchedulerType};
use crate::contract::schedule::backend::{EntryChange, Transition};
use crate::contract::schedule::{Action, HistoryEvent, ScheduleSpec, Status};

/// What reconciliation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub started: usize,
    pub repaired: usize,
    pub forgotten: usize,
}

impl SchedulerService {
    pub async fn reconcile(&self) -> Result<Reconciled, ServiceError> {
        let configs = self.store.all_configs().await?;
        let statuses = self.backend.statuses().await?;
        let due = self.backend.due_times().await?;
        let mut done = Reconciled::default();
        for config in &configs {
            if config.scheduler_type == SchedulerType::Manual {
                continue;
            }
            match statuses.get(&config.id) {
                None => match self.act(config.id, Action::Start).await {
                    Ok(_) => done.started += 1,
                    Err(e) => {
                        tracing::warn!(config = %config.id, error = %e, "cannot start config at startup")
                    }
                },
                Some(Status::Active) if !due.contains_key(&config.id) => {
                    let job = Job::of(config);
                    let next = match ScheduleSpec::of(&job) {
                        Ok(spec) => spec.first_fire(Utc::now()),
                        Err(e) => {
                            tracing::warn!(config = %config.id, error = %e, "active config has an invalid schedule");
                            continue;
                        }
                    };
                    if next.is_none() {
                        continue;
                    }
                    let event = HistoryEvent::new(
                        "repaired",
                        "due entry was missing; re-registered",
                        Some(Status::Active),
                    );
                    let entry = EntryChange::Set { job, next_run: next };
                    let repair = Transition::new(config.id, vec![Status::Active], None, entry, event);
                    self.backend.transition(repair).await?;
                    done.repaired += 1;
                }
                Some(_) => {}
            }
        }
        let known: HashSet<_> = configs.iter().map(|c| c.id).collect();
        for id in statuses.keys().chain(due.keys()).filter(|id| !known.contains(id)).collect::<HashSet<_>>() {
            self.backend.forget(*id).await?;
            done.forgotten += 1;
        }
        Ok(done)
    }
}
