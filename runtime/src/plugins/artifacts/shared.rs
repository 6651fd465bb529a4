//! Compiled code shared by the fleet: the first node that compiles a
//! version shares the artifact through the config store, keyed by the
//! component's digest and the engine's compatibility key, with an
//! HMAC-SHA256 under a key every node of the deployment derives from its
//! secret key (HKDF); a node about to compile a version it has never
//! compiled takes a shared artifact instead, but only one whose MAC checks
//! (compiled code is native code): a wrong MAC is logged as a warning and
//! the node compiles for itself (and shares its own).
//!
//! Owns the MAC and those two steps; the rows are the store's
//! ([`crate::store::CompiledStore`]), the local cache the loader's. A
//! failure to share or to take is logged and costs only a compilation.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Artifacts, short};
use crate::plugins::registry::{LoadSource, PluginEntry};
use crate::store::{Compiled, PluginStore};

/// The key the MAC of a shared artifact is made with.
#[derive(Clone)]
pub struct CompiledKey([u8; 32]);

impl CompiledKey {
    /// What HKDF's `info` names: this key's one purpose.
    pub const PURPOSE: &'static str = "taskbox compiled artifact mac v1";

    pub fn new(key: [u8; 32]) -> Self {
        Self(key)
    }

    fn mac(&self, digest: &str, engine: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        // Bound to the component and the engine: an artifact moved to
        // another pair does not check.
        mac.update(digest.as_bytes());
        mac.update(b"\0");
        mac.update(engine.as_bytes());
        mac.update(b"\0");
        mac
    }

    fn seal(&self, digest: &str, engine: &str, artifact: &[u8]) -> Vec<u8> {
        let mut mac = self.mac(digest, engine);
        mac.update(artifact);
        mac.finalize().into_bytes().to_vec()
    }

    fn checks(&self, digest: &str, engine: &str, compiled: &Compiled) -> bool {
        let mut mac = self.mac(digest, engine);
        mac.update(&compiled.artifact);
        mac.verify_slice(&compiled.mac).is_ok()
    }
}

impl Artifacts {
    /// Before this node loads `digest`: where it holds no compiled
    /// artifact of it, puts a shared one whose MAC checks into its cache.
    pub(super) async fn take_shared(&self, store: &dyn PluginStore, digest: &str) {
        let Some(key) = &self.inner.compiled_key else { return };
        let loader = self.inner.registry.loader();
        if !loader.can_cache() || loader.has_compiled(digest) {
            return;
        }
        let engine = loader.engine_key();
        let compiled = match store.compiled(digest, engine).await {
            Ok(Some(compiled)) => compiled,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(digest = %short(digest), error = %e, "cannot read the shared compiled artifact");
                return;
            }
        };
        if !key.checks(digest, engine, &compiled) {
            tracing::warn!(
                digest = %short(digest),
                "the shared compiled artifact fails its MAC (altered, or shared under another secret key); \
                 compiling it here instead"
            );
            return;
        }
        let loader = loader.clone();
        let digest_owned = digest.to_owned();
        let cached =
            tokio::task::spawn_blocking(move || loader.put_compiled(&digest_owned, &compiled.artifact)).await;
        if matches!(cached, Ok(true)) {
            tracing::info!(digest = %short(digest), "took the compiled artifact shared by the fleet");
        }
    }

    /// After this node compiled `entry`: shares its artifact.
    pub(super) async fn share(&self, store: &dyn PluginStore, entry: &PluginEntry) {
        let (Some(key), Some(digest)) = (&self.inner.compiled_key, &entry.info.digest) else { return };
        if entry.plugin.is_none() || entry.info.source != Some(LoadSource::Compiled) {
            return;
        }
        let loader = self.inner.registry.loader().clone();
        let digest_owned = digest.clone();
        let Ok(Some(artifact)) = tokio::task::spawn_blocking(move || loader.compiled(&digest_owned)).await
        else {
            return;
        };
        let engine = self.inner.registry.loader().engine_key();
        let compiled = Compiled { mac: key.seal(digest, engine, &artifact), artifact };
        match store.put_compiled(digest, engine, &compiled).await {
            Ok(()) => {
                tracing::debug!(digest = %short(digest), bytes = compiled.artifact.len(), "shared the compiled artifact")
            }
            Err(e) => {
                tracing::warn!(digest = %short(digest), error = %e, "cannot share the compiled artifact")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mac_checks_only_for_its_key_component_engine_and_bytes() {
        let key = CompiledKey::new([7; 32]);
        let compiled = Compiled { mac: key.seal("d1", "e1", b"code"), artifact: b"code".to_vec() };
        assert!(key.checks("d1", "e1", &compiled));
        assert!(!key.checks("d2", "e1", &compiled));
        assert!(!key.checks("d1", "e2", &compiled));
        assert!(!CompiledKey::new([8; 32]).checks("d1", "e1", &compiled));
        let altered = Compiled { artifact: b"c0de".to_vec(), ..compiled.clone() };
        assert!(!key.checks("d1", "e1", &altered));
        let truncated = Compiled { mac: compiled.mac[..16].to_vec(), ..compiled };
        assert!(!key.checks("d1", "e1", &truncated));
    }
}
