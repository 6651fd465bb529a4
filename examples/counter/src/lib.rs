//! `counter`: increments a key in a key-value bucket and returns the new
//! value; state that outlives runs, atomic across concurrent runs.
//!
//! Params (all optional): `bucket` (default `"default"`), `key` (default
//! `"counter"`), `by` (default 1). Its sidecar must name the bucket in
//! `key_value_stores`.
//!
//! `taskbox run counter` → `{"key": "counter", "value": 1}`, then 2, 3, …

use serde::Deserialize;
use serde_json::{Value, json};
use taskbox_sdk::Context;
use taskbox_sdk::kv::{atomics, store};

#[derive(Deserialize)]
#[serde(default)]
struct Params {
    bucket: String,
    key: String,
    by: i64,
}

impl Default for Params {
    fn default() -> Self {
        Self { bucket: "default".into(), key: "counter".into(), by: 1 }
    }
}

fn run(_ctx: &Context, p: Params) -> Result<Value, String> {
    let bucket = store::open(&p.bucket).map_err(|e| format!("opening bucket {:?}: {e:?}", p.bucket))?;
    let value =
        atomics::increment(&bucket, &p.key, p.by).map_err(|e| format!("incrementing {:?}: {e:?}", p.key))?;
    Ok(json!({ "key": p.key, "value": value }))
}

taskbox_sdk::task!(run);
