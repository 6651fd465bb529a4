//! Bulk replay and cancel of runs chosen by a filter (admins only): a
//! replay of each matching recorded run (its latest attempt), at its exact
//! plugin version and parameters as a single replay does; a cancel of each
//! matching run in flight. At most [`MAX_BULK_RUNS`]; more is refused,
//! naming how many matched, before anything is done.

use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::runs::RecordRef;
use super::tokens::Actor;
use super::{App, AppError, validate};
use crate::store::{ConfigFilter, RunFilter};

/// Runs one bulk action may match, at most.
pub const MAX_BULK_RUNS: u64 = 10_000;
/// Runs replayed or cancelled at once.
const AT_ONCE: usize = 16;

/// What to do to each matching run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunsAction {
    /// Queue each recorded run again as it ran (trigger `replay`).
    Replay,
    /// Cancel each run queued or running.
    Cancel,
}

/// Which runs: all optional, combined with AND. A replay matches recorded
/// runs (by outcome and start time too); a cancel matches runs in flight,
/// which have neither yet, so it takes `config_id`, `task_type` and `tag`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsSelector {
    pub config_id: Option<Uuid>,
    pub task_type: Option<String>,
    pub is_success: Option<bool>,
    /// Started at or after.
    pub since: Option<DateTime<Utc>>,
    /// Started before.
    pub until: Option<DateTime<Utc>>,
    /// Of configs carrying this tag.
    pub tag: Option<String>,
}

/// What happened to one run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunOutcome {
    pub execution_id: Uuid,
    pub ok: bool,
    /// The run a replay queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_execution_id: Option<Uuid>,
    pub message: String,
}

/// What a bulk action did, per run and in totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunsDone {
    pub action: RunsAction,
    pub matched: usize,
    pub done: usize,
    pub refused: usize,
    pub results: Vec<RunOutcome>,
}

impl RunsDone {
    /// The totals of `results`.
    fn of(action: RunsAction, results: Vec<RunOutcome>) -> Self {
        let done = results.iter().filter(|r| r.ok).count();
        RunsDone { action, matched: results.len(), done, refused: results.len() - done, results }
    }
}

fn too_many(n: u64) -> AppError {
    AppError::invalid("filter", format!("matches {n} runs; a bulk action takes at most {MAX_BULK_RUNS}"))
}

impl App {
    /// Carries out `action` on every run `filter` matches.
    pub async fn act_on_runs(
        &self,
        actor: &Actor,
        action: RunsAction,
        filter: RunsSelector,
    ) -> Result<RunsDone, AppError> {
        if !actor.is_admin() {
            return Err(AppError::Forbidden("bulk actions on runs are for admin tokens only".into()));
        }
        if let Some(tag) = &filter.tag {
            validate::tag(tag)?;
        }
        let results = match action {
            RunsAction::Replay => self.replay_matching(filter).await?,
            RunsAction::Cancel => self.cancel_matching(actor, filter).await?,
        };
        Ok(RunsDone::of(action, results))
    }

    /// Replays every recorded run `f` matches, for a front end that
    /// checked its caller is an admin itself (the dashboard).
    pub async fn replay_in_bulk(&self, f: RunsSelector) -> Result<RunsDone, AppError> {
        Ok(RunsDone::of(RunsAction::Replay, self.replay_matching(f).await?))
    }

    async fn replay_matching(&self, f: RunsSelector) -> Result<Vec<RunOutcome>, AppError> {
        let filter = RunFilter {
            config_id: f.config_id,
            is_success: f.is_success,
            task_type: f.task_type,
            since: f.since,
            until: f.until,
            tag: f.tag,
        };
        let store = self.dashboard_store()?;
        let refs = store.run_refs(&filter, MAX_BULK_RUNS as u32 + 1).await?;
        if refs.len() as u64 > MAX_BULK_RUNS {
            return Err(too_many(store.count_runs(&filter).await?));
        }
        let replays = refs.into_iter().map(|(id, execution_id)| async move {
            match self.replay(RecordRef::Id(id)).await {
                Ok(new) => Ok(RunOutcome {
                    execution_id,
                    ok: true,
                    replay_execution_id: Some(new),
                    message: format!("replayed as {new}"),
                }),
                Err(AppError::Conflict(why) | AppError::NotFound(why)) => {
                    Ok(RunOutcome { execution_id, ok: false, replay_execution_id: None, message: why })
                }
                Err(e) => Err(e),
            }
        });
        stream::iter(replays).buffered(AT_ONCE).collect::<Vec<_>>().await.into_iter().collect()
    }

    async fn cancel_matching(&self, actor: &Actor, f: RunsSelector) -> Result<Vec<RunOutcome>, AppError> {
        for (given, field) in [
            (f.is_success.is_some(), "is_success"),
            (f.since.is_some(), "since"),
            (f.until.is_some(), "until"),
        ] {
            if given {
                return Err(AppError::invalid(
                    &format!("filter.{field}"),
                    "a cancel matches runs in flight, by config_id, task_type or tag",
                ));
            }
        }
        let owners: Vec<Uuid> = match (f.config_id, f.task_type.is_some() || f.tag.is_some()) {
            (Some(id), _) => vec![id],
            (None, false) => self.all_config_ids(ConfigFilter::default()).await?,
            (None, true) => {
                let filter =
                    ConfigFilter { task_type: f.task_type.clone(), tag: f.tag.clone(), ..Default::default() };
                self.all_config_ids(filter).await?
            }
        };
        let mut runs = Vec::new();
        for owner in owners {
            runs.extend(self.inner.queue.in_flight(owner).await?);
            if runs.len() as u64 > MAX_BULK_RUNS {
                return Err(too_many(runs.len() as u64));
            }
        }
        let cancels = runs.into_iter().map(|execution_id| async move {
            match self.cancel(execution_id, actor).await {
                Ok(done) => Ok(RunOutcome {
                    execution_id,
                    ok: true,
                    replay_execution_id: None,
                    message: done.message,
                }),
                Err(AppError::Conflict(why) | AppError::NotFound(why)) => {
                    Ok(RunOutcome { execution_id, ok: false, replay_execution_id: None, message: why })
                }
                Err(e) => Err(e),
            }
        });
        stream::iter(cancels).buffered(AT_ONCE).collect::<Vec<_>>().await.into_iter().collect()
    }

    /// The ids of every config `filter` matches, by name.
    async fn all_config_ids(&self, filter: ConfigFilter) -> Result<Vec<Uuid>, AppError> {
        let mut ids = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.store().configs_after(&filter, after.as_deref(), 500).await?;
            let Some(last) = page.last() else { return Ok(ids) };
            after = Some(last.name.clone());
            ids.extend(page.iter().map(|c| c.id));
        }
    }
}
