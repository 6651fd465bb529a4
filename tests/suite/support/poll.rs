//! The one way a test waits for something to happen: poll a check until it
//! holds, and fail with what was awaited if it never does.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` every 20 ms until it holds; panics naming `what` after
/// `within`. Answers how long it took.
pub async fn eventually<F: Future<Output = bool>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) -> Duration {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < within, "{what}: not after {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}
