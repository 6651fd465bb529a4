//! A Redis Cluster of a test's own (three masters with a replica each on
//! free loopback ports, nothing on disk but node files in a temporary
//! directory), for a test that kills one of its nodes: the shared test
//! cluster serves every other test at the same time.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct PrivateCluster {
    ports: Vec<u16>,
    children: Vec<Option<Child>>,
    _dir: tempfile::TempDir,
}

impl PrivateCluster {
    /// Starts six nodes and makes them one cluster; waits until every slot
    /// is served. `node_timeout_ms`: how long a master may be silent
    /// before its replica takes over.
    pub fn start(node_timeout_ms: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ports = free_ports(6);
        let children = ports
            .iter()
            .map(|port| {
                let child = Command::new("redis-server")
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args([
                        "--cluster-enabled",
                        "yes",
                        "--cluster-node-timeout",
                        &node_timeout_ms.to_string(),
                    ])
                    .arg("--cluster-config-file")
                    .arg(dir.path().join(format!("nodes-{port}.conf")))
                    .arg("--dir")
                    .arg(dir.path())
                    .args(["--save", "", "--appendonly", "no"])
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("redis-server is installed");
                Some(child)
            })
            .collect();
        let cluster = PrivateCluster { ports, children, _dir: dir };
        cluster.wait_for(|| cluster.ports.iter().all(|p| cli(*p, &["ping"]).trim() == "PONG"));
        let nodes: Vec<String> = cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(created.success(), "redis-cli --cluster create failed");
        cluster.wait_for(|| {
            cluster.ports.iter().all(|p| cli(*p, &["cluster", "info"]).contains("cluster_state:ok"))
        });
        cluster
    }

    /// The seed nodes, as `TASKBOX_REDIS_CLUSTER_NODES` takes them.
    pub fn nodes(&self) -> Vec<String> {
        self.ports.iter().map(|p| format!("redis://127.0.0.1:{p}")).collect()
    }

    /// The port of the master serving `key`'s slot now.
    pub fn master_of(&self, key: &str) -> u16 {
        self.serving(key).unwrap_or_else(|| panic!("no master serves the slot of {key}"))
    }

    /// The port of the master serving `key`'s slot now, if one does (none
    /// while its master has failed and no replica is promoted yet).
    pub fn serving(&self, key: &str) -> Option<u16> {
        let live = self.live_port();
        let slot: u16 = cli(live, &["cluster", "keyslot", key]).trim().parse().unwrap();
        for line in cli(live, &["cluster", "nodes"]).lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let serves = fields[8..].iter().any(|range| match range.split_once('-') {
                Some((a, b)) => (a.parse::<u16>().unwrap()..=b.parse().unwrap()).contains(&slot),
                None => range.parse::<u16>().is_ok_and(|s| s == slot),
            });
            if serves {
                let addr = fields[1].split('@').next().unwrap();
                return addr.rsplit_once(':').unwrap().1.parse().ok();
            }
        }
        None
    }

    /// Kills the node on `port` with SIGKILL (no goodbye to the cluster).
    pub fn kill(&mut self, port: u16) {
        let i = self.ports.iter().position(|p| *p == port).unwrap();
        if let Some(mut child) = self.children[i].take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn live_port(&self) -> u16 {
        let i = self.children.iter().position(Option::is_some).unwrap();
        self.ports[i]
    }

    fn wait_for(&self, ready: impl Fn() -> bool) {
        let start = Instant::now();
        while !ready() {
            assert!(start.elapsed() < Duration::from_secs(30), "the private cluster did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `redis-cli -p PORT ARGS…`'s output ('' when it fails).
fn cli(port: u16, args: &[&str]) -> String {
    let out =
        Command::new("redis-cli").args(["-h", "127.0.0.1", "-p", &port.to_string()]).args(args).output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
}

/// `n` free ports whose cluster bus ports (port + 10000) are free too.
fn free_ports(n: usize) -> Vec<u16> {
    let mut ports = Vec::new();
    while ports.len() < n {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if port < 55_000
            && !ports.contains(&port)
            && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()
        {
            ports.push(port);
        }
    }
    ports
}
