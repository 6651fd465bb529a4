//! The failure digest of a test run: runs `cargo test`, passing its output
//! through as it comes, and when tests fail prints each failure's message
//! (its `---- name stdout ----` section, without the backtrace) once more
//! at the very end, where a log cut to its last lines still shows why.
//!
//! It never judges a run: the exit status is cargo's.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// Lines kept of one failure's section.
const LINES: usize = 30;

/// Runs `cmd` (a `cargo test`), then the digest if it failed.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let mut child = cmd.stdout(Stdio::piped()).spawn().map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    let mut failures = Failures::default();
    let mut out = std::io::stdout();
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("reading the test output: {e}"))?;
        let _ = writeln!(out, "{line}");
        failures.see(&line);
    }
    let status = child.wait().map_err(|e| format!("waiting for {cmd:?}: {e}"))?;
    if status.success() {
        return Ok(());
    }
    if !failures.sections.is_empty() {
        let _ = writeln!(out, "\nxtask: why each failing test failed ({}):", failures.sections.len());
        for section in &failures.sections {
            let _ = writeln!(out, "{}", section.join("\n"));
        }
    }
    Err(format!("{cmd:?} failed: {status}"))
}

/// The failure sections seen so far.
#[derive(Default)]
struct Failures {
    sections: Vec<Vec<String>>,
    /// Still adding lines to the last section.
    open: bool,
}

impl Failures {
    fn see(&mut self, line: &str) {
        if line.starts_with("---- ") && line.ends_with(" ----") {
            self.sections.push(vec![line.to_owned()]);
            self.open = true;
        } else if self.open {
            let section = self.sections.last_mut().expect("open");
            let ends = line.starts_with("stack backtrace:")
                || line.starts_with("note: run with `RUST_BACKTRACE")
                || line == "failures:"
                || section.len() >= LINES;
            if ends {
                self.open = false;
            } else {
                section.push(line.to_owned());
            }
        }
    }
}
