//! An acknowledged run must not wait as long as its worker lives. When a
//! worker's `XREADGROUP` reply is lost (a dropped connection, a Redis that
//! went away at that instant), Redis keeps the entries pending under that
//! worker's own name; a live worker's heartbeat keeps every other worker
//! off them. Reproduced here by a proxy between one worker and Redis that
//! drops the first reply carrying runs, then the connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::*;

/// A TCP proxy to Redis that, once, swallows the first reply to an
/// `XREADGROUP` that carries entries and closes that connection.
struct DropOneReply {
    port: u16,
    dropped: Arc<AtomicBool>,
}

impl DropOneReply {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let dropped = Arc::new(AtomicBool::new(false));
        let once = dropped.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream.trim_start_matches("redis://")).await else {
                    continue;
                };
                tokio::spawn(relay(client, server, once.clone()));
            }
        });
        Self { port, dropped }
    }
}

async fn relay(client: TcpStream, server: TcpStream, once: Arc<AtomicBool>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let reads_streams = Arc::new(AtomicBool::new(false));
    let seen = reads_streams.clone();
    let up = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = client_read.read(&mut buf).await {
            if n == 0 || server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
            if buf[..n].windows(10).any(|w| w.eq_ignore_ascii_case(b"XREADGROUP")) {
                seen.store(true, Ordering::SeqCst);
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = server_read.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let carries_runs = buf[..n].windows(6).any(|w| w == b"queue:");
        if reads_streams.load(Ordering::SeqCst) && carries_runs && !once.swap(true, Ordering::SeqCst) {
            // The reply is lost, and so is the connection.
            break;
        }
        if client_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    up.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_claim_reply_was_lost_is_redelivered_by_its_own_worker() {
    let d = Deployment::new(Kind::Distributed).await;
    let plugins = PluginDir::with(&["echo"]);
    let api = serve(&d, &plugins, &[("TASKBOX_ROLES", "api,scheduler".into())]);
    let proxy = DropOneReply::start(crate::support::services::redis_url()).await;
    let through_proxy = [("TASKBOX_REDIS_URL", format!("redis://127.0.0.1:{}", proxy.port))];
    let mut env = d.serve_env();
    env.retain(|(k, _)| *k != "TASKBOX_REDIS_URL");
    let _worker = Server::start_until(
        &[
            env,
            through_proxy.to_vec(),
            vec![
                ("TASKBOX_PLUGIN_DIR", plugins.path().display().to_string()),
                ("TASKBOX_CACHE_DIR", plugins.cache.path().display().to_string()),
                ("TASKBOX_ROLES", "worker".into()),
            ],
        ]
        .concat(),
        "worker started",
    );
    let id = api
        .create_id(serde_json::json!({"name": "e", "task_type": "echo", "scheduler_type": "manual"}))
        .await;
    let execution_id = api.run(&id).await;
    eventually("the proxy dropped a reply", Duration::from_secs(10), || async {
        proxy.dropped.load(Ordering::SeqCst)
    })
    .await;
    let record = api.record_of(&execution_id, Duration::from_secs(15)).await;
    assert_eq!(record["is_success"], true, "{record}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(api.records(&id).await.len(), 1, "recorded once");
}
