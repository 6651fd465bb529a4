//! What a node serves, from its directory and the store's current versions.
//!
//! For each task type: the current version, taken from this node's own
//! file when the file holds it, else loaded from the store; this node's
//! file is shown beside it (`directory_digest`, and its load error if it
//! failed). A name with no current version serves its file as it is.
//! Owns that decision, nothing else.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{Artifacts, KEEP_LOADED, Synced};
use crate::plugins::registry::{Catalog, Change, Origin, PluginEntry, PluginInfo};
use crate::store::Head;

impl Artifacts {
    /// Publishes what serves for `heads` and this node's last directory
    /// scan; remembers `heads` as published.
    pub(super) async fn publish(&self, heads: Vec<Head>, synced: &mut Synced) -> Vec<(String, Change)> {
        let Some(store) = &self.inner.store else { return Vec::new() };
        let registry = &self.inner.registry;
        let disk = registry.directory();
        let serving = registry.catalog();
        let current: BTreeMap<&str, &str> =
            heads.iter().filter_map(|h| Some((h.name.as_str(), h.digest.as_deref()?))).collect();
        let names: BTreeSet<&str> = disk.keys().map(String::as_str).chain(current.keys().copied()).collect();
        let mut catalog = Catalog::new();
        for name in names {
            let file = disk.get(name);
            let entry = match current.get(name) {
                Some(digest) => {
                    let held =
                        file.filter(|f| f.plugin.is_some() && f.info.digest.as_deref() == Some(*digest));
                    match held {
                        Some(file) => with(file, |info| {
                            info.origin = Some(Origin::Directory);
                            info.directory_digest = info.digest.clone();
                        }),
                        None => {
                            let version = self.version_entry(store.as_ref(), name, digest).await;
                            let version = keep_serving(version, serving.get(name));
                            beside(&version, file.map(|f| &**f))
                        }
                    }
                }
                None => match file {
                    Some(file) => with(file, |info| info.directory_digest = info.digest.clone()),
                    None => continue,
                },
            };
            catalog.insert(name.to_owned(), entry);
        }
        let served: BTreeSet<(String, String)> = catalog
            .iter()
            .filter_map(|(n, e)| Some((n.clone(), e.plugin.as_ref()?.runnable.digest.clone())))
            .collect();
        let mut loaded = self.inner.loaded.lock().expect("not poisoned");
        if loaded.len() > KEEP_LOADED {
            loaded.retain(|key, _| served.contains(key));
        }
        drop(loaded);
        synced.heads = Some(heads);
        registry.publish(catalog)
    }
}

/// `entry` with its info changed by `change`.
fn with(entry: &Arc<PluginEntry>, change: impl FnOnce(&mut PluginInfo)) -> Arc<PluginEntry> {
    let mut info = entry.info.clone();
    change(&mut info);
    Arc::new(PluginEntry { info, plugin: entry.plugin.clone(), fingerprint: entry.fingerprint.clone() })
}

/// A version that failed to load keeps the plugin serving before (if any)
/// serving, with the reason on it.
fn keep_serving(version: Arc<PluginEntry>, before: Option<&Arc<PluginEntry>>) -> Arc<PluginEntry> {
    match (&version.plugin, before.filter(|b| b.plugin.is_some())) {
        (None, Some(before)) => with(before, |info| info.error = version.info.error.clone()),
        _ => version,
    }
}

/// The version from the store, with this node's file (if any) beside it.
fn beside(version: &Arc<PluginEntry>, file: Option<&PluginEntry>) -> Arc<PluginEntry> {
    with(version, |info| {
        info.directory_digest = file.and_then(|f| f.info.digest.clone());
        if let Some(error) = file.and_then(|f| f.info.error.as_ref()) {
            info.error = Some(format!("the file in the plugin directory failed to load: {error}"));
        }
    })
}
