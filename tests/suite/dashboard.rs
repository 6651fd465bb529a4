//! The dashboard in a real browser: headless Chromium (Debian's `chromium`)
//! driven over WebDriver (`chromedriver`) against a real `taskbox serve`
//! on both deployments. Logs in, sees a config created over the API,
//! pauses it with a click, opens a run and reads its logs, filters runs,
//! sees user and guest text escaped, sees a viewer refused, logs out; and
//! saves a screenshot of each page in `target/ui-screenshots/` (not
//! committed) for a person to look at. The security headers and the
//! refusals are checked over plain HTTP too.

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// A chromedriver of the test's own, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn driver() -> Driver {
    let binary = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("chromedriver is missing: install Debian's chromium and chromium-driver (.ci/run does)");
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver { child, url: format!("http://127.0.0.1:{port}") }
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": "/usr/bin/chromium", "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--window-size=1280,1000", "--no-first-run"]}),
    );
    // WebDriver is plain HTTP here; the builder still wants a TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    ClientBuilder::rustls().unwrap().capabilities(caps).connect(&driver.url).await.expect("a browser session")
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// The origin of a server (`http://127.0.0.1:port`).
fn origin(server: &Server) -> String {
    server.base.trim_end_matches("/api/v1").to_owned()
}

async fn log_in(c: &Client, origin: &str, token: &str) {
    c.goto(&format!("{origin}/ui/")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/ui/login"), "not logged in: the login page");
    let field = c.find(Locator::Css("input[name=token]")).await.unwrap();
    assert_eq!(field.attr("type").await.unwrap().as_deref(), Some("password"));
    field.send_keys(token).await.unwrap();
    c.find(Locator::Css("form.login button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for(c, "the overview", |url, _| url.ends_with("/ui/")).await;
}

/// Waits until `check(path, page source)` holds.
async fn wait_for(c: &Client, what: &str, check: impl Fn(&str, &str) -> bool) -> String {
    let seen = std::cell::RefCell::new(String::new());
    eventually(what, Duration::from_secs(20), || async {
        let url = c.current_url().await.unwrap();
        *seen.borrow_mut() = c.source().await.unwrap();
        check(url.path(), &seen.borrow())
    })
    .await;
    seen.into_inner()
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

fn viewer_token(d: &Deployment) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .args(["token", "create", "--name", "watcher", "--role", "viewer"])
        .env("TASKBOX_DATABASE_URL", &d.database_url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_in_a_real_browser(d) {
    let plugins = PluginDir::new();
    plugins.add("echo", "echo").add("fail", "fail");
    let server = serve(&d, &plugins, &[]);
    let origin = origin(&server);
    let viewer = viewer_token(&d);
    let drv = driver();
    let c = browser(&drv).await;

    // The login page, then the overview.
    c.goto(&format!("{origin}/ui/login")).await.unwrap();
    shot(&c, &format!("login-{}", d.plan.kind())).await;
    log_in(&c, &origin, SERVER_TOKEN).await;
    for name in ["Overview", "Schedules", "Runs", "Plugins"] {
        c.find(Locator::LinkText(name)).await.unwrap_or_else(|_| panic!("a navigation link named {name}"));
    }

    // A config created over the API appears; pause it with a click.
    let nightly = server.create_id(json!({"name": "nightly-report", "task_type": "echo", "scheduler_type": "cron",
        "schedule_config": {"cron_expression": "0 2 * * *"}, "parameters": {"report": "sales"}})).await;
    let hostile = server.create_id(json!({"name": "<script>alert(1)</script>", "task_type": "fail",
        "scheduler_type": "manual", "parameters": {"message": "<b>bold</b> <img src=x onerror=alert(2)>"}})).await;
    server.post(&format!("/schedules/{nightly}/start"), json!({})).await;
    c.goto(&format!("{origin}/ui/schedules")).await.unwrap();
    wait_for(&c, "the config on the schedules page", |_, s| s.contains("nightly-report")).await;
    let row = c.find(Locator::XPath("//tr[td/a[text()='nightly-report']]")).await.unwrap();
    assert!(row.text().await.unwrap().contains("active"));
    assert!(row.text().await.unwrap().contains("daily at 02:00"), "the schedule in words");
    shot(&c, &format!("schedules-{}", d.plan.kind())).await;
    row.find(Locator::XPath(".//button[text()='Pause']")).await.unwrap().click().await.unwrap();
    wait_for(&c, "the pause's result", |_, s| s.contains("schedule paused")).await;
    let row = c.find(Locator::XPath("//tr[td/a[text()='nightly-report']]")).await.unwrap();
    assert!(row.text().await.unwrap().contains("paused"), "{}", row.text().await.unwrap());
    row.find(Locator::XPath(".//button[text()='Resume']")).await.expect("paused: Resume is offered");
    assert_eq!(server.get(&format!("/configs/{nightly}")).await.1["schedule_status"], "paused");

    // Escaping: a config named like a script is text, nothing ran.
    let named = c.find(Locator::XPath("//td/a[text()='<script>alert(1)</script>']")).await;
    assert!(named.is_ok(), "the name shows as text");
    assert!(!c.source().await.unwrap().contains("<script>alert(1)"), "never as markup");

    // Runs: run both, watch them arrive live, open one, read its logs.
    server.post(&format!("/configs/{hostile}/run"), json!({})).await;
    server.post(&format!("/configs/{nightly}/run"), json!({})).await;
    c.goto(&format!("{origin}/ui/runs")).await.unwrap();
    wait_for(&c, "two runs, refreshed live", |_, s| s.matches("href=\"/ui/runs/").count() >= 2).await;
    shot(&c, &format!("runs-{}", d.plan.kind())).await;
    c.find(Locator::Css("select[name=outcome]")).await.unwrap().select_by_value("failure").await.unwrap();
    c.find(Locator::XPath("//form[@class='filters']//button[text()='Filter']")).await.unwrap().click().await.unwrap();
    eventually("filters live in the URL", Duration::from_secs(20), || async {
        c.current_url().await.unwrap().query().unwrap_or("").contains("outcome=failure")
    })
    .await;
    let source = wait_for(&c, "the filtered runs", |_, s| s.contains("badge bad")).await;
    assert!(!source.contains("badge ok"), "only failures");
    c.refresh().await.unwrap();
    assert_eq!(c.find(Locator::Css("select[name=outcome]")).await.unwrap().prop("value").await.unwrap().as_deref(), Some("failure"), "a reload keeps the filter");
    c.find(Locator::XPath("//tbody/tr/td/a")).await.unwrap().click().await.unwrap();
    wait_for(&c, "the run page", |p, _| p.starts_with("/ui/runs/")).await;
    let logs = text_of(&c, "pre.error").await;
    assert!(logs.contains("<b>bold</b> <img src=x onerror=alert(2)>"), "the guest's text, as text: {logs}");
    assert!(c.find(Locator::Css("pre.error b")).await.is_err(), "no markup from the guest");
    assert!(c.find(Locator::Css("img")).await.is_err());
    c.find(Locator::XPath("//button[text()='Run again']")).await.expect("an admin may run it again");
    shot(&c, &format!("run-{}", d.plan.kind())).await;

    // The config page, the plugins page, the overview.
    c.goto(&format!("{origin}/ui/configs/{nightly}")).await.unwrap();
    wait_for(&c, "the config page", |_, s| s.contains("History") && s.contains("paused")).await;
    shot(&c, &format!("config-{}", d.plan.kind())).await;

    // Run with parameters: checked in the page before it is sent, and again
    // by the server; a good payload runs, merged onto the config's.
    let before = server.records(&nightly).await.len();
    c.find(Locator::XPath("//summary[text()='Run with parameters']")).await.unwrap().click().await.unwrap();
    let field = c.find(Locator::Css("textarea[name=parameters]")).await.unwrap();
    field.send_keys("{\"report\": ").await.unwrap();
    c.find(Locator::XPath("//button[text()='Run with parameters']")).await.unwrap().click().await.unwrap();
    assert!(text_of(&c, "#parameters-error").await.starts_with("Not JSON"), "the page says why");
    assert_eq!(field.attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
    let unchecked: Value = c
        .execute(
            "const csrf = document.querySelector('input[name=csrf]').value;
             return fetch('/ui/configs/' + arguments[0] + '/run', {method: 'POST',
               body: new URLSearchParams({csrf: csrf, parameters: '{nope'})}).then(r => r.status);",
            vec![json!(nightly)],
        )
        .await
        .unwrap();
    assert_eq!(unchecked, 422, "the server checks too");
    field.clear().await.unwrap();
    field.send_keys("{\"report\": \"marketing\", \"day\": 3}").await.unwrap();
    c.find(Locator::XPath("//button[text()='Run with parameters']")).await.unwrap().click().await.unwrap();
    wait_for(&c, "the run's notice", |_, s| s.contains("with parameters (")).await;
    eventually("the run with parameters", Duration::from_secs(20), || async {
        server.records(&nightly).await.len() == before + 1
    })
    .await;
    let record = server.records(&nightly).await.remove(0);
    assert_eq!(record["parameters"], json!({"report": "marketing", "day": 3}), "{record}");
    shot(&c, &format!("config-run-with-parameters-{}", d.plan.kind())).await;
    c.goto(&format!("{origin}/ui/plugins")).await.unwrap();
    let source = wait_for(&c, "the plugins page", |_, s| s.contains("echo")).await;
    assert!(source.contains("fail") && source.contains("Reload"));
    shot(&c, &format!("plugins-{}", d.plan.kind())).await;
    c.goto(&format!("{origin}/ui/")).await.unwrap();
    wait_for(&c, "the overview", |_, s| s.contains("Last 24 hours")).await;
    shot(&c, &format!("overview-{}", d.plan.kind())).await;

    // Nothing left the taskbox origin.
    let elsewhere: Value = c
        .execute("return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith(location.origin));", vec![])
        .await
        .unwrap();
    assert_eq!(elsewhere, json!([]), "requests to other origins");

    // Log out: the pages are gone.
    c.find(Locator::XPath("//button[text()='Log out']")).await.unwrap().click().await.unwrap();
    wait_for(&c, "the login page", |p, _| p.ends_with("/ui/login")).await;
    c.goto(&format!("{origin}/ui/schedules")).await.unwrap();
    wait_for(&c, "still the login page", |p, _| p.ends_with("/ui/login")).await;

    // A viewer sees no action, and its POSTs are refused.
    log_in(&c, &origin, &viewer).await;
    c.goto(&format!("{origin}/ui/schedules")).await.unwrap();
    wait_for(&c, "the schedules page", |_, s| s.contains("nightly-report")).await;
    for action in ["Pause", "Resume", "Start", "Stop", "Run now"] {
        assert!(c.find(Locator::XPath(&format!("//button[text()='{action}']"))).await.is_err(), "a viewer sees no {action}");
    }
    let refused: Value = c
        .execute(
            "const csrf = document.querySelector('input[name=csrf]').value;
             return fetch('/ui/schedules/' + arguments[0] + '/resume', {method: 'POST',
               body: new URLSearchParams({csrf: csrf, back: '/ui/schedules'})}).then(r => r.status);",
            vec![json!(nightly)],
        )
        .await
        .unwrap();
    assert_eq!(refused, 403, "a viewer's POST");
    assert_eq!(server.get(&format!("/configs/{nightly}")).await.1["schedule_status"], "paused", "nothing changed");
    c.close().await.unwrap();
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_safe_and_refuse_what_they_should(d) {
    let plugins = PluginDir::new();
    plugins.add("echo", "echo");
    let server = serve(&d, &plugins, &[]);
    let origin = origin(&server);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // Not logged in: every page sends to the login page; a POST changes nothing.
    let page = http.get(format!("{origin}/ui/runs")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()["location"], "/ui/login");
    let login = http.get(format!("{origin}/ui/login")).send().await.unwrap();
    let headers = login.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    let cookie = headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let login_cookie = cookie.split(';').next().unwrap().to_owned();
    let csrf = login_cookie.split('=').nth(1).unwrap().to_owned();

    // A wrong token: 401 and no session; a login without its CSRF: 403.
    let wrong = http.post(format!("{origin}/ui/login")).header("cookie", &login_cookie)
        .form(&[("token", "tbx_wrong"), ("csrf", &csrf)]).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(!wrong.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("taskbox_session=") && !c.to_str().unwrap().starts_with("taskbox_session=;")));
    let forged = http.post(format!("{origin}/ui/login")).form(&[("token", SERVER_TOKEN), ("csrf", "forged")]).send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // A good login: a session cookie that expires, HttpOnly, SameSite=Strict.
    let ok = http.post(format!("{origin}/ui/login")).header("cookie", &login_cookie)
        .form(&[("token", SERVER_TOKEN), ("csrf", &csrf)]).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let session = ok.headers().get_all("set-cookie").iter().map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("taskbox_session=")).expect("a session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict") && session.contains("Max-Age=43200"), "{session}");
    assert!(!session.contains(SERVER_TOKEN), "the token is not the cookie");
    let session = session.split(';').next().unwrap().to_owned();

    // A form without the session's CSRF token is refused; nothing changes.
    let (_, config) = server.post("/configs", json!({"name": "c", "task_type": "echo", "scheduler_type": "cron",
        "schedule_config": {"cron_expression": "0 2 * * *"}})).await;
    let id = config["id"].as_str().unwrap();
    let forged = http.post(format!("{origin}/ui/schedules/{id}/start")).header("cookie", &session)
        .form(&[("csrf", "forged")]).send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.get(&format!("/configs/{id}")).await.1["schedule_status"], "inactive");

    // Bad filters are a 4xx page, never a 500; unknown ids a 404.
    for path in ["/ui/runs?outcome=maybe", "/ui/runs?since=yesterday", "/ui/schedules?status=sleepy", "/ui/runs?config_id=nope"] {
        let answer = http.get(format!("{origin}{path}")).header("cookie", &session).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path}");
    }
    for path in ["/ui/configs/nope", "/ui/runs/999999", "/ui/assets/nope.js"] {
        let answer = http.get(format!("{origin}{path}")).header("cookie", &session).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // Assets: long cache headers.
    let css = http.get(format!("{origin}/ui/assets/app.css")).send().await.unwrap();
    assert!(css.headers()["cache-control"].to_str().unwrap().contains("max-age=31536000"));
    // No token in the log.
    assert!(!server.log.lock().unwrap().iter().any(|l| l.contains(SERVER_TOKEN)));
    let _ = d;
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_run_is_drawn_as_a_graph_linking_to_its_runs(d) {
    let plugins = PluginDir::new();
    plugins.add("echo", "echo").add("fail", "fail");
    let server = serve(&d, &plugins, &[]);
    let origin = origin(&server);
    let id = server.create_id(json!({"name": "etl", "scheduler_type": "manual", "workflow": {"steps": [
        {"name": "extract", "task_type": "echo"},
        {"name": "transform", "task_type": "fail", "parents": ["extract"]},
        {"name": "load", "task_type": "echo", "parents": ["transform"]},
    ]}})).await;
    let run = server.run(&id).await;
    eventually("the workflow run fails", Duration::from_secs(30), || async {
        server.get(&format!("/workflow-runs/{run}")).await.1["status"] == "failed"
    })
    .await;
    let drv = driver();
    let c = browser(&drv).await;
    log_in(&c, &origin, SERVER_TOKEN).await;

    // The config page draws the definition.
    c.goto(&format!("{origin}/ui/configs/{id}")).await.unwrap();
    wait_for(&c, "the config's graph", |_, s| s.contains("svg class=\"graph\"")).await;
    for step in ["extract", "transform", "load"] {
        c.find(Locator::Css(&format!("svg.graph g.node[data-step={step}]"))).await.unwrap();
    }

    // The run's page: each step in its status, linking to its runs.
    c.goto(&format!("{origin}/ui/workflow-runs/{run}")).await.unwrap();
    wait_for(&c, "the workflow run's graph", |_, s| s.contains("svg class=\"graph\"")).await;
    for (step, status) in [("extract", "succeeded"), ("transform", "failed"), ("load", "skipped")] {
        c.find(Locator::Css(&format!("svg.graph g.node.{status}[data-step={step}]")))
            .await
            .unwrap_or_else(|_| panic!("{step} drawn as {status}"));
    }
    assert_eq!(c.find_all(Locator::Css("svg.graph path.edge")).await.unwrap().len(), 2, "an arrow per parent");
    shot(&c, &format!("workflow-run-{}", d.plan.kind())).await;
    c.find(Locator::Css("svg.graph a[href='#step-transform']")).await.unwrap().click().await.unwrap();
    c.find(Locator::Css("section#step-transform a[href^='/ui/runs/']")).await.unwrap().click().await.unwrap();
    wait_for(&c, "the step's run", |p, _| p.starts_with("/ui/runs/")).await;
    assert!(text_of(&c, "pre.error").await.contains("this task always fails"));
    c.find(Locator::LinkText("step transform of its workflow run")).await.unwrap().click().await.unwrap();
    wait_for(&c, "back on the workflow run", |p, _| p.starts_with("/ui/workflow-runs/")).await;

    // Retry from the failed steps: a new run that reuses extract.
    c.find(Locator::XPath("//button[text()='Retry from the failed steps']")).await.unwrap().click().await.unwrap();
    let page = wait_for(&c, "the retry's page", |_, s| s.contains("Queued a retry")).await;
    assert!(page.contains("reused from the run this one retries"), "extract is reused");
    c.close().await.unwrap();
}
}
