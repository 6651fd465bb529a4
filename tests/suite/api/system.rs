//! The shapes of lists, plugins, system answers and `/metrics`, and the
//! OpenAPI document against the router.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

use crate::support::*;

use super::ROUTES;

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_plugins_and_system_answer_in_their_shapes(d) {
    let app = spawn_app(d).await;
    for i in 0..3 {
        app.create(json!({"name": format!("m{i}"), "task_type": "fail", "scheduler_type": "manual"})).await;
    }
    let (_, page) = app.get("/configs?limit=2&offset=1").await;
    assert_eq!(
        (page["total"].as_u64(), page["limit"].as_u64(), page["offset"].as_u64()),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let id = page["items"][0]["id"].as_str().unwrap().to_owned();
    app.post(&format!("/configs/{id}/run"), json!({})).await;
    eventually("a failed run", Duration::from_secs(10), || async {
        app.get("/executions/failed").await.1["total"] == 1
    })
    .await;
    assert_eq!(app.get("/executions/recent").await.1["total"], 1);
    let (_, stats) = app.get("/executions/stats").await;
    assert_eq!((stats["total"].as_i64(), stats["failures"].as_i64()), (Some(1), Some(1)));
    assert_eq!(app.call(Method::DELETE, "/executions?older_than_days=1", None).await.1["deleted"], 0);
    assert_eq!(
        app.call(Method::DELETE, "/executions?older_than_days=0", None).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let (_, plugins) = app.get("/plugins").await;
    assert_eq!(plugins.as_array().unwrap().len(), 3);
    let (status, echo) = app.get("/plugins/echo").await;
    assert_eq!((status, echo["shape"].as_str()), (StatusCode::OK, Some("task")));
    assert_eq!(echo["digest"].as_str().map(str::len), Some(64));
    assert_eq!(app.get("/plugins/nope").await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.post("/plugins/reload", json!({})).await.0, StatusCode::OK);

    let (_, enums) = app.get("/system/enums").await;
    assert_eq!(enums["task_types"], json!(["echo", "fail", "sleep"]));
    assert_eq!(enums["schedule_statuses"], json!(["inactive", "active", "paused", "error"]));
    let (_, status) = app.get("/system/status").await;
    assert_eq!(status["backend"], app.d.plan.kind());
    assert_eq!(status["workers"].as_array().map(Vec::len), Some(1), "its worker, by its heartbeat: {status}");
    let (status, dashboard) = app.get("/system/dashboard").await;
    assert_eq!(status, StatusCode::OK, "{dashboard}");
    assert_eq!(
        (dashboard["last_24h"]["total"].as_i64(), dashboard["last_24h"]["success_rate"].as_f64()),
        (Some(1), Some(0.0))
    );
    assert_eq!(dashboard["recent_failures"].as_array().unwrap().len(), 1);
    assert_eq!(dashboard["schedules"]["inactive"], 0);

    // /metrics needs no token and speaks Prometheus text.
    let metrics = app.client.get(app.root_url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.unwrap();
    for name in [
        "taskbox_runs_total",
        "taskbox_run_duration_seconds_bucket",
        "taskbox_queue_depth",
        "taskbox_plugins_loaded",
        "taskbox_http_requests_total",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    assert!(text.contains("route=\"/api/v1/configs\""), "{text}");
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_describes_every_route_and_the_docs_work_offline() {
    let app = spawn_app(Deployment::new(Kind::Embedded).await).await;
    let root = app.root_url("");
    let spec = app.client.get(format!("{root}/openapi.json")).send().await.unwrap();
    assert_eq!(spec.status(), StatusCode::OK, "no token needed");
    let spec: Value = spec.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."), "{spec}");
    let mut documented = std::collections::BTreeSet::new();
    let mut operation_ids = std::collections::BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap().iter().filter(|(k, _)| *k != "parameters") {
            documented.insert((method.to_uppercase(), path.clone()));
            // OpenAPI: operationIds are unique (client generators name methods by them).
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(operation_ids.insert(id.clone()), "operationId {id:?} of {method} {path} is taken");
        }
    }
    let mut routed: std::collections::BTreeSet<(String, String)> =
        ROUTES.iter().map(|(m, p)| (m.to_string(), format!("/api/v1{p}"))).collect();
    routed.insert(("GET".into(), "/api/v1/system/health".into()));
    routed.insert(("POST".into(), "/api/v1/hooks/{config_id}".into()));
    routed.insert(("GET".into(), "/metrics".into()));
    assert_eq!(documented, routed, "/openapi.json and the router disagree");
    // Request and response shapes are described, with the error shape.
    let create = &spec["paths"]["/api/v1/configs"]["post"];
    assert!(create["requestBody"].is_object() && create["responses"]["422"].is_object(), "{create}");
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    for name in ["NewConfig", "ConfigPatch", "ConfigView", "StoredExecution", "ErrorBody", "PluginInfo"] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    // Every protected operation documents the answers any of them can give.
    for (path, item) in spec["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/")
            || path == "/api/v1/system/health"
            || path.starts_with("/api/v1/hooks/")
        {
            continue;
        }
        let methods = ["get", "put", "post", "delete", "patch"];
        for (method, operation) in
            item.as_object().unwrap().iter().filter(|(m, _)| methods.contains(&m.as_str()))
        {
            for status in ["401", "403", "413", "503"] {
                assert!(
                    operation["responses"][status].is_object(),
                    "{method} {path} does not document {status}"
                );
            }
        }
    }

    // Swagger UI, its assets served by taskbox itself (no CDN).
    let docs = app.client.get(format!("{root}/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    let html = docs.text().await.unwrap();
    assert!(html.contains("swagger-ui") && !html.contains("https://"), "{html}");
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-initializer.js"] {
        let got = app.client.get(format!("{root}/docs/{asset}")).send().await.unwrap();
        assert_eq!(got.status(), StatusCode::OK, "{asset}");
        let text = got.text().await.unwrap();
        if asset == "swagger-initializer.js" {
            assert!(text.contains("/openapi.json"), "{text}");
        }
    }
}
