//! The `taskbox` binary as a process of the test's own: `taskbox serve`
//! on a free port with a known admin token, for what only a process shows
//! (kill -9, several processes on one deployment, a first start, its log).
//! Killed when dropped.

use std::ops::Deref;

use super::client::Api;
use super::components::PluginDir;
use super::deploy::{Deployment, Kind};

pub struct Server {
    pub child: std::process::Child,
    /// Its API (empty `base` for a process without the api role).
    pub api: Api,
    /// Every line the server wrote to stderr (its log).
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// A plugin directory of its own, kept for as long as it runs.
    plugins: Option<PluginDir>,
}

impl Deref for Server {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

pub const SERVER_TOKEN: &str = "test-server-token";

impl Server {
    /// Starts `taskbox serve` with `env` and waits until the API listens.
    pub fn start(env: &[(&str, String)]) -> Self {
        Self::start_until(env, "http://")
    }

    /// Starts `taskbox serve` with `env` and waits for a log line that
    /// holds `marker` (`base` is the URL after it, if any).
    pub fn start_until(env: &[(&str, String)], marker: &str) -> Self {
        Self::spawn(Self::command(env), marker)
    }

    /// The `taskbox serve` command with `env`, for a test to change before
    /// [`Server::spawn`] (a limit of open files, say).
    pub fn command(env: &[(&str, String)]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_taskbox"));
        command
            .arg("serve")
            .env_remove("TASKBOX_REDIS_URL")
            .env_remove("TASKBOX_REDIS_CLUSTER_NODES")
            // Outside the work tree; each test's database checks the key anew.
            .env("TASKBOX_SECRET_KEY_FILE", std::env::temp_dir().join("taskbox-tests.key"))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("TASKBOX_BIND", "127.0.0.1:0")
            .env("TASKBOX_ADMIN_TOKEN", SERVER_TOKEN)
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        command
    }

    /// Starts `command` and waits for a log line that holds `marker`.
    pub fn spawn(mut command: std::process::Command, marker: &str) -> Self {
        use std::io::BufRead;
        let mut child = command.spawn().expect("taskbox serve starts");
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = Vec::new();
        let base = loop {
            let Some(Ok(line)) = lines.next() else {
                panic!("taskbox serve exited before listening:\n{}", seen.join("\n"));
            };
            if line.contains(marker) {
                let url = line.find("http://").map(|at| line[at..].split_whitespace().next().unwrap());
                break url.unwrap_or_default().to_owned();
            }
            seen.push(line);
        };
        // Keep reading, so the server never blocks on a full pipe.
        let log = std::sync::Arc::new(std::sync::Mutex::new(seen));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Self { child, api: Api::new(base, SERVER_TOKEN), log, plugins: None }
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `taskbox serve` (every role) on deployment `d`, with `plugins` as its
/// plugin directory and artifact cache, and `extra` settings.
pub fn serve(d: &Deployment, plugins: &PluginDir, extra: &[(&'static str, String)]) -> Server {
    Server::start(&serve_env(d, plugins, extra))
}

/// `taskbox serve` (every role) on deployment `d`, with a plugin directory
/// of its own holding these built components.
pub fn serve_plugins(d: &Deployment, components: &[&str], extra: &[(&'static str, String)]) -> Server {
    let plugins = PluginDir::with(components);
    let mut server = serve(d, &plugins, extra);
    server.plugins = Some(plugins);
    server
}

/// A `taskbox serve` with only the worker role (it serves no API).
pub fn serve_worker(d: &Deployment, plugins: &PluginDir, extra: &[(&'static str, String)]) -> Server {
    let mut env = serve_env(d, plugins, extra);
    env.push(("TASKBOX_ROLES", "worker".into()));
    Server::start_until(&env, "worker started")
}

/// An API with no plugin on disk and a worker with none either: on the
/// distributed deployment two processes (the API with the scheduler, and
/// a worker), on the embedded one the API's own process.
pub struct EmptyNodes {
    pub api: Server,
    pub worker: Option<Server>,
    /// The worker's plugin directory (the API's own on the embedded one).
    pub worker_dir: PluginDir,
    _api_dir: PluginDir,
}

impl EmptyNodes {
    pub fn start(d: &Deployment) -> Self {
        let (api_dir, worker_dir) = (PluginDir::new(), PluginDir::new());
        let (api, worker) = match d.kind {
            Kind::Distributed | Kind::Cluster => (
                serve(d, &api_dir, &[("TASKBOX_ROLES", "api,scheduler".into())]),
                Some(serve_worker(d, &worker_dir, &[])),
            ),
            Kind::Embedded => (serve(d, &worker_dir, &[]), None),
        };
        EmptyNodes { api, worker, worker_dir, _api_dir: api_dir }
    }

    /// The pid of the process that runs the tasks.
    pub fn worker_pid(&self) -> u32 {
        self.worker.as_ref().map_or(self.api.child.id(), |w| w.child.id())
    }
}

fn serve_env(
    d: &Deployment,
    plugins: &PluginDir,
    extra: &[(&'static str, String)],
) -> Vec<(&'static str, String)> {
    let mut env = d.serve_env();
    env.push(("TASKBOX_PLUGIN_DIR", plugins.path().display().to_string()));
    env.push(("TASKBOX_CACHE_DIR", plugins.cache.path().display().to_string()));
    env.extend(extra.iter().cloned());
    env
}

/// The processes of one deployment: the API (with the scheduler), and on
/// the distributed one `workers` more processes that only work (the API's
/// process works too on the embedded one, which is one process).
pub struct Fleet {
    pub api: Server,
    pub workers: Vec<Server>,
    pub plugins: PluginDir,
}

impl Fleet {
    pub fn start(
        d: &Deployment,
        plugins: PluginDir,
        workers: usize,
        extra: &[(&'static str, String)],
    ) -> Fleet {
        match d.kind {
            Kind::Distributed | Kind::Cluster => {
                let mut env = extra.to_vec();
                env.push(("TASKBOX_ROLES", "api,scheduler".into()));
                let api = serve(d, &plugins, &env);
                let workers = (0..workers).map(|_| serve_worker(d, &plugins, extra)).collect();
                Fleet { api, workers, plugins }
            }
            Kind::Embedded => Fleet { api: serve(d, &plugins, extra), workers: Vec::new(), plugins },
        }
    }
}
