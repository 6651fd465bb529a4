//! WASI preview-1 modules benchmark: for each preview-1 example (Rust
//! `sum_wasip1`, C `crc32_c`, Zig `count_zig`) the file's size, the first
//! load (adapt + compile), the adaptation alone and a load from the
//! artifact cache; then the per-run cost of one program (the suite's
//! `p1_rust` probe, std only) built for `wasm32-wasip1` (adapted) and for
//! `wasm32-wasip2` (a component as rustc emits it), through the real
//! `Executor::run`, with the shipped engine settings.
//!
//! Run: `cargo xtask plugins && cargo bench -p taskbox --bench preview1`
//! (`-- --runs N` runs per build, default 2000).

mod common;

use std::process::Command;
use std::time::Instant;

use taskbox::executor::{EngineSettings, Executor};
use taskbox::plugins::registry::{AdaptedFrom, LoadSource, Loader, adapt};

fn main() {
    let runs = common::arg("--runs", 2000);
    let executor = Executor::new(EngineSettings::default()).expect("sandbox");
    println!("== preview-1 examples: load (shipped defaults, median of 10 for cached and adapt) ==");
    println!(
        "{:<12} {:>9} {:>16} {:>12} {:>12}",
        "example", "size", "adapt+compile", "adapt alone", "cached load"
    );
    for name in ["sum_wasip1", "crc32_c", "count_zig"] {
        let path = common::built(name);
        let cache = tempfile::tempdir().unwrap();
        let first = Loader::new(executor.clone(), Some(cache.path().to_owned())).load(&path);
        assert_eq!(first.info.source, Some(LoadSource::Compiled), "{:?}", first.info.error);
        assert_eq!(first.info.adapted_from, Some(AdaptedFrom::WasiPreview1));
        let bytes = std::fs::read(&path).unwrap();
        let mut adapts: Vec<f64> = (0..10)
            .map(|_| {
                let t = Instant::now();
                adapt(&bytes).unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        adapts.sort_by(f64::total_cmp);
        let loads = common::cached_loads(&executor, cache.path(), &path);
        println!(
            "{name:<12} {:>6.1} KB {:>13.1} ms {:>9.2} ms {:>9.2} ms",
            first.info.size as f64 / 1e3,
            first.info.load_ms,
            common::pct(&adapts, 0.5),
            common::pct(&loads, 0.5),
        );
    }

    // The same source for both targets.
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/components/preview1/p1_rust/p1_rust.rs");
    let out = tempfile::tempdir().unwrap();
    let p2 = out.path().join("p1_rust_p2.wasm");
    let status = Command::new("rustc")
        .args(["--edition", "2024", "--target", "wasm32-wasip2", "-O", "-C", "strip=symbols"])
        .arg(&source)
        .arg("-o")
        .arg(&p2)
        .status()
        .expect("rustc runs");
    assert!(status.success(), "rustc --target wasm32-wasip2 {}", source.display());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    println!("== one std-only Rust program, per run ({runs} runs each, after a tenth more to warm up) ==");
    println!("{:<28} {:>9} {:>12} {:>12}", "build", "size", "run median", "run p99");
    for (label, path) in
        [("wasm32-wasip1 (adapted)", common::built("p1_rust")), ("wasm32-wasip2 (component)", p2.clone())]
    {
        let cache = tempfile::tempdir().unwrap();
        let entry = Loader::new(executor.clone(), Some(cache.path().to_owned())).load(&path);
        let plugin = entry.plugin.unwrap_or_else(|| panic!("{label}: {:?}", entry.info.error));
        let latencies = rt.block_on(common::run_latencies(&executor, &plugin, r#"{"n":1}"#, runs));
        println!(
            "{label:<28} {:>6.1} KB {:>9.3} ms {:>9.3} ms",
            entry.info.size as f64 / 1e3,
            common::pct(&latencies, 0.5),
            common::pct(&latencies, 0.99),
        );
    }
}
