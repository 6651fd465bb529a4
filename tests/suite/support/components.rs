//! Components for the tests: the built examples and test components, plugin
//! directories in temp folders, one executor for the whole suite, and
//! running a plugin in it.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use taskbox::executor::{EngineSettings, Executor, Limits, Outcome, RunContext, RunRequest};
use taskbox::plugins::registry::{Loader, Plugin, Registry};

/// One sandbox for the whole suite, as in a real process.
pub static EXECUTOR: LazyLock<Executor> =
    LazyLock::new(|| Executor::new(EngineSettings::default()).expect("the sandbox sets up"));

/// A built component: an example (`plugins/`, built from `examples/`) or
/// a test component (`target/test-components/`, built from
/// `tests/components/`), both by `cargo xtask plugins`.
pub fn built_plugin(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let file = format!("{name}.wasm");
    let candidates = [root.join("plugins").join(&file), root.join("target/test-components").join(&file)];
    match candidates.iter().find(|p| p.is_file()) {
        Some(path) => path.clone(),
        None => panic!("{file} is missing: run `cargo xtask plugins` (or `cargo xtask test`)"),
    }
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

    /// A directory holding these built components, each under its own name.
    pub fn with(names: &[&str]) -> Self {
        let dir = Self::new();
        for name in names {
            dir.add(name, name);
        }
        dir
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

/// The sha256 of a built example, as the registry reports it.
pub fn digest_of(example: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(built_plugin(example)).unwrap()))
}

/// A new viewer token in `tokens` (the store a test server reads).
pub async fn viewer_token(tokens: &dyn taskbox::store::TokenStore) -> String {
    let (token, hash) = taskbox::app::tokens::generate();
    tokens.create_token("viewer", taskbox::store::TokenRole::Viewer, &hash).await.unwrap();
    token
}
