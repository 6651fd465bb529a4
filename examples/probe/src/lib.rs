//! `probe`: tries things a sandboxed task should not be able to do (or should
//! only do when its sidecar grants it) and reports what happened. The test
//! suite uses it; it is also a quick way to see what a plugin can reach:
//!
//! `taskbox run probe --params '{"action":"read_file","path":"/etc/passwd"}'`
//!
//! Actions: `read_file {path}`, `list_dir {path}`, `write_file {path}`,
//! `env`, `tcp_connect {addr}`, `alloc {mb}`, `flood {bytes, stream}`,
//! `log {lines}`, `result {bytes}`, `panic {message}`, `recurse`, `spin`,
//! `context`.
//!
//! Reports are `{"ok": true, "value": ...}` or `{"ok": false, "error": "..."}`;
//! `panic`, `recurse` and `spin` never return.

wit_bindgen::generate!({ path: "../../wit", world: "task" });

use serde_json::{Value, json};
use std::hint::black_box;
use std::io::Write;
use taskbox::plugin::host::{Level, log};

struct Probe;

fn report<T: Into<Value>, E: std::fmt::Display>(r: Result<T, E>) -> Value {
    match r {
        Ok(v) => json!({ "ok": true, "value": v.into() }),
        Err(e) => json!({ "ok": false, "error": e.to_string() }),
    }
}

#[allow(unconditional_recursion)] // the point: it never returns
fn recurse(depth: u64) -> u64 {
    // black_box keeps this a real call chain the optimiser cannot flatten.
    black_box(recurse(black_box(depth + 1))) + 1
}

impl Guest for Probe {
    fn run(ctx: Context, params: String) -> Result<String, String> {
        let p: Value = serde_json::from_str(&params).map_err(|e| format!("params: {e}"))?;
        let str_param = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let num_param = |k: &str| p.get(k).and_then(Value::as_u64).unwrap_or(0);
        let out = match str_param("action").as_str() {
            "read_file" => report(std::fs::read_to_string(str_param("path"))),
            "list_dir" => report(std::fs::read_dir(str_param("path")).and_then(|d| {
                d.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                    .collect::<Result<Vec<_>, _>>()
            })),
            "write_file" => report(std::fs::write(str_param("path"), b"probe").map(|()| "written")),
            "env" => {
                json!({ "ok": true, "value": std::env::vars().collect::<std::collections::BTreeMap<_, _>>() })
            }
            "tcp_connect" => report(std::net::TcpStream::connect(str_param("addr")).map(|_| "connected")),
            "alloc" => {
                let bytes = num_param("mb") as usize * 1024 * 1024;
                let mut v = vec![0u8; bytes];
                // Touch every page so the memory is really used.
                for i in (0..v.len()).step_by(4096) {
                    v[i] = 1;
                }
                json!({ "ok": true, "value": black_box(&v).len() })
            }
            "flood" => {
                let chunk = vec![b'x'; 64 * 1024];
                let mut left = num_param("bytes") as usize;
                let to_stderr = str_param("stream") == "stderr";
                while left > 0 {
                    let n = left.min(chunk.len());
                    let r = if to_stderr {
                        std::io::stderr().write_all(&chunk[..n])
                    } else {
                        std::io::stdout().write_all(&chunk[..n])
                    };
                    if let Err(e) = r {
                        return Err(format!("write failed with {left} bytes left: {e}"));
                    }
                    left -= n;
                }
                json!({ "ok": true, "value": num_param("bytes") })
            }
            "log" => {
                for i in 0..num_param("lines") {
                    log(Level::Info, &format!("line {i}"));
                }
                json!({ "ok": true })
            }
            "result" => return Ok("x".repeat(num_param("bytes") as usize)),
            "panic" => panic!("{}", str_param("message")),
            "recurse" => json!({ "ok": true, "value": recurse(0) }),
            "spin" => loop {
                black_box(());
            },
            "context" => json!({
                "task_type": ctx.task_type,
                "config_id": ctx.config_id,
                "execution_id": ctx.execution_id,
                "attempt": ctx.attempt,
                "scheduled_at": ctx.scheduled_at,
            }),
            other => return Err(format!("unknown action {other:?}")),
        };
        Ok(out.to_string())
    }
}

export!(Probe);
