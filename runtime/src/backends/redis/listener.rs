//! The listener every process runs on the `redis` backend's pub/sub
//! channels: schedule changes wake the fire loop, cancel requests and
//! workflow progress are passed to whoever waits for them, and queued runs
//! wake idle workers. Owns the subscription and its reconnection only.

use redis::Client;
use std::sync::Weak;
use std::time::Duration;
use tokio::sync::{Notify, broadcast};

use crate::contract::queue::CancelSignal;

/// The pub/sub channels every process listens on.
pub(super) struct Channels {
    /// A schedule changed (one per shard).
    pub(super) wake: Vec<String>,
    /// Stop a run: '<execution id>|<who>' (one per shard).
    pub(super) cancel: Vec<String>,
    /// Step records of a workflow run were committed: '<execution id>'.
    pub(super) progress: String,
    /// Runs were queued (on a cluster with several shards).
    pub(super) queued: String,
}

/// Where the listener passes cancel requests, workflow progress and
/// queued runs on.
pub(super) struct Signals {
    pub(super) cancels: broadcast::Sender<CancelSignal>,
    pub(super) progress: broadcast::Sender<uuid::Uuid>,
    pub(super) queued: Weak<Notify>,
}

/// Subscribes to the `wake`, `cancel`, `progress` and `queued` channels:
/// notifies `changes` on every wake, and passes cancel requests, progress
/// and queued runs on;
/// resubscribes after a lost connection, on the next of `clients` (the
/// nodes of a cluster, where a message reaches every node). Ends when the
/// backend is dropped.
pub(super) async fn listen_for_changes(
    clients: Vec<Client>,
    channels: Channels,
    changes: Weak<Notify>,
    signals: Signals,
) {
    use futures::StreamExt;
    let mut backoff = crate::support::backoff::Backoff::default();
    for client in clients.iter().cycle() {
        if changes.strong_count() == 0 {
            return;
        }
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                let mut names: Vec<&String> = channels.wake.iter().chain(&channels.cancel).collect();
                names.extend([&channels.progress, &channels.queued]);
                if pubsub.subscribe(&names).await.is_ok() {
                    backoff.reset();
                    // A reconnect may have missed changes: wake the loop once.
                    if let Some(n) = changes.upgrade() {
                        n.notify_one();
                    }
                    let mut messages = pubsub.on_message();
                    let mut alive = tokio::time::interval(Duration::from_secs(1));
                    loop {
                        let message = tokio::select! {
                            message = messages.next() => match message { Some(m) => m, None => break },
                            // The backend was dropped (its process stopped):
                            // end, and close the subscription with us.
                            _ = alive.tick() => if changes.strong_count() == 0 { return } else { continue },
                        };
                        let channel = message.get_channel_name();
                        if channel == channels.queued {
                            if let Some(n) = signals.queued.upgrade() {
                                n.notify_waiters();
                            }
                            continue;
                        }
                        if channels.cancel.iter().any(|c| c == channel) {
                            let text: String = message.get_payload().unwrap_or_default();
                            if let Some((id, by)) = text.split_once('|')
                                && let Ok(execution_id) = id.parse()
                            {
                                let _ =
                                    signals.cancels.send(CancelSignal { execution_id, by: by.to_owned() });
                            }
                            continue;
                        }
                        if channel == channels.progress {
                            let text: String = message.get_payload().unwrap_or_default();
                            if let Ok(id) = text.parse() {
                                let _ = signals.progress.send(id);
                            }
                            continue;
                        }
                        match changes.upgrade() {
                            Some(n) => n.notify_one(),
                            None => return,
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "schedule change listener cannot reach Redis; retrying"),
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}
