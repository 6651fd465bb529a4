//! The private-address exemption covers exactly the scheme, host and port
//! its entry names (Spin's semantics), for plugins and notifications alike;
//! and proxy variables in the server's environment never change where a
//! request goes (the address taskbox checked is the one it dials).

use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

use crate::support::targets::Target;
use crate::support::*;

#[tokio::test]
async fn a_listed_private_address_opens_only_its_own_port_to_a_plugin() {
    let listed = Target::answering(b"x".to_vec()).await;
    let other = Target::answering(b"x".to_vec()).await;
    let dir = PluginDir::new();
    let sidecar =
        format!("allowed_outbound_hosts = [\"http://127.0.0.1:{}\", \"http://*:*\"]\n", listed.port());
    dir.add("probe", "probe").write("probe.toml", sidecar);
    let probe = dir.plugin("probe");
    let outcome = run(&probe, json!({"action": "http", "url": other.url("/")})).await;
    let report = outcome.result.clone().unwrap();
    assert_eq!(report["ok"], false, "another port of a listed private address: {report}");
    assert!(outcome.logs.contains("private, loopback or link-local"), "{}", outcome.logs);
    assert_eq!(other.hits(), 0);
    probe_ok(&run(&probe, json!({"action": "http", "url": listed.url("/")})).await);
    assert_eq!(listed.hits(), 1);
}

/// A failing config on `server` that notifies `url` of its failure; the
/// delivery's record once it has one.
async fn notify_once(server: &Server, url: &str) -> serde_json::Value {
    let id = server
        .create_id(json!({"name": url, "task_type": "fail", "scheduler_type": "manual",
            "notify": {"url": url, "on": "failure"}}))
        .await;
    let execution = server.run(&id).await;
    let record = server.record_of(&execution, Duration::from_secs(20)).await;
    let path = format!("/executions/{}", record["id"]);
    let delivery = std::cell::RefCell::new(serde_json::Value::Null);
    eventually("the notification is settled", Duration::from_secs(30), || async {
        let (_, view) = server.get(&path).await;
        let status = view["notifications"][0]["status"].clone();
        *delivery.borrow_mut() = view["notifications"][0].clone();
        status == "refused" || status == "delivered" || status == "failed"
    })
    .await;
    delivery.into_inner()
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_private_address_opens_only_its_own_port_to_notifications(d) {
    let listed = Target::answering(b"ok".to_vec()).await;
    let other = Target::answering(b"ok".to_vec()).await;
    let allowed = format!("http://127.0.0.1:{}", listed.port());
    let server = serve_plugins(&d, &["fail"], &[("TASKBOX_NOTIFY_ALLOWED_HOSTS", allowed)]);
    let delivery = notify_once(&server, &other.url("/hook")).await;
    assert_eq!(delivery["status"], "refused", "{delivery}");
    assert_eq!(other.hits(), 0);
    let delivery = notify_once(&server, &listed.url("/hook")).await;
    assert_eq!(delivery["status"], "delivered", "{delivery}");
    assert_eq!(listed.hits(), 1);
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_variables_do_not_redirect_notifications(d) {
    let target = Target::answering(b"ok".to_vec()).await;
    let proxy = Target::answering(b"proxied".to_vec()).await;
    let proxy_url = proxy.url("");
    let extra = [
        ("TASKBOX_NOTIFY_ALLOWED_HOSTS", format!("http://127.0.0.1:{}", target.port())),
        ("HTTP_PROXY", proxy_url.clone()),
        ("http_proxy", proxy_url.clone()),
        ("HTTPS_PROXY", proxy_url.clone()),
        ("ALL_PROXY", proxy_url),
    ];
    let server = serve_plugins(&d, &["fail"], &extra);
    let delivery = notify_once(&server, &target.url("/hook")).await;
    assert_eq!(delivery["status"], "delivered", "{delivery}");
    assert_eq!((target.hits(), proxy.hits()), (1, 0), "the request went to the checked address, not a proxy");
    let (status, _) = server.get("/system/health").await;
    assert_eq!(status, StatusCode::OK);
}
}
