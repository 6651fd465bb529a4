//! The dashboard's pages begin with their doctype (no quirks mode), and an
//! action's `back` that is not a local path (control characters, CRLF, an
//! absolute URL) is a 400, never a 500 and never a header of ours.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

/// Logs in over HTTP: the session cookie and the CSRF token of its forms.
pub(crate) async fn log_in(http: &reqwest::Client, origin: &str) -> (String, String) {
    let login = http.get(format!("{origin}/ui/login")).send().await.unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = cookie.split('=').nth(1).unwrap().to_owned();
    let ok = http
        .post(format!("{origin}/ui/login"))
        .header("cookie", &cookie)
        .form(&[("token", SERVER_TOKEN), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    let session = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("taskbox_session="))
        .expect("a session cookie");
    let session = session.split(';').next().unwrap().to_owned();
    let page = http.get(format!("{origin}/ui/schedules")).header("cookie", &session).send().await.unwrap();
    let html = page.text().await.unwrap();
    let at = html.find("name=\"csrf\" value=\"").expect("a form with the CSRF token") + 19;
    let csrf = html[at..].split('"').next().unwrap().to_owned();
    (session, csrf)
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_start_with_their_doctype_and_a_bad_back_is_a_400(d) {
    let server = serve_plugins(&d, &["echo"], &[]);
    let origin = server.root_url("");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = http.get(format!("{origin}/ui/login")).send().await.unwrap().text().await.unwrap();
    assert!(login.starts_with("<!DOCTYPE html>"), "the doctype first: {}", &login[..login.len().min(80)]);
    let (session, csrf) = log_in(&http, &origin).await;
    for path in ["/ui/", "/ui/schedules", "/ui/runs", "/ui/plugins"] {
        let page = http.get(format!("{origin}{path}")).header("cookie", &session).send().await.unwrap();
        let text = page.text().await.unwrap();
        assert!(text.starts_with("<!DOCTYPE html>"), "{path}: {}", &text[..text.len().min(80)]);
    }
    let id = server.create_id(json!({"name": "c", "task_type": "echo", "scheduler_type": "manual"})).await;
    for back in ["/ui/x\r\nSet-Cookie: a=b", "/ui/\u{7}bell", "/ui/\nx", "//evil.example/ui/", "https://evil.example/ui/"] {
        let answer = http
            .post(format!("{origin}/ui/schedules/{id}/run"))
            .header("cookie", &session)
            .form(&[("csrf", csrf.as_str()), ("back", back)])
            .send()
            .await
            .unwrap();
        let status = answer.status();
        assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::SEE_OTHER, "{back:?}: {status}");
        if status == StatusCode::SEE_OTHER {
            let to = answer.headers()["location"].to_str().unwrap();
            assert!(to.starts_with("/ui/schedules"), "{back:?} led to {to}");
        }
        assert!(answer.headers().get("set-cookie").is_none(), "{back:?} set a cookie");
    }
    let control = http
        .post(format!("{origin}/ui/schedules/{id}/run"))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str()), ("back", "/ui/x\r\nSet-Cookie: a=b")])
        .send()
        .await
        .unwrap();
    assert_eq!(control.status(), StatusCode::BAD_REQUEST, "control characters in back");
}
}
