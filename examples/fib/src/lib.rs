//! `fib`: CPU work. Computes the `params.n`-th Fibonacci number (default 30)
//! the slow, doubly recursive way, so large `n` keeps a core busy for as long
//! as you like (n = 40 takes about a second) — handy to watch a deadline end
//! a run.

use serde::Deserialize;
use serde_json::{Value, json};
use std::hint::black_box;
use taskbox_sdk::Context;

#[derive(Deserialize)]
struct Params {
    #[serde(default = "default_n")]
    n: u64,
}

fn default_n() -> u64 {
    30
}

fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(black_box(n - 1)) + fib(black_box(n - 2)) }
}

fn run(_ctx: &Context, Params { n }: Params) -> Result<Value, String> {
    if n > 93 {
        return Err(format!("n = {n} overflows u64; the largest is 93"));
    }
    Ok(json!({ "n": n, "fib": fib(n) }))
}

taskbox_sdk::task!(run);
