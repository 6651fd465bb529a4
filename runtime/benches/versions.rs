//! Plugin versions benchmark: what an upload costs and how soon another
//! node serves it, on both config stores (the embedded SQLite file, the
//! shipped default, then a fresh PostgreSQL database).
//!
//! Two in-process "nodes" share one store, each with its own registry,
//! empty plugin directory and compiled-artifact cache. For each component:
//! - upload: node A validates (compiles, cold cache), stores and publishes it;
//! - second node: node B, following the store, loads it from the store
//!   (cold cache: it compiles), then a third node with B's warm cache;
//! - fetch: reading the component back (what replay and a loading node do).
//!
//! A node looks every `FOLLOW_EVERY` (1 s, not a setting): add 0 to 1 s
//! (0.5 s on average) of waiting to the second-node figures for what an
//! operator sees after `taskbox plugin push`.
//!
//! Run: `cargo xtask plugins && cargo bench -p taskbox --bench versions`
//! (`-- --rounds N`, default 3; `--only sqlite|postgres`).

mod common;

use sha2::Digest;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskbox::executor::{EngineSettings, Executor};
use taskbox::plugins::artifacts::{Artifacts, FOLLOW_EVERY, Upload};
use taskbox::plugins::registry::{Loader, Registry};
use taskbox::store::PluginStore;

const COMPONENTS: [&str; 3] = ["echo", "js_probe", "py_probe"];

fn main() {
    let rounds = common::arg("--rounds", 3);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let executor = Executor::new(EngineSettings::default()).expect("sandbox");
        println!("== upload -> served on another node ({rounds} rounds; median ms; nodes also wait for their next look, every {FOLLOW_EVERY:?}) ==");
        for store_kind in ["sqlite", "postgres"] {
            if !common::only(store_kind) {
                continue;
            }
            println!("-- {store_kind} --");
            println!(
                "{:<9} {:>8} {:>10} {:>14} {:>14} {:>9}",
                "component", "size", "upload", "2nd node cold", "2nd node warm", "fetch"
            );
            for name in COMPONENTS {
                let path = common::built(name);
                let bytes = std::fs::read(&path).unwrap();
                let mut rows: [Vec<f64>; 4] = Default::default();
                for _ in 0..rounds {
                    // A fresh store each round: nothing of an earlier one is cached.
                    let scratch = tempfile::tempdir().unwrap();
                    let (url, pg) = match store_kind {
                        "sqlite" => (format!("sqlite://{}", scratch.path().join("taskbox.db").display()), None),
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
                    "{name:<9} {:>5.1} MB {:>7.1} ms {:>11.1} ms {:>11.1} ms {:>6.1} ms",
                    bytes.len() as f64 / 1e6,
                    med(&mut rows[0]),
                    med(&mut rows[1]),
                    med(&mut rows[2]),
                    med(&mut rows[3]),
                );
            }
        }
    });
}

/// One round: upload on node A, served on B (cold cache), then on C (B's
/// cache, warm), and the component read back.
async fn measure(
    executor: &Executor,
    store: &Arc<dyn PluginStore>,
    task: &str,
    bytes: &[u8],
) -> [Duration; 4] {
    let node = |cache: &Path| {
        let dir = tempfile::tempdir().unwrap();
        let loader = Loader::new(executor.clone(), Some(cache.to_owned()));
        let registry = Registry::new(dir.path(), loader);
        (dir, Artifacts::new(registry, store.clone(), 20, None))
    };
    let (cache_a, cache_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_dir_a, a) = node(cache_a.path());
    let (_dir_b, b) = node(cache_b.path());
    let (_dir_c, c) = node(cache_b.path());
    b.follow().await;
    c.follow().await;

    let spool = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(spool.path(), bytes).unwrap();
    let digest = hex::encode(sha2::Sha256::digest(bytes));
    let upload = Upload {
        name: task.to_owned(),
        file: spool.path().to_owned(),
        digest: digest.clone(),
        size: bytes.len() as u64,
        sidecar: None,
    };
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
    let cold = served_on(b).await;
    let warm = served_on(c).await;

    let start = Instant::now();
    let fetched = store.blob(&digest).await.unwrap().expect("stored");
    let fetch = start.elapsed();
    assert_eq!(fetched.len(), bytes.len());
    [upload, cold, warm, fetch]
}
