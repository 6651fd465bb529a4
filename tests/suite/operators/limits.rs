//! Concurrency limits fleet-wide (a config's and a task type's), across
//! worker processes and through a worker crash.

use serde_json::json;
use std::time::Duration;

use super::{most_at_once, started};
use crate::support::*;

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limit_holds_across_worker_processes(d) {
    // A task type whose sidecar allows two at once, beside a plain one.
    let dir = PluginDir::with(&["sleep"]);
    dir.add("sleep", "nap");
    dir.write("nap.toml", "max_concurrency = 2\n");
    // Two runs at most per worker process, so a limit of three at once is
    // reached only with both processes running its runs together.
    let two_each = [("TASKBOX_WORKER_CONCURRENCY", "2".to_string())];
    let f = Fleet::start(&d, dir, 2, if d.kind.on_redis() { &two_each } else { &[] });
    let api = &f.api;
    let limited = api.create_id(json!({"name": "limited", "task_type": "sleep", "scheduler_type": "manual",
        "parameters": {"ms": 1000}, "max_concurrency": 3})).await;
    let (_, config) = api.get(&format!("/configs/{limited}")).await;
    assert_eq!(config["max_concurrency"], 3, "{config}");
    let naps: Vec<String> = futures::future::join_all((0..3).map(|i| {
        api.create_id(json!({"name": format!("nap{i}"), "task_type": "nap", "scheduler_type": "manual",
            "parameters": {"ms": 500}}))
    }))
    .await;
    for _ in 0..20 {
        api.run(&limited).await;
    }
    for nap in &naps {
        for _ in 0..2 {
            api.run(nap).await;
        }
    }
    eventually("all 20 runs complete", Duration::from_secs(60), || async {
        api.records(&limited).await.len() == 20
    })
    .await;
    let done = api.records(&limited).await;
    assert!(done.iter().all(|r| r["is_success"] == true), "{done:?}");
    let most = most_at_once(&done);
    assert!(most <= 3, "at most 3 at once, saw {most}");
    assert_eq!(most, 3, "the limit is a limit, not a queue of one");
    if d.kind.on_redis() {
        let workers: std::collections::BTreeSet<&str> = done.iter().map(|r| r["worker"].as_str().unwrap()).collect();
        assert_eq!(workers.len(), 2, "both worker processes took runs: {workers:?}");
    }
    let mut naps_done = Vec::new();
    for nap in &naps {
        eventually("the naps complete", Duration::from_secs(30), || async { api.records(nap).await.len() == 2 }).await;
        naps_done.extend(api.records(nap).await);
    }
    let most = most_at_once(&naps_done);
    assert!(most <= 2, "the task type's limit of 2 holds across its configs, saw {most}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limit_holds_through_a_worker_crash(d) {
    let dir = PluginDir::with(&["sleep"]);
    let mut f = Fleet::start(&d, dir, 1, &[]);
    let id = f.api.create_id(json!({"name": "crashy", "task_type": "sleep", "scheduler_type": "manual",
        "parameters": {"ms": 1000}, "max_concurrency": 2})).await;
    for _ in 0..6 {
        f.api.run(&id).await;
    }
    started().await;
    // The process running the runs dies mid-run; another takes over.
    match d.kind {
        Kind::Distributed | Kind::Cluster => {
            f.workers[0].kill();
            f.workers.push(serve_worker(&d, &f.plugins, &[]));
        }
        Kind::Embedded => {
            f.api.kill();
            f.api = serve(&d, &f.plugins, &[]);
        }
    }
    let api = &f.api;
    // Its held runs come back after its heartbeat lapses (10 s).
    eventually("all 6 runs complete", Duration::from_secs(60), || async {
        api.records(&id).await.len() == 6
    })
    .await;
    let done = api.records(&id).await;
    assert!(done.iter().all(|r| r["is_success"] == true), "{done:?}");
    assert!(most_at_once(&done) <= 2, "{done:?}");
    // A run the dead process recorded but never acknowledged is settled
    // once reclaimed: then nothing is left on the queue, no slot taken.
    eventually("no slot is left taken", Duration::from_secs(30), || async {
        api.get("/system/dashboard").await.1["queue_depth"] == 0
    })
    .await;
}
}
