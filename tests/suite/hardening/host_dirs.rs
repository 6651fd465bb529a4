//! A sidecar's `dirs` are host directories a plugin may read. An API admin
//! must not become the host: an upload may grant only directories inside
//! the roots the operator names (`TASKBOX_ALLOWED_DIRS`, none by default),
//! a file in the plugin directory only those and its own subdirectories,
//! resolved without following a symlink out of the root, and never
//! `/proc`, `/sys`, `/dev`, the database, the key file or the artifact
//! cache. Attacker first: absolute paths, `..`, planted symlinks,
//! `/proc/self`, both deployments, upload and directory.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

use crate::support::*;

/// A root the operator allows, holding `data/hello.txt` and two planted
/// symlinks: `escape` (to `/`) and `data/etc` (to `/etc`).
fn allowed_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("data")).unwrap();
    std::fs::write(root.path().join("data/hello.txt"), "hello from the host").unwrap();
    std::os::unix::fs::symlink("/", root.path().join("escape")).unwrap();
    std::os::unix::fs::symlink("/etc", root.path().join("data/etc")).unwrap();
    root
}

fn probe() -> Vec<u8> {
    std::fs::read(built_plugin("probe")).unwrap()
}

/// Runs the probe config `id` with `params`; the probe's report.
async fn probe_run(app: &Server, id: &str, params: Value) -> Value {
    app.call(reqwest::Method::PATCH, &format!("/configs/{id}"), Some(json!({"parameters": params}))).await;
    let record = app.run_and_wait(id, Duration::from_secs(20)).await;
    assert_eq!(record["is_success"], true, "{record}");
    record["result"].clone()
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_grants_only_directories_inside_the_allowed_roots(d) {
    let root = allowed_root();
    let root_path = root.path().canonicalize().unwrap();
    // On the embedded deployment the database's folder is allowed too: the
    // database file in it still keeps it from being granted.
    let db_dir = (d.kind == Kind::Embedded)
        .then(|| std::path::Path::new(d.database_url.trim_start_matches("sqlite://")).parent().unwrap().to_owned());
    let allowed: Vec<_> = [Some(root_path.clone()), db_dir.clone()].into_iter().flatten().collect();
    let allowed = std::env::join_paths(allowed).unwrap().into_string().unwrap();
    let app = serve_plugins(&d, &["echo"], &[("TASKBOX_ALLOWED_DIRS", allowed)]);

    let mut attacks = vec![
        r#""/host" = "/""#.to_owned(),
        r#""/p" = "/proc/self""#.to_owned(),
        r#""/p" = "/proc""#.to_owned(),
        r#""/s" = "/sys""#.to_owned(),
        r#""/dev" = "/dev""#.to_owned(),
        r#""/up" = "../""#.to_owned(),
        r#""/up" = "../../../../..""#.to_owned(),
        format!(r#""/up" = "{}/data/../..""#, root_path.display()),
        format!(r#""/esc" = "{}/escape""#, root_path.display()),
        format!(r#""/esc" = "{}/escape/etc""#, root_path.display()),
        r#""/tmp" = "/tmp""#.to_owned(),
        format!(r#""/keys" = "{}""#, std::env::temp_dir().display()),
    ];
    if let Some(dir) = &db_dir {
        attacks.push(format!(r#""/db" = "{}""#, dir.display()));
    }
    for dirs in &attacks {
        let sidecar = format!("[dirs]\n{dirs}\n");
        let (status, body) = app.upload("probe", probe(), Some(&sidecar)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{dirs}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        let guest = dirs.split('"').nth(1).unwrap();
        assert!(message.contains(guest), "the refusal names the entry {guest}: {message}");
        assert_eq!(app.get("/plugins/probe").await.0, StatusCode::NOT_FOUND, "nothing changed for {dirs}");
    }

    // Inside the root: granted, and readable by the guest.
    let sidecar = format!("[dirs]\n\"/data\" = \"{}/data\"\n", root_path.display());
    let (status, body) = app.upload("probe", probe(), Some(&sidecar)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = app.create_id(json!({"name": "p", "task_type": "probe", "scheduler_type": "manual"})).await;
    let read = probe_run(&app, &id, json!({"action": "read_file", "path": "/data/hello.txt"})).await;
    assert_eq!(read["value"], "hello from the host", "{read}");
    // A symlink planted inside the granted directory leads nowhere outside it.
    let escaped = probe_run(&app, &id, json!({"action": "read_file", "path": "/data/etc/passwd"})).await;
    assert_eq!(escaped["ok"], false, "read through a planted symlink: {escaped}");
    let environ = probe_run(&app, &id, json!({"action": "read_file", "path": "/proc/self/environ"})).await;
    assert_eq!(environ["ok"], false, "{environ}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_grants_no_directory_when_the_operator_allows_none(d) {
    let root = allowed_root();
    let app = spawn_app(d).await;
    let sidecar = format!("[dirs]\n\"/data\" = \"{}/data\"\n", root.path().display());
    let (status, body) = app.upload("probe", probe(), Some(&sidecar)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("/data") && message.contains("TASKBOX_ALLOWED_DIRS"), "{message}");
    let (status, body) = app.upload("probe", probe(), Some("[dirs]\n\"/data\" = \"data\"\n")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a relative path in an upload: {body}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_sidecar_grants_only_its_own_subdirectories_and_the_allowed_roots(d) {
    let root = allowed_root();
    let plugins = PluginDir::new();
    std::fs::create_dir(plugins.path().join("own")).unwrap();
    std::fs::write(plugins.path().join("own/file.txt"), "own data").unwrap();
    std::os::unix::fs::symlink("/etc", plugins.path().join("own/etc")).unwrap();
    let cases: Vec<(&str, String, bool)> = vec![
        ("ok_own", r#""/own" = "own""#.into(), true),
        ("ok_root", format!(r#""/data" = "{}/data""#, root.path().display()), true),
        ("bad_abs", r#""/host" = "/""#.into(), false),
        ("bad_proc", r#""/p" = "/proc/self""#.into(), false),
        ("bad_up", r#""/up" = "..""#.into(), false),
        ("bad_link", r#""/etc" = "own/etc""#.into(), false),
        ("bad_cache", format!(r#""/c" = "{}""#, plugins.cache.path().display()), false),
    ];
    for (name, dirs, _) in &cases {
        plugins.add("probe", name);
        plugins.write(&format!("{name}.toml"), format!("[dirs]\n{dirs}\n"));
    }
    let root_path = root.path().canonicalize().unwrap();
    let server = serve(&d, &plugins, &[("TASKBOX_ALLOWED_DIRS", root_path.display().to_string())]);
    for (name, dirs, loads) in &cases {
        let (status, info) = server.get(&format!("/plugins/{name}")).await;
        assert_eq!(status, StatusCode::OK, "{info}");
        match loads {
            true => assert!(info["error"].is_null(), "{name} ({dirs}) must load: {info}"),
            false => {
                let error = info["error"].as_str().unwrap_or_else(|| panic!("{name} ({dirs}) loaded: {info}"));
                let guest = dirs.split('"').nth(1).unwrap();
                assert!(error.contains(guest), "{name}: the error names {guest}: {error}");
            }
        }
    }
    let id = server.create_id(json!({"name": "own", "task_type": "ok_own", "scheduler_type": "manual",
        "parameters": {"action": "read_file", "path": "/own/file.txt"}})).await;
    let record = server.run_and_wait(&id, Duration::from_secs(20)).await;
    assert_eq!(record["result"]["value"], "own data", "{record}");
}
}
