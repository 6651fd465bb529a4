//! Sums `numbers` from the params: a plain program for `wasm32-wasip1`.
//! The params arrive on stdin (and in `TASKBOX_PARAMS`); what it prints is
//! the result; a non-zero exit is a failure, its stderr in the logs.
//!
//! Build: `cargo build --release --target wasm32-wasip1`, then drop
//! `target/wasm32-wasip1/release/sum_wasip1.wasm` into the plugin directory.

use serde_json::{Value, json};
use std::io::Read;

fn main() {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).expect("stdin is readable");
    let params: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let Some(numbers) = params["numbers"].as_array() else {
        eprintln!("sum_wasip1: expected params like {{\"numbers\": [1, 2, 3]}}");
        std::process::exit(2);
    };
    let values: Vec<f64> = numbers.iter().filter_map(Value::as_f64).collect();
    let sum: f64 = values.iter().sum();
    println!("{}", json!({"count": values.len(), "sum": sum}));
}
