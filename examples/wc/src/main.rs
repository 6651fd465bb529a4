//! `wc`: a plain WASI command (no taskbox WIT at all), to show the second
//! plugin shape. Any program built for `wasm32-wasip2` works the same way.
//!
//! Reads its params (`{"text": "..."}`) from stdin — they are also in the
//! environment variable `TASKBOX_PARAMS` — and prints the counts as JSON on
//! stdout, which becomes the run's result. With `"plain": true` it prints
//! plain text instead (stored as a JSON string). Bad params: a message on
//! stderr and exit code 2, which the run records as a failure.

use std::io::Read;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("wc: cannot read stdin: {e}");
        return ExitCode::from(2);
    }
    if std::env::var("TASKBOX_PARAMS").ok().as_deref() != Some(input.as_str()) {
        eprintln!("wc: TASKBOX_PARAMS differs from stdin");
        return ExitCode::from(3);
    }
    let params: serde_json::Value = match serde_json::from_str(&input) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("wc: params are not JSON: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(text) = params.get("text").and_then(|t| t.as_str()) else {
        eprintln!("wc: expected params {{\"text\": \"...\"}}");
        return ExitCode::from(2);
    };
    let (lines, words, chars) = (text.lines().count(), text.split_whitespace().count(), text.chars().count());
    if params.get("plain").and_then(|p| p.as_bool()) == Some(true) {
        println!("{lines} lines, {words} words, {chars} chars");
    } else {
        println!("{}", serde_json::json!({ "lines": lines, "words": words, "chars": chars }));
    }
    ExitCode::SUCCESS
}
