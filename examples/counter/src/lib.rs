//! `counter`: increments a key in a key-value bucket and returns the new
//! value; state that outlives runs, atomic across concurrent runs.
//!
//! Params (all optional): `bucket` (default `"default"`), `key` (default
//! `"counter"`), `by` (default 1). Its sidecar must name the bucket in
//! `key_value_stores`.
//!
//! `taskbox run counter` → `{"key": "counter", "value": 1}`, then 2, 3, …

wit_bindgen::generate!({ path: "../../wit", world: "stateful-task", generate_all });

use serde_json::{Value, json};
use wasi::keyvalue::{atomics, store};

struct Counter;

impl Guest for Counter {
    fn run(_ctx: Context, params: String) -> Result<String, String> {
        let p: Value = serde_json::from_str(&params).map_err(|e| format!("params: {e}"))?;
        let bucket_name = p.get("bucket").and_then(Value::as_str).unwrap_or("default");
        let key = p.get("key").and_then(Value::as_str).unwrap_or("counter");
        let by = p.get("by").and_then(Value::as_i64).unwrap_or(1);
        let bucket =
            store::open(bucket_name).map_err(|e| format!("opening bucket {bucket_name:?}: {e:?}"))?;
        let value =
            atomics::increment(&bucket, key, by).map_err(|e| format!("incrementing {key:?}: {e:?}"))?;
        Ok(json!({ "key": key, "value": value }).to_string())
    }
}

export!(Counter);
