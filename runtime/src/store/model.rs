//! The records the config store keeps: task configs and execution records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use crate::contract::job::workflow::{Step, Workflow};
pub use crate::contract::job::{Concurrency, NotifyOn, RateLimit, SchedulerType, Trigger};
use crate::support::text_enum::text_enum;

pub use super::hooks::{Notify, NotifyView, Webhook, WebhookView};

/// A task config: the static definition of a task (also the row both
/// databases store: JSON is JSONB on PostgreSQL, TEXT on SQLite, and sqlx
/// decodes either into a `serde_json::Value`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct TaskConfig {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub task_type: String,
    #[sqlx(try_from = "String")]
    pub scheduler_type: SchedulerType,
    pub schedule_config: serde_json::Value,
    pub parameters: serde_json::Value,
    pub max_retries: i32,
    /// `None`: the plugin's sidecar default, then the global default.
    pub timeout_seconds: Option<f64>,
    pub priority: i32,
    pub misfire_grace_seconds: i32,
    #[sqlx(try_from = "String")]
    pub concurrency: Concurrency,
    /// Runs exactly this version of the plugin (a digest from
    /// `GET /plugins/{task_type}/versions`) whatever is current; `None`
    /// follows the current version.
    pub plugin_digest: Option<String>,
    /// Short labels to find and act on configs by (`?tag=`, bulk actions).
    #[sqlx(json)]
    pub tags: Vec<String>,
    /// Runs of this config in flight at once, fleet-wide (`None`: no limit).
    pub max_concurrency: Option<i32>,
    /// Runs of this config that may start per window, fleet-wide.
    #[sqlx(json(nullable))]
    pub rate_limit: Option<RateLimit>,
    /// The worker group its runs go to (`None`: its task type's, else
    /// `default`).
    pub worker_group: Option<String>,
    /// Where to report outcomes. Answers show whether a secret is set,
    /// never the secret.
    #[sqlx(json(nullable))]
    #[serde(serialize_with = "Notify::serialize_public")]
    #[schema(value_type = Option<NotifyView>)]
    pub notify: Option<Notify>,
    /// Signed deliveries to `POST /hooks/{id}` run the config. Answers show
    /// whether a secret is set, never the secret.
    #[sqlx(json(nullable))]
    #[serde(serialize_with = "Webhook::serialize_public")]
    #[schema(value_type = Option<WebhookView>)]
    pub webhook: Option<Webhook>,
    /// A workflow config's steps (its `task_type` is then empty).
    #[sqlx(json(nullable))]
    pub workflow: Option<Workflow>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The fields a client sets when creating a config (also the API's request
/// body: unknown fields are refused; absent ones take these defaults).
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConfig {
    // The bounds in the schema are those `api::configs` enforces.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub description: String,
    /// A loaded plugin's name (`GET /plugins`); leave it out for a
    /// workflow.
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9_-]+$")]
    pub task_type: Option<String>,
    pub scheduler_type: SchedulerType,
    #[serde(default)]
    pub schedule_config: serde_json::Value,
    #[serde(default = "empty_object")]
    pub parameters: serde_json::Value,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100)]
    pub max_retries: i32,
    #[schema(minimum = 0.01, maximum = 604800)]
    pub timeout_seconds: Option<f64>,
    #[serde(default)]
    pub priority: i32,
    #[serde(default = "default_grace")]
    #[schema(minimum = 0, maximum = 86400)]
    pub misfire_grace_seconds: i32,
    #[serde(default)]
    pub concurrency: Concurrency,
    /// Pin the config to this version of its plugin (a sha256 digest from
    /// `GET /plugins/{task_type}/versions`); absent: follow the current one.
    #[serde(default)]
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub plugin_digest: Option<String>,
    /// Up to 20 labels of 1 to 64 characters (letters, digits, `_ - . : /`).
    #[serde(default)]
    #[schema(max_items = 20)]
    pub tags: Vec<String>,
    /// Runs in flight at once, fleet-wide; more wait in the queue in order.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10000)]
    pub max_concurrency: Option<i32>,
    /// At most `max` runs start in any `per_seconds`, fleet-wide; more
    /// wait in order.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Only workers of this group (`TASKBOX_WORKER_GROUPS`) take its runs;
    /// absent: its task type's group, else `default`.
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    pub worker_group: Option<String>,
    #[serde(default)]
    pub notify: Option<Notify>,
    #[serde(default)]
    pub webhook: Option<Webhook>,
    /// Steps to run instead of one task type (leave `task_type` out).
    #[serde(default)]
    pub workflow: Option<Workflow>,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

fn default_grace() -> i32 {
    60
}

impl NewConfig {
    /// A manual config with defaults, for tests and examples.
    pub fn manual(name: &str, task_type: &str) -> Self {
        Self {
            name: name.to_owned(),
            description: String::new(),
            task_type: Some(task_type.to_owned()),
            scheduler_type: SchedulerType::Manual,
            schedule_config: serde_json::json!({}),
            parameters: empty_object(),
            max_retries: 0,
            timeout_seconds: None,
            priority: 0,
            misfire_grace_seconds: default_grace(),
            concurrency: Concurrency::Allow,
            plugin_digest: None,
            tags: Vec::new(),
            max_concurrency: None,
            rate_limit: None,
            worker_group: None,
            notify: None,
            webhook: None,
            workflow: None,
        }
    }

    /// The config as it would be stored (nil id, times now), to validate.
    pub fn preview(&self) -> TaskConfig {
        let now = Utc::now();
        TaskConfig {
            id: Uuid::nil(),
            name: self.name.clone(),
            description: self.description.clone(),
            task_type: self.task_type.clone().unwrap_or_default(),
            scheduler_type: self.scheduler_type,
            schedule_config: self.schedule_config.clone(),
            parameters: self.parameters.clone(),
            max_retries: self.max_retries,
            timeout_seconds: self.timeout_seconds,
            priority: self.priority,
            misfire_grace_seconds: self.misfire_grace_seconds,
            concurrency: self.concurrency,
            plugin_digest: self.plugin_digest.clone(),
            tags: self.tags.clone(),
            max_concurrency: self.max_concurrency,
            rate_limit: self.rate_limit,
            worker_group: self.worker_group.clone(),
            notify: self.notify.clone(),
            webhook: self.webhook.clone(),
            workflow: self.workflow.clone(),
            created_at: now,
            updated_at: now,
        }
    }
}

/// Filters for listing configs; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct ConfigFilter {
    pub task_type: Option<String>,
    pub scheduler_type: Option<SchedulerType>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// Carries this tag.
    pub tag: Option<String>,
}

/// A page of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub offset: u32,
}

impl Default for Page {
    fn default() -> Self {
        Self { limit: 50, offset: 0 }
    }
}

/// One attempt of one execution, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct ExecutionRecord {
    pub config_id: Option<Uuid>,
    pub execution_id: Uuid,
    pub attempt: i32,
    #[sqlx(try_from = "String")]
    pub trigger: Trigger,
    pub task_type: String,
    pub scheduled_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub duration_seconds: f64,
    pub is_success: bool,
    pub result: Option<serde_json::Value>,
    pub error_message: Option<String>,
    pub logs: String,
    pub plugin_digest: Option<String>,
    pub worker: String,
    /// The parameters the run was given (the config's may change later).
    pub parameters: Option<serde_json::Value>,
    /// The deadline the run had, in seconds.
    pub timeout_seconds: Option<f64>,
    /// Who cancelled the run (`token <name>`, or the overlap policy that
    /// replaced it); its error is then "cancelled".
    #[serde(default)]
    pub cancelled_by: Option<String>,
    /// The workflow run this record belongs to: a step run's (with `step`
    /// set), or the workflow run's own record (its own id, no `step`).
    #[serde(default)]
    pub workflow_execution_id: Option<Uuid>,
    /// The step of a workflow run this record is a run of.
    #[serde(default)]
    pub step: Option<String>,
    /// The element of a `for_each` step this run was given (from 0).
    #[serde(default)]
    pub step_index: Option<i32>,
}

/// A stored record with its row id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct StoredExecution {
    pub id: i64,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub record: ExecutionRecord,
}

/// Filters for listing executions; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    pub config_id: Option<Uuid>,
    pub is_success: Option<bool>,
    /// Started at or after.
    pub since: Option<DateTime<Utc>>,
    /// The step runs of this workflow run; `None`: runs only (a workflow
    /// run is one, by its own record; its steps are left out).
    pub workflow_execution_id: Option<Uuid>,
}

/// Execution statistics for one config or for all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionStats {
    pub total: i64,
    pub successes: i64,
    pub failures: i64,
    /// successes / total, 0 when there are none.
    pub success_rate: f64,
    pub avg_duration_seconds: Option<f64>,
    pub p95_duration_seconds: Option<f64>,
    pub last_run_at: Option<DateTime<Utc>>,
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenRole {
    /// Everything.
    Admin,
    /// Read-only (GET).
    Viewer,
}

text_enum!(TokenRole { Admin = "admin", Viewer = "viewer" });

/// A stored API token (never the token itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub role: TokenRole,
    pub created_at: DateTime<Utc>,
}
