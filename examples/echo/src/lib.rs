//! `echo`: the smallest useful task. Returns its params unchanged.
//!
//! `taskbox run echo --params '{"x":1}'` → `"result": {"x": 1}`.

wit_bindgen::generate!({ path: "../../wit", world: "task" });

struct Echo;

impl Guest for Echo {
    fn run(_ctx: Context, params: String) -> Result<String, String> {
        Ok(params)
    }
}

export!(Echo);
