//! `fib`: CPU work. Computes the `params.n`-th Fibonacci number (default 30)
//! the slow, doubly recursive way, so large `n` keeps a core busy for as long
//! as you like (n = 40 takes about a second) — handy to watch a deadline end
//! a run.

wit_bindgen::generate!({ path: "../../wit", world: "task" });

use std::hint::black_box;

struct Fib;

fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(black_box(n - 1)) + fib(black_box(n - 2)) }
}

impl Guest for Fib {
    fn run(_ctx: Context, params: String) -> Result<String, String> {
        let params: serde_json::Value = serde_json::from_str(&params).map_err(|e| format!("params: {e}"))?;
        let n = params.get("n").and_then(|v| v.as_u64()).unwrap_or(30);
        if n > 93 {
            return Err(format!("n = {n} overflows u64; the largest is 93"));
        }
        Ok(serde_json::json!({ "n": n, "fib": fib(n) }).to_string())
    }
}

export!(Fib);
