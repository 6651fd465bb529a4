//! Judging a finished run: how the call ended (returned, exited, trapped,
//! overran its deadline or memory cap) becomes the result or a failure
//! message, and the captured streams become the logs.

use std::time::Duration;
use wasmtime::Trap;
use wasmtime_wasi::I32Exit;

use super::Limits;
use super::Shape;

const COMMAND_FAILED: &str = "the command exited with a failure status (its WASI exit carried no code)";

/// How the call itself ended, before it is judged.
pub(super) enum Ended {
    Returned(Result<String, String>),
    CommandExited(Result<(), ()>),
    Error(wasmtime::Error),
    TimedOut,
    /// Stopped on request.
    Cancelled,
}

/// What the run captured besides its return value.
pub(super) struct Captured {
    pub(super) stdout: (String, u64),
    pub(super) stderr: (String, u64),
    pub(super) log: (String, u64),
    /// The largest total memory a refused growth asked for.
    pub(super) memory_refused: Option<usize>,
}

/// The result text (or failure message) and the logs of a finished run.
pub(super) fn verdict(
    shape: Shape,
    ended: Ended,
    captured: Captured,
    limits: &Limits,
    elapsed: Duration,
) -> (Result<String, String>, String) {
    let Captured { stdout, stderr, log, memory_refused } = captured;
    let mut verdict = judge(ended, memory_refused, limits, elapsed, &stderr.0);
    let mut logs = Logs::default();
    logs.add("log", &log);
    // A command's stdout is its result (and logged only when it failed); a
    // task's stdout is only logs.
    if shape == Shape::Command {
        if verdict.is_ok() {
            verdict = match stdout.1 {
                0 => Ok(stdout.0.clone()),
                cut => Err(too_large(stdout.0.len() as u64 + cut, limits)),
            };
        }
        if verdict.is_err() {
            logs.add("stdout", &stdout);
        }
    } else {
        logs.add("stdout", &stdout);
    }
    logs.add("stderr", &stderr);
    let verdict = verdict.and_then(|text| match text.len() > limits.max_output_bytes {
        true => Err(too_large(text.len() as u64, limits)),
        false => Ok(text),
    });
    (verdict, logs.0)
}

/// Turns how the call ended into the result text or the failure message.
fn judge(
    ended: Ended,
    memory_refused: Option<usize>,
    limits: &Limits,
    elapsed: Duration,
    stderr: &str,
) -> Result<String, String> {
    let timed_out =
        || format!("timed out after {:.3}s (deadline {:?})", elapsed.as_secs_f64(), limits.timeout);
    // A program that exits on a failed allocation (Go's runtime does, and
    // so may C) failed because of the cap: say so rather than its code.
    let out_of_memory = memory_refused.map(|asked| {
        format!(
            "exceeded the memory limit of {} MiB (asked for {} MiB in all)",
            limits.memory_bytes >> 20,
            asked.div_ceil(1 << 20)
        )
    });
    let exited = |message: String| Err(out_of_memory.clone().unwrap_or(message));
    match ended {
        Ended::Returned(Ok(text)) => Ok(text),
        Ended::Returned(Err(message)) => Err(message),
        Ended::CommandExited(Ok(())) => Ok(String::new()),
        Ended::CommandExited(Err(())) => exited(COMMAND_FAILED.into()),
        Ended::TimedOut => Err(timed_out()),
        Ended::Cancelled => Err(super::CANCELLED.into()),
        Ended::Error(e) => {
            if let Some(exit) = e.downcast_ref::<I32Exit>() {
                return match exit.0 {
                    0 => Ok(String::new()),
                    // `wasi:cli/exit.exit(err)` arrives as 1; `exit-with-code` keeps the code.
                    1 => exited(COMMAND_FAILED.into()),
                    code => exited(format!("the command exited with code {code}")),
                };
            }
            let trap = e.downcast_ref::<Trap>().copied();
            if trap == Some(Trap::Interrupt) {
                return Err(timed_out());
            }
            if let Some(message) = out_of_memory {
                return Err(message);
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

fn too_large(bytes: u64, limits: &Limits) -> String {
    format!(
        "the result is {} bytes, over the limit of {} KiB (max_output_kb)",
        bytes,
        limits.max_output_bytes >> 10
    )
}

/// Logs assembled from the run's streams, each under a heading.
#[derive(Default)]
struct Logs(String);

impl Logs {
    fn add(&mut self, name: &str, (text, cut): &(String, u64)) {
        let cut = *cut;
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
