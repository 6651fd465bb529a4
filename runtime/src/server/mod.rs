//! The application: one taskbox process, in the shape of
//! zero-to-production's `startup.rs`. [`Application::build`] opens the
//! database, loads the plugins and binds the API's port (port 0 picks one,
//! and [`Application::address`] says which); [`Application::run_until_stopped`]
//! starts the loops of the process's roles (`roles.rs`) and returns once
//! every one of them has stopped after the shutdown signal.
//!
//! Owns start-up order and shutdown, nothing else: every loop belongs to
//! its own module. Services that are down at start are waited for (logged,
//! with backoff); the process does not exit because of them.

mod roles;
pub mod serve;
pub mod settings;

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::backends::Plan;
use crate::doors::secrets::Secrets;
use crate::executor::{EngineSettings, Executor};
use crate::plugins::registry::{ArtifactCache, Loader, Registry};
use crate::server::settings::{Role, Settings, redact};
use crate::store::{self, ConfigStore, Opened};
use crate::support::backoff::retry;

/// Why the application could not start at all.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("TASKBOX_DATABASE_URL: {0}")]
    Database(#[from] crate::store::StoreError),
    #[error(transparent)]
    Backend(#[from] crate::backends::PlanError),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, #[source] std::io::Error),
    #[error("cannot set up the sandbox: {0}")]
    Sandbox(String),
    #[error("cannot read the plugin directory {0}: {1}")]
    Plugins(String, #[source] std::io::Error),
    #[error("{0}")]
    Secrets(#[from] crate::doors::secrets::SecretsError),
}

/// A built process: port bound, database open, plugins loaded.
pub struct Application {
    settings: Settings,
    listener: Option<TcpListener>,
    opened: Opened,
    store: Arc<dyn ConfigStore>,
    executor: Executor,
    registry: Registry,
}

impl Application {
    /// Binds first (so a taken port is an error at once), opens the store,
    /// sets up the sandbox and loads the plugin directory.
    pub async fn build(mut settings: Settings) -> Result<Self, ServeError> {
        crate::http::api::install_metrics();
        // The API holds no more connections than files allow, beside what
        // the rest of the process needs.
        let files = raise_open_files();
        settings.max_connections = settings.max_connections.min(files.saturating_sub(256).max(16) as usize);
        let listener = match settings.roles.contains(&Role::Api) {
            true => {
                Some(TcpListener::bind(settings.bind).await.map_err(|e| ServeError::Bind(settings.bind, e))?)
            }
            false => None,
        };
        let opened = store::open(&settings.database_url).await?;
        let store = opened.configs();
        let engine =
            EngineSettings { extra_ca_file: settings.outbound_ca_file.clone(), ..Default::default() };
        let executor = Executor::new(engine).map_err(|e| ServeError::Sandbox(e.to_string()))?;
        let cache = settings.cache_dir.clone().or_else(ArtifactCache::default_dir);
        let policy = settings.dir_policy(cache.as_deref());
        let registry =
            Registry::new(&settings.plugin_dir, Loader::new(executor.clone(), cache).with_dir_policy(policy));
        if let Err(e) = std::fs::create_dir_all(&settings.plugin_dir) {
            tracing::warn!(dir = %settings.plugin_dir.display(), error = %e, "cannot create the plugin directory");
        }
        registry
            .scan()
            .await
            .map_err(|e| ServeError::Plugins(settings.plugin_dir.display().to_string(), e))?;
        Ok(Self { settings, listener, opened, store, executor, registry })
    }

    /// Where the API listens (`None` without the `api` role).
    pub fn address(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Runs the roles' loops until `shutdown` turns true and each has
    /// stopped (the worker after finishing its runs, within the grace).
    pub async fn run_until_stopped(self, shutdown: watch::Receiver<bool>) -> Result<(), ServeError> {
        let s = &self.settings;
        if retry("the database is not ready", Some(&shutdown), || self.store.migrate()).await.is_none() {
            return Ok(());
        }
        let plan = Plan::sharded(s.redis().as_ref(), &s.redis_prefix, s.redis_shards, &self.opened).await?;
        let secrets =
            Secrets::open(self.opened.secrets(), s.secret_key.as_deref(), &s.secret_key_file).await?;
        let catalog = self.registry.catalog();
        let loaded: Vec<&str> =
            catalog.values().filter(|e| e.plugin.is_some()).map(|e| e.info.name.as_str()).collect();
        tracing::info!(
            database = %redact(&s.database_url),
            backend = plan.kind(),
            redis = s.redis_url.as_deref().map(redact),
            redis_cluster = ?s.redis_cluster_nodes.iter().map(|n| redact(n)).collect::<Vec<_>>(),
            prefix = %s.redis_prefix,
            roles = ?s.roles,
            plugins = ?loaded,
            "taskbox serving"
        );
        let parts = roles::Parts {
            settings: self.settings.clone(),
            plan,
            opened: self.opened.clone(),
            store: self.store.clone(),
            executor: self.executor.clone(),
            registry: self.registry.clone(),
            secrets,
            shutdown,
        };
        let Some(mut loops) = roles::start(parts, self.listener).await else { return Ok(()) };
        while loops.join_next().await.is_some() {}
        tracing::info!("stopped");
        Ok(())
    }
}

/// Raises this process's limit of open files to its hard limit (a service
/// manager's usual soft limit, 1,024, is far below what a server holds);
/// answers the limit in force.
fn raise_open_files() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(files) => files,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the limit of open files");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft).unwrap_or(1024)
        }
    }
}
