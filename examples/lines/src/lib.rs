//! `lines`: splits `{"text": "..."}` into its non-blank lines, as an array
//! of `{"text": line}` objects: the list a workflow's `for_each` step runs
//! over (each element is what `wc` takes).

use serde::Deserialize;
use serde_json::{Value, json};
use taskbox_sdk::Context;

#[derive(Deserialize)]
struct Params {
    text: String,
}

fn run(_ctx: &Context, p: Params) -> Result<Value, String> {
    let lines = p.text.lines().map(str::trim).filter(|l| !l.is_empty());
    Ok(Value::Array(lines.map(|l| json!({ "text": l })).collect()))
}

taskbox_sdk::task!(run);
