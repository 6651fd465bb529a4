//! One execution: fresh store, fresh instance, call, classify, drop.

use chrono::Utc;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::bindings::Context;
use super::capture::Capture;
use super::engine::TICK;
use super::http_door::{HttpDoor, HttpLimits};
use super::kv_door::KvDoor;
use super::outcome::result_json;
use super::prepare::Linked;
use super::redact::Redactor;
use super::state::{MemoryCap, RunState};
use super::verdict::{Captured, Ended, verdict};
use super::{Executor, Outcome, Prepared, RunRequest};
use crate::contract::kv::Bounds;
use crate::doors::outbound::AllowedHosts;

/// How often a long CPU-bound run hands its thread back to the async runtime.
const YIELD_EVERY_TICKS: u64 = 10;

/// What a plugin may touch beyond the bare sandbox (from its sidecar).
/// The default grants nothing.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Environment variables the guest sees.
    pub env: Vec<(String, String)>,
    /// Host directories mounted read-only.
    pub dirs: Vec<DirGrant>,
    /// Where it may send HTTP requests.
    pub outbound: Arc<AllowedHosts>,
    pub http_limits: HttpLimits,
    /// The key-value buckets it may open.
    pub buckets: Arc<[String]>,
    pub kv_bounds: Bounds,
    /// The names of the secrets it gets (the caller resolves their values
    /// into [`super::Doors`]).
    pub secrets: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct DirGrant {
    pub host: PathBuf,
    pub guest: String,
}

/// A plugin ready to run: its code, its identity and its grants.
#[derive(Clone)]
pub struct Runnable {
    pub task_type: String,
    pub digest: String,
    pub prepared: Prepared,
    pub grants: Grants,
}

impl Executor {
    /// Runs `plugin` once. Every failure, including a trap, a timeout, a
    /// memory-cap breach or a host-side error, is an unsuccessful outcome.
    pub async fn run(&self, plugin: &Runnable, req: RunRequest) -> Outcome {
        let (_keep, never) = watch::channel(None);
        self.run_cancellable(plugin, req, never).await
    }

    /// [`Executor::run`], stopped as soon as `cancel` holds who asked: the
    /// guest is dropped wherever it is (computing: at its next yield, within
    /// [`YIELD_EVERY_TICKS`] ticks; waiting in a host call: at once), and the
    /// outcome fails with [`super::CANCELLED`].
    pub async fn run_cancellable(
        &self,
        plugin: &Runnable,
        req: RunRequest,
        mut cancel: watch::Receiver<Option<String>>,
    ) -> Outcome {
        let _slot = self.shared.slots.acquire().await;
        let mut cancelled_by = None;
        let started_at = Utc::now();
        let start = Instant::now();
        let limits = req.limits;
        let redactor = Redactor::new(&req.doors.secrets);
        // Keep enough beyond the bound that a secret cut at it is still found.
        let kept = limits.max_output_bytes + redactor.longest();
        let stdout = Capture::new(kept);
        let stderr = Capture::new(kept);
        let log = Capture::new(kept);

        let (ended, memory_refused) = match self.build_wasi(plugin, &req, &stdout, &stderr) {
            Ok(wasi) => {
                let grants = &plugin.grants;
                let http_door = HttpDoor::new(
                    grants.outbound.clone(),
                    grants.http_limits,
                    start + limits.timeout,
                    log.clone(),
                    self.shared.tls.clone(),
                );
                let kv = match (&req.doors.kv, grants.buckets.is_empty()) {
                    (Some(store), false) => Some(KvDoor {
                        store: store.clone(),
                        buckets: grants.buckets.clone(),
                        bounds: grants.kv_bounds,
                    }),
                    _ => None,
                };
                let state = RunState {
                    wasi,
                    table: ResourceTable::new(),
                    memory: MemoryCap::new(limits.memory_bytes as usize),
                    log: log.clone(),
                    http: wasmtime_wasi_http::WasiHttpCtx::new(),
                    http_door,
                    kv,
                };
                let mut store = Store::new(self.engine(), state);
                store.limiter(|s| &mut s.memory);
                set_deadline(&mut store, start + limits.timeout);
                let _ticking = self.shared.ticker.hold();
                let call = call(&plugin.prepared, &mut store, &req, &plugin.task_type);
                // The epoch stops a guest that computes; this stops one that
                // waits in a host call (a sleep, a read).
                let deadline = tokio::time::timeout(limits.timeout, call);
                let asked = async {
                    let by = cancel.wait_for(Option::is_some).await.ok().and_then(|by| by.clone());
                    match by {
                        Some(by) => by,
                        // The sender is gone: nobody can cancel any more.
                        None => std::future::pending().await,
                    }
                };
                let ended = tokio::select! {
                    ended = deadline => ended.unwrap_or(Ended::TimedOut),
                    by = asked => {
                        cancelled_by = Some(by);
                        Ended::Cancelled
                    }
                };
                (ended, store.data().memory.refused)
            }
            Err(e) => (Ended::Error(e), None),
        };
        let elapsed = start.elapsed();
        let bound = limits.max_output_bytes;
        let captured = Captured {
            stdout: redacted(&stdout, bound, &redactor),
            stderr: redacted(&stderr, bound, &redactor),
            log: redacted(&log, bound, &redactor),
            memory_refused,
        };
        let (verdict, logs) = verdict(plugin.prepared.shape(), ended, captured, &limits, elapsed);
        let (is_success, result, error_message) = match verdict {
            Ok(text) => (true, Some(result_json(&redactor.apply(&text))), None),
            Err(message) => (false, None, Some(redactor.apply(&message))),
        };
        Outcome {
            is_success,
            result,
            error_message,
            logs,
            started_at,
            completed_at: Utc::now(),
            duration_seconds: elapsed.as_secs_f64(),
            plugin_digest: plugin.digest.clone(),
            cancelled_by,
        }
    }

    fn build_wasi(
        &self,
        plugin: &Runnable,
        req: &RunRequest,
        stdout: &Capture,
        stderr: &Capture,
    ) -> wasmtime::Result<wasmtime_wasi::WasiCtx> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone()).stderr(stderr.clone()).allow_tcp(false).allow_udp(false);
        for (key, value) in plugin.grants.env.iter().chain(&req.doors.secrets) {
            wasi.env(key, value);
        }
        for dir in &plugin.grants.dirs {
            wasi.preopened_dir(&dir.host, &dir.guest, FsPerms::ReadOnly)
                .map_err(|e| e.context(format!("opening granted dir {}", dir.host.display())))?;
        }
        if plugin.prepared.shape() == super::Shape::Command {
            let ctx = &req.context;
            wasi.arg(&plugin.task_type)
                .env("TASKBOX_PARAMS", &req.params)
                .env("TASKBOX_TASK_TYPE", &plugin.task_type)
                .env("TASKBOX_CONFIG_ID", &ctx.config_id)
                .env("TASKBOX_EXECUTION_ID", &ctx.execution_id)
                .env("TASKBOX_ATTEMPT", ctx.attempt.to_string())
                .env("TASKBOX_SCHEDULED_AT", rfc3339(ctx.scheduled_at))
                .stdin(MemoryInputPipe::new(req.params.clone()));
        }
        Ok(wasi.build())
    }
}

/// What a capture kept, with the run's secrets redacted, then cut to
/// `bound` (on a character boundary) with the cut counted.
fn redacted(capture: &Capture, bound: usize, redactor: &Redactor) -> (String, u64) {
    let (text, mut cut) = capture.take();
    let mut text = if redactor.is_empty() { text } else { redactor.apply(&text) };
    if text.len() > bound {
        let mut at = bound;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        cut += (text.len() - at) as u64;
        text.truncate(at);
    }
    (text, cut)
}

/// Interrupts the guest at `deadline`, and has it yield to the async runtime
/// every [`YIELD_EVERY_TICKS`] until then so long CPU-bound runs share threads.
fn set_deadline(store: &mut Store<RunState>, deadline: Instant) {
    store.set_epoch_deadline(ticks_until(deadline).min(YIELD_EVERY_TICKS));
    store.epoch_deadline_callback(move |_| {
        let left = ticks_until(deadline);
        Ok(if left == 0 {
            UpdateDeadline::Interrupt
        } else {
            UpdateDeadline::Yield(left.min(YIELD_EVERY_TICKS))
        })
    });
}

async fn call(prepared: &Prepared, store: &mut Store<RunState>, req: &RunRequest, task_type: &str) -> Ended {
    match &prepared.0 {
        Linked::Task(pre) => {
            let ctx = Context {
                task_type: task_type.to_owned(),
                config_id: req.context.config_id.clone(),
                execution_id: req.context.execution_id.clone(),
                attempt: req.context.attempt,
                scheduled_at: rfc3339(req.context.scheduled_at),
            };
            let task = match pre.instantiate_async(&mut *store).await {
                Ok(task) => task,
                Err(e) => return Ended::Error(e),
            };
            match task.call_run(&mut *store, &ctx, &req.params).await {
                Ok(r) => Ended::Returned(r),
                Err(e) => Ended::Error(e),
            }
        }
        Linked::Command(pre) => {
            let command = match pre.instantiate_async(&mut *store).await {
                Ok(c) => c,
                Err(e) => return Ended::Error(e),
            };
            match command.wasi_cli_run().call_run(&mut *store).await {
                Ok(r) => Ended::CommandExited(r),
                Err(e) => Ended::Error(e),
            }
        }
    }
}

/// Whole ticks left before `deadline`, rounded up.
fn ticks_until(deadline: Instant) -> u64 {
    let left = deadline.saturating_duration_since(Instant::now());
    left.as_nanos().div_ceil(TICK.as_nanos()) as u64
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
