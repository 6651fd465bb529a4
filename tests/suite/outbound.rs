//! The outbound-HTTP door, attacker first: the probe plugin, in the real
//! sandbox, against real servers on loopback. Every refusal is
//! `HttpRequestDenied` to the guest (not a trap), a `WARN` line naming the
//! URL in the run's logs, and no connection at the server.

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use taskbox::executor::{EngineSettings, Executor, Limits};

use crate::support::targets::{Silent, Target, Tls};

use crate::support::*;

/// The probe with this sidecar.
fn probe_with(sidecar: &str) -> (PluginDir, std::sync::Arc<taskbox::plugins::registry::Plugin>) {
    let dir = PluginDir::new();
    dir.add("probe", "probe").write("probe.toml", sidecar);
    let plugin = dir.plugin("probe");
    (dir, plugin)
}

fn allowing(entries: &[String]) -> String {
    format!("allowed_outbound_hosts = {entries:?}\n")
}

/// The probe's report of a refused request: its error, and the run's logs.
fn denied(outcome: &taskbox::executor::Outcome) -> (String, String) {
    assert!(outcome.is_success, "the run itself must not fail (a refusal is no trap): {outcome:?}");
    let report = outcome.result.clone().unwrap();
    assert_eq!(report["ok"], false, "the request went through: {report}");
    (report["error"].as_str().unwrap().to_owned(), outcome.logs.clone())
}

/// What a refusal line names of `url`: only what the allowlist judged
/// (`scheme://host:port`), never a path, query or fragment.
fn judged(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let authority = rest.split(['/', '?', '#']).next().unwrap();
    let has_port = authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']');
    match has_port {
        true => format!("{scheme}://{authority}"),
        false => format!("{scheme}://{authority}:{}", if scheme == "https" { 443 } else { 80 }),
    }
}

fn assert_refused(outcome: &taskbox::executor::Outcome, url: &str) {
    let (error, logs) = denied(outcome);
    assert!(error.contains("HttpRequestDenied"), "{error}");
    let refusal = format!("WARN outbound HTTP request refused: {}:", judged(url));
    assert!(logs.contains(&refusal), "{refusal} in {logs}");
}

#[tokio::test]
async fn an_allowed_request_reaches_the_server_with_the_dialled_host() {
    let target = Target::answering(b"hello world".to_vec()).await;
    let (_dir, probe) = probe_with(&allowing(&[format!("http://127.0.0.1:{}", target.port())]));
    let outcome = run(&probe, json!({"action": "http", "url": target.url("/x?y=1")})).await;
    assert_eq!(probe_ok(&outcome), &json!({"status": 200, "body_length": 11}));
    let seen = target.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].path.as_str(), seen[0].host.clone()), ("/x?y=1", target.addr.to_string()));
}

#[tokio::test]
async fn without_a_grant_there_is_no_network() {
    let target = Target::answering(b"x".to_vec()).await;
    let (_dir, probe) = probe_with("");
    let url = target.url("/");
    assert_refused(&run(&probe, json!({"action": "http", "url": url})).await, &url);
    assert_eq!(target.hits(), 0);
}

#[tokio::test]
async fn an_unlisted_host_port_or_scheme_is_refused() {
    let listed = Target::answering(b"x".to_vec()).await;
    let other = Target::answering(b"x".to_vec()).await;
    let port = listed.port();
    // Listed by name: the same server by its address is another host.
    let (_d1, by_name) = probe_with(&allowing(&[format!("http://localhost:{port}")]));
    let url = listed.url("/");
    assert_refused(&run(&by_name, json!({"action": "http", "url": url})).await, &url);
    // Another port on the listed host.
    let (_d2, one_port) = probe_with(&allowing(&[format!("http://127.0.0.1:{port}")]));
    let url = other.url("/");
    assert_refused(&run(&one_port, json!({"action": "http", "url": url})).await, &url);
    // https listed, http asked.
    let (_d3, https_only) = probe_with(&allowing(&[format!("https://127.0.0.1:{port}")]));
    let url = listed.url("/");
    assert_refused(&run(&https_only, json!({"action": "http", "url": url})).await, &url);
    assert_eq!((listed.hits(), other.hits()), (0, 0));
}

#[tokio::test]
async fn a_host_header_cannot_smuggle_a_request_to_an_unlisted_server() {
    let listed = Target::answering(b"x".to_vec()).await;
    let unlisted = Target::answering(b"x".to_vec()).await;
    let (_dir, probe) = probe_with(&allowing(&[format!("http://127.0.0.1:{}", listed.port())]));
    let url = unlisted.url("/");
    let outcome =
        run(&probe, json!({"action": "http", "url": url, "headers": {"host": listed.addr.to_string()}}))
            .await;
    let report = outcome.result.clone().unwrap();
    // The guest may not set Host at all; sent anyway without it, the
    // request is judged by the URL it dials.
    assert!(report["error"].as_str().unwrap().contains("Forbidden"), "{report}");
    assert!(report["without_headers"]["error"].as_str().unwrap().contains("HttpRequestDenied"), "{report}");
    assert!(outcome.logs.contains(&judged(&url)), "{}", outcome.logs);
    assert_eq!((listed.hits(), unlisted.hits()), (0, 0));
    // And the listed server, asked by its URL, sees its own authority as Host.
    let outcome = run(&probe, json!({"action": "http", "url": listed.url("/")})).await;
    probe_ok(&outcome);
    assert_eq!(listed.seen.lock().unwrap()[0].host, listed.addr.to_string());
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_needs_a_literal_entry() {
    let target = Target::answering(b"x".to_vec()).await;
    let port = target.port();
    // Any host on that port: the wildcard does not open private addresses.
    let (_d1, wildcard) = probe_with(&allowing(&[format!("http://*:{port}")]));
    let url = format!("http://localhost:{port}/");
    let outcome = run(&wildcard, json!({"action": "http", "url": url})).await;
    assert_refused(&outcome, &url);
    assert!(outcome.logs.contains("private, loopback or link-local"), "{}", outcome.logs);
    assert_eq!(target.hits(), 0);
    // Named literally, it is allowed.
    let (_d2, literal) = probe_with(&allowing(&[format!("http://localhost:{port}")]));
    probe_ok(&run(&literal, json!({"action": "http", "url": url})).await);
    assert_eq!(target.hits(), 1);
}

#[tokio::test]
async fn the_metadata_address_is_refused_even_to_a_plugin_allowed_everywhere() {
    let (_dir, anywhere) = probe_with(&allowing(&["http://*:*".into(), "https://*:*".into()]));
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://10.0.0.1/",
        "http://0.0.0.0:80/",
    ] {
        let started = Instant::now();
        let outcome = run(&anywhere, json!({"action": "http", "url": url})).await;
        assert_refused(&outcome, url.split("/latest").next().unwrap());
        assert!(started.elapsed() < Duration::from_secs(2), "refused before any connection: {url}");
    }
}

#[tokio::test]
async fn a_server_that_never_answers_ends_the_run_at_its_deadline() {
    let silent = Silent::start().await;
    let (_dir, probe) = probe_with(&allowing(&[format!("http://127.0.0.1:{}", silent.addr.port())]));
    let deadline = Duration::from_secs(1);
    let limits = Limits { timeout: deadline, ..probe.limits(None, None) };
    let started = Instant::now();
    let outcome =
        run_with(&probe, json!({"action": "http", "url": format!("http://{}/", silent.addr)}), limits).await;
    let took = started.elapsed();
    assert!(!outcome.is_success, "{outcome:?}");
    assert!(outcome.error_message.as_deref().unwrap().contains("timed out"), "{outcome:?}");
    assert!(took >= deadline && took < deadline.mul_f64(1.1), "ended after {took:?}");
    assert_eq!(silent.accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_response_body_and_request_count_limits_hold() {
    let big = Target::answering(vec![b'x'; 8 * 1024]).await;
    let sidecar = format!(
        "{}max_response_body_kb = 4\nmax_outbound_requests = 3\n",
        allowing(&[format!("http://127.0.0.1:{}", big.port())])
    );
    let (_dir, probe) = probe_with(&sidecar);
    let outcome = run(&probe, json!({"action": "http", "url": big.url("/")})).await;
    let (error, logs) = denied(&outcome);
    assert!(error.contains("reading the body"), "{error}");
    assert!(logs.contains("exceeded this run's limit of 4096 bytes"), "{logs}");

    let small = Target::answering(b"ok".to_vec()).await;
    let sidecar =
        format!("{}max_outbound_requests = 3\n", allowing(&[format!("http://127.0.0.1:{}", small.port())]));
    let (_dir, probe) = probe_with(&sidecar);
    let outcome = run(&probe, json!({"action": "http", "url": small.url("/"), "times": 5})).await;
    let (error, logs) = denied(&outcome);
    assert!(error.contains("HttpRequestDenied"), "{error}");
    assert!(logs.contains("over this run's limit of 3 requests"), "{logs}");
    assert_eq!(small.hits(), 3);
}

#[tokio::test]
async fn https_works_with_a_private_ca_and_fails_without_it() {
    let server = Tls::start().await;
    let sidecar = allowing(&[format!("https://localhost:{}", server.port)]);
    let url = format!("https://localhost:{}/", server.port);
    let trusting = Executor::new(EngineSettings {
        extra_ca_file: Some(server.ca_file.path().to_owned()),
        max_instances: 4,
        ..Default::default()
    })
    .unwrap();
    let dir = PluginDir::new();
    dir.add("probe", "probe").write("probe.toml", &sidecar);
    let loader = taskbox::plugins::registry::Loader::new(trusting.clone(), Some(dir.cache.path().to_owned()));
    let probe = loader.load(&dir.path().join("probe.wasm")).plugin.unwrap();
    let request = |executor: Executor, plugin: std::sync::Arc<taskbox::plugins::registry::Plugin>| {
        let url = url.clone();
        async move {
            let req = taskbox::executor::RunRequest {
                context: taskbox::executor::RunContext::ad_hoc(),
                params: json!({"action": "http", "url": url}).to_string(),
                limits: plugin.limits(Some(Duration::from_secs(10)), None),
                doors: Default::default(),
            };
            executor.run(&plugin.runnable, req).await
        }
    };
    let outcome = request(trusting, probe).await;
    assert_eq!(probe_ok(&outcome), &json!({"status": 200, "body_length": 2}));
    // The suite's executor trusts webpki's roots only.
    let (_d, untrusting) = probe_with(&sidecar);
    let outcome = request(crate::support::EXECUTOR.clone(), untrusting).await;
    let report: Value = outcome.result.unwrap();
    assert_eq!(report["ok"], false, "{report}");
    assert!(report["error"].as_str().unwrap().contains("Tls"), "{report}");
}

#[test]
fn a_bad_allowlist_entry_keeps_the_plugin_from_loading_and_says_why() {
    let dir = PluginDir::new();
    dir.add("probe", "probe").write("probe.toml", "allowed_outbound_hosts = [\"example.com\"]\n");
    let entry = dir.loader().load(&dir.path().join("probe.wasm"));
    let error = entry.info.error.expect("refused");
    assert!(error.contains("\"example.com\"") && error.contains("no scheme"), "{error}");
}

#[tokio::test]
async fn a_command_plugin_gets_the_same_door_and_the_same_refusals() {
    let target = Target::answering(b"abc".to_vec()).await;
    let dir = PluginDir::new();
    dir.add("fetch", "fetch").write("fetch.toml", allowing(&[format!("http://127.0.0.1:{}", target.port())]));
    let fetch = dir.plugin("fetch");
    assert_eq!(fetch.runnable.prepared.shape(), taskbox::executor::Shape::Command);
    let outcome = run(&fetch, json!({"url": target.url("/")})).await;
    assert!(outcome.is_success, "{outcome:?}");
    assert_eq!(outcome.result.unwrap(), json!({"url": target.url("/"), "status": 200, "body_length": 3}));
    let outcome = run(&fetch, json!({"url": "http://169.254.169.254/"})).await;
    assert!(!outcome.is_success);
    assert!(outcome.logs.contains("HttpRequestDenied"), "{}", outcome.logs);
    assert!(
        outcome.logs.contains("WARN outbound HTTP request refused: http://169.254.169.254:80:"),
        "{}",
        outcome.logs
    );
}

#[tokio::test]
async fn other_spellings_of_loopback_are_refused_under_a_wildcard() {
    let target = Target::answering(b"x".to_vec()).await;
    let port = target.port();
    let (_dir, wildcard) = probe_with(&allowing(&[format!("http://*:{port}")]));
    // Decimal and short IPv4 forms resolve to 127.0.0.1; IPv6 loopback and
    // IPv4-mapped loopback are literals: the check is on the address, so
    // each is refused however it is written.
    for host in ["2130706433", "127.1", "[::1]", "[::ffff:127.0.0.1]"] {
        let url = format!("http://{host}:{port}/");
        let outcome = run(&wildcard, json!({"action": "http", "url": url})).await;
        assert_refused(&outcome, &format!("http://{host}:{port}/"));
    }
    assert_eq!(target.hits(), 0);
}
