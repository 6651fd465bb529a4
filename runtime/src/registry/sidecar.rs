//! The optional `<task_type>.toml` beside a plugin: what it may touch and its
//! default limits. Parsed strictly: an unknown key or a bad value is an error
//! that names it, and the plugin does not load.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::executor::{DirGrant, Grants};

/// Largest memory cap a sidecar may ask for (the engine's pool slot size).
pub const MAX_MEMORY_MB: u64 = 4096;
const MAX_TIMEOUT_SECONDS: f64 = 7.0 * 24.0 * 3600.0;
const MAX_OUTPUT_KB: u64 = 64 * 1024;

/// A sidecar as written. Everything is optional; the default grants nothing.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    /// Memory cap in MiB for this plugin's runs.
    pub memory_mb: Option<u64>,
    /// Default deadline in seconds (a config's own timeout wins).
    pub timeout_seconds: Option<f64>,
    /// Bound in KiB on each of stdout, stderr, logs and the result.
    pub max_output_kb: Option<u64>,
    /// Environment variables the plugin sees.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Read-only directories: guest path → host path (relative host paths
    /// are taken from the plugin directory).
    #[serde(default)]
    pub dirs: BTreeMap<String, PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Sidecar {
    /// Reads the sidecar of the plugin at `wasm_path`, if there is one.
    pub fn for_plugin(wasm_path: &Path) -> Result<Option<Self>, SidecarError> {
        let path = wasm_path.with_extension("toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SidecarError::Read { path, source }),
        };
        let invalid = |message: String| SidecarError::Invalid { path: path.clone(), message };
        let sidecar: Sidecar = toml::from_str(&text).map_err(|e| invalid(e.message().to_owned()))?;
        sidecar.validate().map_err(invalid)?;
        Ok(Some(sidecar))
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(mb) = self.memory_mb
            && !(1..=MAX_MEMORY_MB).contains(&mb)
        {
            return Err(format!("memory_mb = {mb}: must be between 1 and {MAX_MEMORY_MB}"));
        }
        if let Some(s) = self.timeout_seconds
            && !(s > 0.0 && s <= MAX_TIMEOUT_SECONDS)
        {
            return Err(format!("timeout_seconds = {s}: must be above 0 and at most {MAX_TIMEOUT_SECONDS}"));
        }
        if let Some(kb) = self.max_output_kb
            && !(1..=MAX_OUTPUT_KB).contains(&kb)
        {
            return Err(format!("max_output_kb = {kb}: must be between 1 and {MAX_OUTPUT_KB}"));
        }
        for key in self.env.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(format!("env key {key:?}: must be non-empty without '=' or NUL"));
            }
        }
        for guest in self.dirs.keys() {
            if !guest.starts_with('/') {
                return Err(format!("dirs key {guest:?}: the guest path must be absolute"));
            }
        }
        Ok(())
    }

    /// The grants, with host directories resolved against `plugin_dir` and
    /// checked to exist.
    pub fn grants(&self, plugin_dir: &Path) -> Result<Grants, String> {
        let mut dirs = Vec::new();
        for (guest, host) in &self.dirs {
            let host = plugin_dir.join(host);
            let host =
                host.canonicalize().map_err(|e| format!("dirs.{guest:?} = {}: {e}", host.display()))?;
            if !host.is_dir() {
                return Err(format!("dirs.{guest:?} = {}: not a directory", host.display()));
            }
            dirs.push(DirGrant { host, guest: guest.clone() });
        }
        Ok(Grants { env: self.env.clone().into_iter().collect(), dirs })
    }

    pub fn timeout(&self) -> Option<Duration> {
        self.timeout_seconds.map(Duration::from_secs_f64)
    }
}
