//! Hot reload: watches the plugin directory and, once a burst of file
//! events has settled, refreshes what serves from it and records what
//! changed in the history of the configs of each task type.
//!
//! Owns the `notify` watcher and the debouncing, nothing else: loading and
//! the atomic swap belong to the registry, versions to `crate::plugins::artifacts`,
//! history to the scheduler service. Handles an editor's write-then-rename, a build tool's copy and
//! a mounted volume's symlink swap alike, because it reacts to any change
//! in the directory (never to mere reads: the rescan's own reads would wake
//! it again) by comparing the whole directory with the catalog.

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

use crate::engine::scheduler::SchedulerService;
use crate::plugins::artifacts::Artifacts;
use crate::plugins::registry::Change;

/// Quiet time after the last event before a rescan: long enough to take a
/// copy's events as one, short enough that a rebuilt plugin serves at once.
pub const SETTLE: Duration = Duration::from_millis(25);
/// A stream of events that never goes quiet still rescans this often.
const MAX_DELAY: Duration = Duration::from_millis(500);

/// Why the directory cannot be watched.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch the plugin directory {dir}: {source}")]
pub struct WatchError {
    dir: String,
    source: notify::Error,
}

/// Refreshes from the directory and notes the changes in the configs'
/// history (a history that cannot be written is logged, not fatal: the
/// reload stands).
pub async fn rescan(
    plugins: &Artifacts,
    scheduler: Option<&SchedulerService>,
) -> std::io::Result<Vec<(String, Change)>> {
    let changes = plugins.refresh_directory().await?;
    let described: Vec<(String, String)> =
        changes.iter().map(|(name, c)| (name.clone(), c.describe())).collect();
    if let (Some(scheduler), false) = (scheduler, changes.is_empty())
        && let Err(e) = scheduler.note_plugin_changes(&described).await
    {
        tracing::warn!(error = %e, "plugins reloaded, but their configs' history could not be written");
    }
    Ok(changes)
}

/// Starts watching `registry`'s directory; reloads until `shutdown` turns
/// true. Fails at once if the directory cannot be watched.
pub fn watch(
    plugins: Artifacts,
    scheduler: Option<SchedulerService>,
    shutdown: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, WatchError> {
    let registry = plugins.registry().clone();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
        Ok(event) if changes_something(&event.kind) => {
            let _ = tx.send(());
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "plugin directory watcher"),
    })
    .map_err(|source| WatchError { dir: registry.dir().display().to_string(), source })?;
    watcher
        .watch(registry.dir(), RecursiveMode::NonRecursive)
        .map_err(|source| WatchError { dir: registry.dir().display().to_string(), source })?;
    tracing::info!(dir = %registry.dir().display(), "watching the plugin directory for changes");
    Ok(tokio::spawn(reload_loop(watcher, plugins, scheduler, rx, shutdown)))
}

/// Creations, writes, renames and removals; not opens, reads or closes
/// after reading.
fn changes_something(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

async fn reload_loop(
    _watcher: notify::RecommendedWatcher,
    plugins: Artifacts,
    scheduler: Option<SchedulerService>,
    mut events: mpsc::UnboundedReceiver<()>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            got = events.recv() => if got.is_none() { return },
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        // Debounce: wait until the directory has been quiet for SETTLE.
        let deadline = tokio::time::Instant::now() + MAX_DELAY;
        loop {
            let quiet = tokio::time::sleep(SETTLE);
            tokio::select! {
                got = events.recv() => if got.is_none() { return },
                _ = quiet => break,
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
        }
        if let Err(e) = rescan(&plugins, scheduler.as_ref()).await {
            let dir = plugins.registry().dir().display().to_string();
            tracing::warn!(error = %e, %dir, "cannot rescan the plugin directory");
        }
    }
}
