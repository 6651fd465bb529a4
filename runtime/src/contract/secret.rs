//! A secret's name: the word a sidecar grants, the secret store keeps and
//! a run's environment receives (the secret is the environment variable of
//! that name). One rule for all three.

/// `[A-Za-z_][A-Za-z0-9_]*`, at most 128 bytes.
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 128
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
