//! Shared test fixtures: plugin directories in temp folders, one executor.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use taskbox::executor::{EngineSettings, Executor, Limits, Outcome, RunContext, RunRequest};
use taskbox::registry::{Loader, Plugin, Registry};

/// One sandbox for the whole suite, as in a real process.
pub static EXECUTOR: LazyLock<Executor> =
    LazyLock::new(|| Executor::new(EngineSettings::default()).expect("the sandbox sets up"));

/// The example components built by `cargo xtask plugins`.
pub fn built_plugin(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins").join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask plugins` (or `cargo xtask test`)",
        path.display()
    );
    path
}

/// A private plugin directory and artifact cache, removed when dropped.
pub struct PluginDir {
    pub dir: tempfile::TempDir,
    pub cache: tempfile::TempDir,
}

impl PluginDir {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap(), cache: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Copies the built example `example` in as task type `as_name`.
    pub fn add(&self, example: &str, as_name: &str) -> &Self {
        std::fs::copy(built_plugin(example), self.path().join(format!("{as_name}.wasm"))).unwrap();
        self
    }

    /// Writes a file into the directory.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> &Self {
        std::fs::write(self.path().join(name), bytes).unwrap();
        self
    }

    pub fn loader(&self) -> Loader {
        Loader::new(EXECUTOR.clone(), Some(self.cache.path().to_owned()))
    }

    pub fn registry(&self) -> Registry {
        Registry::new(self.path(), self.loader())
    }

    /// Loads one task type, which must load.
    pub fn plugin(&self, name: &str) -> std::sync::Arc<Plugin> {
        let entry = self.loader().load(&self.path().join(format!("{name}.wasm")));
        match entry.plugin {
            Some(plugin) => plugin,
            None => panic!("{name} did not load: {:?}", entry.info.error),
        }
    }
}

/// Loads `example` from a fresh directory.
pub fn example(name: &str) -> (PluginDir, std::sync::Arc<Plugin>) {
    let dir = PluginDir::new();
    dir.add(name, name);
    let plugin = dir.plugin(name);
    (dir, plugin)
}

/// Runs a plugin with the given params and limits.
pub async fn run_with(plugin: &Plugin, params: serde_json::Value, limits: Limits) -> Outcome {
    let request = RunRequest {
        context: RunContext::ad_hoc(),
        params: params.to_string(),
        limits,
        doors: Default::default(),
    };
    EXECUTOR.run(&plugin.runnable, request).await
}

/// Runs a plugin with its own limits, but a 10 s deadline so a broken test
/// cannot hang the suite.
pub async fn run(plugin: &Plugin, params: serde_json::Value) -> Outcome {
    run_with(plugin, params, plugin.limits(Some(Duration::from_secs(10)), None)).await
}

/// The `value` of a probe report that must have succeeded.
pub fn probe_ok(outcome: &Outcome) -> &serde_json::Value {
    assert!(outcome.is_success, "probe run failed: {outcome:?}");
    let report = outcome.result.as_ref().unwrap();
    assert_eq!(report["ok"], true, "probe action failed: {report}");
    &report["value"]
}

/// The `error` of a probe report whose action was refused.
pub fn probe_refused(outcome: &Outcome) -> String {
    assert!(outcome.is_success, "probe run failed: {outcome:?}");
    let report = outcome.result.as_ref().unwrap();
    assert_eq!(report["ok"], false, "the sandbox allowed it: {report}");
    report["error"].as_str().unwrap().to_owned()
}

/// A `taskbox serve` process of the test's own on a free port, with a known
/// admin token; killed when dropped.
pub struct Server {
    pub child: std::process::Child,
    /// `http://127.0.0.1:port/api/v1`
    pub base: String,
    pub client: reqwest::Client,
    /// Every line the server wrote to stderr (its log).
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
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
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_taskbox"))
            .arg("serve")
            .env_remove("TASKBOX_REDIS_URL")
            // Outside the work tree; each test's database checks the key anew.
            .env("TASKBOX_SECRET_KEY_FILE", std::env::temp_dir().join("taskbox-tests.key"))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("TASKBOX_BIND", "127.0.0.1:0")
            .env("TASKBOX_ADMIN_TOKEN", SERVER_TOKEN)
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("taskbox serve starts");
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
        Self { child, base, client: reqwest::Client::new(), log }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let mut request =
            self.client.request(method, format!("{}{path}", self.base)).bearer_auth(SERVER_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, if text.is_empty() { serde_json::Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    pub async fn get(&self, path: &str) -> (reqwest::StatusCode, serde_json::Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Polls `check` every 20 ms until it holds; panics after `within`.
    pub async fn until<F: std::future::Future<Output = bool>>(
        &self,
        what: &str,
        within: Duration,
        mut check: impl FnMut() -> F,
    ) -> Duration {
        let start = std::time::Instant::now();
        while !check().await {
            assert!(start.elapsed() < within, "{what}: not after {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        start.elapsed()
    }

    /// Runs config `id` now and waits (up to `within`) for its one record.
    pub async fn run_now(&self, id: &str, within: Duration) -> serde_json::Value {
        let (status, _) = self.post(&format!("/configs/{id}/run"), serde_json::json!({})).await;
        assert_eq!(status, 202);
        let path = format!("/executions?config_id={id}");
        self.until("the run is recorded", within, || async {
            self.get(&path).await.1["total"].as_u64() == Some(1)
        })
        .await;
        self.get(&path).await.1["items"][0].clone()
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

/// The sha256 of a built example, as the registry reports it.
pub fn digest_of(example: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(built_plugin(example)).unwrap()))
}

/// A new viewer token in `tokens` (the store a test server reads).
pub async fn viewer_token(tokens: &dyn taskbox::store::TokenStore) -> String {
    let (token, hash) = taskbox::api::generate_token();
    tokens.create_token("viewer", taskbox::store::TokenRole::Viewer, &hash).await.unwrap();
    token
}

/// `taskbox serve` (every role) on deployment `d`, with `plugins` as its
/// plugin directory and artifact cache, and `extra` settings.
pub fn serve(d: &crate::deploy::Deployment, plugins: &PluginDir, extra: &[(&'static str, String)]) -> Server {
    Server::start(&serve_env(d, plugins, extra))
}

/// A `taskbox serve` with only the worker role (it serves no API).
pub fn serve_worker(
    d: &crate::deploy::Deployment,
    plugins: &PluginDir,
    extra: &[(&'static str, String)],
) -> Server {
    let mut env = serve_env(d, plugins, extra);
    env.push(("TASKBOX_ROLES", "worker".into()));
    Server::start_until(&env, "worker started")
}

fn serve_env(
    d: &crate::deploy::Deployment,
    plugins: &PluginDir,
    extra: &[(&'static str, String)],
) -> Vec<(&'static str, String)> {
    let mut env = d.serve_env();
    env.push(("TASKBOX_PLUGIN_DIR", plugins.path().display().to_string()));
    env.push(("TASKBOX_CACHE_DIR", plugins.cache.path().display().to_string()));
    env.extend(extra.iter().cloned());
    env
}
