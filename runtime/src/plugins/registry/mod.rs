//! The plugin registry: which task types exist and the code each one runs.
//!
//! Owns scanning the plugin directory, loading each `<task_type>.wasm` (with
//! its optional sidecar) through [`Loader`] (a WASI preview-1 module is
//! adapted into a component first: `adapt`), and publishing what serves as
//! an immutable map that is swapped atomically: a run holds the `Arc` of the
//! version it started with, so a later scan never disturbs it. One broken
//! file never stops the others, and a file that breaks after it loaded
//! leaves its previous version serving. A scan reloads only files whose
//! content changed; a publish reports what changed. What serves is the
//! directory itself ([`Registry::rescan`]) or, where versions are kept in
//! the config store, what `crate::plugins::artifacts` decides from the directory and
//! the store ([`Registry::scan_directory`], [`Registry::publish`]). It
//! never executes anything, never reads the store (and never watches: see
//! `crate::engine::reload`).

mod adapt;
mod cache;
mod dirs;
mod load;
mod origin;
mod sidecar;

pub use adapt::{AdaptError, AdaptedFrom, adapt};
pub use cache::ArtifactCache;
pub use dirs::DirPolicy;
pub use load::{
    LoadError, LoadSource, Loader, Plugin, PluginEntry, PluginInfo, fingerprint, is_valid_task_type,
};
pub use origin::Origin;
pub use sidecar::{MAX_MEMORY_MB, Sidecar, SidecarError};

use arc_swap::ArcSwap;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Task type → what its file loaded to.
pub type Catalog = BTreeMap<String, Arc<PluginEntry>>;

/// Cheap-to-clone handle to the registry.
#[derive(Clone)]
pub struct Registry {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    loader: Loader,
    /// What serves.
    catalog: ArcSwap<Catalog>,
    /// What the last scan found in the directory, loaded or not.
    disk: ArcSwap<Catalog>,
    /// One scan at a time, so an older scan never overwrites a newer one.
    scanning: tokio::sync::Mutex<()>,
}

/// What a rescan changed for one task type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new file loaded.
    Added { digest: String },
    /// A changed file loaded; runs that started on `from` finish on it.
    Replaced { from: String, to: String },
    /// A changed file failed to load; `serving` is the version kept, if any.
    Failed { error: String, serving: Option<String> },
    /// The file is gone; its task type is unknown until it returns.
    Removed,
}

impl Change {
    /// For logs and history events.
    pub fn describe(&self) -> String {
        let short = |d: &str| d.chars().take(12).collect::<String>();
        match self {
            Change::Added { digest } => format!("plugin loaded (digest {})", short(digest)),
            Change::Replaced { from, to } => {
                format!("plugin reloaded: digest {} -> {}", short(from), short(to))
            }
            Change::Failed { error, serving: Some(d) } => {
                format!("plugin file failed to load; still serving digest {}: {error}", short(d))
            }
            Change::Failed { error, serving: None } => format!("plugin file failed to load: {error}"),
            Change::Removed => {
                "plugin file removed: runs fail with an unknown task type until it returns".into()
            }
        }
    }
}

impl Registry {
    /// An empty registry over `dir`; call [`Registry::scan`] to fill it.
    pub fn new(dir: impl Into<PathBuf>, loader: Loader) -> Self {
        Self {
            shared: Arc::new(Shared {
                dir: dir.into(),
                loader,
                catalog: ArcSwap::from_pointee(Catalog::new()),
                disk: ArcSwap::from_pointee(Catalog::new()),
                scanning: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    pub fn loader(&self) -> &Loader {
        &self.shared.loader
    }

    /// Loads every `*.wasm` in the directory (compiling in parallel, off the
    /// async threads) and publishes the new catalog. A missing directory is
    /// an empty catalog.
    pub async fn scan(&self) -> std::io::Result<Arc<Catalog>> {
        Ok(self.rescan().await?.0)
    }

    /// Serves the directory as it is: files whose content (with their
    /// sidecar) is unchanged keep their entry; new and changed ones load
    /// off the async threads; a changed file that fails to load keeps its
    /// previous version serving, with the error on its entry; removed
    /// files are dropped. Publishes the result atomically and says what
    /// changed.
    pub async fn rescan(&self) -> std::io::Result<(Arc<Catalog>, Vec<(String, Change)>)> {
        let _one_at_a_time = self.shared.scanning.lock().await;
        let disk = self.scan_directory().await?;
        let serving = self.catalog();
        let catalog =
            disk.iter().map(|(name, entry)| (name.clone(), settle(entry, serving.get(name)))).collect();
        let changes = self.publish(catalog);
        Ok((self.catalog(), changes))
    }

    /// What is in the directory now, each file loaded (new and changed
    /// ones off the async threads; unchanged ones, by their fingerprint,
    /// as the last scan loaded them). Publishes nothing.
    pub async fn scan_directory(&self) -> std::io::Result<Arc<Catalog>> {
        let files = wasm_files(&self.shared.dir)?;
        let last = self.shared.disk.load_full();
        let mut loads = tokio::task::JoinSet::new();
        for path in files {
            let loader = self.shared.loader.clone();
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let previous = last.get(&name).cloned();
            loads.spawn_blocking(move || match previous {
                // Unchanged and fine: keep it. (A file whose last load
                // failed is tried again: the cause may lie outside it.)
                Some(prev)
                    if prev.info.error.is_none()
                        && prev.fingerprint.is_some()
                        && prev.fingerprint == fingerprint(&path) =>
                {
                    (name, prev)
                }
                _ => {
                    let load = std::panic::AssertUnwindSafe(|| loader.load(&path));
                    let loaded = std::panic::catch_unwind(load).unwrap_or_else(|_| {
                        let mut info = PluginInfo::unloaded(&name, &path);
                        info.error =
                            Some("loading the plugin panicked (a bug in taskbox or wasmtime)".into());
                        PluginEntry { info, plugin: None, fingerprint: None }
                    });
                    (name, Arc::new(loaded))
                }
            });
        }
        let mut disk = Catalog::new();
        while let Some(done) = loads.join_next().await {
            let (name, entry) = done.map_err(std::io::Error::other)?;
            disk.insert(name, entry);
        }
        let disk = Arc::new(disk);
        self.shared.disk.store(disk.clone());
        Ok(disk)
    }

    /// Makes `catalog` what serves, atomically, and says (and logs) what
    /// changed for each task type since the last publish.
    pub fn publish(&self, catalog: Catalog) -> Vec<(String, Change)> {
        let current = self.catalog();
        let mut changes = Vec::new();
        for (name, entry) in &catalog {
            if let Some(change) = change_of(current.get(name).map(|e| &**e), entry) {
                match &change {
                    Change::Failed { .. } => tracing::warn!(plugin = %name, "{}", change.describe()),
                    _ => tracing::info!(
                        plugin = %name,
                        shape = ?entry.info.shape,
                        source = ?entry.info.source,
                        origin = ?entry.info.origin,
                        load_ms = entry.info.load_ms,
                        "{}",
                        change.describe()
                    ),
                }
                changes.push((name.clone(), change));
            }
        }
        for name in current.keys().filter(|n| !catalog.contains_key(*n)) {
            tracing::info!(plugin = %name, "{}", Change::Removed.describe());
            changes.push((name.clone(), Change::Removed));
        }
        changes.sort_by(|a, b| a.0.cmp(&b.0));
        self.shared.catalog.store(Arc::new(catalog));
        changes
    }

    /// The loaded plugin for a task type.
    pub fn get(&self, task_type: &str) -> Option<Arc<Plugin>> {
        self.shared.catalog.load().get(task_type)?.plugin.clone()
    }

    /// Everything known about a task type's file, loaded or not.
    pub fn entry(&self, task_type: &str) -> Option<Arc<PluginEntry>> {
        self.shared.catalog.load().get(task_type).cloned()
    }

    /// The current catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.shared.catalog.load_full()
    }

    /// What the last scan found in the directory, loaded or not.
    pub fn directory(&self) -> Arc<Catalog> {
        self.shared.disk.load_full()
    }
}

/// The `*.wasm` files directly in `dir`, sorted.
fn wasm_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The entry to serve for a directory entry, given the entry serving
/// before: a file that failed to load keeps the previous plugin serving,
/// with the file's error on it.
fn settle(found: &Arc<PluginEntry>, serving: Option<&Arc<PluginEntry>>) -> Arc<PluginEntry> {
    match (&found.plugin, serving.filter(|p| p.plugin.is_some())) {
        (None, Some(prev)) => {
            let info = PluginInfo { error: found.info.error.clone(), ..prev.info.clone() };
            Arc::new(PluginEntry {
                info,
                plugin: prev.plugin.clone(),
                fingerprint: found.fingerprint.clone(),
            })
        }
        _ => found.clone(),
    }
}

/// What changed for one task type from `before` (if it was known) to
/// `after`; `None` for nothing worth saying (the same version, or the same
/// failure again).
fn change_of(before: Option<&PluginEntry>, after: &PluginEntry) -> Option<Change> {
    let serving = |e: &PluginEntry| e.plugin.as_ref().map(|p| p.runnable.digest.clone());
    let (from, to) = (before.and_then(serving), serving(after));
    match (&after.info.error, from, to) {
        (Some(error), _, serving) => {
            let repeated = before.and_then(|b| b.info.error.as_ref()) == Some(error);
            (!repeated).then(|| Change::Failed { error: error.clone(), serving })
        }
        (None, Some(from), Some(to)) if from == to => None,
        (None, Some(from), Some(to)) => Some(Change::Replaced { from, to }),
        (None, None, Some(digest)) => Some(Change::Added { digest }),
        (None, _, None) => None,
    }
}
