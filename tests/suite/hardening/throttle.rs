//! Failed token checks are throttled per client: a flood of wrong tokens
//! (each one a store lookup) is answered 429 after a burst, without
//! asking the store, and the burst is logged once; a client presenting the
//! configured admin token, or another client, is not held up.

use reqwest::StatusCode;

use crate::support::*;

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wrong_tokens_is_throttled(d) {
    let server = serve_plugins(&d, &["echo"], &[]);
    let mut statuses = Vec::new();
    for i in 0..300 {
        let answer = server.client.get(server.url("/configs")).bearer_auth(format!("tbx_wrong_{i}")).send().await.unwrap();
        statuses.push(answer.status());
    }
    let throttled = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert!(refused >= 10 && throttled >= 200, "{refused} refused, {throttled} throttled of 300");
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS));
    // The configured admin token still works from the same client.
    assert_eq!(server.get("/configs").await.0, StatusCode::OK);
    // The dashboard's login is throttled the same way.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = http.get(server.root_url("/ui/login")).send().await.unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = cookie.split('=').nth(1).unwrap().to_owned();
    let answer = http
        .post(server.root_url("/ui/login"))
        .header("cookie", &cookie)
        .form(&[("token", "tbx_wrong_login"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS, "the login shares the client's budget");
    let log = server.log.lock().unwrap().join("\n");
    assert!(log.contains("failed token checks"), "a log line for the burst:\n{log}");
}
}
