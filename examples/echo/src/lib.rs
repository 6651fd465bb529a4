//! `echo`: the smallest useful task. Returns its params unchanged.
//!
//! `taskbox run echo --params '{"x":1}'` → `"result": {"x": 1}`.

use serde_json::Value;
use taskbox_sdk::Context;

fn run(_ctx: &Context, params: Value) -> Result<Value, String> {
    Ok(params)
}

taskbox_sdk::task!(run);
