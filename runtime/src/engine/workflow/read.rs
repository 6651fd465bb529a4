//! Reading a workflow run as it stands, for the conductor and for anyone
//! who shows it: its row, the steps it reuses from the run it retries, and
//! where each step is (`Progress`).

use futures::future::BoxFuture;
use std::collections::BTreeMap;
use uuid::Uuid;

use super::progress::{Progress, Reading, StepStatus};
use crate::store::{ConfigStore, StoreError, StoredExecution, WorkflowRun, WorkflowStatus};

/// The records of each step a retry reuses, by step.
pub type Reused = BTreeMap<String, Vec<StoredExecution>>;

/// The records of the steps that succeeded in `run` (there, or in the run
/// it retried in turn): what a retry of it reuses.
pub fn succeeded_steps(store: &dyn ConfigStore, run: Uuid) -> BoxFuture<'_, Result<Reused, StoreError>> {
    Box::pin(async move {
        let Some((_, progress)) = read(store, run).await? else { return Ok(BTreeMap::new()) };
        let steps = progress.steps.into_iter();
        Ok(steps.filter(|s| s.status == StepStatus::Succeeded).map(|s| (s.name, s.records)).collect())
    })
}

/// A workflow run and where its steps are (as an ended run shows them,
/// once it ended); `None` if there is no such run.
pub async fn read(store: &dyn ConfigStore, id: Uuid) -> Result<Option<(WorkflowRun, Progress)>, StoreError> {
    let Some(wf) = store.workflow_run(id).await? else { return Ok(None) };
    let reused = match wf.retry_of {
        Some(older) => succeeded_steps(store, older).await?,
        None => BTreeMap::new(),
    };
    let records = store.step_records(id).await?;
    let progress = Progress::of(&Reading { run: &wf, reused: &reused }, records);
    let progress = match wf.status {
        WorkflowStatus::Running => progress,
        ended => progress.ended(ended),
    };
    Ok(Some((wf, progress)))
}
