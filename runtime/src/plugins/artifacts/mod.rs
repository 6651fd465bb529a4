//! Plugins as versioned artifacts (DESIGN §5): every version of every
//! plugin is kept in the config store by its digest, each task type has a
//! current version there, and every node serves the current versions, so
//! an upload reaches the whole fleet without touching a disk.
//!
//! Owns what a node serves and why: it records the plugin directory's
//! files as versions (a file whose content is new to its name becomes the
//! current version: the latest arrival wins, be it a file, an upload or a
//! rollback), follows the store's current versions ([`Artifacts::watch`]:
//! at once when the store announces a change, PostgreSQL's LISTEN, with a
//! slow poll as a safety net; every second where it cannot), loads
//! versions the directory does not hold from the store (compiled artifacts
//! stay cached per node by digest, and are shared with the fleet:
//! `shared.rs`), finds a pinned or replayed version by digest for a run,
//! and carries out uploads and rollbacks. Validating and compiling belong
//! to the registry, the SQL to the store, history to the scheduler
//! service; it never executes anything.

mod serve;
mod shared;
mod update;

pub use shared::CompiledKey;
pub use update::{Changed, Upload, UploadError};

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

use crate::plugins::registry::{Change, Origin, Plugin, PluginEntry, PluginInfo, Registry};
use crate::store::{Head, HeadChanges, NewVersion, PluginStore, StoreError, VersionSource};

/// How often a node asks the store whether a current version changed,
/// where the store does not announce changes.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(1);
/// How often it asks where the store announces them: only a safety net.
pub const FOLLOW_SAFETY_NET: Duration = Duration::from_secs(15);
/// Versions loaded from the store kept in memory beyond those serving.
const KEEP_LOADED: usize = 32;

/// Cheap-to-clone handle: the registry it publishes to and, where
/// versions are kept, the store.
#[derive(Clone)]
pub struct Artifacts {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    store: Option<Arc<dyn PluginStore>>,
    /// Versions loaded from the store, by (name, digest).
    loaded: Mutex<HashMap<(String, String), Arc<PluginEntry>>>,
    /// One sync (and one load from the store) at a time.
    syncing: tokio::sync::Mutex<Synced>,
    /// Versions beyond the kept ones are pruned when a new one arrives.
    keep_versions: u32,
    /// Where compiled code is shared with the fleet: the key of its MAC.
    compiled_key: Option<CompiledKey>,
}

/// What this node last did with the store.
#[derive(Default)]
struct Synced {
    /// The current versions last published; `None`: publish on next look.
    heads: Option<Vec<Head>>,
    /// Name → digest of the directory file this node recorded last.
    recorded: HashMap<String, String>,
}

impl Artifacts {
    /// Serves the plugin directory alone (no versions are kept).
    pub fn directory_only(registry: Registry) -> Self {
        Self::build(registry, None, 0, None)
    }

    /// Keeps versions in `store`, pruning each name's unkept versions
    /// beyond `keep_versions`; with `compiled_key`, shares compiled code
    /// through it too (see `shared.rs`).
    pub fn new(
        registry: Registry,
        store: Arc<dyn PluginStore>,
        keep_versions: u32,
        compiled_key: Option<CompiledKey>,
    ) -> Self {
        Self::build(registry, Some(store), keep_versions, compiled_key)
    }

    fn build(
        registry: Registry,
        store: Option<Arc<dyn PluginStore>>,
        keep_versions: u32,
        compiled_key: Option<CompiledKey>,
    ) -> Self {
        let (loaded, syncing) = (Mutex::default(), Default::default());
        let inner = Inner { registry, store, loaded, syncing, keep_versions, compiled_key };
        Self { inner: Arc::new(inner) }
    }

    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Where versions are kept, if they are.
    pub fn store(&self) -> Option<&Arc<dyn PluginStore>> {
        self.inner.store.as_ref()
    }

    /// Scans the directory, records its new files as versions, and
    /// publishes what serves; says what changed. Without a store (or while
    /// it is unreachable) the directory serves as it is.
    pub async fn refresh_directory(&self) -> std::io::Result<Vec<(String, Change)>> {
        let Some(store) = &self.inner.store else {
            return Ok(self.inner.registry.rescan().await?.1);
        };
        let mut synced = self.inner.syncing.lock().await;
        let disk = self.inner.registry.scan_directory().await?;
        let heads = match self.record_directory(store.as_ref(), &disk, &mut synced).await {
            Ok(()) => store.heads().await,
            Err(e) => Err(e),
        };
        match heads {
            Ok(heads) => Ok(self.publish(heads, &mut synced).await),
            Err(e) => {
                tracing::warn!(error = %e, "cannot record plugin versions; serving the directory as it is");
                synced.heads = None;
                Ok(self.inner.registry.rescan().await?.1)
            }
        }
    }

    /// Publishes the store's current versions if any changed since the
    /// last look; says what changed (nothing when the store is unreachable:
    /// what serves keeps serving).
    pub async fn follow(&self) -> Vec<(String, Change)> {
        let Some(store) = &self.inner.store else { return Vec::new() };
        let mut synced = self.inner.syncing.lock().await;
        match store.heads().await {
            Ok(heads) if synced.heads.as_ref() == Some(&heads) => Vec::new(),
            Ok(heads) => self.publish(heads, &mut synced).await,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the current plugin versions");
                Vec::new()
            }
        }
    }

    /// Follows the store until `shutdown` turns true: on each of its
    /// announcements and every [`FOLLOW_SAFETY_NET`], or every
    /// [`FOLLOW_EVERY`] while it announces nothing (SQLite, or while
    /// listening fails; each poll tries to listen again).
    pub fn watch(self, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut changes = None;
            loop {
                if changes.is_none() {
                    changes = self.listen().await;
                    if changes.is_some() {
                        // Whatever changed before the LISTEN began.
                        self.follow().await;
                    }
                }
                let every = if changes.is_some() { FOLLOW_SAFETY_NET } else { FOLLOW_EVERY };
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    announced = next_change(&mut changes) => if announced.is_none() {
                        tracing::debug!("stopped listening for plugin versions; polling until it listens again");
                        changes = None;
                    },
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
                self.follow().await;
            }
        })
    }

    async fn listen(&self) -> Option<HeadChanges> {
        let store = self.inner.store.as_ref()?;
        match store.head_changes().await {
            Ok(changes) => changes,
            Err(e) => {
                tracing::debug!(error = %e, "cannot listen for plugin versions");
                None
            }
        }
    }

    /// The plugin a run of `task_type` uses: the version `digest` names
    /// (a pinned config, a replay), else the one serving now.
    pub async fn resolve(&self, task_type: &str, digest: Option<&str>) -> Result<Arc<Plugin>, String> {
        let serving = match self.inner.registry.get(task_type) {
            // Uploaded a moment ago, before this node's next look?
            None if self.inner.store.is_some() => {
                self.follow().await;
                self.inner.registry.get(task_type)
            }
            serving => serving,
        };
        let Some(digest) = digest else {
            return serving
                .ok_or_else(|| format!("unknown task type {task_type:?}: no such plugin is loaded"));
        };
        if let Some(plugin) = serving.filter(|p| p.runnable.digest == digest) {
            return Ok(plugin);
        }
        let Some(store) = &self.inner.store else {
            return Err(format!(
                "version {digest} of {task_type:?} is not serving and versions are not kept"
            ));
        };
        let _one_load_at_a_time = self.inner.syncing.lock().await;
        let entry = self.version_entry(store.as_ref(), task_type, digest).await;
        entry.plugin.clone().ok_or_else(|| {
            let error = entry.info.error.clone().unwrap_or_default();
            format!("version {digest} of {task_type:?} cannot run: {error}")
        })
    }

    /// Records the directory's loaded files this node has not recorded
    /// yet, and the removal of those that left it.
    async fn record_directory(
        &self,
        store: &dyn PluginStore,
        disk: &crate::plugins::registry::Catalog,
        synced: &mut Synced,
    ) -> Result<(), StoreError> {
        for (name, entry) in disk {
            let (Some(plugin), Some(digest)) = (&entry.plugin, &entry.info.digest) else { continue };
            if synced.recorded.get(name) == Some(digest) {
                continue;
            }
            if !store.has_blob(digest).await? {
                // Read again: the component is stored as its digest says.
                let bytes = tokio::fs::read(&entry.info.file).await.unwrap_or_default();
                if hex::encode(Sha256::digest(&bytes)) != *digest {
                    continue; // Changed meanwhile: the next scan records it.
                }
                store.put_blob(digest, bytes.len() as u64, &mut &bytes[..]).await?;
            }
            let shape = entry.info.shape.map(|s| s.to_string()).unwrap_or_default();
            let version = NewVersion {
                name: name.clone(),
                digest: digest.clone(),
                shape,
                sidecar: plugin.sidecar_text.clone(),
                source: VersionSource::Directory,
            };
            store.record_version(&version).await?;
            self.share(store, entry).await;
            if store.directory_seen(name, digest).await? {
                tracing::info!(plugin = %name, digest = %short(digest), "a new plugin file is the current version");
                self.prune(store, name).await;
            }
            synced.recorded.insert(name.clone(), digest.clone());
        }
        let gone: Vec<(String, String)> = synced
            .recorded
            .iter()
            .filter(|(name, _)| !disk.contains_key(*name))
            .map(|(n, d)| (n.clone(), d.clone()))
            .collect();
        for (name, digest) in gone {
            store.directory_gone(&name, &digest).await?;
            synced.recorded.remove(&name);
        }
        Ok(())
    }

    /// Prunes the name's unkept versions beyond the kept number; a failure
    /// is only logged (nothing depends on it).
    async fn prune(&self, store: &dyn PluginStore, name: &str) {
        match store.prune_versions(name, self.inner.keep_versions).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(plugin = %name, pruned = n, "pruned old plugin versions"),
            Err(e) => tracing::warn!(plugin = %name, error = %e, "cannot prune old plugin versions"),
        }
    }

    /// The version `digest` of `name` loaded from the store (or from this
    /// node's memory of it); an entry with the reason when it cannot load.
    async fn version_entry(&self, store: &dyn PluginStore, name: &str, digest: &str) -> Arc<PluginEntry> {
        let key = (name.to_owned(), digest.to_owned());
        if let Some(entry) = self.inner.loaded.lock().expect("not poisoned").get(&key) {
            return entry.clone();
        }
        let file = self.inner.registry.dir().join(format!("{name}.wasm"));
        let failed = |error: String| {
            let mut info =
                PluginInfo::unloaded(name, &self.inner.registry.dir().join(format!("{name}.wasm")));
            info.digest = Some(digest.to_owned());
            info.error = Some(error);
            Arc::new(PluginEntry { info, plugin: None, fingerprint: None })
        };
        let (version, bytes) = match (store.version(name, digest).await, store.blob(digest).await) {
            (Ok(Some(version)), Ok(Some(bytes))) => (version, bytes),
            (Ok(None), _) | (_, Ok(None)) => return failed("this version is not in the store".into()),
            (Err(e), _) | (_, Err(e)) => return failed(format!("cannot read it from the store: {e}")),
        };
        if hex::encode(Sha256::digest(&bytes)) != digest {
            return failed("the stored component does not match its digest".into());
        }
        self.take_shared(store, digest).await;
        let loader = self.inner.registry.loader().clone();
        let (dir, owned_name) = (self.inner.registry.dir().to_owned(), name.to_owned());
        let (sidecar, arrived) = (version.sidecar.clone(), origin(version.source));
        let loaded = tokio::task::spawn_blocking(move || {
            loader.load_bytes(&owned_name, &file, &bytes, sidecar.as_deref(), &dir, arrived)
        })
        .await;
        let Ok(mut entry) = loaded else { return failed("loading the version panicked".into()) };
        entry.info.origin = Some(origin(version.source));
        self.share(store, &entry).await;
        let entry = Arc::new(entry);
        if entry.plugin.is_some() {
            self.inner.loaded.lock().expect("not poisoned").insert(key, entry.clone());
        }
        entry
    }
}

/// The next announcement; pending forever where there are none.
async fn next_change(changes: &mut Option<HeadChanges>) -> Option<()> {
    use futures::StreamExt;
    match changes {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

fn origin(source: VersionSource) -> Origin {
    match source {
        VersionSource::Directory => Origin::Directory,
        VersionSource::Upload => Origin::Upload,
    }
}

/// The first 12 digits of a digest, for logs.
fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}
