//! `probe`: tries things a sandboxed task should not be able to do (or should
//! only do when its sidecar grants it) and reports what happened. The test
//! suite uses it; it is also a quick way to see what a plugin can reach:
//!
//! `taskbox run probe --params '{"action":"read_file","path":"/etc/passwd"}'`
//!
//! Actions: `read_file {path}`, `list_dir {path}`, `write_file {path}`,
//! `env`, `tcp_connect {addr}`, `alloc {mb}`, `flood {bytes, stream}`,
//! `log {lines}`, `result {bytes}`, `panic {message}`, `recurse`, `spin`,
//! `context`, `http {url | url_env, method?, headers?, body?, times?, print?}` (the
//! last of `times` requests; `print` writes the response body to stdout),
//! `kv {bucket, op, key?, value?, delta?, cursor?}` with op one of `get`,
//! `set`, `delete`, `exists`, `list`, `increment`, `cas` (swaps `value` in if
//! the key still holds what was read), `get_many`/`set_many` (`keys`), and
//! `leak {name}` (prints env var `name` everywhere, then fails with it).
//!
//! Reports are `{"ok": true, "value": ...}` or `{"ok": false, "error": "..."}`;
//! `panic`, `recurse` and `spin` never return.

wit_bindgen::generate!({ path: "../../../wit", world: "stateful-task", generate_all });

use serde_json::{Value, json};
use std::hint::black_box;
use std::io::Write;
use taskbox::plugin::host::{Level, log};
use wasi::keyvalue::{atomics, batch, store};

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
            "http" => {
                let headers: Vec<(String, String)> = p
                    .get("headers")
                    .and_then(Value::as_object)
                    .map(|h| {
                        h.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned())).collect()
                    })
                    .unwrap_or_default();
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let method = p.get("method").and_then(Value::as_str).unwrap_or("GET");
                // `url_env`: the URL is a granted secret (an environment
                // variable), so the params never hold it.
                let url = match p.get("url_env").and_then(Value::as_str) {
                    Some(name) => std::env::var(name).unwrap_or_default(),
                    None => str_param("url"),
                };
                let mut last = Err("no request sent".to_owned());
                for _ in 0..num_param("times").max(1) {
                    last = taskbox_sdk::http::request(method, &url, &headers, str_param("body").as_bytes());
                }
                // A header the host forbids (Host): say so, then try the
                // same URL without it, as an attacker would.
                if let Err(refused) = &last
                    && refused.starts_with("header")
                {
                    let bare = taskbox_sdk::http::request(method, &url, &[], b"");
                    return Ok(json!({ "ok": false, "error": refused, "without_headers": report(bare.map(|(status, _)| status)) }).to_string());
                }
                if let (Ok((_, body)), true) = (&last, p.get("print").is_some()) {
                    println!("{}", String::from_utf8_lossy(body));
                }
                report(last.map(|(status, body)| json!({ "status": status, "body_length": body.len() })))
            }
            "kv" => report(key_value(&p)),
            "leak" => {
                // Everything a careless plugin might do with a secret.
                let value = std::env::var(str_param("name")).unwrap_or_default();
                println!("stdout: {value}");
                eprintln!("stderr: {value}");
                log(Level::Warn, &format!("log: {value}"));
                return Err(format!("failed holding {value}"));
            }
            other => return Err(format!("unknown action {other:?}")),
        };
        Ok(out.to_string())
    }
}

/// One key-value operation, as the `kv` action's params say.
fn key_value(p: &Value) -> Result<Value, String> {
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let bytes = |v: Option<Vec<u8>>| v.map(|v| String::from_utf8_lossy(&v).into_owned());
    let bucket = store::open(&s("bucket")).map_err(|e| format!("open: {e:?}"))?;
    let key = s("key");
    let keys: Vec<String> = p
        .get("keys")
        .and_then(Value::as_array)
        .map(|k| k.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let done = match s("op").as_str() {
        "get" => bucket.get(&key).map(|v| json!(bytes(v))),
        "set" => bucket.set(&key, s("value").as_bytes()).map(|()| json!("set")),
        "delete" => bucket.delete(&key).map(|()| json!("deleted")),
        "exists" => bucket.exists(&key).map(|e| json!(e)),
        "list" => {
            let cursor = p.get("cursor").and_then(Value::as_str).map(str::to_owned);
            bucket.list_keys(cursor.as_deref()).map(|r| json!({ "keys": r.keys, "cursor": r.cursor }))
        }
        "increment" => atomics::increment(&bucket, &key, p.get("delta").and_then(Value::as_i64).unwrap_or(1))
            .map(|v| json!(v)),
        "cas" => {
            let cas = atomics::Cas::new(&bucket, &key).map_err(|e| format!("cas: {e:?}"))?;
            let read = bytes(cas.current().map_err(|e| format!("current: {e:?}"))?);
            return match atomics::swap(cas, s("value").as_bytes()) {
                Ok(()) => Ok(json!({ "swapped": true, "read": read })),
                Err(atomics::CasError::CasFailed(_)) => Ok(json!({ "swapped": false, "read": read })),
                Err(atomics::CasError::StoreError(e)) => Err(format!("{e:?}")),
            };
        }
        "get_many" => batch::get_many(&bucket, &keys).map(|found| {
            json!(found.into_iter().map(|kv| kv.map(|(k, v)| (k, bytes(Some(v))))).collect::<Vec<_>>())
        }),
        "set_many" => {
            let pairs: Vec<(String, Vec<u8>)> =
                keys.iter().map(|k| (k.clone(), s("value").into_bytes())).collect();
            batch::set_many(&bucket, &pairs).map(|()| json!("set"))
        }
        other => return Err(format!("unknown kv op {other:?}")),
    };
    done.map_err(|e| format!("{e:?}"))
}

export!(Probe);
