//! What goes into a run and what comes out of it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;

/// Defaults when neither the caller nor the plugin's sidecar says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_MEMORY_MB: u64 = 128;
pub const DEFAULT_MAX_OUTPUT_KB: u64 = 64;

/// Who this run is, as the guest sees it through its `context`.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub config_id: String,
    pub execution_id: String,
    pub attempt: u32,
    pub scheduled_at: DateTime<Utc>,
}

impl RunContext {
    /// A one-off run that belongs to no config (`taskbox run`).
    pub fn ad_hoc() -> Self {
        Self {
            config_id: String::new(),
            execution_id: new_execution_id(),
            attempt: 1,
            scheduled_at: Utc::now(),
        }
    }
}

/// A fresh execution id (a UUID v4).
pub fn new_execution_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Per-run limits, resolved by the caller: request, then sidecar, then defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub timeout: Duration,
    pub memory_bytes: u64,
    /// Bound on each of stdout, stderr and the log lines, and on the result.
    pub max_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            memory_bytes: DEFAULT_MEMORY_MB << 20,
            max_output_bytes: (DEFAULT_MAX_OUTPUT_KB << 10) as usize,
        }
    }
}

/// One execution to run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub context: RunContext,
    /// The config's parameters, as JSON text.
    pub params: String,
    pub limits: Limits,
    pub doors: Doors,
}

/// What the caller opens for this run beyond the plugin's code: the
/// key-value store its granted buckets live in, and the values of its
/// granted secrets (delivered as environment variables, redacted from
/// everything the run leaves behind).
#[derive(Clone, Default)]
pub struct Doors {
    pub kv: Option<std::sync::Arc<dyn crate::contract::kv::KeyValue>>,
    /// (name, value) of each secret the sidecar grants.
    pub secrets: Vec<(String, String)>,
}

impl std::fmt::Debug for Doors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: a value must never reach a log line.
        let names: Vec<&str> = self.secrets.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Doors").field("kv", &self.kv.is_some()).field("secrets", &names).finish()
    }
}

/// How a run ended: the fields an execution record stores.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub is_success: bool,
    /// The guest's result: its JSON, or its text as a JSON string.
    pub result: Option<serde_json::Value>,
    pub error_message: Option<String>,
    pub logs: String,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub duration_seconds: f64,
    pub plugin_digest: String,
    /// Stopped on request (by whom); its error is then "cancelled".
    pub cancelled_by: Option<String>,
}

/// The error message of a cancelled run.
pub const CANCELLED: &str = "cancelled";

/// The guest's result text as JSON: parsed if it is JSON, else a JSON string.
pub(crate) fn result_json(text: &str) -> serde_json::Value {
    let trimmed = text.trim();
    serde_json::from_str(trimmed).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}
