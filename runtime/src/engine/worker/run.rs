//! One run: held until due if fired ahead (and dropped if its schedule
//! changed first), recorded as cancelled if it was, taken as committed if a
//! reclaim finds its record, else run in the executor with its plugin's
//! limits and doors; turned into its record.

use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tracing::Instrument;

use super::Worker;
use super::commit::Finished;
use crate::contract::job::QueuedRun;
use crate::contract::queue::{Delivery, Settle};
use crate::executor::{CANCELLED, Outcome, RunContext, RunRequest};
use crate::store::ExecutionRecord;

/// A run handed out this many times (its workers kept dying) is recorded
/// as a failure instead of being run again.
const MAX_DELIVERIES: u64 = 3;

impl Worker {
    /// Waits until a run fired ahead of time is due, drops it if its
    /// schedule changed meanwhile, and runs it otherwise.
    pub(super) async fn hold_then_run(
        &self,
        delivery: Delivery,
        permits: Arc<Semaphore>,
        cancel: watch::Receiver<Option<String>>,
    ) -> Finished {
        if let Some(dropped) = self.when_due(&delivery).await {
            return dropped;
        }
        let _permit = permits.acquire_owned().await.expect("never closed");
        self.run_one(delivery, cancel).await
    }

    /// Waits until a run fired ahead of time is due; answers it as dropped
    /// (nothing to record) if its schedule changed meanwhile.
    async fn when_due(&self, delivery: &Delivery) -> Option<Finished> {
        if !delivery.run.ahead {
            return None;
        }
        let wait = (delivery.run.scheduled_at - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        let current = match self.queue.still_current(&[&delivery.run]).await {
            Ok(current) => current[0],
            // Cannot tell: run it (at least once) rather than lose it.
            Err(_) => true,
        };
        if current {
            return None;
        }
        let run = &delivery.run;
        tracing::info!(config = %run.job.config_id, due = %run.scheduled_at,
            "dropping a run fired ahead of time: its schedule changed before it was due");
        Some(Finished {
            record: None,
            settle: Settle::of(delivery.band, delivery.handle.clone(), run),
            notify: None,
            span: tracing::Span::none(),
        })
    }

    /// Runs one delivery in its span (`run`: a child of the span that
    /// queued it, through the W3C context it carries), which says what ran,
    /// where and how it ended, with the guest's log lines as its events.
    pub(super) async fn run_one(
        &self,
        delivery: Delivery,
        cancel: watch::Receiver<Option<String>>,
    ) -> Finished {
        let run = &delivery.run;
        let span = tracing::info_span!(
            "run",
            otel.name = %format!("run {}", run.job.task_type),
            task_type = %run.job.task_type,
            config_id = %run.job.config_id,
            execution_id = %run.execution_id,
            attempt = run.attempt,
            worker = %self.name,
            digest = tracing::field::Empty,
            is_success = tracing::field::Empty,
        );
        crate::support::trace::follow(&span, run.trace.as_deref());
        let finished = self.run_traced(delivery, cancel).instrument(span.clone()).await;
        if let Some(record) = &finished.record {
            span.record("digest", record.plugin_digest.as_deref().unwrap_or_default());
            span.record("is_success", record.is_success);
            crate::support::trace::log_lines(&span, &record.logs);
        }
        Finished { span, ..finished }
    }

    async fn run_traced(&self, delivery: Delivery, cancel: watch::Receiver<Option<String>>) -> Finished {
        let Delivery { band, handle, deliveries, run } = delivery;
        let mut settle = Settle::of(band, handle, &run);
        let notify = run.job.notify;
        let attempt = run.attempt as i32;
        // Cancelled before it started (a marker, or while it waited here):
        // recorded as such, never run.
        let cancelled = run.cancelled_by.clone().or_else(|| cancel.borrow().clone());
        if let Some(by) = cancelled {
            let mut outcome = lost(CANCELLED.into(), Utc::now());
            outcome.cancelled_by = Some(by);
            return Finished {
                record: Some(self.record(&run, outcome, None)),
                settle,
                notify,
                span: tracing::Span::current(),
            };
        }
        if deliveries > 1 {
            // Reclaimed from a worker that stopped: if it got as far as the
            // record, only the acknowledgement is missing.
            if let Ok(Some(stored)) = self.store.find_attempt(run.execution_id, attempt).await {
                let stopped = stored.record.is_success || stored.record.cancelled_by.is_some();
                settle.retry = self.retry_of(&run, stopped);
                return Finished {
                    record: Some(stored.record),
                    settle,
                    notify,
                    span: tracing::Span::current(),
                };
            }
        }
        let started_at = Utc::now();
        let mut timeout_seconds = None;
        let outcome = if deliveries > MAX_DELIVERIES {
            lost(
                format!("the workers running it stopped {} times; not run again", deliveries - 1),
                started_at,
            )
        } else {
            match self.plugins.resolve(&run.job.task_type, run.job.plugin_digest.as_deref()).await {
                Ok(plugin) => match self.doors.open(&plugin.runnable.grants).await {
                    Ok(doors) => {
                        let timeout = run.job.timeout_seconds.map(Duration::from_secs_f64);
                        let limits = plugin.limits(timeout, None);
                        timeout_seconds = Some(limits.timeout.as_secs_f64());
                        let request = RunRequest {
                            context: RunContext {
                                config_id: run.job.config_id.to_string(),
                                execution_id: run.execution_id.to_string(),
                                attempt: run.attempt,
                                scheduled_at: run.scheduled_at,
                            },
                            params: run.job.parameters.clone(),
                            limits,
                            doors,
                        };
                        self.executor.run_cancellable(&plugin.runnable, request, cancel).await
                    }
                    Err(message) => lost(message, started_at),
                },
                Err(message) => lost(message, started_at),
            }
        };
        // A cancelled run is not retried.
        settle.retry = self.retry_of(&run, outcome.is_success || outcome.cancelled_by.is_some());
        let outcome_label = if outcome.is_success { "success" } else { "failure" };
        metrics::counter!("taskbox_runs_total", "task_type" => run.job.task_type.clone(), "outcome" => outcome_label)
            .increment(1);
        metrics::histogram!("taskbox_run_duration_seconds", "task_type" => run.job.task_type.clone())
            .record(outcome.duration_seconds);
        Finished {
            record: Some(self.record(&run, outcome, timeout_seconds)),
            settle,
            notify,
            span: tracing::Span::current(),
        }
    }

    fn record(&self, run: &QueuedRun, o: Outcome, timeout_seconds: Option<f64>) -> ExecutionRecord {
        ExecutionRecord {
            config_id: Some(run.job.config_id),
            execution_id: run.execution_id,
            attempt: run.attempt as i32,
            trigger: run.trigger,
            task_type: run.job.task_type.clone(),
            scheduled_at: run.scheduled_at,
            started_at: o.started_at,
            completed_at: o.completed_at,
            duration_seconds: o.duration_seconds,
            is_success: o.is_success,
            result: o.result,
            error_message: o.error_message,
            logs: o.logs,
            plugin_digest: (!o.plugin_digest.is_empty()).then_some(o.plugin_digest),
            worker: self.name.clone(),
            // Kept as given, so the record alone can replay the run.
            parameters: serde_json::from_str(&run.job.parameters).ok(),
            timeout_seconds,
            cancelled_by: o.cancelled_by,
            workflow_execution_id: run.step.as_ref().map(|s| s.workflow_execution_id),
            step: run.step.as_ref().map(|s| s.step.clone()),
            step_index: run.step.as_ref().and_then(|s| s.index).map(|i| i as i32),
        }
    }

    /// Conducts a workflow run (no sandbox slot: it only queues and reads),
    /// once it is due if it was fired ahead, and answers its record; `None` if the worker stops first, leaving
    /// the run on the queue for another worker to take over.
    pub(super) async fn conduct_one(
        &self,
        delivery: Delivery,
        cancel: watch::Receiver<Option<String>>,
        shutdown: watch::Receiver<bool>,
    ) -> Option<Finished> {
        if let Some(dropped) = self.when_due(&delivery).await {
            return Some(dropped);
        }
        let Delivery { band, handle, run, .. } = delivery;
        let settle = Settle::of(band, handle, &run);
        let notify = run.job.notify;
        let Some(conductor) = &self.conductor else {
            let outcome =
                lost("this worker cannot conduct workflow runs (no schedule backend)".into(), Utc::now());
            return Some(Finished {
                record: Some(self.record(&run, outcome, None)),
                settle,
                notify,
                span: tracing::Span::current(),
            });
        };
        // Cancelled while it waited: its steps (queued by a conductor
        // before, if any) are cancelled all the same.
        // (The sender lives as long as the conducting: a closed channel
        // would wake the conductor again and again.)
        let mut marker = None;
        let cancel = match &run.cancelled_by {
            Some(by) => marker.insert(watch::channel(Some(by.clone()))).1.clone(),
            None => cancel,
        };
        let record = conductor.conduct(&run, &self.name, cancel, shutdown).await;
        drop(marker);
        let record = record?;
        Some(Finished { record: Some(record), settle, notify, span: tracing::Span::current() })
    }
}

/// An outcome for a run that never reached the sandbox.
fn lost(message: String, started_at: DateTime<Utc>) -> Outcome {
    Outcome {
        is_success: false,
        result: None,
        error_message: Some(message),
        logs: String::new(),
        started_at,
        completed_at: Utc::now(),
        duration_seconds: 0.0,
        plugin_digest: String::new(),
        cancelled_by: None,
    }
}
