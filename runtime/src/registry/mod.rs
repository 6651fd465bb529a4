//! The plugin registry: which task types exist and the code each one runs.
//!
//! Owns scanning the plugin directory, loading each `<task_type>.wasm` (with
//! its optional sidecar) through [`Loader`], and publishing the result as an
//! immutable map that is swapped atomically: a run holds the `Arc` of the
//! version it started with, so a later scan never disturbs it. One broken
//! file never stops the others. It never executes anything.

mod cache;
mod load;
mod sidecar;

pub use cache::ArtifactCache;
pub use load::{LoadError, LoadSource, Loader, Plugin, PluginEntry, PluginInfo, is_valid_task_type};
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
    catalog: ArcSwap<Catalog>,
}

impl Registry {
    /// An empty registry over `dir`; call [`Registry::scan`] to fill it.
    pub fn new(dir: impl Into<PathBuf>, loader: Loader) -> Self {
        Self {
            shared: Arc::new(Shared {
                dir: dir.into(),
                loader,
                catalog: ArcSwap::from_pointee(Catalog::new()),
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
        let files = wasm_files(&self.shared.dir)?;
        let mut loads = tokio::task::JoinSet::new();
        for path in files {
            let loader = self.shared.loader.clone();
            loads.spawn_blocking(move || loader.load(&path));
        }
        let mut catalog = Catalog::new();
        while let Some(done) = loads.join_next().await {
            let entry = done.map_err(std::io::Error::other)?;
            match &entry.info.error {
                Some(error) => tracing::warn!(plugin = %entry.info.name, %error, "plugin failed to load"),
                None => tracing::info!(
                    plugin = %entry.info.name,
                    shape = ?entry.info.shape,
                    digest = entry.info.digest.as_deref().unwrap_or(""),
                    load_ms = entry.info.load_ms,
                    "plugin loaded"
                ),
            }
            catalog.insert(entry.info.name.clone(), Arc::new(entry));
        }
        let catalog = Arc::new(catalog);
        self.shared.catalog.store(catalog.clone());
        Ok(catalog)
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
