//! taskbox in-process, as `taskbox serve` builds it: the [`Application`]
//! built from settings on port 0 over a test's deployment, every role
//! running, stopped when the test drops it. The way in for tests of the
//! API, the dashboard and the engine together.

use std::ops::Deref;
use taskbox::server::Application;
use taskbox::server::settings::{Role, Settings};
use tokio::sync::watch;

use super::client::Api;
use super::components::PluginDir;
use super::deploy::Deployment;
use super::poll::eventually;

/// The admin token of every [`TestApp`].
pub const TOKEN: &str = "test-admin-token";

pub struct TestApp {
    pub api: Api,
    /// The deployment it runs on, for looking behind the API.
    pub d: Deployment,
    /// Its plugin directory, kept for as long as it runs.
    _plugins: PluginDir,
    stop: watch::Sender<bool>,
}

impl Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Settings for deployment `d` with `plugins`, as its environment would
/// give them.
pub fn settings(d: &Deployment, plugins: &PluginDir) -> Settings {
    let env: std::collections::HashMap<_, _> = d.serve_env().into_iter().collect();
    Settings {
        database_url: d.database_url.clone(),
        redis_url: env.get("TASKBOX_REDIS_URL").cloned(),
        redis_cluster_nodes: env
            .get("TASKBOX_REDIS_CLUSTER_NODES")
            .map(|v| v.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        redis_prefix: env.get("TASKBOX_REDIS_PREFIX").cloned().unwrap_or_else(|| "taskbox:".into()),
        plugin_dir: plugins.path().to_owned(),
        cache_dir: Some(plugins.cache.path().to_owned()),
        bind: "127.0.0.1:0".parse().unwrap(),
        admin_token: Some(TOKEN.into()),
        worker_concurrency: 4,
        shutdown_grace_seconds: 5,
        secret_key_file: std::env::temp_dir().join("taskbox-tests.key"),
        ..Settings::default()
    }
}

/// Every role over `d`, with the `echo`, `fail` and `sleep` plugins.
pub async fn spawn_app(d: Deployment) -> TestApp {
    spawn_app_with(d, &["api", "scheduler", "worker"], |_| {}).await
}

/// The application over `d` with these roles, and settings changed by
/// `adjust`; waits until its API answers.
pub async fn spawn_app_with(d: Deployment, roles: &[&str], adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_in(d, PluginDir::with(&["echo", "fail", "sleep"]), roles, adjust).await
}

/// Every role over `d`, with these built components as its plugins.
pub async fn spawn_app_plugins(d: Deployment, components: &[&str]) -> TestApp {
    spawn_app_in(d, PluginDir::with(components), &["api", "scheduler", "worker"], |_| {}).await
}

async fn spawn_app_in(
    d: Deployment,
    plugins: PluginDir,
    roles: &[&str],
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    let mut settings = settings(&d, &plugins);
    settings.roles = roles.iter().map(|r| r.parse::<Role>().expect("a role")).collect();
    adjust(&mut settings);
    let app = Application::build(settings).await.expect("the application builds");
    let addr = app.address().expect("the api role binds");
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(app.run_until_stopped(shutdown));
    let api = Api::new(format!("http://{addr}/api/v1"), TOKEN);
    eventually("the API answers", std::time::Duration::from_secs(10), || async {
        api.client.get(api.url("/system/health")).send().await.is_ok()
    })
    .await;
    TestApp { api, d, _plugins: plugins, stop }
}
