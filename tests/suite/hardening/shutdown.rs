//! A stopping process waits for its runs at most the shutdown grace, even
//! when every worker slot is busy: what has not finished by then is handed
//! back (left for another worker, or this one's next start, to reclaim).

use serde_json::json;
use std::time::{Duration, Instant};

use crate::support::*;

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_every_slot_busy_stops_within_the_grace(d) {
    let extra = [("TASKBOX_WORKER_CONCURRENCY", "1".to_owned()), ("TASKBOX_SHUTDOWN_GRACE_SECONDS", "2".to_owned())];
    let mut server = serve_plugins(&d, &["sleep"], &extra);
    let id = server.create_id(json!({"name": "s", "task_type": "sleep", "scheduler_type": "manual",
        "parameters": {"ms": 60000}})).await;
    server.run(&id).await;
    server.run(&id).await;
    // The one slot is taken: a run is in flight and another waits.
    eventually("a run in flight", Duration::from_secs(10), || async {
        server.get("/system/dashboard").await.1["queue_depth"] == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = Instant::now();
    let pid = server.child.id() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let stopped = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(asked.elapsed() < Duration::from_secs(10), "still running {:?} after SIGTERM", asked.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(2 + 3), "stopped after {took:?} with a grace of 2 s");
    assert!(stopped.success(), "{stopped:?}");
}
}
