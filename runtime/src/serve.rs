//! `taskbox serve`: builds the parts named by the settings and runs the
//! loops of this process's roles until SIGTERM or SIGINT.
//!
//! Owns start-up order and shutdown, nothing else: every loop it starts
//! belongs to its own module. Services that are down at start are waited
//! for (logged, with backoff); the process does not exit because of them.

use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

use crate::api::{self, AppState};
use crate::backend::Plan;
use crate::executor::{EngineSettings, Executor};
use crate::registry::{ArtifactCache, Loader, Registry};
use crate::reload;
use crate::scheduler::{SchedulerService, fire_loop};
use crate::settings::{Role, Settings, redact};
use crate::store::{self, TokenRole, TokenStore};
use crate::worker::{BASE_BACKOFF, Worker};

/// Why `serve` could not start at all.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("TASKBOX_DATABASE_URL: {0}")]
    Database(crate::store::StoreError),
    #[error("{0}")]
    Backend(#[from] crate::backend::PlanError),
    #[error("cannot listen on {0}: {1}")]
    Bind(std::net::SocketAddr, std::io::Error),
    #[error("{0}")]
    Setup(String),
}

/// Retries `attempt` with backoff until it succeeds or `shutdown` is set.
async fn until_ready<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    what: &str,
    shutdown: &watch::Receiver<bool>,
    mut attempt: impl FnMut() -> F,
) -> Option<T> {
    let mut backoff = Duration::from_millis(200);
    loop {
        match attempt().await {
            Ok(value) => return Some(value),
            Err(e) => tracing::warn!(error = %e, retry_in = ?backoff, "{what} is not ready"),
        }
        if *shutdown.borrow() {
            return None;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Runs the server until a signal; returns when every loop has stopped.
pub async fn serve(settings: Settings) -> Result<(), ServeError> {
    api::install_metrics();
    // Bind first, so a taken port is an error at once and port 0 is known.
    let listener = match settings.roles.contains(&Role::Api) {
        true => Some(
            tokio::net::TcpListener::bind(settings.bind)
                .await
                .map_err(|e| ServeError::Bind(settings.bind, e))?,
        ),
        false => None,
    };
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: no new work is taken; runs in flight finish");
        let _ = stop.send(true);
    });

    let opened = store::open(&settings.database_url).await.map_err(ServeError::Database)?;
    let store = opened.configs();
    if until_ready("the database", &shutdown, || store.migrate()).await.is_none() {
        return Ok(());
    }
    let tokens = opened.tokens();
    let plan = Plan::new(settings.redis_url.as_deref(), &settings.redis_prefix, &opened).await?;
    let executor = Executor::new(EngineSettings::default()).map_err(|e| ServeError::Setup(e.to_string()))?;
    let cache = settings.cache_dir.clone().or_else(ArtifactCache::default_dir);
    let registry = Registry::new(&settings.plugin_dir, Loader::new(executor.clone(), cache));
    if let Err(e) = std::fs::create_dir_all(&settings.plugin_dir) {
        tracing::warn!(dir = %settings.plugin_dir.display(), error = %e, "cannot create the plugin directory");
    }
    let catalog = registry
        .scan()
        .await
        .map_err(|e| ServeError::Setup(format!("{}: {e}", settings.plugin_dir.display())))?;
    let loaded: Vec<&str> =
        catalog.values().filter(|e| e.plugin.is_some()).map(|e| e.info.name.as_str()).collect();
    tracing::info!(
        database = %redact(&settings.database_url),
        backend = plan.kind(),
        redis = settings.redis_url.as_deref().map(redact),
        prefix = %settings.redis_prefix,
        roles = ?settings.roles,
        plugins = ?loaded,
        "taskbox serving"
    );

    let mut loops = tokio::task::JoinSet::new();
    if settings.roles.contains(&Role::Scheduler) {
        // With Redis, the scheduler's connection is its own.
        let Some(backend) =
            until_ready("the schedule backend (scheduler)", &shutdown, || plan.connect()).await
        else {
            return Ok(());
        };
        let service = SchedulerService::new(store.clone(), backend.schedule.clone());
        if let Some(done) = until_ready("reconciliation", &shutdown, || service.reconcile()).await {
            tracing::info!(
                started = done.started,
                repaired = done.repaired,
                forgotten = done.forgotten,
                "reconciled schedules"
            );
        }
        loops.spawn(fire_loop(backend.schedule, backend.changes, shutdown.clone()));
    }
    // The API, the worker and the plugin watcher share one backend handle.
    let Some(shared) = until_ready("the schedule backend", &shutdown, || plan.connect()).await else {
        return Ok(());
    };
    let service = SchedulerService::new(store.clone(), shared.schedule.clone());
    match reload::watch(registry.clone(), Some(service.clone()), shutdown.clone()) {
        Ok(watcher) => drop(watcher),
        Err(e) => {
            tracing::warn!(error = %e, "plugins will not hot-reload (POST /api/v1/plugins/reload still rescans)")
        }
    }
    if settings.roles.contains(&Role::Worker) {
        let worker = Worker {
            name: Worker::default_name(),
            queue: shared.queue.clone(),
            store: store.clone(),
            registry: registry.clone(),
            executor: executor.clone(),
            concurrency: settings.worker_concurrency,
            base_backoff: BASE_BACKOFF,
        };
        tracing::info!(worker = %worker.name, concurrency = worker.concurrency, "worker started");
        loops.spawn(worker.run(shutdown.clone(), Duration::from_secs(settings.shutdown_grace_seconds)));
    }
    if let Some(listener) = listener {
        if settings.admin_token.is_none() {
            first_token(tokens.as_ref()).await;
        }
        let admin = settings.admin_token.as_deref();
        let roles = settings.roles.clone();
        // The API reads configs through a cache; the scheduler service
        // (which snapshots them into schedules) reads the store itself.
        let configs = store::cached(&opened);
        let state = AppState::new(configs, service, registry.clone(), shared.queue, tokens, admin, roles)
            .with_backend_kind(plan.kind());
        let addr = listener.local_addr().map_err(|e| ServeError::Bind(settings.bind, e))?;
        tracing::info!(%addr, "API listening on http://{addr}/api/v1 (docs at http://{addr}/docs)");
        let shutdown = shutdown.clone();
        loops.spawn(async move {
            if let Err(e) = api::serve(listener, state, shutdown).await {
                tracing::error!(error = %e, "the API stopped");
            }
        });
    }
    while loops.join_next().await.is_some() {}
    tracing::info!("stopped");
    Ok(())
}

/// On a first start (no token at all and no `TASKBOX_ADMIN_TOKEN`),
/// creates one admin token and prints it, once.
async fn first_token(tokens: &dyn TokenStore) {
    match tokens.list_tokens().await {
        Ok(list) if list.is_empty() => {
            let (token, hash) = api::generate_token();
            match tokens.create_token("admin", TokenRole::Admin, &hash).await {
                Ok(_) => eprintln!(
                    "\ntaskbox: created the first admin API token (it is shown only now; keep it):\n\n    {token}\n\n\
                     Use it as `Authorization: Bearer <token>`. Manage tokens with `taskbox token`.\n"
                ),
                Err(e) => tracing::error!(error = %e, "cannot create the first admin token"),
            }
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "cannot list API tokens"),
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
