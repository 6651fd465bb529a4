//! On-disk cache of compiled components, keyed by the component's sha256
//! and the engine's compatibility hash, so a second process (or a restart)
//! loads a plugin in about a millisecond instead of compiling it again.
//!
//! The cache directory must be private to taskbox: loading an artifact maps
//! native code, so it is created with mode 0700 and never placed inside the
//! plugin directory. Any cache failure is logged and falls back to compiling.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

impl ArtifactCache {
    /// A cache in `dir`, or a disabled one for `None`.
    pub fn new(dir: Option<PathBuf>, engine: &Engine) -> Self {
        // DefaultHasher::new() is keyless, so the key is stable across runs of
        // the same build; a different build fails wasmtime's own header check
        // at worst, which falls back to compiling.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Self { dir, engine_key: format!("{:016x}", h.finish()) }
    }

    /// The default location: `$XDG_CACHE_HOME/taskbox` or `~/.cache/taskbox`.
    pub fn default_dir() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("taskbox"))
    }

    fn path(&self, digest: &str) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join(format!("{digest}-{}.cwasm", self.engine_key)))
    }

    /// The cached artifact for `digest`, if there is a usable one.
    pub fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path(digest)?;
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was written by `store` below into a directory only
        // taskbox writes to; wasmtime checks its header and engine settings.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "dropping unusable cached artifact");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Is there a cache at all?
    pub fn enabled(&self) -> bool {
        self.dir.is_some()
    }

    /// What names this engine's artifacts apart: its compatibility hash.
    pub fn engine_key(&self) -> &str {
        &self.engine_key
    }

    /// Is an artifact of `digest` cached?
    pub fn has(&self, digest: &str) -> bool {
        self.path(digest).is_some_and(|p| p.exists())
    }

    /// The cached artifact of `digest`, as bytes (to share it).
    pub fn bytes(&self, digest: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(digest)?).ok()
    }

    /// Caches an artifact compiled elsewhere whose MAC the caller checked;
    /// whether it was written. Loading it still checks its header and
    /// engine settings, and drops it when they do not fit.
    pub fn put_bytes(&self, digest: &str, artifact: &[u8]) -> bool {
        let Some(path) = self.path(digest) else { return false };
        match write_bytes_atomically(&path, artifact) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot cache a shared compiled artifact");
                false
            }
        }
    }

    /// Stores `component` for `digest`; failures are only logged.
    pub fn store(&self, digest: &str, component: &Component) {
        let Some(path) = self.path(digest) else { return };
        if let Err(e) = write_atomically(&path, component) {
            tracing::warn!(path = %path.display(), error = %e, "cannot cache compiled plugin");
        }
    }
}

fn write_atomically(path: &Path, component: &Component) -> anyhow::Result<()> {
    Ok(write_bytes_atomically(path, &component.serialize()?)?)
}

fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("cache paths have a parent");
    create_private_dir(dir)?;
    let tmp = dir.join(format!(".tmp-{}-{}", std::process::id(), uuid::Uuid::new_v4()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}
