//! What a step run is: its job (the step's task type, params, deadline and
//! retries; none of the config's limits, which hold the workflow run as a
//! whole) and its queued run, keyed so that queueing it again does nothing.

use chrono::Utc;
use futures::StreamExt;
use std::collections::BTreeMap;

use super::Conductor;
use super::progress::StepState;
use crate::contract::BackendError;
use crate::contract::job::workflow::{Step, StepOf, params_of};
use crate::contract::job::{Concurrency, Job, QueuedRun};
use crate::contract::schedule::backend::Once;

/// Step runs queued at once (a fan-out's elements go in parallel).
const QUEUE_AT_ONCE: usize = 32;

impl Conductor {
    /// Queues the pending runs of `state`'s step (each at most once,
    /// whoever asks), fed by the results of the steps before it.
    pub(super) async fn queue_step(
        &self,
        conducting: &QueuedRun,
        state: &StepState,
        run_parameters: &serde_json::Value,
        results: &BTreeMap<String, serde_json::Value>,
    ) -> Result<(), BackendError> {
        let Some(workflow) = &conducting.job.workflow else { return Ok(()) };
        let Some(step) = workflow.step(&state.name) else { return Ok(()) };
        let params = params_of(step, run_parameters, results);
        let mut runs = Vec::with_capacity(state.pending.len());
        for of in &state.pending {
            // A `for_each` step's params (its parent's result) is the array
            // whose elements its runs are given.
            let params = match of.index {
                Some(i) => params.get(i as usize).cloned().unwrap_or_default(),
                None => params.clone(),
            };
            runs.push(self.step_run(conducting, step, of, &params));
        }
        let queued: Vec<Result<_, BackendError>> = futures::stream::iter(runs)
            .map(|(run, once)| async move { self.backend.enqueue(run, None, Some(&once)).await })
            .buffer_unordered(QUEUE_AT_ONCE)
            .collect()
            .await;
        queued.into_iter().try_for_each(|q| q.map(|_| ()))
    }

    /// One run of `step`, and the key it is queued with.
    fn step_run(
        &self,
        conducting: &QueuedRun,
        step: &Step,
        of: &StepOf,
        params: &serde_json::Value,
    ) -> (QueuedRun, Once) {
        let parent = &conducting.job;
        let mut job = Job {
            task_type: step.task_type.clone(),
            parameters: params.to_string(),
            timeout_seconds: step.timeout_seconds.or(parent.timeout_seconds),
            max_retries: step.max_retries.unwrap_or(parent.max_retries),
            concurrency: Concurrency::Allow,
            plugin_digest: None,
            max_concurrency: None,
            type_max_concurrency: None,
            rate_limit: None,
            type_rate_limit: None,
            notify: None,
            workflow: None,
            ..parent.clone()
        };
        job.stamp((self.type_rules)(&step.task_type));
        let run = QueuedRun {
            execution_id: of.execution_id(),
            attempt: 1,
            trigger: conducting.trigger,
            scheduled_at: Utc::now(),
            job,
            ahead: false,
            cancelled_by: None,
            step: Some(of.clone()),
            retry_of: None,
            // In the trace of the workflow run, as its conductor is.
            trace: conducting.trace.clone(),
        };
        (run, Once { key: of.once_key(), fingerprint: String::new() })
    }
}
