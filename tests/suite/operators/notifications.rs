//! Signed failure notifications, received by a local HTTP server.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use std::sync::{Arc, Mutex};

use crate::support::*;

/// What the local webhook received: headers and body of each POST.
type Received = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A local HTTP server that records every POST and answers `status`.
pub(crate) async fn webhook(status: u16) -> (String, Received) {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State((got, status)): State<(Received, u16)>,
                 headers: HeaderMap,
                 body: axum::body::Bytes| async move {
                    got.lock().unwrap().push((headers, body.to_vec()));
                    axum::http::StatusCode::from_u16(status).unwrap()
                },
            ),
        )
        .with_state((received.clone(), status));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://127.0.0.1:{}", addr.port()), received)
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_notifications_are_signed_retried_and_recorded(d) {
    let (good, received) = webhook(200).await;
    let (bad, bad_received) = webhook(503).await;
    let allowed = format!("{good},{bad}");
    let f = Fleet::start(&d, PluginDir::with(&["fail", "echo"]), 1, &[("TASKBOX_NOTIFY_ALLOWED_HOSTS", allowed)]);
    let api = &f.api;
    let secret = "s3cret-webhook-key";
    let id = api.create_id(json!({"name": "watched", "task_type": "fail", "scheduler_type": "manual",
        "notify": {"url": format!("{good}/hook"), "on": "recovery", "secret": secret}})).await;

    // The secret is write-only.
    let (_, config) = api.get(&format!("/configs/{id}")).await;
    assert_eq!(config["notify"], json!({"url": format!("{good}/hook"), "on": "recovery", "secret_set": true}));
    let (_, list) = api.get("/configs").await;
    assert!(!list.to_string().contains(secret), "{list}");

    let failed = api.run(&id).await;
    let record = api.record_of(&failed, Duration::from_secs(10)).await;
    eventually("the failure is notified", Duration::from_secs(10), || async { !received.lock().unwrap().is_empty() })
        .await;
    let (headers, body) = received.lock().unwrap()[0].clone();
    let signature = headers["x-taskbox-signature"].to_str().unwrap().to_owned();
    assert_eq!(signature, taskbox::engine::notifier::signature(secret, &body), "a valid HMAC-SHA256 of the body");
    let document: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(document["event"], "failure");
    assert_eq!(document["config"]["id"], id.as_str());
    assert_eq!(document["execution"]["execution_id"], failed.as_str());
    assert_eq!(document["execution"]["is_success"], false);
    let link = document["links"]["execution"].as_str().unwrap();
    assert!(link.ends_with(&format!("/api/v1/executions/{}", record["id"])), "{link}");
    assert!(!String::from_utf8_lossy(&body).contains(secret));

    // The delivery is recorded with the run.
    let path = format!("/executions/{}", record["id"]);
    eventually("the delivery is recorded", Duration::from_secs(5), || async {
        api.get(&path).await.1["notifications"][0]["status"] == "delivered"
    })
    .await;
    let (_, run) = api.get(&path).await;
    let delivery = &run["notifications"][0];
    assert_eq!((delivery["attempts"].as_i64(), delivery["response_code"].as_i64()), (Some(1), Some(200)), "{run}");
    assert_eq!(delivery["event"], "failure");

    // The first success after a failure is a recovery; the next is not told.
    let (status, _) = api.call(reqwest::Method::PATCH, &format!("/configs/{id}"), Some(json!({"task_type": "echo"}))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, config) = api.get(&format!("/configs/{id}")).await;
    assert_eq!(config["notify"]["secret_set"], true, "a patch keeps the secret: {config}");
    let recovered = api.run(&id).await;
    api.record_of(&recovered, Duration::from_secs(10)).await;
    eventually("the recovery is notified", Duration::from_secs(10), || async { received.lock().unwrap().len() == 2 })
        .await;
    let (_, body) = received.lock().unwrap()[1].clone();
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["event"], "recovery");
    let again = api.run(&id).await;
    api.record_of(&again, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(received.lock().unwrap().len(), 2, "a success after a success is not told (on = recovery)");

    // A destination that answers 503 is retried with backoff.
    let retried = api.create_id(json!({"name": "retried", "task_type": "fail", "scheduler_type": "manual",
        "notify": {"url": format!("{bad}/hook")}})).await;
    let run = api.run(&retried).await;
    let record = api.record_of(&run, Duration::from_secs(10)).await;
    let path = format!("/executions/{}", record["id"]);
    eventually("three attempts", Duration::from_secs(15), || async {
        api.get(&path).await.1["notifications"][0]["attempts"].as_i64() >= Some(3)
    })
    .await;
    let (_, view) = api.get(&path).await;
    assert_eq!(view["notifications"][0]["response_code"], 503, "{view}");
    assert!(bad_received.lock().unwrap().len() >= 3);
    assert!(bad_received.lock().unwrap()[0].0.get("x-taskbox-signature").is_none(), "no secret, no signature");

    // Private destinations the operator did not name: refused, not sent.
    for url in ["http://169.254.169.254/latest/meta-data/", &format!("{}/hook", good.replace("127.0.0.1", "localhost"))] {
        let name = format!("private-{}", url.len());
        let id = api.create_id(json!({"name": name, "task_type": "fail", "scheduler_type": "manual",
            "notify": {"url": url, "on": "always"}})).await;
        let run = api.run(&id).await;
        let record = api.record_of(&run, Duration::from_secs(10)).await;
        let path = format!("/executions/{}", record["id"]);
        eventually("the refusal is recorded", Duration::from_secs(5), || async {
            api.get(&path).await.1["notifications"][0]["status"] == "refused"
        })
        .await;
        let (_, view) = api.get(&path).await;
        assert!(view["notifications"][0]["last_error"].as_str().unwrap().contains("private"), "{view}");
    }
    assert_eq!(received.lock().unwrap().len(), 2, "nothing more reached the webhook");

    // Misuse: 422.
    for notify in [json!({"url": "ftp://example.com/"}), json!({"url": "not a url"}), json!({"url": "https://x.example", "on": "sometimes"}),
        json!({"url": "https://x.example", "secret": ""})] {
        let (status, body) = api.post("/configs", json!({"name": "bad-notify", "task_type": "fail",
            "scheduler_type": "manual", "notify": notify})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
}
}
