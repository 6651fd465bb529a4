//! The API as the command line's remote commands see it (`plugin push`,
//! `replay --server`): a base URL and a bearer token, JSON answers, and an
//! error answer turned into its message.

use clap::Args;
use serde::de::DeserializeOwned;

/// Where the API is and who is asking.
#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// The server's address (`http://host:port`, with or without `/api/v1`).
    #[arg(long, env = "TASKBOX_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// An API token (admin to push; a viewer's is enough to replay).
    #[arg(long, env = "TASKBOX_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// A request that did not get a 2xx answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("cannot reach {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    /// The server answered with an error: its status and message.
    #[error("{status}: {message}")]
    Refused { status: reqwest::StatusCode, message: String },
    #[error("unexpected answer from {url}: {source}")]
    Unreadable { url: String, source: reqwest::Error },
}

pub(crate) struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(args: &ServerArgs) -> Self {
        let base = args.server.trim_end_matches('/');
        let base = match base.ends_with("/api/v1") {
            true => base.to_owned(),
            false => format!("{base}/api/v1"),
        };
        Self { base, token: args.token.clone(), http: reqwest::Client::new() }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends `request`; the answer if it is a 2xx.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, CallError> {
        let url = self.base.clone();
        let response = request.send().await.map_err(|source| CallError::Unreachable { url, source })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or(text);
        Err(CallError::Refused { status, message })
    }

    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, CallError> {
        let response = self.send(self.request(reqwest::Method::GET, path)).await?;
        response.json().await.map_err(|source| CallError::Unreadable { url: self.base.clone(), source })
    }

    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, CallError> {
        let response = self.send(self.request(reqwest::Method::GET, path)).await?;
        let bytes = response.bytes().await;
        bytes.map(|b| b.to_vec()).map_err(|source| CallError::Unreadable { url: self.base.clone(), source })
    }
}
