//! Bounded capture of a guest's stdout and stderr.
//!
//! The guest may write as much as it likes; the first `limit` bytes are kept
//! and the rest is counted and dropped. Writes never fail and never block,
//! so a flood costs the guest its own CPU time and nothing else.

use bytes::Bytes;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// How much a single write may carry; also what `check-write` grants.
const WRITE_PERMIT: usize = 64 * 1024;

#[derive(Clone)]
pub(crate) struct Capture {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    kept: Vec<u8>,
    limit: usize,
    dropped: u64,
}

impl Capture {
    pub(crate) fn new(limit: usize) -> Self {
        Self { inner: Arc::new(Mutex::new(Inner { kept: Vec::new(), limit, dropped: 0 })) }
    }

    fn push(&self, bytes: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let room = inner.limit.saturating_sub(inner.kept.len());
        let take = room.min(bytes.len());
        inner.kept.extend_from_slice(&bytes[..take]);
        inner.dropped += (bytes.len() - take) as u64;
    }

    /// Appends one `LEVEL message` line (for the host `log` import).
    pub(crate) fn write_line(&self, level: &str, message: &str) {
        self.push(format!("{level} {message}\n").as_bytes());
    }

    /// The kept bytes as text, and how many bytes were cut.
    pub(crate) fn take(&self) -> (String, u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let kept = std::mem::take(&mut inner.kept);
        (String::from_utf8_lossy(&kept).into_owned(), inner.dropped)
    }
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl AsyncWrite for Capture {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_bytes_and_counts_the_rest() {
        let c = Capture::new(4);
        c.push(b"abc");
        c.push(b"defg");
        assert_eq!(c.take(), ("abcd".to_owned(), 3));
    }
}
