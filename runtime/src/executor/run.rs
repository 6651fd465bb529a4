//! One execution: fresh store, fresh instance, call, classify, drop.

use chrono::Utc;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use super::bindings::Context;
use super::capture::Capture;
use super::engine::TICK;
use super::outcome::result_json;
use super::prepare::Linked;
use super::state::{MemoryCap, RunState};
use super::{Executor, Outcome, Prepared, RunRequest};

const COMMAND_FAILED: &str = "the command exited with a failure status (its WASI exit carried no code)";

/// How often a long CPU-bound run hands its thread back to the async runtime.
const YIELD_EVERY_TICKS: u64 = 10;

/// What a plugin may touch beyond the bare sandbox (from its sidecar).
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Environment variables the guest sees.
    pub env: Vec<(String, String)>,
    /// Host directories mounted read-only.
    pub dirs: Vec<DirGrant>,
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

/// How the call itself ended, before it is judged.
enum Ended {
    Returned(Result<String, String>),
    CommandExited(Result<(), ()>),
    Error(wasmtime::Error),
    TimedOut,
}

impl Executor {
    /// Runs `plugin` once. Every failure, including a trap, a timeout, a
    /// memory-cap breach or a host-side error, is an unsuccessful outcome.
    pub async fn run(&self, plugin: &Runnable, req: RunRequest) -> Outcome {
        let _slot = self.shared.slots.acquire().await;
        let started_at = Utc::now();
        let start = Instant::now();
        let limits = req.limits;
        let stdout = Capture::new(limits.max_output_bytes);
        let stderr = Capture::new(limits.max_output_bytes);
        let log = Capture::new(limits.max_output_bytes);

        let (ended, refused) = match self.build_wasi(plugin, &req, &stdout, &stderr) {
            Ok(wasi) => {
                let state = RunState {
                    wasi,
                    table: ResourceTable::new(),
                    memory: MemoryCap::new(limits.memory_bytes as usize),
                    log: log.clone(),
                };
                let mut store = Store::new(self.engine(), state);
                store.limiter(|s| &mut s.memory);
                let deadline = start + limits.timeout;
                store.set_epoch_deadline(ticks_until(deadline).min(YIELD_EVERY_TICKS));
                store.epoch_deadline_callback(move |_| {
                    let left = ticks_until(deadline);
                    Ok(if left == 0 {
                        UpdateDeadline::Interrupt
                    } else {
                        UpdateDeadline::Yield(left.min(YIELD_EVERY_TICKS))
                    })
                });
                let _ticking = self.shared.ticker.hold();
                let call = call(&plugin.prepared, &mut store, &req, &plugin.task_type);
                let ended = match tokio::time::timeout(limits.timeout, call).await {
                    Ok(ended) => ended,
                    Err(_) => Ended::TimedOut,
                };
                let refused = store.data().memory.refused;
                (ended, refused)
            }
            Err(e) => (Ended::Error(e), None),
        };
        let elapsed = start.elapsed();
        let (stdout, stdout_cut) = stdout.take();
        let (stderr, stderr_cut) = stderr.take();
        let (log, log_cut) = log.take();

        let mut verdict = judge(ended, refused, &limits, elapsed, &stderr);
        // A command's stdout is its result; a task's stdout is only logs.
        let mut logs = Section::default();
        logs.add("log", &log, log_cut);
        if plugin.prepared.shape() == super::Shape::Command {
            if verdict.is_ok() {
                verdict = if stdout_cut > 0 {
                    Err(too_large(stdout.len() as u64 + stdout_cut, &limits))
                } else {
                    Ok(stdout.clone())
                };
            }
            if verdict.is_err() {
                logs.add("stdout", &stdout, stdout_cut);
            }
        } else {
            logs.add("stdout", &stdout, stdout_cut);
        }
        logs.add("stderr", &stderr, stderr_cut);

        let (is_success, result, error_message) = match verdict {
            Ok(text) if text.len() > limits.max_output_bytes => {
                (false, None, Some(too_large(text.len() as u64, &limits)))
            }
            Ok(text) => (true, Some(result_json(&text)), None),
            Err(message) => (false, None, Some(message)),
        };
        Outcome {
            is_success,
            result,
            error_message,
            logs: logs.0,
            started_at,
            completed_at: Utc::now(),
            duration_seconds: elapsed.as_secs_f64(),
            plugin_digest: plugin.digest.clone(),
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
        for (key, value) in &plugin.grants.env {
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

/// Turns how the call ended into the result text or the failure message.
fn judge(
    ended: Ended,
    memory_refused: Option<usize>,
    limits: &super::Limits,
    elapsed: Duration,
    stderr: &str,
) -> Result<String, String> {
    let timed_out =
        || format!("timed out after {:.3}s (deadline {:?})", elapsed.as_secs_f64(), limits.timeout);
    match ended {
        Ended::Returned(Ok(text)) => Ok(text),
        Ended::Returned(Err(message)) => Err(message),
        Ended::CommandExited(Ok(())) => Ok(String::new()),
        Ended::CommandExited(Err(())) => Err(COMMAND_FAILED.into()),
        Ended::TimedOut => Err(timed_out()),
        Ended::Error(e) => {
            if let Some(exit) = e.downcast_ref::<I32Exit>() {
                return match exit.0 {
                    0 => Ok(String::new()),
                    // `wasi:cli/exit.exit(err)` arrives as 1; `exit-with-code` keeps the code.
                    1 => Err(COMMAND_FAILED.into()),
                    code => Err(format!("the command exited with code {code}")),
                };
            }
            let trap = e.downcast_ref::<Trap>().copied();
            if trap == Some(Trap::Interrupt) {
                return Err(timed_out());
            }
            if let Some(asked) = memory_refused {
                return Err(format!(
                    "exceeded the memory limit of {} MiB (asked for {} MiB in all)",
                    limits.memory_bytes >> 20,
                    asked.div_ceil(1 << 20)
                ));
            }
            Err(match trap {
                Some(Trap::StackOverflow) => "stack overflow: the guest's call stack is exhausted".to_owned(),
                Some(trap) => match panic_message(stderr) {
                    Some(panic) => format!("the guest panicked: {panic}"),
                    None => format!("the guest trapped: {trap}"),
                },
                None => format!("{e:#}"),
            })
        }
    }
}

/// The message of a Rust guest's panic, from what it printed on stderr.
fn panic_message(stderr: &str) -> Option<String> {
    let at = stderr.find("panicked at ")?;
    let mut lines = stderr[at..].lines();
    let location = lines.next()?.trim_end_matches(':');
    let message = lines.next().unwrap_or("").trim();
    Some(format!("{message} ({location})"))
}

fn too_large(bytes: u64, limits: &super::Limits) -> String {
    format!(
        "the result is {} bytes, over the limit of {} KiB (max_output_kb)",
        bytes,
        limits.max_output_bytes >> 10
    )
}

/// Whole ticks left before `deadline`, rounded up.
fn ticks_until(deadline: Instant) -> u64 {
    let left = deadline.saturating_duration_since(Instant::now());
    left.as_nanos().div_ceil(TICK.as_nanos()) as u64
}

/// Logs assembled from the run's streams, each under a heading.
#[derive(Default)]
struct Section(String);

impl Section {
    fn add(&mut self, name: &str, text: &str, cut: u64) {
        if text.is_empty() && cut == 0 {
            return;
        }
        if !self.0.is_empty() && !self.0.ends_with('\n') {
            self.0.push('\n');
        }
        self.0.push_str(&format!("--- {name} ---\n{text}"));
        if cut > 0 {
            self.0.push_str(&format!("\n[... {cut} more bytes of {name} cut]"));
        }
    }
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
