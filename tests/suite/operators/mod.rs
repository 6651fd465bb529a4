//! What operators ask of a scheduler, black-box on both deployments with
//! real `taskbox serve` processes: cancel, concurrency limits, overlap
//! policies and jitter, tags with bulk actions and pause until, and signed
//! failure notifications.

mod bulk_runs;
mod cancel;
mod groups;
mod limits;
pub(crate) mod notifications;
mod overlap;
mod rates;
mod tags;

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;

pub(super) fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

/// The most runs of `records` that were running at one instant.
pub(super) fn most_at_once(records: &[Value]) -> usize {
    let mut edges: Vec<(DateTime<Utc>, i32)> = Vec::new();
    for r in records {
        edges.push((time(&r["started_at"]), 1));
        edges.push((time(&r["completed_at"]), -1));
    }
    // An end before a start at the same instant: back to back is no overlap.
    edges.sort();
    let (mut now, mut most) = (0, 0);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    most as usize
}

/// Gives the workers time to take the queued runs (a claim waits at most
/// 100 ms; a second is room for a loaded machine).
pub(super) async fn started() {
    tokio::time::sleep(Duration::from_millis(1000)).await;
}
