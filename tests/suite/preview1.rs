//! WASI preview-1 modules, as Rust (`wasm32-wasip1`), C (`zig cc`) and Zig
//! (`zig build-exe`) emit them, run as commands: params in and result out,
//! a non-zero exit, the deadline, the memory cap and the sandbox's bounds
//! for each of the three probes (`tests/components/preview1/`); modules of
//! another kind refused saying why; `taskbox run`; and `taskbox serve` on
//! both deployments, from the directory, by hot reload, through an upload
//! to a worker whose plugin directory is empty, with rollback and replay.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

use crate::support::*;
use taskbox::executor::{Limits, Shape};
use taskbox::plugins::registry::{AdaptedFrom, LoadSource};

const PROBES: [&str; 3] = ["p1_rust", "p1_c", "p1_zig"];

fn module(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("valid text")
}

#[tokio::test]
async fn each_build_takes_params_fails_stops_and_stays_in_its_sandbox() {
    for name in PROBES {
        let (dir, plugin) = example(name);
        let info = dir.loader().load(&dir.path().join(format!("{name}.wasm"))).info;
        assert_eq!((info.shape, info.adapted_from), (Some(Shape::Command), Some(AdaptedFrom::WasiPreview1)));
        assert_eq!(info.digest.as_deref(), Some(digest_of(name).as_str()), "the digest is the file's");
        assert_eq!(info.source, Some(LoadSource::Cache), "{name}: the second load is from the cache");

        let params = json!({"image": 123, "size": "thumb"});
        let echo = run(&plugin, params.clone()).await;
        assert!(echo.is_success, "{name}: {echo:?}");
        assert_eq!(echo.result, Some(json!({"echo": params})), "{name}");

        // The preview-1 adapter turns any non-zero exit into WASI 0.2's
        // failure status, which carries no code.
        let failed = run(&plugin, json!({"do": "fail"})).await;
        assert!(!failed.is_success, "{name}");
        let message = failed.error_message.unwrap_or_default();
        assert!(message.starts_with("the command exited with a failure status"), "{name}: {message}");
        assert!(failed.logs.contains("probe: failing as asked"), "{name}: {}", failed.logs);

        let limits = Limits { timeout: Duration::from_millis(500), ..plugin.limits(None, Some(64)) };
        let looped = run_with(&plugin, json!({"do": "loop"}), limits).await;
        let message = looped.error_message.unwrap_or_default();
        assert!(message.starts_with("timed out after 0.5"), "{name}: {message}");

        let limits = plugin.limits(Some(Duration::from_secs(10)), Some(64));
        let big = run_with(&plugin, json!({"do": "alloc"}), limits).await;
        assert!(!big.is_success, "{name}: {big:?}");
        let message = big.error_message.unwrap_or_default();
        assert!(message.starts_with("exceeded the memory limit of 64 MiB"), "{name}: {message}");
        let roomy = plugin.limits(Some(Duration::from_secs(10)), Some(512));
        assert!(run_with(&plugin, json!({"do": "alloc"}), roomy).await.is_success, "{name}: under 512 MiB");

        // The params and the run's context, nothing of the host's.
        let env = run(&plugin, json!({"do": "env"})).await;
        let names = env.result.as_ref().map(|r| r["env"].clone()).unwrap_or_default();
        let names: Vec<&str> = names.as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
        assert!(
            names.contains(&"TASKBOX_PARAMS") && names.contains(&"TASKBOX_EXECUTION_ID"),
            "{name}: {names:?}"
        );
        assert!(names.iter().all(|n| n.starts_with("TASKBOX_")), "{name}: {names:?}");
        let file = run(&plugin, json!({"do": "file"})).await;
        assert_eq!(file.result, Some(json!({"file": "refused"})), "{name}: {file:?}");
    }
}

#[test]
fn an_adapted_module_can_reach_no_network() {
    // Preview 1 has no call that opens a connection; the adapted component
    // imports neither sockets nor wasi:http, so the linker could not give
    // it one if it asked.
    for name in PROBES {
        let component =
            taskbox::plugins::registry::adapt(&std::fs::read(built_plugin(name)).unwrap()).unwrap();
        let engine = EXECUTOR.engine();
        let component = wasmtime::component::Component::new(engine, &component).unwrap();
        let imports: Vec<String> =
            component.component_type().imports(engine).map(|(import, _)| import.to_owned()).collect();
        assert!(imports.iter().any(|i| i.starts_with("wasi:cli/stdin")), "{imports:?}");
        let reaching: Vec<_> =
            imports.iter().filter(|i| i.starts_with("wasi:sockets") || i.starts_with("wasi:http")).collect();
        assert!(reaching.is_empty(), "{name} imports {reaching:?}");
    }
}

#[tokio::test]
async fn modules_that_are_not_preview1_commands_are_refused_saying_why() {
    let dir = PluginDir::new();
    dir.write(
        "foreign.wasm",
        module(r#"(module (import "env" "host_log" (func)) (memory (export "memory") 1) (func (export "_start")))"#),
    )
    .write("library.wasm", module(r#"(module (memory (export "memory") 1) (func (export "_initialize")))"#))
    .add("p1_c", "good");
    let registry = dir.registry();
    registry.rescan().await.unwrap();
    let error = |name: &str| registry.entry(name).and_then(|e| e.info.error.clone()).unwrap_or_default();
    assert!(
        error("foreign").contains(r#"imports "host_log" from "env""#)
            && error("foreign").contains("only wasi_snapshot_preview1"),
        "{}",
        error("foreign")
    );
    assert!(
        error("library").contains("exports no `_start` (it exports memory, _initialize)"),
        "{}",
        error("library")
    );
    assert!(registry.get("good").is_some(), "the good one loads beside them");
}

#[test]
fn taskbox_run_runs_each_build() {
    for name in PROBES {
        let dir = PluginDir::with(&[name]);
        let out = Command::new(env!("CARGO_BIN_EXE_taskbox"))
            .args(["run", name, "--params", r#"{"n":1}"#])
            .env("TASKBOX_PLUGIN_DIR", dir.path())
            .env("TASKBOX_CACHE_DIR", dir.cache.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (&printed["result"], &printed["plugin_digest"]),
            (&json!({"echo": {"n": 1}}), &json!(digest_of(name)))
        );
    }
}

async fn record(server: &Server, id: &str, params: Value) -> Value {
    let (status, body) = server.post(&format!("/configs/{id}/run"), json!({"parameters": params})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    server.record_of(body["execution_id"].as_str().unwrap(), Duration::from_secs(30)).await
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_run_under_serve_and_follow_a_rebuilt_file(d) {
    let plugins = PluginDir::with(&["sum_wasip1", "crc32_c", "count_zig"]);
    let server = serve(&d, &plugins, &[]);
    let config = |task: &str| json!({"name": task, "task_type": task, "scheduler_type": "manual"});
    let sum = server.create_id(config("sum_wasip1")).await;
    let done = record(&server, &sum, json!({"numbers": [1, 2, 3.5]})).await;
    assert_eq!((&done["is_success"], &done["result"]), (&json!(true), &json!({"count": 3, "sum": 6.5})), "{done}");
    assert_eq!(done["plugin_digest"], digest_of("sum_wasip1"));
    let failed = record(&server, &sum, json!({"no": "numbers"})).await;
    assert_eq!(failed["is_success"], false);
    assert!(failed["logs"].as_str().unwrap().contains("expected params like"), "{failed}");

    let crc = server.create_id(config("crc32_c")).await;
    let done = record(&server, &crc, json!("123456789")).await;
    // CRC-32 of `"123456789"`, quotes included, as the params' JSON text.
    assert_eq!(done["result"], json!({"bytes": 11, "crc32": "83593021"}), "{done}");
    let count = server.create_id(config("count_zig")).await;
    let done = record(&server, &count, json!({"ab": 12})).await;
    assert_eq!(done["result"], json!({"letters": 2, "digits": 2, "other": 5}), "{done}");

    let (_, info) = server.get("/plugins/count_zig").await;
    assert_eq!((&info["shape"], &info["adapted_from"]), (&json!("command"), &json!("wasi_preview1")), "{info}");

    // Hot reload: another preview-1 build written over the name serves next.
    let tmp = plugins.path().join(".count_zig.tmp");
    std::fs::copy(built_plugin("p1_zig"), &tmp).unwrap();
    std::fs::rename(&tmp, plugins.path().join("count_zig.wasm")).unwrap();
    let p1_zig = digest_of("p1_zig");
    eventually("the rebuilt file serves", Duration::from_secs(10), || async {
        server.get("/plugins/count_zig").await.1["digest"] == p1_zig
    })
    .await;
    let done = record(&server, &count, json!({"x": 1})).await;
    assert_eq!((&done["result"], &done["plugin_digest"]), (&json!({"echo": {"x": 1}}), &json!(p1_zig)), "{done}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_runs_on_an_empty_worker_and_rolls_back_and_replays(d) {
    let nodes = EmptyNodes::start(&d);
    let (api, worker_pid) = (&nodes.api, nodes.worker_pid());

    let mut records = Vec::new();
    let mut id: Option<String> = None;
    for name in PROBES {
        let (status, uploaded) = api.upload("job", std::fs::read(built_plugin(name)).unwrap(), None).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {uploaded}");
        let config = json!({"name": "p1", "task_type": "job", "scheduler_type": "manual"});
        let id = match &id {
            Some(id) => id,
            None => id.insert(api.create_id(config).await),
        };
        assert_eq!((&uploaded["digest"], &uploaded["shape"]), (&json!(digest_of(name)), &json!("command")));
        // The worker hears of the new version at once, yet a run asked for
        // at the same moment may still get the one before.
        let digest = digest_of(name);
        let mut done = record(api, id, json!({"from": name})).await;
        let start = std::time::Instant::now();
        while done["plugin_digest"] != digest && start.elapsed() < Duration::from_secs(3) {
            done = record(api, id, json!({"from": name})).await;
        }
        assert_eq!(done["is_success"], true, "{name}: {done}");
        assert_eq!((&done["result"], &done["plugin_digest"]), (&json!({"echo": {"from": name}}), &json!(digest_of(name))));
        assert!(done["worker"].as_str().unwrap().contains(&format!("-{worker_pid}-")), "{done}");
        records.push(done);
    }
    assert!(std::fs::read_dir(nodes.worker_dir.path()).unwrap().next().is_none(), "nothing was written to its disk");

    // Rollback to the C build, then replay the Rust build's run by its id.
    let c = digest_of("p1_c");
    let (status, body) = api.post("/plugins/job/rollback", json!({"digest": c})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = id.unwrap();
    let done = record(api, &id, json!({"after": "rollback"})).await;
    assert_eq!(done["plugin_digest"], c, "{done}");

    let first = records[0]["execution_id"].as_str().unwrap();
    let (status, body) = api.post(&format!("/executions/{first}/replay"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let replayed = api.record_of(body["execution_id"].as_str().unwrap(), Duration::from_secs(30)).await;
    assert_eq!((&replayed["plugin_digest"], &replayed["result"]), (&records[0]["plugin_digest"], &records[0]["result"]));

    // A core module of another kind is a 422 that says why; nothing changes.
    let foreign = module(r#"(module (import "env" "f" (func)) (memory (export "memory") 1) (func (export "_start")))"#);
    let (status, body) = api.upload("job", foreign, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("only wasi_snapshot_preview1"), "{body}");
    assert_eq!(api.get("/plugins/job").await.1["digest"], c);
}
}
