//! The plugin registry: which task types exist and the code each one runs.
//!
//! Owns scanning the plugin directory, loading each `<task_type>.wasm` (with
//! its optional sidecar) through [`Loader`], and publishing the result as an
//! immutable map that is swapped atomically: a run holds the `Arc` of the
//! version it started with, so a later scan never disturbs it. One broken
//! file never stops the others, and a file that breaks after it loaded
//! leaves its previous version serving. A rescan reloads only files whose
//! content changed and reports what changed. It never executes anything
//! (and never watches: see `crate::reload`).

mod cache;
mod load;
mod sidecar;

pub use cache::ArtifactCache;
pub use load::{
    LoadError, LoadSource, Loader, Plugin, PluginEntry, PluginInfo, fingerprint, is_valid_task_type,
};
pub use sidecar::{MAX_MEMORY_MB, Sidecar, SidecarError, is_valid_secret_name};

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
    catalog: ArcSwap<Catalog>,
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
                scanning: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Loads every `*.wasm` in the directory (compiling in parallel, off the
    /// async threads) and publishes the new catalog. A missing directory is
    /// an empty catalog.
    pub async fn scan(&self) -> std::io::Result<Arc<Catalog>> {
        Ok(self.rescan().await?.0)
    }

    /// Brings the catalog in line with the directory: files whose content
    /// (with their sidecar) is unchanged keep their entry; new and changed
    /// ones load off the async threads; a changed file that fails to load
    /// keeps its previous version serving, with the error on its entry;
    /// removed files are dropped. Publishes the result atomically and says
    /// what changed.
    pub async fn rescan(&self) -> std::io::Result<(Arc<Catalog>, Vec<(String, Change)>)> {
        let _one_at_a_time = self.shared.scanning.lock().await;
        let files = wasm_files(&self.shared.dir)?;
        let current = self.catalog();
        let mut loads = tokio::task::JoinSet::new();
        for path in files {
            let loader = self.shared.loader.clone();
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let previous = current.get(&name).cloned();
            loads.spawn_blocking(move || match previous {
                // Unchanged and fine: keep it. (A file whose last load
                // failed is tried again: the cause may lie outside it.)
                Some(prev)
                    if prev.info.error.is_none()
                        && prev.fingerprint.is_some()
                        && prev.fingerprint == fingerprint(&path) =>
                {
                    (name, prev, None)
                }
                prev => {
                    let load = std::panic::AssertUnwindSafe(|| loader.load(&path));
                    let loaded = std::panic::catch_unwind(load).unwrap_or_else(|_| PluginEntry {
                        info: PluginInfo {
                            name: name.clone(),
                            file: path.clone(),
                            size: 0,
                            digest: None,
                            shape: None,
                            loaded_at: None,
                            source: None,
                            load_ms: 0.0,
                            error: Some("loading the plugin panicked (a bug in taskbox or wasmtime)".into()),
                        },
                        plugin: None,
                        fingerprint: None,
                    });
                    let (entry, change) = settle(loaded, prev.as_deref());
                    // The same failure again is no news.
                    let repeated = matches!(&change, Change::Failed { error, .. }
                        if prev.as_ref().and_then(|p| p.info.error.as_ref()) == Some(error));
                    (name, Arc::new(entry), (!repeated).then_some(change))
                }
            });
        }
        let mut catalog = Catalog::new();
        let mut changes = Vec::new();
        while let Some(done) = loads.join_next().await {
            let (name, entry, change) = done.map_err(std::io::Error::other)?;
            if let Some(change) = change {
                match &change {
                    Change::Failed { .. } => tracing::warn!(plugin = %name, "{}", change.describe()),
                    _ => tracing::info!(
                        plugin = %name,
                        shape = ?entry.info.shape,
                        source = ?entry.info.source,
                        load_ms = entry.info.load_ms,
                        "{}",
                        change.describe()
                    ),
                }
                changes.push((name.clone(), change));
            }
            catalog.insert(name, entry);
        }
        for name in current.keys().filter(|n| !catalog.contains_key(*n)) {
            tracing::info!(plugin = %name, "{}", Change::Removed.describe());
            changes.push((name.clone(), Change::Removed));
        }
        changes.sort_by(|a, b| a.0.cmp(&b.0));
        let catalog = Arc::new(catalog);
        self.shared.catalog.store(catalog.clone());
        Ok((catalog, changes))
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

/// The entry to publish for a fresh load, given the previous entry of the
/// same name: a failed load keeps the previous plugin serving.
fn settle(loaded: PluginEntry, previous: Option<&PluginEntry>) -> (PluginEntry, Change) {
    let serving = previous.filter(|p| p.plugin.is_some()).and_then(|p| p.info.digest.clone());
    if loaded.plugin.is_some() {
        let to = loaded.info.digest.clone().unwrap_or_default();
        let change = match serving {
            Some(from) => Change::Replaced { from, to },
            None => Change::Added { digest: to },
        };
        return (loaded, change);
    }
    let error = loaded.info.error.clone().unwrap_or_default();
    match previous.filter(|p| p.plugin.is_some()) {
        Some(prev) => {
            let info = PluginInfo { error: Some(error.clone()), ..prev.info.clone() };
            let entry = PluginEntry { info, plugin: prev.plugin.clone(), fingerprint: loaded.fingerprint };
            (entry, Change::Failed { error, serving })
        }
        None => (loaded, Change::Failed { error, serving: None }),
    }
}
