//! Secrets (DESIGN §9, the third door): values an operator stores for
//! plugins, sealed at rest, opened only for the runs whose sidecar grants
//! them.
//!
//! Owns the key (`key.rs`), sealing (`cipher.rs`) and the operations the API,
//! the CLI and the worker use: put, list (names and times, never values),
//! delete, and resolve for a run; and keys derived from it for one other
//! purpose each ([`Secrets::derive_key`]), which open no secret. The store
//! keeps sealed rows only; this module never logs a value, and never hands
//! one to anything but a run.

mod cipher;
mod key;

use std::path::Path;
use std::sync::Arc;

use crate::store::{SealedSecret, SecretInfo, SecretStore, StoreError};
use cipher::Cipher;

pub use crate::contract::secret::is_valid_name;

/// The longest value a secret may hold, in characters (so at most 64 KiB).
pub const MAX_VALUE_CHARS: usize = 16 << 10;

/// The known text the key check seals.
const KEY_CHECK: &[u8] = b"taskbox secret key check";
const KEY_CHECK_NAME: &str = "key-check";
/// What [`Secrets::seal_text`] values start with.
const SEALED: &str = "sealed:v1:";
/// The associated data of a host value starts with this, which no secret
/// name can (names are letters, digits and `_`), so a plugin's sealed
/// secret never opens as a host value or the other way round.
const PURPOSE: &str = "host:";

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret key: {0}")]
    BadKey(String),
    #[error(
        "the secret key does not match the one the stored secrets were sealed with \
         (TASKBOX_SECRET_KEY or the key file changed?)"
    )]
    WrongKey,
    #[error("secret {0:?} does not exist")]
    Missing(String),
    #[error("secret {0:?} cannot be opened: stored under another key or altered")]
    Unopenable(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Cheap-to-clone handle on the secrets of one deployment.
#[derive(Clone)]
pub struct Secrets {
    store: Arc<dyn SecretStore>,
    cipher: Arc<Cipher>,
    /// HKDF over the secret key, for keys of other purposes.
    derive: Arc<hkdf::Hkdf<sha2::Sha256>>,
}

impl Secrets {
    /// Loads the key (`from_env`, else `key_file`, created if missing) and
    /// checks it against the store: a key other than the one the store's
    /// secrets were sealed with is [`SecretsError::WrongKey`].
    pub async fn open(
        store: Arc<dyn SecretStore>,
        from_env: Option<&str>,
        key_file: &Path,
    ) -> Result<Self, SecretsError> {
        let key = key::load(from_env, key_file)?;
        let cipher = Cipher::new(&key);
        let (nonce, ciphertext) = cipher.seal(KEY_CHECK_NAME, KEY_CHECK);
        let check = SealedSecret { name: KEY_CHECK_NAME.into(), nonce, ciphertext };
        let stored = store.key_check(&check).await?;
        match cipher.open(KEY_CHECK_NAME, &stored.nonce, &stored.ciphertext) {
            Ok(text) if text == KEY_CHECK => {
                let derive = Arc::new(hkdf::Hkdf::<sha2::Sha256>::new(None, &key));
                Ok(Self { store, cipher: Arc::new(cipher), derive })
            }
            _ => Err(SecretsError::WrongKey),
        }
    }

    /// A key for `purpose` alone, derived from the secret key (HKDF-SHA256),
    /// the same on every node of the deployment; it opens no secret.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let mut key = [0u8; 32];
        self.derive.expand(purpose.as_bytes(), &mut key).expect("32 bytes is a valid HKDF-SHA256 length");
        key
    }

    pub async fn put(&self, name: &str, value: &str) -> Result<(), SecretsError> {
        let (nonce, ciphertext) = self.cipher.seal(name, value.as_bytes());
        Ok(self.store.put_secret(&SealedSecret { name: name.to_owned(), nonce, ciphertext }).await?)
    }

    pub async fn list(&self) -> Result<Vec<SecretInfo>, SecretsError> {
        Ok(self.store.list_secrets().await?)
    }

    /// False if there was no such secret.
    pub async fn delete(&self, name: &str) -> Result<bool, SecretsError> {
        Ok(self.store.delete_secret(name).await?)
    }

    /// `value` sealed under the key for one `purpose` (associated data), as
    /// text a store can keep: `sealed:v1:<nonce>:<ciphertext>`, base64. For
    /// values the host itself uses (a config's webhook secret), never a
    /// plugin's.
    pub fn seal_text(&self, purpose: &str, value: &str) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
        let (nonce, ciphertext) = self.cipher.seal(&format!("{PURPOSE}{purpose}"), value.as_bytes());
        format!("{SEALED}{}:{}", b64.encode(nonce), b64.encode(ciphertext))
    }

    /// What [`Secrets::seal_text`] sealed for `purpose`; `None` if `text` is
    /// not such a value or does not open under this key for that purpose.
    pub fn open_text(&self, purpose: &str, text: &str) -> Option<String> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
        let (nonce, ciphertext) = text.strip_prefix(SEALED)?.split_once(':')?;
        let (nonce, ciphertext) = (b64.decode(nonce).ok()?, b64.decode(ciphertext).ok()?);
        let value = self.cipher.open(&format!("{PURPOSE}{purpose}"), &nonce, &ciphertext).ok()?;
        String::from_utf8(value).ok()
    }

    /// The values of `names`, in their order; the first that does not
    /// exist is the error.
    pub async fn resolve(&self, names: &[String]) -> Result<Vec<(String, String)>, SecretsError> {
        let sealed = self.store.sealed_secrets(names).await?;
        names
            .iter()
            .map(|name| {
                let row = sealed
                    .iter()
                    .find(|s| s.name == *name)
                    .ok_or_else(|| SecretsError::Missing(name.clone()))?;
                let value = self
                    .cipher
                    .open(name, &row.nonce, &row.ciphertext)
                    .map_err(|_| SecretsError::Unopenable(name.clone()))?;
                let value = String::from_utf8(value).map_err(|_| SecretsError::Unopenable(name.clone()))?;
                Ok((name.clone(), value))
            })
            .collect()
    }
}
