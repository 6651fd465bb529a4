//! The optional `<task_type>.toml` beside a plugin: what it may touch and its
//! default limits. Parsed strictly: an unknown key or a bad value is an error
//! that names it, and the plugin does not load.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::dirs::DirPolicy;
use super::origin::Origin;
use crate::contract::kv::{Bounds, DEFAULT_BOUNDS, is_valid_bucket};
use crate::contract::limits::{RateLimit, is_valid_group};
use crate::contract::secret::is_valid_name as is_valid_secret_name;
use crate::doors::outbound::AllowedHosts;
use crate::executor::{DEFAULT_HTTP_LIMITS, DirGrant, Grants, HttpLimits};

/// Largest memory cap a sidecar may ask for (the engine's pool slot size).
pub const MAX_MEMORY_MB: u64 = 4096;
const MAX_TIMEOUT_SECONDS: f64 = 7.0 * 24.0 * 3600.0;
const MAX_OUTPUT_KB: u64 = 64 * 1024;
const MAX_RESPONSE_BODY_KB: u64 = 1 << 20;
const MAX_KV_VALUE_KB: u64 = 64 * 1024;

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
    /// are taken from the plugin directory); what may be granted is
    /// [`DirPolicy`]'s to say.
    #[serde(default)]
    pub dirs: BTreeMap<String, PathBuf>,
    /// Where it may send HTTP requests, in Spin's syntax
    /// (`https://api.example.com`, `http://127.0.0.1:8080`,
    /// `https://*.example.org`, `http://localhost:*`). None: no network.
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// Requests per run (default 100).
    pub max_outbound_requests: Option<u32>,
    /// Response body bytes per run, in KiB (default 16 MiB).
    pub max_response_body_kb: Option<u64>,
    /// The key-value buckets it may open (shared with every plugin that
    /// names them).
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    /// Largest value it may write, in KiB (default 1 MiB).
    pub max_kv_value_kb: Option<u64>,
    /// Keys a bucket may hold when it writes a new one (default 100,000).
    pub max_kv_keys: Option<u64>,
    /// The secrets it gets, as environment variables of its runs.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Runs of this task type in flight at once, fleet-wide; more wait in
    /// the queue in order.
    pub max_concurrency: Option<u32>,
    /// Runs of this task type that may start per window, fleet-wide
    /// (`{ max = 1, per_seconds = 1 }`: an API the plugin calls allows one
    /// call a second); more wait in order.
    pub rate_limit: Option<RateLimit>,
    /// The worker group its runs go to when their config names none
    /// (`TASKBOX_WORKER_GROUPS` says which groups a worker serves).
    pub worker_group: Option<String>,
}

/// Why a sidecar cannot be used; it names the file by its name alone (never
/// the host's directory).
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    #[error("cannot read {file}: {source}")]
    Read { file: String, source: std::io::Error },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// A sidecar's file name, for messages.
fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

impl Sidecar {
    /// Reads the sidecar of the plugin at `wasm_path`, if there is one.
    pub fn for_plugin(wasm_path: &Path) -> Result<Option<Self>, SidecarError> {
        let path = wasm_path.with_extension("toml");
        Self::text_for_plugin(wasm_path)?.map(|text| Self::parse(&text, &path)).transpose()
    }

    /// The text of the sidecar of the plugin at `wasm_path`, if there is one.
    pub fn text_for_plugin(wasm_path: &Path) -> Result<Option<String>, SidecarError> {
        let path = wasm_path.with_extension("toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SidecarError::Read { file: file_name(&path), source }),
        }
    }

    /// Parses and checks sidecar text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, SidecarError> {
        let invalid = |message: String| SidecarError::Invalid { file: file_name(path), message };
        let sidecar: Sidecar = toml::from_str(text).map_err(|e| invalid(e.message().to_owned()))?;
        sidecar.validate().map_err(invalid)?;
        Ok(sidecar)
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(n) = self.max_concurrency
            && !(1..=10_000).contains(&n)
        {
            return Err(format!("max_concurrency = {n}: must be between 1 and 10000"));
        }
        if let Some(problem) = self.rate_limit.as_ref().and_then(RateLimit::problem) {
            return Err(format!("rate_limit: {problem}"));
        }
        if let Some(group) = self.worker_group.as_deref().filter(|g| !is_valid_group(g)) {
            return Err(format!(
                "worker_group = {group:?}: 1 to 64 of a-z 0-9 _ - (starting with a letter or digit)"
            ));
        }
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
        AllowedHosts::parse(&self.allowed_outbound_hosts).map_err(|e| e.to_string())?;
        if self.max_outbound_requests == Some(0) {
            return Err("max_outbound_requests = 0: leave allowed_outbound_hosts empty instead".into());
        }
        if let Some(kb) = self.max_response_body_kb
            && !(1..=MAX_RESPONSE_BODY_KB).contains(&kb)
        {
            return Err(format!("max_response_body_kb = {kb}: must be between 1 and {MAX_RESPONSE_BODY_KB}"));
        }
        for bucket in &self.key_value_stores {
            if !is_valid_bucket(bucket) {
                return Err(format!("key_value_stores entry {bucket:?}: 1 to 64 of A-Z a-z 0-9 _ - ."));
            }
        }
        if let Some(kb) = self.max_kv_value_kb
            && !(1..=MAX_KV_VALUE_KB).contains(&kb)
        {
            return Err(format!("max_kv_value_kb = {kb}: must be between 1 and {MAX_KV_VALUE_KB}"));
        }
        if self.max_kv_keys == Some(0) {
            return Err("max_kv_keys = 0: leave key_value_stores empty instead".into());
        }
        for name in &self.secrets {
            if !is_valid_secret_name(name) {
                return Err(format!(
                    "secrets entry {name:?}: a name like SLACK_WEBHOOK ([A-Za-z_][A-Za-z0-9_]*)"
                ));
            }
            if self.env.contains_key(name) {
                return Err(format!("secrets entry {name:?} is also an env key: one name, one source"));
            }
        }
        Ok(())
    }

    /// The grants of a sidecar that arrived as `origin` beside
    /// `plugin_dir`, each host directory resolved and allowed by `policy`.
    pub fn grants(&self, plugin_dir: &Path, policy: &DirPolicy, origin: Origin) -> Result<Grants, String> {
        let mut dirs = Vec::new();
        for (guest, host) in &self.dirs {
            let host = policy.grant(guest, host, plugin_dir, origin)?;
            dirs.push(DirGrant { host, guest: guest.clone() });
        }
        let outbound = AllowedHosts::parse(&self.allowed_outbound_hosts).map_err(|e| e.to_string())?;
        let http_limits = HttpLimits {
            max_requests: self.max_outbound_requests.unwrap_or(DEFAULT_HTTP_LIMITS.max_requests),
            max_response_bytes: self
                .max_response_body_kb
                .map_or(DEFAULT_HTTP_LIMITS.max_response_bytes, |kb| kb << 10),
        };
        let kv_bounds = Bounds {
            max_value_bytes: self
                .max_kv_value_kb
                .map_or(DEFAULT_BOUNDS.max_value_bytes, |kb| (kb << 10) as usize),
            max_keys: self.max_kv_keys.unwrap_or(DEFAULT_BOUNDS.max_keys),
            ..DEFAULT_BOUNDS
        };
        Ok(Grants {
            env: self.env.clone().into_iter().collect(),
            dirs,
            outbound: outbound.into(),
            http_limits,
            buckets: self.key_value_stores.clone().into(),
            kv_bounds,
            secrets: self.secrets.clone(),
        })
    }

    pub fn timeout(&self) -> Option<Duration> {
        self.timeout_seconds.map(Duration::from_secs_f64)
    }
}
