//! Languages benchmark: for a trivial task in each language (Rust `echo`,
//! Python and JavaScript `noop` of their probes, built by `taskbox build`),
//! the component's size, its compile time, a load from the artifact cache,
//! and the per-run overhead (fresh instance + call + drop, through the real
//! `Executor::run`), with the shipped engine settings.
//!
//! Run: `cargo xtask plugins && cargo bench -p taskbox --bench languages`
//! (`-- --runs N` runs per language, default 2000; `-- --only python` for
//! one language).

mod common;

use taskbox::executor::{EngineSettings, Executor};
use taskbox::plugins::registry::{LoadSource, Loader};

fn main() {
    let runs = common::arg("--runs", 2000);
    let executor = Executor::new(EngineSettings::default()).expect("sandbox");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    println!("== a trivial task per language: shipped defaults ({runs} runs each) ==");
    println!(
        "{:<11} {:>9} {:>12} {:>12} {:>12} {:>12}",
        "language", "size", "compile", "cached load", "run median", "run p99"
    );
    for (language, name, params) in [
        ("Rust", "echo", "{}"),
        ("Python", "py_probe", r#"{"action":"noop"}"#),
        ("JavaScript", "js_probe", r#"{"action":"noop"}"#),
    ] {
        if !common::only(&language.to_lowercase()) {
            continue;
        }
        let path = common::built(name);
        let cache = tempfile::tempdir().unwrap();
        let compiled = Loader::new(executor.clone(), Some(cache.path().to_owned())).load(&path);
        assert_eq!(compiled.info.source, Some(LoadSource::Compiled));
        let loads = common::cached_loads(&executor, cache.path(), &path);
        let plugin = Loader::new(executor.clone(), Some(cache.path().to_owned())).load(&path).plugin.unwrap();
        let latencies = rt.block_on(common::run_latencies(&executor, &plugin, params, runs));
        println!(
            "{language:<11} {:>6.1} MB {:>9.0} ms {:>9.2} ms {:>9.3} ms {:>9.3} ms",
            compiled.info.size as f64 / 1e6,
            compiled.info.load_ms,
            common::pct(&loads, 0.5),
            common::pct(&latencies, 0.5),
            common::pct(&latencies, 0.99),
        );
    }
}
