//! Where the key comes from: `TASKBOX_SECRET_KEY` (64 hex digits), else a
//! key file, created with mode 0600 on first start (its path is logged,
//! never its content).

use std::io::Write;
use std::path::Path;

use super::SecretsError;

/// Parses 64 hex digits.
fn parse_hex(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text.trim()).ok()?;
    bytes.try_into().ok()
}

/// The key: from `from_env` if set, else from `file`, which is created with
/// a new random key if it does not exist.
pub(super) fn load(from_env: Option<&str>, file: &Path) -> Result<[u8; 32], SecretsError> {
    if let Some(text) = from_env {
        return parse_hex(text).ok_or(SecretsError::BadKey(
            "TASKBOX_SECRET_KEY must be 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`".into(),
        ));
    }
    match std::fs::read_to_string(file) {
        Ok(text) => parse_hex(&text).ok_or_else(|| {
            SecretsError::BadKey(format!("{}: must hold 64 hex digits (32 bytes)", file.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(file),
        Err(e) => Err(SecretsError::BadKey(format!("cannot read {}: {e}", file.display()))),
    }
}

/// Writes a new random key to `file`, unless another process got there
/// first (then that one's key is the key): written whole to a private
/// temporary file, then linked into place, which fails if `file` exists.
fn create(file: &Path) -> Result<[u8; 32], SecretsError> {
    use chacha20poly1305::aead::{KeyInit, OsRng};
    let key: [u8; 32] = chacha20poly1305::ChaCha20Poly1305::generate_key(&mut OsRng).into();
    let cannot = |e: std::io::Error| SecretsError::BadKey(format!("cannot create {}: {e}", file.display()));
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(cannot)?;
    }
    let tmp = file.with_extension(format!("tmp-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&tmp)
        .and_then(|mut out| out.write_all(format!("{}\n", hex::encode(key)).as_bytes()))
        .and_then(|()| std::fs::hard_link(&tmp, file));
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => {
            tracing::info!(path = %file.display(), "created the secret key file (keep it: secrets are sealed under it)");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load(None, file),
        Err(e) => Err(cannot(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_private_key_file_once_then_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/taskbox.key");
        let key = load(None, &file).unwrap();
        assert_eq!(load(None, &file).unwrap(), key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(load(Some("abc"), &file).is_err());
        assert_eq!(load(Some(&"11".repeat(32)), &file).unwrap(), [0x11; 32]);
    }
}
