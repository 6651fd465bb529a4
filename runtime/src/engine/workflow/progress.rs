//! Where a workflow run stands, read from its records alone: each step's
//! status, the runs it is still waiting for, its result or why it failed,
//! and the run's outcome once there is one. Pure: the conductor decides
//! what to queue from it, and the application shows it.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::contract::job::workflow::{MAX_FAN_OUT, StepOf, Workflow};
use crate::store::{StoredExecution, WorkflowRun, WorkflowStatus};
use crate::support::text_enum::text_enum;

/// Where one step of a workflow run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Its parents have not all succeeded yet.
    Waiting,
    Queued,
    /// A worker holds one of its runs.
    Running,
    Succeeded,
    Failed,
    /// A step it waits for failed or was cancelled: it will not run.
    Skipped,
    Cancelled,
}

text_enum!(StepStatus {
    Waiting = "waiting",
    Queued = "queued",
    Running = "running",
    Succeeded = "succeeded",
    Failed = "failed",
    Skipped = "skipped",
    Cancelled = "cancelled",
});

/// One step's state.
#[derive(Debug, Clone, PartialEq)]
pub struct StepState {
    pub name: String,
    pub status: StepStatus,
    /// Every record of its runs (each attempt), by element and attempt.
    pub records: Vec<StoredExecution>,
    /// The runs it waits for (queued, running or to be retried).
    pub pending: Vec<StepOf>,
    /// Its result once it succeeded: its run's, or the array of its
    /// elements' results in order for a `for_each` step.
    pub result: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// Its runs belong to the failed run this one retries.
    pub reused: bool,
}

/// A workflow run's steps, in definition order.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub steps: Vec<StepState>,
}

/// What a workflow run's records are read with: the run itself (its steps'
/// retries set, `Conductor::conduct`) and the succeeded steps of the run
/// it retries (their records).
pub struct Reading<'a> {
    pub run: &'a WorkflowRun,
    pub reused: &'a BTreeMap<String, Vec<StoredExecution>>,
}

impl Progress {
    /// The state of every step of `reading.run` from its step `records`.
    pub fn of(reading: &Reading<'_>, records: Vec<StoredExecution>) -> Progress {
        let run = reading.run;
        let mut by_step: HashMap<String, Vec<StoredExecution>> = HashMap::new();
        for r in records {
            by_step.entry(r.record.step.clone().unwrap_or_default()).or_default().push(r);
        }
        let mut done: HashMap<String, StepState> = HashMap::new();
        // Definition order need not be the graph's: settle steps whose
        // parents are settled until all are (the graph has no cycle).
        while done.len() < run.workflow.steps.len() {
            let before = done.len();
            for step in &run.workflow.steps {
                if done.contains_key(&step.name) || !step.parents.iter().all(|p| done.contains_key(p)) {
                    continue;
                }
                let parents: Vec<&StepState> = step.parents.iter().map(|p| &done[p]).collect();
                let records = by_step.remove(&step.name).unwrap_or_default();
                let state = reading.step(&step.name, &parents, records);
                done.insert(step.name.clone(), state);
            }
            if done.len() == before {
                break;
            }
        }
        let steps = run.workflow.steps.iter().filter_map(|s| done.remove(&s.name)).collect();
        Progress { steps }
    }

    pub fn step(&self, name: &str) -> Option<&StepState> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// Steps whose parents all succeeded but that were not queued yet.
    pub fn ready(&self, run: &WorkflowRun) -> Vec<&StepState> {
        let queued = |name: &str| run.queued.iter().any(|q| q == name);
        self.steps.iter().filter(|s| !s.pending.is_empty() && !queued(&s.name)).collect()
    }

    /// The runs of queued steps that are not finished.
    pub fn in_flight<'a>(&'a self, run: &'a WorkflowRun) -> impl Iterator<Item = &'a StepOf> + 'a {
        let queued = |name: &str| run.queued.iter().any(|q| q == name);
        self.steps.iter().filter(move |s| queued(&s.name)).flat_map(|s| s.pending.iter())
    }

    /// The first step that failed or was cancelled for good.
    pub fn broken(&self) -> Option<&StepState> {
        self.steps.iter().find(|s| matches!(s.status, StepStatus::Failed | StepStatus::Cancelled))
    }

    /// The run's result: its one last step's, or each last step's by name.
    pub fn result(&self, workflow: &Workflow) -> Option<serde_json::Value> {
        let leaves = workflow.leaves();
        let of = |name: &str| self.step(name).and_then(|s| s.result.clone()).unwrap_or_default();
        match leaves.as_slice() {
            [one] => Some(of(&one.name)),
            many => {
                Some(serde_json::Value::Object(many.iter().map(|s| (s.name.clone(), of(&s.name))).collect()))
            }
        }
    }

    /// Every step succeeded.
    pub fn succeeded(&self) -> bool {
        self.steps.iter().all(|s| s.status == StepStatus::Succeeded)
    }

    /// The steps as a run that ended with `status` shows them: what never
    /// got to run is skipped (after a failure) or cancelled.
    pub fn ended(mut self, status: WorkflowStatus) -> Progress {
        for s in &mut self.steps {
            let unfinished =
                matches!(s.status, StepStatus::Waiting | StepStatus::Queued | StepStatus::Running);
            s.status = match (status, unfinished) {
                (WorkflowStatus::Cancelled, _) if unfinished || s.status == StepStatus::Skipped => {
                    StepStatus::Cancelled
                }
                (WorkflowStatus::Failed, true) => StepStatus::Skipped,
                _ => s.status,
            };
        }
        self
    }
}

impl Reading<'_> {
    fn step(&self, name: &str, parents: &[&StepState], records: Vec<StoredExecution>) -> StepState {
        let mut state = StepState {
            name: name.to_owned(),
            status: StepStatus::Waiting,
            records,
            pending: Vec::new(),
            result: None,
            error: None,
            reused: false,
        };
        if parents
            .iter()
            .any(|p| matches!(p.status, StepStatus::Failed | StepStatus::Skipped | StepStatus::Cancelled))
        {
            state.status = StepStatus::Skipped;
            return state;
        }
        if parents.iter().any(|p| p.status != StepStatus::Succeeded) {
            return state;
        }
        let Some(step) = self.run.workflow.step(name) else { return state };
        if let Some(records) = self.reused.get(name) {
            // Succeeded in the run this one retries: its results stand.
            let mut ok: Vec<&StoredExecution> = records.iter().filter(|r| r.record.is_success).collect();
            ok.sort_by_key(|r| r.record.step_index);
            let mut results: Vec<_> =
                ok.iter().map(|r| r.record.result.clone().unwrap_or_default()).collect();
            state.result = Some(match step.for_each {
                true => serde_json::Value::Array(results),
                false => results.pop().unwrap_or_default(),
            });
            state.records = records.clone();
            state.reused = true;
            state.status = StepStatus::Succeeded;
            return state;
        }
        let elements = match (step.for_each, parents.first()) {
            (true, Some(parent)) => match parent.result.as_ref() {
                Some(serde_json::Value::Array(items)) if items.len() <= MAX_FAN_OUT => {
                    (0..items.len() as u32).map(Some).collect()
                }
                Some(serde_json::Value::Array(items)) => {
                    return failed(
                        state,
                        format!(
                            "for_each: the result of step {:?} has {} elements; a step runs over at most {MAX_FAN_OUT}",
                            parent.name,
                            items.len()
                        ),
                    );
                }
                other => {
                    let kind = match other {
                        None | Some(serde_json::Value::Null) => "null",
                        Some(serde_json::Value::Object(_)) => "an object",
                        Some(serde_json::Value::String(_)) => "a string",
                        Some(serde_json::Value::Number(_)) => "a number",
                        Some(_) => "a boolean",
                    };
                    let why =
                        format!("for_each: the result of step {:?} is {kind}, not a JSON array", parent.name);
                    return failed(state, why);
                }
            },
            _ => vec![None],
        };
        let retries = step.max_retries.unwrap_or(0).max(0);
        let workflow_execution_id = self.run.execution_id;
        let mut results = Vec::with_capacity(elements.len());
        let (mut failure, mut cancelled) = (None, false);
        for index in elements {
            let of = StepOf { workflow_execution_id, step: name.to_owned(), index };
            let id = of.execution_id();
            let latest = state
                .records
                .iter()
                .map(|r| &r.record)
                .filter(|r| r.execution_id == id)
                .max_by_key(|r| r.attempt);
            match latest {
                Some(r) if r.is_success => results.push(r.result.clone().unwrap_or_default()),
                Some(r) if r.cancelled_by.is_some() => cancelled = true,
                Some(r) if r.attempt > retries => {
                    let error = r.error_message.clone().unwrap_or_else(|| "failed".into());
                    failure.get_or_insert(match index {
                        Some(i) => format!("element {i}: {error}"),
                        None => error,
                    });
                }
                _ => state.pending.push(of),
            }
        }
        if let Some(error) = failure {
            return failed(state, error);
        }
        if cancelled {
            state.status = StepStatus::Cancelled;
        } else if state.pending.is_empty() {
            state.status = StepStatus::Succeeded;
            state.result = Some(match step.for_each {
                true => serde_json::Value::Array(results),
                false => results.pop().unwrap_or_default(),
            });
        } else if self.run.queued.iter().any(|q| q == name) {
            state.status = StepStatus::Queued;
        }
        state
    }
}

fn failed(mut state: StepState, error: String) -> StepState {
    state.status = StepStatus::Failed;
    state.error = Some(error);
    state
}

/// The id of every pending run (for asking the queue which are held).
pub fn pending_ids(progress: &Progress) -> Vec<Uuid> {
    progress.steps.iter().flat_map(|s| s.pending.iter().map(StepOf::execution_id)).collect()
}
