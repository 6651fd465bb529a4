//! The API contract step: schemathesis (PyPI, pinned) with every check
//! against `/openapi.json` of a real `taskbox serve`, once per deployment
//! (embedded: a fresh SQLite file and the local backend; distributed: a
//! fresh PostgreSQL database and Redis key prefix), with an admin token and
//! a bounded number of examples per operation. Each server is stopped and
//! what it made is removed, whether or not schemathesis passed.
//!
//! Owns that step only: the tool is installed once into
//! `target/schemathesis/` (cached there, as CI caches `target/`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::services::{database_url, redis_url};

const VERSION: &str = "4.32.5";
/// How long a server may take to load the plugins and answer.
const STARTUP_SECONDS: u64 = 180;
/// Examples per operation: ~1 minute per deployment on two cores.
const DEFAULT_EXAMPLES: &str = "25";

/// Runs the step against both deployments; fails if either reports anything.
pub fn run(root: &Path) -> Result<(), String> {
    let tool = install(&root.join("target/schemathesis"))?;
    crate::run(crate::cargo().current_dir(root).args(["build", "--release", "--quiet", "-p", "taskbox"]))?;
    let mut failed = Vec::new();
    for deployment in ["embedded", "distributed"] {
        eprintln!("xtask: == schemathesis {VERSION}, all checks, {deployment} deployment ==");
        if let Err(e) = against(root, &tool, deployment) {
            eprintln!("xtask: schemathesis ({deployment}): {e}");
            failed.push(deployment);
        }
    }
    match failed.is_empty() {
        true => Ok(()),
        false => Err(format!("schemathesis found problems on: {}", failed.join(", "))),
    }
}

/// The schemathesis executable, installed into a virtualenv if missing.
fn install(dir: &Path) -> Result<PathBuf, String> {
    let venv = dir.join("venv");
    let tool = venv.join("bin/schemathesis");
    let installed = Command::new(&tool).arg("--version").output();
    if installed.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(VERSION)) {
        return Ok(tool);
    }
    crate::pip_install(&venv, &format!("schemathesis=={VERSION}"), "schemathesis")?;
    Ok(tool)
}

/// A running server and what to remove once it stops.
struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
    database: Option<String>,
    prefix: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(db) = &self.database {
            let _ = psql(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
        }
        if let Some(prefix) = &self.prefix {
            let _ = unlink_prefix(prefix);
        }
    }
}

fn against(root: &Path, tool: &Path, deployment: &str) -> Result<(), String> {
    let token = format!("schemathesis-{}-{}", std::process::id(), deployment);
    let server = start(root, deployment, &token)?;
    let base = format!("http://127.0.0.1:{}", server.port);
    seed_run(server.port, &token)?;
    let examples = std::env::var("TASKBOX_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| DEFAULT_EXAMPLES.into());
    let mut cmd = Command::new(tool);
    // In the run's own folder: its example database (failures it replays
    // first) goes with the run, so no run inherits another's examples.
    cmd.current_dir(&server.dir)
        .arg("--config-file")
        .arg(root.join("xtask/schemathesis.toml"))
        .arg("run")
        .arg(format!("{base}/openapi.json"))
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "all", "--max-examples", &examples, "--no-color"])
        .args(["--report-dir", &server.dir.join("report").display().to_string()]);
    if let Ok(seed) = std::env::var("TASKBOX_SCHEMATHESIS_SEED") {
        cmd.args(["--seed", &seed]);
    }
    crate::run(&mut cmd)
}

/// Starts `taskbox serve` (every role) for `deployment` on a free port and
/// waits until its health answers.
fn start(root: &Path, deployment: &str, token: &str) -> Result<Server, String> {
    let tag = format!("{}_{deployment}", std::process::id());
    let dir = root.join("target/schemathesis").join(format!("run-{tag}"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let port =
        TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let mut cmd = Command::new(root.join("target/release/taskbox"));
    cmd.arg("serve")
        .env("TASKBOX_BIND", format!("127.0.0.1:{port}"))
        .env("TASKBOX_ADMIN_TOKEN", token)
        .env("TASKBOX_PLUGIN_DIR", root.join("plugins"))
        // The suite's artifact cache (content-addressed, no state): the
        // Python and JavaScript examples take seconds each to compile.
        .env("TASKBOX_CACHE_DIR", root.join("target/test-artifact-cache"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    let (mut database, mut prefix) = (None, None);
    if deployment == "distributed" {
        let name = format!("taskbox_schemathesis_{tag}");
        psql(&format!("CREATE DATABASE {name}"))?;
        let admin = database_url();
        let url = format!("{}/{name}", admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base));
        let keys = format!("taskbox-schemathesis:{tag}:");
        cmd.env("TASKBOX_DATABASE_URL", url)
            .env("TASKBOX_REDIS_URL", redis_url())
            .env("TASKBOX_REDIS_PREFIX", &keys);
        (database, prefix) = (Some(name), Some(keys));
    } else {
        cmd.env("TASKBOX_DATABASE_URL", format!("sqlite://{}", dir.join("taskbox.db").display()))
            .env_remove("TASKBOX_REDIS_URL");
    }
    let child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            if let Some(db) = &database {
                let _ = psql(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
            }
            return Err(format!("cannot start taskbox serve: {e}"));
        }
    };
    let server = Server { child, port, dir, database, prefix };
    // Long enough to compile every example with a cold cache on two cores.
    let deadline = Instant::now() + Duration::from_secs(STARTUP_SECONDS);
    while !healthy(port) {
        if Instant::now() > deadline {
            return Err(format!("taskbox serve did not answer on port {port} within {STARTUP_SECONDS} s"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(server)
}

/// One HTTP/1.1 exchange with the server (`request` is the method and
/// path, `headers` extra header lines); the whole answer, head and body.
fn exchange(port: u16, request: &str, headers: &str, body: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!(
        "{request} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// Whether `GET /api/v1/system/health` answers 200.
fn healthy(port: u16) -> bool {
    exchange(port, "GET /api/v1/system/health", "", "").is_some_and(|a| a.starts_with("HTTP/1.1 200"))
}

/// Creates a started daily cron config on `echo` and runs it once, so
/// there are a schedule and an execution record to list and follow.
fn seed_run(port: u16, token: &str) -> Result<(), String> {
    let headers = format!("Authorization: Bearer {token}\r\nContent-Type: application/json\r\n");
    let body = r#"{"name":"schemathesis-seed","task_type":"echo","scheduler_type":"cron","schedule_config":{"cron_expression":"0 3 * * *"}}"#;
    let answer = exchange(port, "POST /api/v1/configs?auto_start=true", &headers, body).unwrap_or_default();
    let id = answer.split_once(r#""id":""#).map(|(_, rest)| rest.chars().take(36).collect::<String>());
    match id {
        Some(id) if answer.starts_with("HTTP/1.1 201") && id.len() == 36 => {
            let run =
                exchange(port, &format!("POST /api/v1/configs/{id}/run"), &headers, "").unwrap_or_default();
            match run.starts_with("HTTP/1.1 202") {
                true => Ok(()),
                false => Err(format!("cannot run the seed config: {run}")),
            }
        }
        _ => Err(format!("cannot create the seed config: {answer}")),
    }
}

fn psql(sql: &str) -> Result<(), String> {
    crate::run(Command::new("psql").arg(database_url()).args(["-qXc", sql]).stdout(Stdio::null()))
}

/// Removes the Redis keys under `prefix` (with redis-cli, as installed with Redis).
fn unlink_prefix(prefix: &str) -> Result<(), String> {
    let keys = Command::new("redis-cli")
        .args(["-u", &redis_url(), "--scan", "--pattern", &format!("{prefix}*")])
        .output()
        .map_err(|e| e.to_string())?;
    let keys: Vec<String> = String::from_utf8_lossy(&keys.stdout).lines().map(str::to_owned).collect();
    for chunk in keys.chunks(500) {
        crate::run(
            Command::new("redis-cli").args(["-u", &redis_url(), "unlink"]).args(chunk).stdout(Stdio::null()),
        )?;
    }
    Ok(())
}
