//! The Redis Cluster the suite's third deployment runs on: three masters
//! with one replica each, on loopback ports 7101–7106, keeping nothing on
//! disk but their node files under `target/redis-cluster/`.
//!
//! Owns starting it for a test run (unless one already answers, or
//! `TASKBOX_TEST_REDIS_CLUSTER_NODES` points at another) and stopping
//! what it started when the run ends; the suite reads the same variable.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PORTS: [u16; 6] = [7101, 7102, 7103, 7104, 7105, 7106];
/// How long a master may be silent before its replica takes over: short,
/// so the suite's failover test sees a promotion within seconds.
const NODE_TIMEOUT_MS: &str = "2000";

/// A cluster this run started; stops it when dropped.
pub struct Started {
    ports: Vec<u16>,
}

impl Drop for Started {
    fn drop(&mut self) {
        for port in &self.ports {
            let _ =
                cli(*port).args(["shutdown", "nosave"]).stderr(Stdio::null()).stdout(Stdio::null()).status();
        }
    }
}

/// Makes sure the suite's cluster answers; `Some` when this run started it.
pub fn ensure(root: &Path) -> Result<Option<Started>, String> {
    if std::env::var_os("TASKBOX_TEST_REDIS_CLUSTER_NODES").is_some() {
        return Ok(None);
    }
    if PORTS.iter().all(|p| healthy(*p)) {
        return Ok(None);
    }
    let dir = root.join("target/redis-cluster");
    // Whatever half of a cluster is left from an interrupted run goes.
    for port in PORTS {
        let _ = cli(port).args(["shutdown", "nosave"]).stderr(Stdio::null()).stdout(Stdio::null()).status();
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let started = Started { ports: PORTS.to_vec() };
    for port in PORTS {
        start_node(&dir, port)?;
    }
    wait_for("the cluster's nodes to answer", || PORTS.iter().all(|p| answers(*p)))?;
    let nodes: Vec<String> = PORTS.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let created = Command::new("redis-cli")
        .arg("--cluster")
        .arg("create")
        .args(&nodes)
        .args(["--cluster-replicas", "1", "--cluster-yes"])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("redis-cli --cluster create: {e}"))?;
    if !created.success() {
        return Err("redis-cli --cluster create failed".into());
    }
    wait_for("the cluster to agree on its slots", || PORTS.iter().all(|p| healthy(*p)))?;
    eprintln!("xtask: started a Redis Cluster on 127.0.0.1:{}–{}", PORTS[0], PORTS[5]);
    Ok(Some(started))
}

fn start_node(dir: &Path, port: u16) -> Result<(), String> {
    let conf: PathBuf = dir.join(format!("nodes-{port}.conf"));
    let status = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--daemonize", "yes"])
        .args(["--cluster-enabled", "yes", "--cluster-node-timeout", NODE_TIMEOUT_MS])
        .arg("--cluster-config-file")
        .arg(&conf)
        .arg("--dir")
        .arg(dir)
        .args(["--save", "", "--appendonly", "no"])
        .arg("--logfile")
        .arg(dir.join(format!("{port}.log")))
        .status()
        .map_err(|e| format!("redis-server (is Redis installed?): {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("redis-server on port {port} did not start")) }
}

fn cli(port: u16) -> Command {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
    cmd
}

fn answers(port: u16) -> bool {
    cli(port).arg("ping").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG")
}

/// Does the node see a cluster with every slot served?
fn healthy(port: u16) -> bool {
    cli(port)
        .args(["cluster", "info"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
}

fn wait_for(what: &str, ready: impl Fn() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("timed out waiting for {what}"))
}
