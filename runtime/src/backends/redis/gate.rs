//! Fail fast while Redis is known to be down. Every command goes through a
//! [`Gated`] connection: once one fails because Redis cannot be reached,
//! the gate closes, later commands fail at once (a 503 in microseconds, not
//! after the connection manager's reconnect backoff), and one background
//! probe asks Redis every [`PROBE_EVERY`] until it answers, then opens
//! the gate again (or until no connection behind the gate is left, so a
//! stopped process does not go on probing). Owns that state only; what to do with the error is the
//! caller's.

use redis::aio::ConnectionLike;
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, Value};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::connection::Conn;

/// How often a closed gate asks Redis whether it is back.
const PROBE_EVERY: Duration = Duration::from_millis(200);
/// How long one probe waits for its answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// A connection behind the gate of one Redis.
#[derive(Clone)]
pub(super) struct Gated {
    inner: Conn,
    down: Arc<AtomicBool>,
    /// A key of this deployment's: the probe asks for it, so on a cluster
    /// it reaches the master serving these keys (a `PING` would go to every
    /// node, and fail while any one is down).
    probe_key: Arc<str>,
}

impl Gated {
    /// `down` is shared by every connection to the same Redis.
    pub(super) fn new(inner: Conn, down: Arc<AtomicBool>, probe_key: Arc<str>) -> Self {
        Self { inner, down, probe_key }
    }

    fn closed() -> RedisError {
        RedisError::from((ErrorKind::Io, "Redis is unreachable (known down; retrying in the background)"))
    }

    /// After a failure: close the gate if Redis could not be reached, and
    /// start the one probe that reopens it.
    fn noticed(&self, e: &RedisError) {
        // A timeout is a slow answer (a large script, say), not an outage.
        let unreachable =
            !e.is_timeout() && (e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped());
        if !unreachable || self.down.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::warn!(error = %e, "Redis is unreachable: failing fast until it answers again");
        // The probe holds the gate weakly: once every connection behind it
        // is dropped (the backend is gone), it stops asking.
        let (mut conn, down, key) = (self.inner.clone(), Arc::downgrade(&self.down), self.probe_key.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                let Some(down) = down.upgrade() else { return };
                let probe = redis::cmd("EXISTS").arg(&*key).clone();
                if let Ok(Ok(_)) =
                    tokio::time::timeout(PROBE_TIMEOUT, probe.query_async::<i64>(&mut conn)).await
                {
                    down.store(false, Ordering::SeqCst);
                    tracing::info!("Redis answers again");
                    return;
                }
            }
        });
    }
}

impl ConnectionLike for Gated {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            if self.down.load(Ordering::SeqCst) {
                return Err(Self::closed());
            }
            let answer = self.inner.req_packed_command(cmd).await;
            if let Err(e) = &answer {
                self.noticed(e);
            }
            answer
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            if self.down.load(Ordering::SeqCst) {
                return Err(Self::closed());
            }
            let answer = self.inner.req_packed_commands(pipeline, offset, count).await;
            if let Err(e) = &answer {
                self.noticed(e);
            }
            answer
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}
