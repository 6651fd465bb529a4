//! The registry over real files: good plugins load beside broken ones, and
//! every broken one says why.

use taskbox::executor::Shape;
use taskbox::plugins::registry::LoadSource;

use crate::support::*;

/// An empty core module: valid wasm, but not a component.
const CORE_MODULE: &[u8] = b"\0asm\x01\0\0\0";
/// An empty component: valid, but it exports nothing to run.
const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

#[tokio::test]
async fn broken_files_beside_good_ones_are_reported_and_do_not_stop_them() {
    let dir = PluginDir::new();
    dir.add("echo", "echo")
        .add("wc", "wc")
        .write("garbage.wasm", b"this is not wasm at all")
        .write("core.wasm", CORE_MODULE)
        .write("empty.wasm", EMPTY_COMPONENT)
        .write("notes.txt", "not a plugin, ignored")
        .add("echo", "Bad Name")
        .add("echo", "typo")
        .write("typo.toml", "memroy_mb = 64\n")
        .add("echo", "huge")
        .write("huge.toml", "memory_mb = 100000\n");
    let registry = dir.registry();
    let catalog = registry.scan().await.unwrap();

    let names: Vec<&str> = catalog.keys().map(String::as_str).collect();
    assert_eq!(names, ["Bad Name", "core", "echo", "empty", "garbage", "huge", "typo", "wc"]);
    assert_eq!(registry.get("echo").unwrap().runnable.prepared.shape(), Shape::Task);
    assert_eq!(registry.get("wc").unwrap().runnable.prepared.shape(), Shape::Command);
    let echo = &registry.entry("echo").unwrap().info;
    assert_eq!((echo.shape, echo.error.as_deref()), (Some(Shape::Task), None));
    assert_eq!(echo.digest.as_deref().map(str::len), Some(64));
    assert!(echo.loaded_at.is_some() && echo.size > 0);

    let error = |name: &str| {
        assert!(registry.get(name).is_none(), "{name} must not be runnable");
        registry.entry(name).unwrap().info.error.clone().unwrap()
    };
    assert!(error("garbage").starts_with("not a valid WebAssembly component"), "{}", error("garbage"));
    // A core module that is no preview-1 command says so.
    assert!(error("core").contains("core module that exports no `_start`"), "{}", error("core"));
    assert!(error("empty").starts_with("exports neither `run`"), "{}", error("empty"));
    assert!(error("Bad Name").starts_with("invalid task type name"), "{}", error("Bad Name"));
    assert!(error("typo").contains("unknown field `memroy_mb`"), "{}", error("typo"));
    assert!(error("huge").contains("memory_mb = 100000"), "{}", error("huge"));
    assert!(registry.get("notes").is_none());
}

#[tokio::test]
async fn a_granted_dir_that_does_not_exist_is_a_load_error() {
    let dir = PluginDir::new();
    dir.add("echo", "echo").write("echo.toml", "[dirs]\n\"/data\" = \"missing\"\n");
    let entry = dir.loader().load(&dir.path().join("echo.wasm"));
    let error = entry.info.error.unwrap();
    assert!(error.contains("dirs.\"/data\"") && error.contains("missing"), "{error}");
}

#[tokio::test]
async fn a_missing_directory_is_an_empty_catalog() {
    let dir = PluginDir::new();
    let registry = taskbox::plugins::registry::Registry::new(dir.path().join("nope"), dir.loader());
    assert!(registry.scan().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_second_load_comes_from_the_cache() {
    let dir = PluginDir::new();
    dir.add("probe", "probe");
    let first = dir.loader().load(&dir.path().join("probe.wasm"));
    let second = dir.loader().load(&dir.path().join("probe.wasm"));
    assert_eq!(first.info.source, Some(LoadSource::Compiled));
    assert_eq!(second.info.source, Some(LoadSource::Cache));
    assert_eq!(first.info.digest, second.info.digest);
    assert!(second.info.load_ms < first.info.load_ms, "{} vs {}", second.info.load_ms, first.info.load_ms);
}

#[tokio::test]
async fn a_corrupt_cache_entry_is_dropped_and_recompiled() {
    let dir = PluginDir::new();
    dir.add("echo", "echo");
    dir.loader().load(&dir.path().join("echo.wasm"));
    for entry in std::fs::read_dir(dir.cache.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"corrupt").unwrap();
    }
    let again = dir.loader().load(&dir.path().join("echo.wasm"));
    assert_eq!(again.info.error, None);
    assert_eq!(again.info.source, Some(LoadSource::Compiled));
}
