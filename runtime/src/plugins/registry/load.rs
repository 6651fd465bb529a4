//! Loading one plugin file: read, digest, sidecar, adapt a preview-1
//! module, compile (or take the cached artifact), decide its shape and
//! pre-link it. Blocking: call it off the async threads.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::Component;

use super::adapt::{self, AdaptError, AdaptedFrom};
use super::cache::ArtifactCache;
use super::dirs::DirPolicy;
use super::origin::Origin;
use super::sidecar::{Sidecar, SidecarError};
use crate::executor::{Executor, Limits, PrepareError, Runnable, Shape};

/// A loaded plugin: runnable code plus its sidecar defaults.
pub struct Plugin {
    pub runnable: Runnable,
    pub sidecar: Sidecar,
    /// The sidecar as written, if there was one (kept with the version).
    pub sidecar_text: Option<String>,
}

impl Plugin {
    /// Limits for one run: the caller's overrides, then the sidecar, then
    /// the defaults.
    pub fn limits(&self, timeout: Option<Duration>, memory_mb: Option<u64>) -> Limits {
        let defaults = Limits::default();
        Limits {
            timeout: timeout.or(self.sidecar.timeout()).unwrap_or(defaults.timeout),
            memory_bytes: memory_mb.or(self.sidecar.memory_mb).map_or(defaults.memory_bytes, |mb| mb << 20),
            max_output_bytes: self
                .sidecar
                .max_output_kb
                .map_or(defaults.max_output_bytes, |kb| (kb << 10) as usize),
        }
    }
}

/// Where a loaded plugin's machine code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoadSource {
    Compiled,
    Cache,
}

/// What is known about one task type's plugin, loaded or not.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PluginInfo {
    pub name: String,
    #[schema(value_type = String)]
    pub file: PathBuf,
    pub size: u64,
    pub digest: Option<String>,
    pub shape: Option<Shape>,
    /// Set when the file was not a component: what it was adapted from
    /// (its `digest` is still the file's).
    pub adapted_from: Option<AdaptedFrom>,
    pub loaded_at: Option<DateTime<Utc>>,
    pub source: Option<LoadSource>,
    pub load_ms: f64,
    pub error: Option<String>,
    /// How the serving version arrived (`None` until versions are kept:
    /// `taskbox run` and `plugin list` read the directory alone).
    pub origin: Option<Origin>,
    /// The digest of this node's `<name>.wasm` in the plugin directory,
    /// when there is one; it differs from `digest` when a later upload or
    /// a rollback is what serves.
    pub directory_digest: Option<String>,
}

/// A file and, when it loaded, the plugin made from it.
pub struct PluginEntry {
    pub info: PluginInfo,
    pub plugin: Option<Arc<Plugin>>,
    /// What the entry was made from (see [`fingerprint`]): a rescan keeps
    /// an entry whose files still have it.
    pub fingerprint: Option<String>,
}

/// sha256 over a plugin file and its sidecar (if any): changes when either does.
pub fn fingerprint(path: &Path) -> Option<String> {
    let mut hash = Sha256::new();
    hash.update(std::fs::read(path).ok()?);
    if let Ok(sidecar) = std::fs::read(path.with_extension("toml")) {
        hash.update(b"\0sidecar\0");
        hash.update(sidecar);
    }
    Some(hex::encode(hash.finalize()))
}

/// Why a plugin file did not load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("invalid task type name {0:?}: a plugin file must be named [a-z0-9_-]+.wasm")]
    InvalidName(String),
    #[error("cannot read the file: {0}")]
    Read(#[from] std::io::Error),
    #[error("sidecar: {0}")]
    Sidecar(#[from] SidecarError),
    #[error("sidecar: {0}")]
    Grant(String),
    #[error("not a valid WebAssembly component: {0:#}")]
    Compile(wasmtime::Error),
    #[error("{0}")]
    Adapt(#[from] AdaptError),
    #[error("{0}")]
    Prepare(#[from] PrepareError),
}

/// Is `name` usable as a task type (and so as a plugin file stem)?
pub fn is_valid_task_type(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Loads plugin files with one executor, one artifact cache and this
/// node's rule for host directories.
#[derive(Clone)]
pub struct Loader {
    executor: Executor,
    cache: ArtifactCache,
    dirs: DirPolicy,
}

impl Loader {
    pub fn new(executor: Executor, cache_dir: Option<PathBuf>) -> Self {
        let cache = ArtifactCache::new(cache_dir, executor.engine());
        Self { executor, cache, dirs: DirPolicy::default() }
    }

    /// Grants host directories by `policy` (by default: none outside a
    /// directory file's own plugin directory).
    pub fn with_dir_policy(self, dirs: DirPolicy) -> Self {
        Self { dirs, ..self }
    }

    /// Does this loader cache compiled artifacts?
    pub fn can_cache(&self) -> bool {
        self.cache.enabled()
    }

    /// The engine's compatibility key, which compiled artifacts are kept by.
    pub fn engine_key(&self) -> &str {
        self.cache.engine_key()
    }

    /// Is a compiled artifact of component `digest` cached here?
    pub fn has_compiled(&self, digest: &str) -> bool {
        self.cache.has(digest)
    }

    /// The compiled artifact of component `digest` cached here, as bytes.
    pub fn compiled(&self, digest: &str) -> Option<Vec<u8>> {
        self.cache.bytes(digest)
    }

    /// Caches an artifact of `digest` compiled elsewhere, whose MAC the
    /// caller checked: the next load of `digest` takes it.
    pub fn put_compiled(&self, digest: &str, artifact: &[u8]) -> bool {
        self.cache.put_bytes(digest, artifact)
    }

    /// Loads the file at `path`; the task type is its stem.
    pub fn load(&self, path: &Path) -> PluginEntry {
        let start = Instant::now();
        let fingerprint = fingerprint(path);
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let plugin_dir = path.parent().unwrap_or(Path::new("."));
        let read = std::fs::read(path)
            .map_err(LoadError::Read)
            .and_then(|bytes| Ok((bytes, Sidecar::text_for_plugin(path)?)));
        let mut entry = match read {
            Ok((bytes, sidecar)) => {
                self.load_bytes(&name, path, &bytes, sidecar.as_deref(), plugin_dir, Origin::Directory)
            }
            Err(e) => {
                let mut info = PluginInfo::unloaded(&name, path);
                info.size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                info.error = Some(e.to_string());
                PluginEntry { info, plugin: None, fingerprint: None }
            }
        };
        entry.fingerprint = fingerprint;
        entry.info.load_ms = start.elapsed().as_secs_f64() * 1000.0;
        entry
    }

    /// Loads a component from memory as task type `name`: `file` is where
    /// it is (or would be) in the plugin directory, `sidecar` its sidecar
    /// text, arrived as `origin`; relative `dirs` are taken from `plugin_dir`.
    pub fn load_bytes(
        &self,
        name: &str,
        file: &Path,
        bytes: &[u8],
        sidecar: Option<&str>,
        plugin_dir: &Path,
        origin: Origin,
    ) -> PluginEntry {
        let start = Instant::now();
        let mut info = PluginInfo::unloaded(name, file);
        info.size = bytes.len() as u64;
        let plugin = self.try_load(name, file, bytes, (sidecar, origin), plugin_dir, &mut info);
        info.load_ms = start.elapsed().as_secs_f64() * 1000.0;
        match plugin {
            Ok(plugin) => {
                info.loaded_at = Some(Utc::now());
                PluginEntry { info, plugin: Some(Arc::new(plugin)), fingerprint: None }
            }
            Err(e) => {
                info.error = Some(e.to_string());
                PluginEntry { info, plugin: None, fingerprint: None }
            }
        }
    }

    fn try_load(
        &self,
        name: &str,
        file: &Path,
        bytes: &[u8],
        (sidecar_text, origin): (Option<&str>, Origin),
        plugin_dir: &Path,
        info: &mut PluginInfo,
    ) -> Result<Plugin, LoadError> {
        if !is_valid_task_type(name) {
            return Err(LoadError::InvalidName(name.to_owned()));
        }
        let digest = hex::encode(Sha256::digest(bytes));
        info.digest = Some(digest.clone());
        let sidecar = match sidecar_text {
            Some(text) => Sidecar::parse(text, &file.with_extension("toml"))?,
            None => Sidecar::default(),
        };
        let grants = sidecar.grants(plugin_dir, &self.dirs, origin).map_err(LoadError::Grant)?;

        let engine = self.executor.engine();
        info.adapted_from = adapt::is_core_module(bytes).then_some(AdaptedFrom::WasiPreview1);
        let component = match self.cache.load(engine, &digest) {
            Some(component) => {
                info.source = Some(LoadSource::Cache);
                component
            }
            None => {
                let component = match info.adapted_from {
                    Some(AdaptedFrom::WasiPreview1) => Component::new(engine, adapt::adapt(bytes)?),
                    None => Component::new(engine, bytes),
                };
                let component = component.map_err(LoadError::Compile)?;
                self.cache.store(&digest, &component);
                info.source = Some(LoadSource::Compiled);
                component
            }
        };
        let prepared = self.executor.prepare(&component)?;
        info.shape = Some(prepared.shape());
        Ok(Plugin {
            runnable: Runnable { task_type: name.to_owned(), digest, prepared, grants },
            sidecar,
            sidecar_text: sidecar_text.map(str::to_owned),
        })
    }
}

impl PluginInfo {
    /// What is known of a plugin before (or without) loading it.
    pub fn unloaded(name: &str, file: &Path) -> Self {
        PluginInfo {
            name: name.to_owned(),
            file: file.to_owned(),
            size: 0,
            digest: None,
            shape: None,
            adapted_from: None,
            loaded_at: None,
            source: None,
            load_ms: 0.0,
            error: None,
            origin: None,
            directory_digest: None,
        }
    }
}
