//! The services the test suite talks to: PostgreSQL and Redis. Checks that
//! each answers at the address the suite will use; one on this machine that
//! is installed but down is started; otherwise fails at once with one line
//! saying what is missing and how to point the suite elsewhere.
//!
//! Owns only that check: the suite itself reads the same two variables.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PG_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const REDIS_DEFAULT: &str = "redis://127.0.0.1:6379";

struct Service {
    name: &'static str,
    variable: &'static str,
    url: String,
    default_port: u16,
    /// Starts a local one that is installed but down; `None`: not installed.
    start: fn(port: u16) -> Option<Command>,
}

/// The PostgreSQL URL the suite uses (a database its user may create others from).
pub fn database_url() -> String {
    std::env::var("TASKBOX_TEST_DATABASE_URL").unwrap_or_else(|_| PG_DEFAULT.into())
}

/// The Redis URL the suite uses.
pub fn redis_url() -> String {
    std::env::var("TASKBOX_TEST_REDIS_URL").unwrap_or_else(|_| REDIS_DEFAULT.into())
}

/// Makes sure both services answer, starting local ones if needed.
pub fn ensure() -> Result<(), String> {
    let services = [
        Service {
            name: "PostgreSQL",
            variable: "TASKBOX_TEST_DATABASE_URL",
            url: database_url(),
            default_port: 5432,
            start: start_postgres,
        },
        Service {
            name: "Redis",
            variable: "TASKBOX_TEST_REDIS_URL",
            url: redis_url(),
            default_port: 6379,
            start: start_redis,
        },
    ];
    for service in &services {
        ensure_one(service)?;
    }
    Ok(())
}

fn ensure_one(s: &Service) -> Result<(), String> {
    let addr = address(&s.url, s.default_port)
        .ok_or_else(|| format!("{}={} names no host:port this machine can resolve", s.variable, s.url))?;
    if answers(addr) {
        return Ok(());
    }
    let local = addr.ip().is_loopback();
    let hint = format!(
        "{} does not answer at {addr}: start it, or set {} to one that runs (the suite needs PostgreSQL and Redis)",
        s.name, s.variable
    );
    let Some(mut start) = local.then(|| (s.start)(addr.port())).flatten() else { return Err(hint) };
    eprintln!("xtask: {} is down at {addr}; starting it: {start:?}", s.name);
    let started = start.stdout(Stdio::null()).status();
    if !matches!(started, Ok(status) if status.success()) {
        return Err(hint);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if answers(addr) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(hint)
}

/// The host and port of a `scheme://[user@]host[:port][/…]` URL.
fn address(url: &str, default_port: u16) -> Option<SocketAddr> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let with_port = if host_port.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        host_port.to_owned()
    } else {
        format!("{host_port}:{default_port}")
    };
    with_port.to_socket_addrs().ok()?.next()
}

fn answers(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// Debian's cluster tools, as installed with the `postgresql` package.
fn start_postgres(_port: u16) -> Option<Command> {
    let version = std::fs::read_dir("/etc/postgresql").ok()?.flatten().next()?.file_name();
    if !Path::new("/usr/bin/pg_ctlcluster").exists() {
        return None;
    }
    let mut cmd = Command::new("pg_ctlcluster");
    cmd.arg("--skip-systemctl-redirect").arg(version).args(["main", "start"]);
    Some(cmd)
}

/// A throwaway Redis that keeps nothing on disk.
fn start_redis(port: u16) -> Option<Command> {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("redis-server").is_file()));
    if !found {
        return None;
    }
    let mut cmd = Command::new("redis-server");
    cmd.args(["--daemonize", "yes", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--port"]);
    cmd.arg(port.to_string());
    Some(cmd)
}
