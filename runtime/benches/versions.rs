//! Plugin versions benchmark: what an upload costs and how soon another
//! node serves it, on both config stores (the embedded SQLite file, the
//! shipped default, then a fresh PostgreSQL database).
//!
//! In-process "nodes" share one store, each with its own registry, empty
//! plugin directory and compiled-artifact cache. For each component:
//! - upload: node A validates (compiles, cold cache), stores it, shares its
//!   compiled code and publishes it;
//! - 2nd node, shared: node B (cold cache) loads it from the store and takes
//!   the compiled code A shared (the shipped default);
//! - 2nd node, compiling: node C (cold cache, sharing off: as a node of
//!   another wasmtime build) loads it and compiles it;
//! - warm: node D with B's cache;
//! - fetch: reading the component back (what replay and a loading node do).
//!
//! Then, on PostgreSQL, how soon a watching node hears of an upload: from
//! the upload's return (the 201) to the second node serving the new version
//! and finishing one run of it, over 20 uploads of `echo` and `fib` in turn, each
//! made a new version (a custom section of its own).
//!
//! Run: `cargo xtask plugins && cargo bench -p taskbox --bench versions`
//! (`-- --rounds N`, default 3; `--only sqlite|postgres`).

mod common;

use sha2::Digest;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskbox::executor::{EngineSettings, Executor, Limits, RunContext, RunRequest};
use taskbox::plugins::artifacts::{Artifacts, CompiledKey, Upload};
use taskbox::plugins::registry::{Loader, Registry};
use taskbox::store::PluginStore;

const COMPONENTS: [&str; 3] = ["echo", "js_probe", "py_probe"];

fn main() {
    let rounds = common::arg("--rounds", 3);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let executor = Executor::new(EngineSettings::default()).expect("sandbox");
        println!(
            "== upload -> served on another node ({rounds} rounds; median ms; the node is told at once) =="
        );
        for store_kind in ["sqlite", "postgres"] {
            if !common::only(store_kind) {
                continue;
            }
            println!("-- {store_kind} --");
            println!(
                "{:<9} {:>8} {:>10} {:>14} {:>16} {:>10} {:>9}",
                "component", "size", "upload", "2nd, shared", "2nd, compiling", "warm", "fetch"
            );
            for name in COMPONENTS {
                let path = common::built(name);
                let bytes = std::fs::read(&path).unwrap();
                let mut rows: [Vec<f64>; 5] = Default::default();
                for _ in 0..rounds {
                    // A fresh store each round: nothing of an earlier one is cached.
                    let scratch = tempfile::tempdir().unwrap();
                    let (url, pg) = match store_kind {
                        "sqlite" => {
                            (format!("sqlite://{}", scratch.path().join("taskbox.db").display()), None)
                        }
                        _ => {
                            let (name, url) = common::create_database().await;
                            (url, Some(name))
                        }
                    };
                    let opened = taskbox::store::open(&url).await.unwrap();
                    opened.configs().migrate().await.unwrap();
                    let figures = measure(&executor, &opened.plugins(), name, &bytes).await;
                    drop(opened);
                    if let Some(name) = pg {
                        common::drop_database(&name).await;
                    }
                    for (row, figure) in rows.iter_mut().zip(figures) {
                        row.push(figure.as_secs_f64() * 1000.0);
                    }
                }
                let med = |v: &mut Vec<f64>| {
                    v.sort_by(f64::total_cmp);
                    common::pct(v, 0.5)
                };
                println!(
                    "{name:<9} {:>5.1} MB {:>7.1} ms {:>11.1} ms {:>13.1} ms {:>7.1} ms {:>6.1} ms",
                    bytes.len() as f64 / 1e6,
                    med(&mut rows[0]),
                    med(&mut rows[1]),
                    med(&mut rows[2]),
                    med(&mut rows[3]),
                    med(&mut rows[4]),
                );
            }
        }
        if common::only("postgres") {
            propagation(&executor).await;
        }
    });
}

/// A node of the fleet: its own empty directory and cache; sharing
/// compiled code unless `key` is `None`.
fn node(
    executor: &Executor,
    store: &Arc<dyn PluginStore>,
    cache: &Path,
    key: Option<CompiledKey>,
) -> (tempfile::TempDir, Artifacts) {
    let dir = tempfile::tempdir().unwrap();
    let loader = Loader::new(executor.clone(), Some(cache.to_owned()));
    let registry = Registry::new(dir.path(), loader);
    (dir, Artifacts::new(registry, store.clone(), 20, key))
}

fn key() -> Option<CompiledKey> {
    Some(CompiledKey::new([7; 32]))
}

fn spooled(task: &str, bytes: &[u8]) -> (tempfile::NamedTempFile, Upload) {
    let spool = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(spool.path(), bytes).unwrap();
    let upload = Upload {
        name: task.to_owned(),
        file: spool.path().to_owned(),
        digest: hex::encode(sha2::Sha256::digest(bytes)),
        size: bytes.len() as u64,
        sidecar: None,
    };
    (spool, upload)
}

/// `component` with a custom section carrying `n` at its end: the same
/// code under a digest of its own, so every upload is a version no node
/// has seen (or compiled).
fn new_version(component: &[u8], n: u64) -> Vec<u8> {
    let name = b"taskbox-bench";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(&n.to_le_bytes());
    let mut bytes = component.to_vec();
    bytes.push(0); // a custom section
    bytes.push(section.len() as u8); // < 128: one LEB128 byte
    bytes.extend_from_slice(&section);
    bytes
}

/// Upload → a run of the new version on a watching second node, on PostgreSQL.
async fn propagation(executor: &Executor) {
    const UPLOADS: usize = 20;
    let (db, url) = common::create_database().await;
    let opened = taskbox::store::open(&url).await.unwrap();
    opened.configs().migrate().await.unwrap();
    let store = opened.plugins();
    let (cache_a, cache_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_dir_a, a) = node(executor, &store, cache_a.path(), key());
    let (_dir_b, b) = node(executor, &store, cache_b.path(), key());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let watching = b.clone().watch(stopped);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let files = ["echo", "fib"].map(|name| std::fs::read(common::built(name)).unwrap());
    let mut took = Vec::new();
    for i in 0..UPLOADS {
        let (_spool, upload) = spooled("job", &new_version(&files[i % 2], i as u64));
        let digest = upload.digest.clone();
        a.upload(upload).await.expect("the upload is accepted");
        let start = Instant::now();
        let plugin = loop {
            match b.registry().get("job") {
                Some(plugin) if plugin.runnable.digest == digest => break plugin,
                _ => tokio::time::sleep(Duration::from_millis(1)).await,
            }
            assert!(start.elapsed() < Duration::from_secs(20), "the second node never served it");
        };
        let request = RunRequest {
            context: RunContext::ad_hoc(),
            params: r#"{"n":5}"#.into(),
            limits: Limits::default(),
            doors: Default::default(),
        };
        assert!(executor.run(&plugin.runnable, request).await.is_success);
        took.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let _ = stop.send(true);
    let _ = watching.await;
    drop((a, b, opened));
    common::drop_database(&db).await;
    took.sort_by(f64::total_cmp);
    println!(
        "== upload's return -> a run of the new version on a watching second node (PostgreSQL LISTEN; {UPLOADS} new versions of echo and fib in turn, shared compiled code) =="
    );
    println!(
        "p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        common::pct(&took, 0.5),
        common::pct(&took, 0.95),
        took[took.len() - 1]
    );
}

/// One round: upload on node A, served on B (cold cache, shared compiled
/// code), on C (cold cache, compiling), then on D (B's cache, warm), and
/// the component read back.
async fn measure(
    executor: &Executor,
    store: &Arc<dyn PluginStore>,
    task: &str,
    bytes: &[u8],
) -> [Duration; 5] {
    let caches = [(); 3].map(|()| tempfile::tempdir().unwrap());
    let (_dir_a, a) = node(executor, store, caches[0].path(), key());
    let (_dir_b, b) = node(executor, store, caches[1].path(), key());
    let (_dir_c, c) = node(executor, store, caches[2].path(), None);
    let (_dir_d, d) = node(executor, store, caches[1].path(), key());
    for node in [&b, &c, &d] {
        node.follow().await;
    }

    let (_spool, upload) = spooled(task, bytes);
    let digest = upload.digest.clone();
    let start = Instant::now();
    a.upload(upload).await.expect("the upload is accepted");
    let upload = start.elapsed();

    let served_on = |node: Artifacts| {
        let (task, digest) = (task.to_owned(), digest.clone());
        async move {
            let start = Instant::now();
            node.follow().await;
            let serving = node.registry().get(&task).map(|p| p.runnable.digest.clone());
            assert_eq!(serving.as_deref(), Some(digest.as_str()), "the node serves the upload");
            start.elapsed()
        }
    };
    let shared = served_on(b).await;
    let compiling = served_on(c).await;
    let warm = served_on(d).await;

    let start = Instant::now();
    let fetched = store.blob(&digest).await.unwrap().expect("stored");
    let fetch = start.elapsed();
    assert_eq!(fetched.len(), bytes.len());
    [upload, shared, compiling, warm, fetch]
}
