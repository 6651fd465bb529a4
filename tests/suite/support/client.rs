//! A client of one taskbox API with its admin token: the calls every test
//! makes (a request and its JSON answer, create a config, run one, its
//! records, one run's record, its history). Both ways a test runs taskbox
//! (`TestApp` in-process, `Server` as a process) hand out one.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

use super::poll::eventually;

#[derive(Clone)]
pub struct Api {
    /// `http://127.0.0.1:port/api/v1`
    pub base: String,
    pub client: reqwest::Client,
    pub token: String,
}

impl Api {
    pub fn new(base: String, token: &str) -> Self {
        Self { base, client: reqwest::Client::new(), token: token.to_owned() }
    }

    /// `path` under the API's base.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `path` beside the API (`/metrics`, `/ui/…`, `/openapi.json`).
    pub fn root_url(&self, path: &str) -> String {
        format!("{}{path}", self.base.trim_end_matches("/api/v1"))
    }

    /// One request with the token; the status and the JSON answer (`null`
    /// for an empty body).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    /// `PUT /plugins/{name}` with `body` (and a sidecar's text, if any,
    /// in its header as base64).
    pub async fn upload(&self, name: &str, body: Vec<u8>, sidecar: Option<&str>) -> (StatusCode, Value) {
        use base64::Engine;
        let mut request = self
            .client
            .put(self.url(&format!("/plugins/{name}")))
            .bearer_auth(&self.token)
            .header("content-type", "application/wasm")
            .body(body);
        if let Some(text) = sidecar {
            request =
                request.header("taskbox-sidecar", base64::engine::general_purpose::STANDARD.encode(text));
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Creates a config, which must be created; its answer.
    pub async fn create(&self, body: Value) -> Value {
        let (status, config) = self.post("/configs", body).await;
        assert_eq!(status, StatusCode::CREATED, "{config}");
        config
    }

    /// Creates a config, which must be created; its id.
    pub async fn create_id(&self, body: Value) -> String {
        self.create(body).await["id"].as_str().unwrap().to_owned()
    }

    /// Queues a run of config `id`, which must be accepted; its execution id.
    pub async fn run(&self, id: &str) -> String {
        let (status, queued) = self.post(&format!("/configs/{id}/run"), json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
        queued["execution_id"].as_str().unwrap().to_owned()
    }

    /// The records of config `id`, newest first (up to 500).
    pub async fn records(&self, id: &str) -> Vec<Value> {
        let (status, list) = self.get(&format!("/executions?config_id={id}&limit=500")).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list["items"].as_array().unwrap().clone()
    }

    /// The record of the run `execution_id` (its newest attempt), waited
    /// for up to `within`.
    pub async fn record_of(&self, execution_id: &str, within: Duration) -> Value {
        let found = std::cell::RefCell::new(Value::Null);
        eventually(&format!("a record of {execution_id}"), within, || async {
            let (_, list) = self.get("/executions?limit=500").await;
            let items = list["items"].as_array().cloned().unwrap_or_default();
            let record = items.into_iter().find(|r| r["execution_id"] == execution_id);
            record.map(|r| *found.borrow_mut() = r).is_some()
        })
        .await;
        found.into_inner()
    }

    /// Runs config `id` now and waits (up to `within`) for its one record.
    pub async fn run_and_wait(&self, id: &str, within: Duration) -> Value {
        let execution_id = self.run(id).await;
        self.record_of(&execution_id, within).await
    }

    /// Config `id`'s schedule history, newest first.
    pub async fn history(&self, id: &str) -> Vec<Value> {
        let (status, events) = self.get(&format!("/schedules/{id}/history")).await;
        assert_eq!(status, StatusCode::OK, "{events}");
        events.as_array().unwrap().clone()
    }
}

/// The `code` of an error answer.
pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {body}"))
}
