//! Typed settings for `taskbox serve`: defaults that run on a fresh
//! machine, then `taskbox.toml` (if present), then `TASKBOX_*` environment
//! variables. Secrets are never shown by `Debug`.

use serde::Deserialize;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::plugins::registry::DirPolicy;

/// Which loops a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Api,
    Scheduler,
    Worker,
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(name: &str) -> Result<Role, String> {
        [Role::Api, Role::Scheduler, Role::Worker]
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| format!("unknown role {name:?}; use api, scheduler, worker"))
    }
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Api => "api",
            Role::Scheduler => "scheduler",
            Role::Worker => "worker",
        }
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub database_url: String,
    pub redis_url: Option<String>,
    /// Seed nodes of a Redis Cluster (instead of `redis_url`).
    pub redis_cluster_nodes: Vec<String>,
    pub redis_prefix: String,
    /// Virtual shards of the Redis state (`None`: the target's default).
    pub redis_shards: Option<u16>,
    pub plugin_dir: PathBuf,
    pub cache_dir: Option<PathBuf>,
    pub bind: SocketAddr,
    pub admin_token: Option<String>,
    pub roles: BTreeSet<Role>,
    pub worker_concurrency: usize,
    /// The worker groups this process's worker serves.
    pub worker_groups: Vec<String>,
    /// Days the audit log keeps an event.
    pub audit_retention_days: u32,
    /// Seconds a stopping process waits for runs in flight.
    pub shutdown_grace_seconds: u64,
    /// The key secrets are sealed under, as 64 hex digits; unset: the key file.
    pub secret_key: Option<String>,
    /// The key file, created (mode 0600) on first start if missing.
    pub secret_key_file: PathBuf,
    /// PEM certificates plugins' outbound HTTPS trusts besides webpki's roots.
    pub outbound_ca_file: Option<PathBuf>,
    /// Largest plugin upload accepted, in MiB.
    pub max_upload_mb: u64,
    /// Largest webhook delivery accepted, in KiB.
    pub max_hook_kb: u64,
    /// Versions of a task type kept beyond those that are current, pinned
    /// or have records (older ones are pruned when a new one arrives).
    pub plugin_keep_versions: u32,
    /// Where notifications may go beyond public addresses, in the syntax of
    /// a sidecar's `allowed_outbound_hosts` (a private address only where
    /// an entry names it literally).
    pub notify_allowed_hosts: Vec<String>,
    /// This deployment's address as its users reach it, for the links in
    /// notifications (unset: links are paths).
    pub public_url: Option<String>,
    /// Host directories a sidecar may grant plugins (uploads: only inside
    /// these; a plugin directory's own files: these and their directory).
    pub allowed_dirs: Vec<PathBuf>,
    /// Seconds a client has to send a request's headers, then its body.
    pub http_header_timeout_seconds: u64,
    pub http_body_timeout_seconds: u64,
    /// Connections the API holds at once (beyond: a 503 and close).
    pub max_connections: usize,
}

impl Default for Settings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Self {
            database_url: "sqlite://taskbox.db".into(),
            redis_url: None,
            redis_cluster_nodes: Vec::new(),
            redis_prefix: "taskbox:".into(),
            redis_shards: None,
            plugin_dir: "./plugins".into(),
            cache_dir: None,
            bind: ([127, 0, 0, 1], 8080).into(),
            admin_token: None,
            roles: [Role::Api, Role::Scheduler, Role::Worker].into(),
            worker_concurrency: cores * 4,
            worker_groups: vec![crate::contract::job::DEFAULT_GROUP.into()],
            audit_retention_days: 365,
            shutdown_grace_seconds: 30,
            secret_key: None,
            secret_key_file: "taskbox.key".into(),
            outbound_ca_file: None,
            max_upload_mb: 64,
            max_hook_kb: 1024,
            plugin_keep_versions: 20,
            notify_allowed_hosts: Vec::new(),
            public_url: None,
            allowed_dirs: Vec::new(),
            http_header_timeout_seconds: 10,
            http_body_timeout_seconds: 120,
            max_connections: 4096,
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact(&self.database_url))
            .field("redis_url", &self.redis_url.as_deref().map(redact))
            .field(
                "redis_cluster_nodes",
                &self.redis_cluster_nodes.iter().map(|n| redact(n)).collect::<Vec<_>>(),
            )
            .field("redis_prefix", &self.redis_prefix)
            .field("redis_shards", &self.redis_shards)
            .field("plugin_dir", &self.plugin_dir)
            .field("bind", &self.bind)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<redacted>"))
            .field("roles", &self.roles)
            .field("worker_concurrency", &self.worker_concurrency)
            .field("worker_groups", &self.worker_groups)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "<redacted>"))
            .field("secret_key_file", &self.secret_key_file)
            .field("outbound_ca_file", &self.outbound_ca_file)
            .field("allowed_dirs", &self.allowed_dirs)
            .finish()
    }
}

/// A URL with its password replaced.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &creds[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    File(PathBuf, String),
    #[error("{name}={value:?}: {message}")]
    Env { name: String, value: String, message: String },
}

impl Settings {
    /// The Redis this deployment uses: one, a cluster, or none (embedded).
    pub fn redis(&self) -> Option<crate::backends::redis::Target> {
        use crate::backends::redis::Target;
        match (&self.redis_url, self.redis_cluster_nodes.is_empty()) {
            (Some(url), _) => Some(Target::Single(url.clone())),
            (None, false) => Some(Target::Cluster(self.redis_cluster_nodes.clone())),
            (None, true) => None,
        }
    }

    /// The host directories plugins' sidecars may grant on this node: those
    /// inside the allowed roots, never the database file, the key file or
    /// the artifact cache `cache_dir`.
    pub fn dir_policy(&self, cache_dir: Option<&Path>) -> DirPolicy {
        let mut own = vec![self.secret_key_file.clone()];
        if let Some(file) = self.database_url.strip_prefix("sqlite:") {
            let file = file.trim_start_matches("//");
            own.push(file.split('?').next().unwrap_or(file).into());
        }
        own.extend(cache_dir.map(Path::to_owned));
        DirPolicy::new(&self.allowed_dirs, &own)
    }

    /// Defaults, then the file at `file` (if it exists), then the environment.
    pub fn load(file: &Path) -> Result<Self, SettingsError> {
        let mut s = match std::fs::read_to_string(file) {
            Ok(text) => {
                toml::from_str(&text).map_err(|e| SettingsError::File(file.into(), e.message().into()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Settings::default(),
            Err(e) => return Err(SettingsError::Read(file.into(), e)),
        };
        s.apply_env(|name| std::env::var(name).ok())?;
        Ok(s)
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), SettingsError> {
        fn bad(name: &str, value: &str, message: impl Into<String>) -> SettingsError {
            SettingsError::Env { name: name.into(), value: value.into(), message: message.into() }
        }
        if let Some(v) = var("TASKBOX_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = var("TASKBOX_REDIS_URL") {
            self.redis_url = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = var("TASKBOX_REDIS_CLUSTER_NODES") {
            let nodes: Vec<String> =
                v.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect();
            if !nodes.iter().all(|n| n.starts_with("redis://") || n.starts_with("rediss://")) {
                return Err(bad(
                    "TASKBOX_REDIS_CLUSTER_NODES",
                    &v,
                    "comma-separated seed nodes, each redis://host:port (or rediss://)",
                ));
            }
            self.redis_cluster_nodes = nodes;
        }
        if self.redis_url.is_some() && !self.redis_cluster_nodes.is_empty() {
            return Err(bad(
                "TASKBOX_REDIS_CLUSTER_NODES",
                &self.redis_cluster_nodes.join(","),
                "set either TASKBOX_REDIS_URL (one Redis) or TASKBOX_REDIS_CLUSTER_NODES (a cluster), not both",
            ));
        }
        if let Some(v) = var("TASKBOX_REDIS_PREFIX") {
            self.redis_prefix = v;
        }
        if let Some(v) = var("TASKBOX_REDIS_SHARDS") {
            let max = crate::backends::redis::MAX_SHARDS;
            self.redis_shards = match v.parse() {
                Ok(n) if (1..=max).contains(&n) => Some(n),
                _ => {
                    return Err(bad("TASKBOX_REDIS_SHARDS", &v, format!("must be a number from 1 to {max}")));
                }
            };
        }
        if let Some(v) = var("TASKBOX_PLUGIN_DIR") {
            self.plugin_dir = v.into();
        }
        if let Some(v) = var("TASKBOX_CACHE_DIR") {
            self.cache_dir = Some(v.into());
        }
        if let Some(v) = var("TASKBOX_BIND") {
            self.bind = v.parse().map_err(|e| bad("TASKBOX_BIND", &v, format!("{e}")))?;
        }
        if let Some(v) = var("TASKBOX_SECRET_KEY") {
            self.secret_key = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = var("TASKBOX_SECRET_KEY_FILE") {
            self.secret_key_file = v.into();
        }
        if let Some(v) = var("TASKBOX_OUTBOUND_CA_FILE") {
            self.outbound_ca_file = (!v.is_empty()).then(|| v.into());
        }
        if let Some(v) = var("TASKBOX_ADMIN_TOKEN") {
            self.admin_token = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = var("TASKBOX_ROLES") {
            let mut roles = BTreeSet::new();
            for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let role = part.parse::<Role>().map_err(|e| bad("TASKBOX_ROLES", &v, e))?;
                roles.insert(role);
            }
            if roles.is_empty() {
                return Err(bad("TASKBOX_ROLES", &v, "name at least one role"));
            }
            self.roles = roles;
        }
        if let Some(v) = var("TASKBOX_WORKER_CONCURRENCY") {
            self.worker_concurrency = match v.parse() {
                Ok(n) if (1..=4096).contains(&n) => n,
                _ => return Err(bad("TASKBOX_WORKER_CONCURRENCY", &v, "must be a number from 1 to 4096")),
            };
        }
        if let Some(v) = var("TASKBOX_WORKER_GROUPS") {
            let groups: Vec<String> =
                v.split(',').map(str::trim).filter(|g| !g.is_empty()).map(str::to_owned).collect();
            if groups.is_empty() || !groups.iter().all(|g| crate::contract::limits::is_valid_group(g)) {
                return Err(bad(
                    "TASKBOX_WORKER_GROUPS",
                    &v,
                    "comma-separated group names, each 1 to 64 of a-z 0-9 _ - (starting with a letter or digit)",
                ));
            }
            self.worker_groups = groups;
        }
        if let Some(v) = var("TASKBOX_MAX_UPLOAD_MB") {
            self.max_upload_mb = match v.parse() {
                Ok(n) if (1..=4096).contains(&n) => n,
                _ => return Err(bad("TASKBOX_MAX_UPLOAD_MB", &v, "must be a number of MiB from 1 to 4096")),
            };
        }
        if let Some(v) = var("TASKBOX_PLUGIN_KEEP_VERSIONS") {
            self.plugin_keep_versions = match v.parse() {
                Ok(n) if (1..=10_000).contains(&n) => n,
                _ => return Err(bad("TASKBOX_PLUGIN_KEEP_VERSIONS", &v, "must be a number from 1 to 10000")),
            };
        }
        if let Some(v) = var("TASKBOX_NOTIFY_ALLOWED_HOSTS") {
            let hosts: Vec<String> =
                v.split(',').map(str::trim).filter(|h| !h.is_empty()).map(str::to_owned).collect();
            if let Err(e) = crate::doors::outbound::AllowedHosts::parse(&hosts) {
                return Err(bad("TASKBOX_NOTIFY_ALLOWED_HOSTS", &v, e.to_string()));
            }
            self.notify_allowed_hosts = hosts;
        }
        if let Some(v) = var("TASKBOX_PUBLIC_URL") {
            self.public_url = (!v.is_empty()).then(|| v.trim_end_matches('/').to_owned());
        }
        if let Some(v) = var("TASKBOX_SHUTDOWN_GRACE_SECONDS") {
            self.shutdown_grace_seconds = v
                .parse()
                .map_err(|_| bad("TASKBOX_SHUTDOWN_GRACE_SECONDS", &v, "must be a number of seconds"))?;
        }
        if let Some(v) = var("TASKBOX_ALLOWED_DIRS") {
            self.allowed_dirs = std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect();
            if let Some(relative) = self.allowed_dirs.iter().find(|p| p.is_relative()) {
                return Err(bad(
                    "TASKBOX_ALLOWED_DIRS",
                    &v,
                    format!("{} is not an absolute path", relative.display()),
                ));
            }
        }
        let number = |name: &str, v: &str, range: std::ops::RangeInclusive<u64>| match v.parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(bad(name, v, format!("must be a number from {} to {}", range.start(), range.end()))),
        };
        if let Some(v) = var("TASKBOX_HTTP_HEADER_TIMEOUT_SECONDS") {
            self.http_header_timeout_seconds = number("TASKBOX_HTTP_HEADER_TIMEOUT_SECONDS", &v, 1..=600)?;
        }
        if let Some(v) = var("TASKBOX_HTTP_BODY_TIMEOUT_SECONDS") {
            self.http_body_timeout_seconds = number("TASKBOX_HTTP_BODY_TIMEOUT_SECONDS", &v, 1..=3600)?;
        }
        if let Some(v) = var("TASKBOX_MAX_CONNECTIONS") {
            self.max_connections = number("TASKBOX_MAX_CONNECTIONS", &v, 16..=1_000_000)? as usize;
        }
        if let Some(v) = var("TASKBOX_MAX_HOOK_KB") {
            self.max_hook_kb = number("TASKBOX_MAX_HOOK_KB", &v, 1..=65_536)?;
        }
        if let Some(v) = var("TASKBOX_AUDIT_RETENTION_DAYS") {
            self.audit_retention_days = number("TASKBOX_AUDIT_RETENTION_DAYS", &v, 1..=36_500)? as u32;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with_env(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut s = Settings::default();
        s.apply_env(|n| vars.get(n).cloned())?;
        Ok(s)
    }

    #[test]
    fn the_environment_overrides_defaults() {
        let s =
            with_env(&[("TASKBOX_ROLES", "worker, scheduler"), ("TASKBOX_WORKER_CONCURRENCY", "3")]).unwrap();
        assert_eq!(s.roles, [Role::Scheduler, Role::Worker].into());
        assert_eq!(s.worker_concurrency, 3);
        assert_eq!(Settings::default().database_url, "sqlite://taskbox.db");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = with_env(&[("TASKBOX_ROLES", "api,cook")]).unwrap_err().to_string();
        assert!(e.starts_with("TASKBOX_ROLES=\"api,cook\": unknown role \"cook\""), "{e}");
        assert!(with_env(&[("TASKBOX_BIND", "nope")]).is_err());
    }

    #[test]
    fn cluster_nodes_select_a_cluster_and_exclude_one_redis() {
        use crate::backends::redis::Target;
        let nodes = "redis://a:7000, redis://b:7001";
        let s = with_env(&[("TASKBOX_REDIS_CLUSTER_NODES", nodes)]).unwrap();
        assert_eq!(s.redis(), Some(Target::Cluster(vec!["redis://a:7000".into(), "redis://b:7001".into()])));
        assert_eq!(with_env(&[]).unwrap().redis(), None);
        let e = with_env(&[("TASKBOX_REDIS_CLUSTER_NODES", "a:7000")]).unwrap_err().to_string();
        assert!(e.starts_with("TASKBOX_REDIS_CLUSTER_NODES=\"a:7000\": comma-separated seed nodes"), "{e}");
        let both = with_env(&[("TASKBOX_REDIS_URL", "redis://x"), ("TASKBOX_REDIS_CLUSTER_NODES", nodes)]);
        assert!(both.unwrap_err().to_string().contains("not both"));
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let s = with_env(&[
            ("TASKBOX_DATABASE_URL", "postgres://u:hunter2@db/x"),
            ("TASKBOX_ADMIN_TOKEN", "tok"),
        ])
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("tok\""), "{shown}");
    }
}
