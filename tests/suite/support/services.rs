//! Real services for the tests: a fresh PostgreSQL database per test, and a
//! unique Redis key prefix per test; both are removed when dropped.
//!
//! `TASKBOX_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! and `TASKBOX_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) point elsewhere.

use sqlx::Connection;
use taskbox::backends::redis::{RedisBackend, Target};
use taskbox::store::{ConfigStore, PgStore};

pub fn admin_database_url() -> String {
    std::env::var("TASKBOX_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of its own, migrated, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    /// For processes of their own (`taskbox serve`).
    pub url: String,
    pub store: PgStore,
}

impl TestDb {
    pub async fn new() -> Self {
        let name = format!("taskbox_test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_database_url();
        let mut conn = sqlx::PgConnection::connect(&admin).await.expect("PostgreSQL is reachable");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("TASKBOX_TEST_DATABASE_URL must end in /<database>"),
        };
        let store = PgStore::connect_lazy(&url).unwrap();
        store.migrate().await.expect("migrations apply");
        Self { name, url, store }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        self.store.pool().close_event();
        // Drop runs outside any runtime guarantee; use a thread of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_database_url()).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

pub fn redis_url() -> String {
    std::env::var("TASKBOX_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The seed nodes of the test Redis Cluster (`cargo xtask test` starts one
/// on 7101–7106): `TASKBOX_TEST_REDIS_CLUSTER_NODES`, comma-separated.
pub fn cluster_nodes() -> Vec<String> {
    match std::env::var("TASKBOX_TEST_REDIS_CLUSTER_NODES") {
        Ok(v) => v.split(',').map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect(),
        Err(_) => (7101..=7106).map(|p| format!("redis://127.0.0.1:{p}")).collect(),
    }
}

/// A unique key prefix on the test Redis or the test cluster; its keys
/// are deleted when dropped. The prefix is untagged, as deployments set
/// it: on the cluster the backend tags the deployment's own keys and its
/// shards spread over the slots.
pub struct TestRedis {
    pub prefix: String,
    pub target: Target,
    backend: RedisBackend,
}

impl TestRedis {
    pub async fn new() -> Self {
        Self::on(Target::Single(redis_url())).await
    }

    pub async fn on(target: Target) -> Self {
        Self::sharded(target, None).await
    }

    /// On `target`, its state in `shards` shards (`None`: the default).
    pub async fn sharded(target: Target, shards: Option<u16>) -> Self {
        // Untagged, as deployments set it: on the cluster, the
        // deployment's own keys get a tag and its shards spread over slots.
        let prefix = format!("taskbox-test:{}:", uuid::Uuid::new_v4().simple());
        let what = if matches!(target, Target::Single(_)) { "Redis" } else { "the test Redis Cluster" };
        let backend = RedisBackend::connect_sharded(&target, &prefix, shards)
            .await
            .unwrap_or_else(|e| panic!("{what} is reachable: {e}"));
        Self { prefix, target, backend }
    }

    /// The backend on this prefix.
    pub fn backend(&self) -> &RedisBackend {
        &self.backend
    }

    /// The key `name` of the shard that holds `owner` (a config).
    pub fn key_of(&self, owner: uuid::Uuid, name: &str) -> String {
        let shards = self.backend.shards();
        format!("{}{name}", shards.prefix(shards.of(owner)))
    }

    /// The key `name` of every shard.
    pub fn shard_keys(&self, name: &str) -> Vec<String> {
        let shards = self.backend.shards();
        shards.all().map(|s| format!("{}{name}", shards.prefix(s))).collect()
    }

    /// A connection to read or change keys behind the backend's back.
    pub fn raw(&self) -> impl redis::aio::ConnectionLike + Clone + Send + 'static {
        self.backend.connection()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        // The shards' keys, and the deployment's (tagged on a cluster).
        let patterns = [format!("{}*", self.prefix), format!("{}*", self.backend.prefix())];
        // On a cluster the keys sit on whichever node is the master of
        // their slot now: ask every node, delete on the master.
        let urls = match &self.target {
            Target::Single(url) => vec![url.clone()],
            Target::Cluster(nodes) => nodes.clone(),
        };
        let _ = std::thread::spawn(move || {
            for url in urls {
                let Ok(client) = redis::Client::open(url) else { continue };
                let Ok(mut conn) = client.get_connection() else { continue };
                for pattern in &patterns {
                    let keys: Vec<String> =
                        redis::cmd("KEYS").arg(pattern).query(&mut conn).unwrap_or_default();
                    // One at a time: on a cluster, keys of several slots.
                    for key in keys {
                        let _: redis::RedisResult<()> = redis::cmd("DEL").arg(key).query(&mut conn);
                    }
                }
            }
        })
        .join();
    }
}

/// A Redis server of this test's own on a free port: with an append-only
/// file, so a restart keeps its data ([`PrivateRedis::start`]), or keeping
/// nothing, as a cache-only Redis does ([`PrivateRedis::start_volatile`]).
pub struct PrivateRedis {
    port: u16,
    dir: tempfile::TempDir,
    persistent: bool,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    pub fn start() -> Self {
        Self::started(true)
    }

    /// A Redis that keeps nothing on disk: killed and restarted, it is empty.
    pub fn start_volatile() -> Self {
        Self::started(false)
    }

    fn started(persistent: bool) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = PrivateRedis { port, dir: tempfile::tempdir().unwrap(), persistent, child: None };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(match self.persistent {
                true => ["--appendonly", "yes", "--appendfsync", "always"],
                false => ["--appendonly", "no", "--save", ""],
            })
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(start.elapsed() < std::time::Duration::from_secs(10), "redis-server did not start");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A clean shutdown (the append-only file is complete).
    pub fn stop(&mut self) {
        let _ =
            std::process::Command::new("redis-cli").args(["-p", &self.port.to_string(), "shutdown"]).status();
        if let Some(mut child) = self.child.take() {
            child.wait().unwrap();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
