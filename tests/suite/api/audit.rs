//! The audit log: every change made through the API, the dashboard or the
//! CLI appends an event naming who did what to what; a refused request
//! writes nothing; a summary never holds a secret; only admins read it.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

async fn events(api: &Api, query: &str) -> Vec<Value> {
    let (status, body) = api.get(&format!("/audit{query}")).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_audited_and_refusals_write_nothing(d) {
    let server = serve_plugins(&d, &["echo"], &[]);
    let api = &server.api;
    assert!(events(api, "").await.is_empty(), "a new deployment has no events");
    // Refused requests: nothing is written.
    let (status, _) = api.post("/configs", json!({"name": "", "task_type": "echo", "scheduler_type": "manual"})).await;
    assert_eq!(status, 422);
    let (status, _) = api.post(&format!("/configs/{}/run", uuid::Uuid::new_v4()), json!({})).await;
    assert_eq!(status, 404);
    assert!(events(api, "").await.is_empty(), "a refused request writes nothing");

    let id = api.create_id(json!({"name": "audited", "task_type": "echo", "scheduler_type": "cron",
        "schedule_config": {"cron_expression": "0 3 * * *"}})).await;
    let (status, _) = api.call(Method::PATCH, &format!("/configs/{id}"), Some(json!({"description": "x"}))).await;
    assert_eq!(status, 200);
    let run = api.run(&id).await;
    let (status, _) = api.post(&format!("/schedules/{id}/start"), json!({})).await;
    assert_eq!(status, 200);
    let secret = "s3cr3t-value-that-must-not-leak";
    let (status, body) = api.call(Method::PUT, "/secrets/SLACK_TOKEN", Some(json!({"value": secret}))).await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = api.call(Method::DELETE, "/secrets/SLACK_TOKEN", None).await;
    assert_eq!(status, 204);
    let (status, _) = api.call(Method::DELETE, &format!("/configs/{id}"), None).await;
    assert_eq!(status, 204);

    let all = events(api, "").await;
    let seen: Vec<(&str, &str)> =
        all.iter().rev().map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap())).collect();
    let config = format!("config:{id}");
    assert_eq!(seen, vec![
        ("config.create", config.as_str()),
        ("config.update", config.as_str()),
        ("run.start", config.as_str()),
        ("schedule.start", config.as_str()),
        ("secret.set", "secret:SLACK_TOKEN"),
        ("secret.delete", "secret:SLACK_TOKEN"),
        ("config.delete", config.as_str()),
    ], "{all:#?}");
    for e in &all {
        assert_eq!(e["actor"], "admin token", "{e}");
        assert!(e["at"].as_str().is_some() && e["summary"].as_str().is_some(), "{e}");
        assert!(!e.to_string().contains(secret), "a summary holds the secret: {e}");
    }
    assert!(all.iter().any(|e| e["summary"].as_str().unwrap().contains("/run")), "{run}: {all:#?}");
    // Filters.
    assert_eq!(events(api, "?action=secret.set").await.len(), 1);
    assert_eq!(events(api, &format!("?target={config}")).await.len(), 5);
    assert_eq!(events(api, "?actor=admin%20token&limit=2").await.len(), 2);
    assert!(events(api, "?actor=nobody").await.is_empty());
    assert!(events(api, "?since=2999-01-01T00:00:00Z").await.is_empty());
    let (status, body) = api.get("/audit?limit=0").await;
    assert_eq!(status, 422, "{body}");

    // The CLI's token changes are audited too, as `cli`.
    let database = d.serve_env().into_iter().find(|(k, _)| *k == "TASKBOX_DATABASE_URL").unwrap().1;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .args(["token", "create", "--name", "ci-bot", "--role", "viewer"])
        .env("TASKBOX_DATABASE_URL", &database)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let viewer = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let created = events(api, "?action=token.create").await;
    assert_eq!((created[0]["actor"].as_str(), created[0]["target"].as_str()), (Some("cli"), Some("token:ci-bot")));
    let mut set = std::process::Command::new(env!("CARGO_BIN_EXE_taskbox"))
        .args(["secret", "set", "FROM_CLI"])
        .env("TASKBOX_DATABASE_URL", &database)
        .env("TASKBOX_SECRET_KEY_FILE", std::env::temp_dir().join("taskbox-tests.key"))
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut set.stdin.take().unwrap(), secret.as_bytes()).unwrap();
    let out = set.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stored = events(api, "?action=secret.set&actor=cli").await;
    assert_eq!(stored[0]["target"], "secret:FROM_CLI", "{stored:?}");
    assert!(!stored[0].to_string().contains(secret), "{stored:?}");

    // Only admins read the log.
    let as_viewer = Api::new(api.base.clone(), &viewer);
    let (status, body) = as_viewer.get("/audit").await;
    assert_eq!(status, 403, "{body}");

    // The dashboard's changes are audited, and its Audit page shows the log.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let origin = server.root_url("");
    let (session, csrf) = crate::hardening::pages::log_in(&http, &origin).await;
    let id = api.create_id(json!({"name": "from-ui", "task_type": "echo", "scheduler_type": "manual"})).await;
    let done = http
        .post(format!("{origin}/ui/schedules/{id}/run"))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(done.status().is_success() || done.status().is_redirection(), "{}", done.status());
    let from_ui = events(api, &format!("?target=config:{id}&action=run.start")).await;
    assert_eq!(from_ui.len(), 1, "{from_ui:?}");
    assert_eq!(from_ui[0]["actor"], "dashboard (admin session)");
    let page = http.get(format!("{origin}/ui/audit")).header("cookie", &session).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains("secret.set") && page.contains("config.create"), "{page}");
}
}
