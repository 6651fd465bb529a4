//! Slow clients must not starve the API: a client that sends its headers a
//! byte at a time is cut off after the header timeout, and a thousand of
//! them held open do not keep a normal client from its answers, even under
//! the common default of 1,024 open files (soft) a process starts with.

use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

const SLOW: usize = 1000;

/// One slow client: a request line and headers, a byte every 200 ms; how
/// long until the server closed the connection (`None`: never, within
/// `limit`).
async fn trickle(addr: String, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    // Refused at once (over the connection limit) counts as cut off.
    let Ok(mut stream) = TcpStream::connect(&addr).await else { return Some(start.elapsed()) };
    let request = b"GET /api/v1/configs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer slow\r\n";
    for byte in request.iter().cycle() {
        if start.elapsed() > limit {
            return None;
        }
        if stream.write_all(&[*byte]).await.is_err() {
            return Some(start.elapsed());
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            // An answer (a 408, say) before the close counts as cut off too.
            Ok(Ok(_)) => return Some(start.elapsed()),
            Err(_) => {}
        }
    }
    None
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slow_clients_do_not_starve_a_normal_one(d) {
    let plugins = PluginDir::with(&["echo"]);
    let mut env = d.serve_env();
    env.push(("TASKBOX_PLUGIN_DIR", plugins.path().display().to_string()));
    env.push(("TASKBOX_CACHE_DIR", plugins.cache.path().display().to_string()));
    env.push(("TASKBOX_HTTP_HEADER_TIMEOUT_SECONDS", "3".into()));
    let mut command = Server::command(&env);
    // As a service manager starts it: 1,024 open files, more allowed.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 1024, rlim_max: 4096 };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let server = Server::spawn(command, "http://");
    let addr = server.base.trim_start_matches("http://").trim_end_matches("/api/v1").to_owned();

    let slow: Vec<_> =
        (0..SLOW).map(|_| tokio::spawn(trickle(addr.clone(), Duration::from_secs(20)))).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A normal client, a fresh connection per request, while they trickle.
    // Starved, it would wait out a slow client's 3 s; 2 s is room for the
    // suite's other tests on two cores.
    let fresh = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let mut took = Vec::new();
    for _ in 0..10 {
        let asked = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(2),
            fresh.get(server.url("/configs")).bearer_auth(SERVER_TOKEN).send(),
        )
        .await;
        took.push(asked.elapsed());
        let answer =
            answer.unwrap_or_else(|_| panic!("no answer within 2 s beside {SLOW} slow clients; before: {took:?}"));
        let status = answer.map(|a| a.status());
        assert!(matches!(status, Ok(reqwest::StatusCode::OK)), "{status:?}; answered in {took:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut cut = Vec::new();
    for task in slow {
        cut.push(task.await.unwrap());
    }
    let never = cut.iter().filter(|c| c.is_none()).count();
    assert_eq!(never, 0, "{never} of {SLOW} slow clients were never cut off");
    let latest = cut.iter().flatten().max().unwrap();
    let cut_by_3s = cut.iter().flatten().filter(|c| **c < Duration::from_secs(4)).count();
    // The 3 s timeout, with room for a loaded machine (a thousand clients
    // and the suite's other tests on two cores).
    assert!(*latest < Duration::from_secs(3 + 7), "cut off after the header timeout: the last after {latest:?}, {cut_by_3s} within 4 s");
}
}
