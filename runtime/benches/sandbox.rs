//! Sandbox benchmark: per-run overhead of a trivial component (fresh store,
//! fresh instance, call, drop — through the real `Executor::run`), on one and
//! two threads; compile time against a cached load; and the memory a run
//! holds while it is in flight (the process's resident set with K `sleep`
//! runs in flight at once, less the resident set before, over K).
//!
//! Run: `cargo xtask plugins && cargo bench -p taskbox --bench sandbox`
//! (`-- --runs N` to change the number of runs per thread).

use std::path::PathBuf;
use std::time::{Duration, Instant};

mod common;

use taskbox::executor::{EngineSettings, Executor, Limits, RunContext, RunRequest};
use taskbox::plugins::registry::{LoadSource, Loader, Plugin};

fn main() {
    let runs = std::env::args()
        .skip_while(|a| a != "--runs")
        .nth(1)
        .map_or(50_000, |n| n.parse().expect("--runs takes a number"));
    let echo = common::built("echo");
    let executor = Executor::new(EngineSettings::default()).expect("sandbox");

    println!("== load: compile vs. cached artifact (median of 10) ==");
    for name in ["echo", "probe", "wc"] {
        load_times(&executor, &common::built(name));
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

    let sleep = Loader::new(executor.clone(), Some(cache.path().to_owned()))
        .load(&common::built("sleep"))
        .plugin
        .unwrap();
    // Against one baseline: the pool keeps a used slot's memory resident
    // after its run, so a run's cost includes the slot it warmed.
    let baseline = resident_kib();
    println!(
        "\n== memory per run in flight: sleep (1.5 s), K runs at once; resident before any: {:.1} MiB ==",
        baseline as f64 / 1024.0
    );
    for in_flight in [8, 64, 256] {
        let during = resident_in_flight(&executor, &sleep, in_flight);
        println!(
            "K = {in_flight:>3}: resident {:>6.1} MiB in flight: {:>6.0} KiB per run",
            during as f64 / 1024.0,
            (during.saturating_sub(baseline)) as f64 / in_flight as f64
        );
    }
}

/// The process's resident set (KiB) while `k` runs are in flight.
fn resident_in_flight(executor: &Executor, plugin: &std::sync::Arc<Plugin>, k: usize) -> u64 {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let runs: Vec<_> = (0..k)
            .map(|_| {
                let (executor, plugin) = (executor.clone(), plugin.clone());
                tokio::spawn(async move {
                    let request = RunRequest {
                        context: RunContext::ad_hoc(),
                        params: r#"{"ms":1500}"#.to_owned(),
                        limits: Limits::default(),
                        doors: Default::default(),
                    };
                    assert!(executor.run(&plugin.runnable, request).await.is_success);
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(800)).await;
        let during = resident_kib();
        for run in runs {
            run.await.unwrap();
        }
        during
    })
}

/// VmRSS of this process, in KiB (Linux).
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: 0 kB");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
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
                                doors: Default::default(),
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
