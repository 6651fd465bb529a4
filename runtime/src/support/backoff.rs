//! Retrying with backoff: 100 ms, doubled after each failure up to 5 s,
//! back to the start after a success. Every loop that must outlive a
//! service that is down (the fire loop, the worker, its committer, start-up
//! waits, the Redis change listener) retries through this. A leaf.

use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

const FIRST: Duration = Duration::from_millis(100);
const MAX: Duration = Duration::from_secs(5);

/// The delay before the next try.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: FIRST }
    }
}

impl Backoff {
    /// How long to wait now; the wait after it is twice as long (at most 5 s).
    pub fn next_delay(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(MAX);
        now
    }

    /// After a success: start again from the shortest delay.
    pub fn reset(&mut self) {
        self.next = FIRST;
    }
}

/// Calls `attempt` until it succeeds, logging each failure as `what` and
/// waiting with [`Backoff`] in between. `None` if `shutdown` turned true
/// first; without a `shutdown` it never gives up.
pub async fn retry<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    what: &str,
    shutdown: Option<&watch::Receiver<bool>>,
    mut attempt: impl FnMut() -> F,
) -> Option<T> {
    let mut backoff = Backoff::default();
    loop {
        let error = match attempt().await {
            Ok(value) => return Some(value),
            Err(e) => e,
        };
        let wait = backoff.next_delay();
        tracing::warn!(error = %error, retry_in = ?wait, "{what}");
        match shutdown {
            Some(shutdown) if *shutdown.borrow() => return None,
            Some(shutdown) => {
                let mut shutdown = shutdown.clone();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.wait_for(|stop| *stop) => return None,
                }
            }
            None => tokio::time::sleep(wait).await,
        }
    }
}
