//! Changing a task type's current version for the whole fleet: an upload
//! (validated exactly as the registry loads a file, then stored) and a
//! rollback to a version the store keeps. Either publishes on this node at
//! once; the others follow on the store's announcement (see
//! [`super::Artifacts::watch`]).

use std::path::PathBuf;
use std::sync::Arc;

use super::{Artifacts, origin};
use crate::plugins::registry::{Origin, PluginEntry};
use crate::store::{NewVersion, PluginVersion, StoreError, VersionSource};

/// A component received whole into a private file, with what was
/// computed while it arrived.
pub struct Upload {
    pub name: String,
    /// The component, spooled.
    pub file: PathBuf,
    /// sha256 of the file, hex.
    pub digest: String,
    pub size: u64,
    /// The sidecar's TOML text, if one came with it.
    pub sidecar: Option<String>,
}

/// A version that became current, and the one it replaced.
#[derive(Debug, Clone)]
pub struct Changed {
    pub version: PluginVersion,
    /// The digest serving on this node before, if any.
    pub previous: Option<String>,
    /// False when the name had this version already.
    pub created: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The component (or its sidecar) does not load; nothing was stored.
    #[error("{0}")]
    Invalid(String),
    #[error("no version {digest} of {name:?}")]
    NoSuchVersion { name: String, digest: String },
    #[error("versions are not kept by this process")]
    NotKept,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read the uploaded component: {0}")]
    Io(#[from] std::io::Error),
}

impl Artifacts {
    /// Validates `upload`, stores it, makes it the current version of its
    /// name and publishes it here. An invalid component changes nothing.
    pub async fn upload(&self, upload: Upload) -> Result<Changed, UploadError> {
        let store = self.inner.store.clone().ok_or(UploadError::NotKept)?;
        let bytes = tokio::fs::read(&upload.file).await?;
        let registry = self.inner.registry.clone();
        let (name, sidecar) = (upload.name.clone(), upload.sidecar.clone());
        let file = registry.dir().join(format!("{name}.wasm"));
        let entry = tokio::task::spawn_blocking(move || {
            registry.loader().load_bytes(
                &name,
                &file,
                &bytes,
                sidecar.as_deref(),
                registry.dir(),
                Origin::Upload,
            )
        })
        .await
        .map_err(|_| UploadError::Invalid("loading the component panicked".into()))?;
        if let Some(error) = &entry.info.error {
            return Err(UploadError::Invalid(error.clone()));
        }
        let mut spooled = tokio::fs::File::open(&upload.file).await?;
        store.put_blob(&upload.digest, upload.size, &mut spooled).await?;
        // Shared before it is current, so the fleet finds it when told.
        self.share(store.as_ref(), &entry).await;
        let created = !store.has_version(&upload.name, &upload.digest).await?;
        let version = NewVersion {
            name: upload.name.clone(),
            digest: upload.digest.clone(),
            shape: entry.info.shape.map(|s| s.to_string()).unwrap_or_default(),
            sidecar: upload.sidecar.clone(),
            source: VersionSource::Upload,
        };
        store.record_version(&version).await?;
        // This node need not load it again from the store.
        let mut info = entry.info.clone();
        info.origin = Some(origin(VersionSource::Upload));
        let loaded = PluginEntry { info, plugin: entry.plugin.clone(), fingerprint: None };
        let key = (upload.name.clone(), upload.digest.clone());
        self.inner.loaded.lock().expect("not poisoned").insert(key, Arc::new(loaded));
        let mut changed = self.make_current(&upload.name, &upload.digest).await?;
        changed.created = created;
        self.prune(store.as_ref(), &upload.name).await;
        Ok(changed)
    }

    /// Makes a version the store keeps the current one again.
    pub async fn rollback(&self, name: &str, digest: &str) -> Result<Changed, UploadError> {
        self.make_current(name, digest).await
    }

    async fn make_current(&self, name: &str, digest: &str) -> Result<Changed, UploadError> {
        let store = self.inner.store.clone().ok_or(UploadError::NotKept)?;
        let no_such = || UploadError::NoSuchVersion { name: name.to_owned(), digest: digest.to_owned() };
        store.version(name, digest).await?.ok_or_else(no_such)?;
        let previous = self.inner.registry.get(name).map(|p| p.runnable.digest.clone());
        store.set_current(name, digest).await?;
        self.follow().await;
        let version = store.version(name, digest).await?.ok_or_else(no_such)?;
        Ok(Changed { version, previous, created: false })
    }
}
