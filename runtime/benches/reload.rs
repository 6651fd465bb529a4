//! Hot-reload benchmark: the time from a plugin file written into a watched
//! plugin directory (write beside, rename over, as build tools do) to its
//! new digest serving from the registry, through the real watcher, debounce
//! and rescan; once with compilation (a fresh artifact cache) and once with
//! the compiled artifact already cached. The directory holds all the example
//! plugins, so each rescan also checks the others.
//!
//! Run: `cargo xtask plugins && cargo bench -p taskbox --bench reload`
//! (`-- --rounds N`, default 10 per plugin).

use sha2::Digest;
use std::time::{Duration, Instant};

mod common;

use taskbox::executor::{EngineSettings, Executor};
use taskbox::plugins::registry::{Loader, Registry};

const EXAMPLES: [&str; 6] = ["echo", "fail", "sleep", "fib", "probe", "wc"];

fn main() {
    let rounds: usize = std::env::args()
        .skip_while(|a| a != "--rounds")
        .nth(1)
        .map_or(10, |n| n.parse().expect("--rounds takes a number"));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let executor = Executor::new(EngineSettings::default()).expect("sandbox");
        println!("== file written -> new digest serving ({rounds} rounds per plugin) ==");
        println!("{:<6} {:>14} {:>14} {:>14} {:>14}", "plugin", "compile p50", "compile max", "cached p50", "cached max");
        let mut all_compiled = Vec::new();
        let mut all_cached = Vec::new();
        for name in ["echo", "fib", "probe", "wc"] {
            let (compiled, cached) = measure(&executor, name, rounds).await;
            println!(
                "{name:<6} {:>11.1} ms {:>11.1} ms {:>11.1} ms {:>11.1} ms",
                ms(percentile(&compiled, 0.5)),
                ms(percentile(&compiled, 1.0)),
                ms(percentile(&cached, 0.5)),
                ms(percentile(&cached, 1.0)),
            );
            all_compiled.extend(compiled);
            all_cached.extend(cached);
        }
        println!(
            "all    compile p50 {:.1} ms, p95 {:.1} ms (goal <= 500 ms); cached p50 {:.1} ms, p95 {:.1} ms (goal <= 50 ms)",
            ms(percentile(&all_compiled, 0.5)),
            ms(percentile(&all_compiled, 0.95)),
            ms(percentile(&all_cached, 0.5)),
            ms(percentile(&all_cached, 0.95)),
        );
    });
}

/// Swaps `name` in and out of a watched directory: each round a fresh cache
/// (compile), then the same swaps against a warm cache.
async fn measure(executor: &Executor, name: &str, rounds: usize) -> (Vec<Duration>, Vec<Duration>) {
    let dir = tempfile::tempdir().unwrap();
    for other in EXAMPLES {
        std::fs::copy(common::built(other), dir.path().join(format!("{other}.wasm"))).unwrap();
    }
    let target = common::built(name);
    // The plugin under test is served as task type "job", alternating with echo's bytes.
    let alternate = if name == "echo" { common::built("fib") } else { common::built("echo") };
    let mut compiled = Vec::new();
    let mut cached = Vec::new();
    for warm in [false, true] {
        let cache = tempfile::tempdir().unwrap();
        let registry =
            Registry::new(dir.path(), Loader::new(executor.clone(), Some(cache.path().to_owned())));
        std::fs::copy(&alternate, dir.path().join("job.wasm")).unwrap();
        registry.scan().await.unwrap();
        if warm {
            // Put the target's artifact in the cache first.
            std::fs::copy(&target, dir.path().join("warm.wasm")).unwrap();
            registry.scan().await.unwrap();
            std::fs::remove_file(dir.path().join("warm.wasm")).unwrap();
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let plugins = taskbox::plugins::artifacts::Artifacts::directory_only(registry.clone());
        let watcher = taskbox::engine::reload::watch(plugins, None, stopped).unwrap();
        for _ in 0..rounds {
            for (file, into) in [(&target, &mut compiled), (&alternate, &mut Vec::new())] {
                let digest = hex::encode(sha2::Sha256::digest(std::fs::read(file).unwrap()));
                let tmp = dir.path().join(".job.wasm.tmp");
                std::fs::copy(file, &tmp).unwrap();
                let start = Instant::now();
                std::fs::rename(&tmp, dir.path().join("job.wasm")).unwrap();
                while registry.entry("job").and_then(|e| e.info.digest.clone()).as_deref() != Some(&digest) {
                    assert!(start.elapsed() < Duration::from_secs(10), "no reload of {}", file.display());
                    tokio::time::sleep(Duration::from_micros(500)).await;
                }
                let took = start.elapsed();
                if std::ptr::eq(file, &target) {
                    if warm { cached.push(took) } else { into.push(took) }
                }
            }
            if !warm {
                // Forget the artifacts, so the next round compiles again.
                for entry in std::fs::read_dir(cache.path()).unwrap() {
                    let _ = std::fs::remove_file(entry.unwrap().path());
                }
            }
        }
        stop.send(true).unwrap();
        let _ = watcher.await;
    }
    (compiled, cached)
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
