//! A WASI preview-1 command in Rust (`rustc --target wasm32-wasip1`, std
//! only) for the suite: what the params ask of it, by a word in them
//! (`"loop"`, `"alloc"`, `"fail"`, `"env"`, `"file"`), else an echo.
use std::io::{Read, Write};

fn main() {
    let mut params = String::new();
    std::io::stdin().read_to_string(&mut params).expect("stdin");
    let out = if params.contains("\"loop\"") {
        let mut i: u64 = 0;
        loop {
            i = std::hint::black_box(i.wrapping_add(1));
        }
    } else if params.contains("\"alloc\"") {
        let mut block = vec![0u8; 200 << 20];
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        format!("{{\"allocated_mb\":{}}}", std::hint::black_box(block).len() >> 20)
    } else if params.contains("\"fail\"") {
        eprintln!("probe: failing as asked");
        std::process::exit(3);
    } else if params.contains("\"env\"") {
        let names: Vec<String> = std::env::vars().map(|(name, _)| format!("{name:?}")).collect();
        format!("{{\"env\":[{}]}}", names.join(","))
    } else if params.contains("\"file\"") {
        let opened = std::fs::read("/etc/passwd").is_ok() || std::fs::read_dir(".").is_ok();
        format!("{{\"file\":\"{}\"}}", if opened { "opened" } else { "refused" })
    } else {
        format!("{{\"echo\":{params}}}")
    };
    std::io::stdout().write_all(out.as_bytes()).expect("stdout");
}
