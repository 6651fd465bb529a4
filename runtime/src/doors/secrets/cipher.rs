//! Sealing and opening one value with ChaCha20-Poly1305 (RustCrypto): a
//! fresh random nonce per seal, and the secret's name as associated data,
//! so a sealed value moved to another name does not open.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// A 256-bit key.
pub(super) struct Cipher(ChaCha20Poly1305);

/// The sealed value did not open: another key, another name, or tampering.
#[derive(Debug, thiserror::Error)]
#[error("does not open under this key")]
pub(super) struct Unopenable;

impl Cipher {
    pub(super) fn new(key: &[u8; 32]) -> Self {
        Self(ChaCha20Poly1305::new(Key::from_slice(key)))
    }

    /// (nonce, ciphertext) of `value` bound to `name`.
    pub(super) fn seal(&self, name: &str, value: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .0
            .encrypt(&nonce, Payload { msg: value, aad: name.as_bytes() })
            .expect("ChaCha20-Poly1305 seals any value under 256 GiB");
        (nonce.to_vec(), sealed)
    }

    pub(super) fn open(&self, name: &str, nonce: &[u8], sealed: &[u8]) -> Result<Vec<u8>, Unopenable> {
        if nonce.len() != 12 {
            return Err(Unopenable);
        }
        self.0
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: name.as_bytes() })
            .map_err(|_| Unopenable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_what_it_sealed_and_nothing_else() {
        let c = Cipher::new(&[7; 32]);
        let (nonce, sealed) = c.seal("TOKEN", b"hunter2");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(c.open("TOKEN", &nonce, &sealed).unwrap(), b"hunter2");
        assert!(c.open("OTHER", &nonce, &sealed).is_err(), "bound to its name");
        assert!(Cipher::new(&[8; 32]).open("TOKEN", &nonce, &sealed).is_err(), "bound to its key");
        let (again, _) = c.seal("TOKEN", b"hunter2");
        assert_ne!(nonce, again, "a fresh nonce per seal");
    }
}
