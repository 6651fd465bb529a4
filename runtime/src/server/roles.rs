//! One starter per role: each connects what its loops need and spawns them
//! into the process's join set. The API, the worker and the plugin watcher
//! share one backend handle; with Redis, the scheduler's is its own.

use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::app::{self, App, Tokens, tokens};
use crate::backends::{Backend, Plan};
use crate::contract::job::{TypeRule, TypeRules};
use crate::doors::secrets::Secrets;
use crate::engine::notifier::{Notifier, NotifySettings};
use crate::engine::reload;
use crate::engine::scheduler::{SchedulerService, fire_loop, watch_state};
use crate::engine::worker::{BASE_BACKOFF, Worker, WorkerDoors};
use crate::engine::workflow::Conductor;
use crate::executor::Executor;
use crate::http::{self, AppState};
use crate::plugins::artifacts::{Artifacts, CompiledKey};
use crate::plugins::registry::Registry;
use crate::server::settings::{Role, Settings};
use crate::store::{self, ConfigStore, Opened, TokenRole, TokenStore};
use crate::support::backoff::retry;

/// What the starters build from.
pub(super) struct Parts {
    pub settings: Settings,
    pub plan: Plan,
    pub opened: Opened,
    pub store: Arc<dyn ConfigStore>,
    pub executor: Executor,
    pub registry: Registry,
    pub secrets: Secrets,
    pub shutdown: watch::Receiver<bool>,
}

/// Starts every role of `parts.settings`; `None` if shutdown came first.
pub(super) async fn start(parts: Parts, listener: Option<TcpListener>) -> Option<JoinSet<()>> {
    let mut loops = JoinSet::new();
    let roles = &parts.settings.roles;
    if roles.contains(&Role::Scheduler) {
        scheduler(&parts, &mut loops).await?;
    }
    if let Plan::Local(local) = &parts.plan {
        // Whatever the roles: this process alone owns the local backend.
        loops.spawn(local.clone().sweep_loop(parts.shutdown.clone()));
    }
    let shared = connect("the schedule backend", &parts).await?;
    let service = SchedulerService::new(parts.store.clone(), shared.schedule.clone())
        .with_queue(shared.queue.clone())
        .with_type_rules(type_rules(&parts.registry))
        .with_intents(parts.opened.intents());
    let plugins = versioned_plugins(&parts).await;
    match reload::watch(plugins.clone(), Some(service.clone()), parts.shutdown.clone()) {
        Ok(watcher) => drop(watcher),
        Err(e) => {
            tracing::warn!(error = %e, "plugins will not hot-reload (POST /api/v1/plugins/reload still rescans)")
        }
    }
    if roles.contains(&Role::Worker) {
        worker(&parts, &shared, &plugins, &mut loops);
    }
    if let Some(listener) = listener {
        api(&parts, shared, service, plugins, listener, &mut loops).await;
    }
    Some(loops)
}

/// The plugins as versions kept in the config store: the directory's files
/// recorded, the store's current versions served, and followed from now on.
async fn versioned_plugins(parts: &Parts) -> Artifacts {
    let compiled_key = CompiledKey::new(parts.secrets.derive_key(CompiledKey::PURPOSE));
    let plugins = Artifacts::new(
        parts.registry.clone(),
        parts.opened.plugins(),
        parts.settings.plugin_keep_versions,
        Some(compiled_key),
    );
    if let Err(e) = plugins.refresh_directory().await {
        tracing::warn!(error = %e, "cannot read the plugin directory");
    }
    drop(plugins.clone().watch(parts.shutdown.clone()));
    plugins
}

async fn connect(what: &str, parts: &Parts) -> Option<Backend> {
    retry(&format!("{what} is not ready"), Some(&parts.shutdown), || parts.plan.connect()).await
}

/// Reconciles, then fires due schedules.
async fn scheduler(parts: &Parts, loops: &mut JoinSet<()>) -> Option<()> {
    let backend = connect("the schedule backend (scheduler)", parts).await?;
    let service = SchedulerService::new(parts.store.clone(), backend.schedule.clone())
        .with_intents(parts.opened.intents());
    if let Some(done) = retry("reconciliation failed", Some(&parts.shutdown), || service.reconcile()).await {
        tracing::info!(
            started = done.started,
            restored = done.restored,
            repaired = done.repaired,
            forgotten = done.forgotten,
            "reconciled schedules"
        );
    }
    loops.spawn(watch_state(service, parts.shutdown.clone()));
    let rules = type_rules(&parts.registry);
    loops.spawn(fire_loop(backend.schedule, backend.changes, rules, parts.shutdown.clone()));
    Some(())
}

/// Each task type's limits and group, from the sidecar of its current plugin.
fn type_rules(registry: &Registry) -> TypeRules {
    let registry = registry.clone();
    Arc::new(move |task_type| {
        registry.get(task_type).map_or_else(TypeRule::default, |p| TypeRule {
            max_concurrency: p.sidecar.max_concurrency,
            rate_limit: p.sidecar.rate_limit,
            worker_group: p.sidecar.worker_group.clone(),
        })
    })
}

fn worker(parts: &Parts, shared: &Backend, plugins: &Artifacts, loops: &mut JoinSet<()>) {
    let worker = Worker {
        name: Worker::default_name(),
        groups: parts.settings.worker_groups.clone(),
        queue: shared.queue.clone(),
        store: parts.store.clone(),
        plugins: plugins.clone(),
        executor: parts.executor.clone(),
        concurrency: parts.settings.worker_concurrency,
        base_backoff: BASE_BACKOFF,
        doors: WorkerDoors { kv: Some(shared.kv.clone()), secrets: Some(parts.secrets.clone()) },
        notifier: notifier(parts),
        conductor: Some(Conductor::new(
            shared.schedule.clone(),
            shared.queue.clone(),
            parts.store.clone(),
            type_rules(&parts.registry),
        )),
    };
    tracing::info!(worker = %worker.name, concurrency = worker.concurrency, groups = ?worker.groups, "worker started");
    let grace = Duration::from_secs(parts.settings.shutdown_grace_seconds);
    loops.spawn(worker.run(parts.shutdown.clone(), grace));
}

/// The notifier of this process's worker.
fn notifier(parts: &Parts) -> Option<Notifier> {
    let settings = NotifySettings {
        allowed: parts.settings.notify_allowed_hosts.clone(),
        public_url: parts.settings.public_url.clone(),
    };
    match Notifier::start(parts.store.clone(), parts.opened.deliveries(), settings) {
        Ok(notifier) => Some(notifier),
        Err(e) => {
            tracing::error!(error = %e, "notifications are off");
            None
        }
    }
}

async fn api(
    parts: &Parts,
    shared: Backend,
    service: SchedulerService,
    plugins: Artifacts,
    listener: TcpListener,
    loops: &mut JoinSet<()>,
) {
    let tokens = parts.opened.tokens();
    let settings = &parts.settings;
    if settings.admin_token.is_none() {
        first_token(tokens.as_ref()).await;
    }
    // The API reads configs through a cache; the scheduler service (which
    // snapshots them into schedules) reads the store itself.
    let app = App::new(app::Parts {
        store: store::cached(&parts.opened),
        scheduler: service,
        plugins,
        queue: shared.queue,
        tokens: Tokens::new(tokens, settings.admin_token.as_deref()),
        kv: Some(shared.kv),
        secrets: Some(parts.secrets.clone()),
        deliveries: Some(parts.opened.deliveries()),
        dashboard: Some(parts.opened.dashboard()),
        audit: Some(parts.opened.audit()),
        backend_kind: parts.plan.kind(),
        roles: settings.roles.iter().map(|r| r.as_str().to_owned()).collect(),
    });
    let store = parts.opened.configs();
    loops.spawn(housekeeping(app.clone(), store, settings.audit_retention_days, parts.shutdown.clone()));
    let state = AppState::new(app, settings.max_upload_mb << 20, (settings.max_hook_kb << 10) as usize);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "API listening on http://{addr}/api/v1 (docs at http://{addr}/docs)");
    }
    let shutdown = parts.shutdown.clone();
    let limits = http::Limits {
        header_timeout: Duration::from_secs(settings.http_header_timeout_seconds),
        body_timeout: Duration::from_secs(settings.http_body_timeout_seconds),
        connections: settings.max_connections,
    };
    loops.spawn(async move {
        if let Err(e) = http::serve(listener, http::router(state), limits, shutdown).await {
            tracing::error!(error = %e, "the API stopped");
        }
    });
}

/// At start and hourly after: deletes audit events older than `days`, and
/// keeps the store's schema ahead (the records' partitions).
async fn housekeeping(
    app: App,
    store: Arc<dyn ConfigStore>,
    days: u32,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = app.prune_audit(days).await {
            tracing::warn!(error = %e, "cannot prune the audit log");
        }
        if let Err(e) = store.housekeep().await {
            tracing::warn!(error = %e, "store housekeeping failed (the records' partitions ahead)");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            changed = shutdown.changed() => if changed.is_err() || *shutdown.borrow() { return },
        }
    }
}

/// On a first start (no token at all and no `TASKBOX_ADMIN_TOKEN`),
/// creates one admin token and prints it, once.
async fn first_token(tokens: &dyn TokenStore) {
    match tokens.list_tokens().await {
        Ok(list) if list.is_empty() => {
            let (token, hash) = tokens::generate();
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
