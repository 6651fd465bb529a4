//! What an outside probe of both deployments found, one test each: input
//! that must be refused with a 4xx naming the field (and store nothing),
//! a decision not to start that must survive a restart, and `/metrics`
//! labels a client must not be able to grow.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use taskbox::engine::scheduler::SchedulerService;

use crate::support::*;

fn manual(name: &str) -> Value {
    json!({"name": name, "task_type": "echo", "scheduler_type": "manual"})
}

fn cron(name: &str, expr: &str) -> Value {
    json!({"name": name, "task_type": "echo", "scheduler_type": "cron", "schedule_config": {"cron_expression": expr}})
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_character_is_refused_naming_its_field_on_create_and_patch(d) {
    let app = spawn_app(d).await;
    let mut with_nul_params = manual("p");
    with_nul_params["parameters"] = json!({"deep": ["ok", {"x\u{0}y": 1}]});
    let mut with_nul_description = manual("d");
    with_nul_description["description"] = json!("a\u{0}b");
    let cases = [(manual("a\u{0}b"), "name"), (with_nul_description, "description"), (with_nul_params, "parameters")];
    for (body, field) in cases {
        let (status, answer) = app.post("/configs", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {answer}");
        assert_eq!(error_code(&answer), "validation_error");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{field}:")) && message.contains("NUL"), "{message}");
    }
    let (_, list) = app.get("/configs").await;
    assert_eq!(list["total"], 0, "nothing was stored");
    // In a query string too (PostgreSQL answered 500 to the name filter).
    for query in ["/configs?name=a%00b", "/configs?task_type=%00", "/executions?config_id=%00"] {
        let (status, answer) = app.get(query).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {answer}");
    }

    let created = app.create(manual("clean")).await;
    let id = created["id"].as_str().unwrap();
    let (status, answer) =
        app.call(Method::PATCH, &format!("/configs/{id}"), Some(json!({"parameters": {"k": "\u{0}"}}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let (_, unchanged) = app.get(&format!("/configs/{id}")).await;
    assert_eq!(unchanged["parameters"], json!({}), "the refused patch changed nothing");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_that_can_never_fire_is_refused_on_create_and_patch(d) {
    let app = spawn_app(d).await;
    // 30 February: a valid cron expression with no fire time in any year.
    let (status, answer) = app.post("/configs?auto_start=true", cron("feb30", "0 0 30 2 *")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("never fires"), "{answer}");
    let (_, list) = app.get("/configs").await;
    assert_eq!(list["total"], 0, "nothing was stored");

    let created = app.create(cron("daily", "0 3 * * *")).await;
    let id = created["id"].as_str().unwrap();
    let patch = json!({"schedule_config": {"cron_expression": "0 0 31 4 *"}});
    let (status, answer) = app.call(Method::PATCH, &format!("/configs/{id}"), Some(patch)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_created_with_auto_start_false_stays_inactive_after_a_restart(d) {
    let app = spawn_app(d).await;
    let decided = app.create(cron("not-yet", "* * * * * *")).await;
    assert_eq!(decided["schedule_status"], "inactive");
    // A config nobody decided on (inserted by hand in SQL) has no state.
    let mut by_hand = taskbox::store::NewConfig::manual("by-hand", "echo");
    by_hand.scheduler_type = taskbox::store::SchedulerType::Cron;
    by_hand.schedule_config = json!({"cron_expression": "* * * * * *"});
    let by_hand = app.d.store.create_config(by_hand).await.unwrap();

    // What a restart does before anything else: reconciliation.
    let service = SchedulerService::new(app.d.store.clone(), app.d.schedule.clone());
    let done = service.reconcile().await.unwrap();
    assert_eq!(done.started, 1, "only the config nobody decided on is started");

    let id = decided["id"].as_str().unwrap();
    let (_, after) = app.get(&format!("/configs/{id}")).await;
    assert_eq!((after["schedule_status"].as_str(), after["is_scheduled"].as_bool()), (Some("inactive"), Some(false)));
    let (_, started) = app.get(&format!("/configs/{}", by_hand.id)).await;
    assert_eq!(started["schedule_status"], "active");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_labels_stay_a_known_set_whatever_clients_send(d) {
    let app = spawn_app(d).await;
    for i in 0..20 {
        let method = Method::from_bytes(format!("FOOBAR{i}").as_bytes()).unwrap();
        let _ = app.client.request(method, format!("{}/configs", app.base)).send().await.unwrap();
        let _ = app.client.get(format!("{}/no/such/route/{i}", app.base)).send().await.unwrap();
    }
    let text = app.client.get(app.root_url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("FOOBAR"), "a made-up method became a label");
    assert!(!text.contains("/no/such/route"), "an unmatched path became a label");
    assert!(text.contains(r#"method="other""#) && text.contains(r#"route="unmatched""#), "{text}");
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_odd_requests_in_its_error_shape_and_bounds_what_it_takes(d) {
    let app = spawn_app(d).await;
    // An unsupported method on a real route: 405 in the one error shape.
    let put = app.client.put(format!("{}/configs", app.base)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&put.json().await.unwrap()), "method_not_allowed");
    // The auth scheme is case-insensitive.
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let answer = app
            .client
            .get(format!("{}/configs", app.base))
            .header("authorization", format!("{scheme}  {}", TOKEN))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{scheme}");
    }
    // A deadline no run could keep.
    let mut tiny = manual("tiny");
    tiny["timeout_seconds"] = json!(1e-12);
    let (status, answer) = app.post("/configs", tiny).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    // A 10 KB cron is refused without being echoed back.
    let (status, answer) = app.post("/configs", cron("long", &"1,".repeat(5_000))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let text = answer.to_string();
    assert!(text.len() < 500, "the refusal echoes the input: {} bytes: {}", text.len(), &text[..300]);
    let (_, list) = app.get("/configs").await;
    assert_eq!(list["total"], 0, "nothing was stored");

    // What the document says is what the server takes.
    let (status, _) = app.get("/configs?offset=2147483648").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "offset is documented as int32");
    let spec: Value = app.client.get(app.root_url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let params = spec["paths"]["/api/v1/configs"]["get"]["parameters"].as_array().unwrap().clone();
    let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!((limit["schema"]["minimum"].as_f64(), limit["schema"]["maximum"].as_f64()), (Some(1.0), Some(500.0)));
    let new_config = &spec["components"]["schemas"]["NewConfig"]["properties"];
    assert_eq!(new_config["max_retries"]["maximum"].as_f64(), Some(100.0), "{new_config}");
    assert_eq!(new_config["misfire_grace_seconds"]["maximum"].as_f64(), Some(86400.0));
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_schemathesis_found_is_refused_as_documented(d) {
    let app = spawn_app(d).await;
    let created = app.create(manual("target")).await;
    let id = created["id"].as_str().unwrap();
    // Look-backs and history pages outside their documented bounds are
    // 422s (`hours=0` was clamped to 1; a huge history limit was a serde
    // message about the target type).
    for query in [
        "/executions/recent?hours=0".to_owned(),
        "/executions/failed?hours=8761".to_owned(),
        format!("/schedules/{id}/history?limit=0"),
        format!("/schedules/{id}/history?limit=101"),
    ] {
        let (status, answer) = app.get(&query).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("hours:") || message.starts_with("limit:"), "{message}");
    }
    let (status, _) = app.get(&format!("/schedules/{id}/history?limit=100")).await;
    assert_eq!(status, StatusCode::OK);

    // Every protected operation documents its 422, and every one that
    // takes a body documents the 400 a body without JSON gets.
    let spec: Value = app.client.get(app.root_url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    for (path, item) in spec["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/") || path == "/api/v1/system/health" {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            assert!(op["responses"].get("422").is_some(), "{method} {path} documents no 422");
            if op.get("requestBody").is_some() {
                assert!(op["responses"].get("400").is_some(), "{method} {path} documents no 400");
            }
        }
    }
    let no_json = app.client.post(format!("{}/configs", app.base)).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(no_json.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&no_json.json().await.unwrap()), "bad_request");
    let task_type = &spec["components"]["schemas"]["NewConfig"]["properties"]["task_type"];
    assert_eq!(task_type["pattern"], "^[a-z0-9_-]+$", "{task_type}");
}
}
