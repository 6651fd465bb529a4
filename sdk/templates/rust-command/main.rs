//! {{name}}: a taskbox task as a plain WASI command. `taskbox build .`
//! makes `plugins/{{name}}.wasm`.
//!
//! The params arrive in `TASKBOX_PARAMS` (and on stdin); what it prints on
//! stdout is the result (JSON if it parses); a non-zero exit is a failure,
//! and stderr goes to the run's logs.

use serde_json::{Value, json};

fn main() {
    let params: Value = serde_json::from_str(&std::env::var("TASKBOX_PARAMS").unwrap_or_default())
        .unwrap_or_else(|_| json!({}));
    let name = params.get("name").and_then(Value::as_str).unwrap_or("world");
    if name.is_empty() {
        eprintln!("params: `name` must not be empty");
        std::process::exit(1);
    }
    let attempt = std::env::var("TASKBOX_ATTEMPT").unwrap_or_default();
    println!("{}", json!({ "greeting": format!("hello, {name}"), "attempt": attempt }));
}
