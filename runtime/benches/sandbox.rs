//! Sandbox benchmark: per-run overhead of a trivial component (fresh store,
//! fresh instance, call, drop — through the real `Executor::run`), on one and
//! two threads, and compile time against a cached load.
//!
//! Run: `cargo xtask plugins && cargo bench -p taskbox --bench sandbox`
//! (`-- --runs N` to change the number of runs per thread).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use taskbox::executor::{EngineSettings, Executor, Limits, RunContext, RunRequest};
use taskbox::registry::{LoadSource, Loader, Plugin};

fn main() {
    let runs = std::env::args()
        .skip_while(|a| a != "--runs")
        .nth(1)
        .map_or(50_000, |n| n.parse().expect("--runs takes a number"));
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    let echo = plugins.join("echo.wasm");
    assert!(echo.is_file(), "{} is missing: run `cargo xtask plugins` first", echo.display());
    let executor = Executor::new(EngineSettings::default()).expect("sandbox");

    println!("== load: compile vs. cached artifact (median of 10) ==");
    for name in ["echo", "probe", "wc"] {
        load_times(&executor, &plugins.join(format!("{name}.wasm")));
    }

    let cache = tempfile::tempdir().unwrap();
    let plugin = Loader::new(executor.clone(), Some(cache.path().to_owned())).load(&echo).plugin.unwrap();
    println!("\n== per-run overhead: echo, fresh instance + call + drop ({runs} runs per thread) ==");
    throughput(&executor, &plugin, 2, runs / 10); // warm the instance pool up
    for threads in [1, 2] {
        let (median, p99, per_second) = throughput(&executor, &plugin, threads, runs);
        println!(
            "{threads} thread(s): median {:>6.1} µs  p99 {:>6.1} µs  {per_second:>8.0} runs/s",
            median.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
        );
    }
}

fn load_times(executor: &Executor, path: &PathBuf) {
    let cache = tempfile::tempdir().unwrap();
    let mut compiled = Vec::new();
    let mut cached = Vec::new();
    for _ in 0..10 {
        let entry = Loader::new(executor.clone(), None).load(path);
        assert_eq!(entry.info.source, Some(LoadSource::Compiled));
        compiled.push(entry.info.load_ms);
    }
    Loader::new(executor.clone(), Some(cache.path().to_owned())).load(path);
    for _ in 0..10 {
        let entry = Loader::new(executor.clone(), Some(cache.path().to_owned())).load(path);
        assert_eq!(entry.info.source, Some(LoadSource::Cache));
        cached.push(entry.info.load_ms);
    }
    println!(
        "{:<6} {:>7} KB  compile {:>8.2} ms   cached load {:>6.3} ms",
        path.file_stem().unwrap().to_string_lossy(),
        std::fs::metadata(path).unwrap().len() / 1000,
        median_f64(&mut compiled),
        median_f64(&mut cached)
    );
}

/// Median and p99 latency of one run, and runs per second over all threads.
fn throughput(
    executor: &Executor,
    plugin: &std::sync::Arc<Plugin>,
    threads: usize,
    runs: usize,
) -> (Duration, Duration, f64) {
    let start = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    rt.block_on(async {
                        let mut latencies = Vec::with_capacity(runs);
                        for _ in 0..runs {
                            let request = RunRequest {
                                context: RunContext::ad_hoc(),
                                params: "{}".to_owned(),
                                limits: Limits::default(),
                            };
                            let t = Instant::now();
                            let outcome = executor.run(&plugin.runnable, request).await;
                            latencies.push(t.elapsed());
                            assert!(outcome.is_success);
                        }
                        latencies
                    })
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    let wall = start.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    let per_second = latencies.len() as f64 / wall.as_secs_f64();
    (pct(0.5), pct(0.99), per_second)
}

fn median_f64(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
