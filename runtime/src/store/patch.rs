//! A partial update of a task config: what `PATCH /configs/{id}` takes,
//! and how it applies to the stored config.

use serde::Deserialize;
use utoipa::ToSchema;

use super::model::{Concurrency, Notify, RateLimit, SchedulerType, TaskConfig, Webhook, Workflow};

/// A partial update: `None` (an absent field) leaves a field as it is (also
/// the API's request body; `"timeout_seconds": null` clears the timeout,
/// and `null` for a field that must have a value is refused).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    #[schema(min_length = 1, max_length = 200)]
    #[serde(default, deserialize_with = "not_null")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    #[schema(pattern = "^[a-z0-9_-]+$")]
    #[serde(default, deserialize_with = "not_null")]
    pub task_type: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub scheduler_type: Option<SchedulerType>,
    #[serde(default, deserialize_with = "not_null")]
    pub schedule_config: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "not_null")]
    pub parameters: Option<serde_json::Value>,
    #[schema(minimum = 0, maximum = 100)]
    #[serde(default, deserialize_with = "not_null")]
    pub max_retries: Option<i32>,
    /// `Some(None)` clears the timeout back to the defaults.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>, minimum = 0.01, maximum = 604800)]
    pub timeout_seconds: Option<Option<f64>>,
    #[serde(default, deserialize_with = "not_null")]
    pub priority: Option<i32>,
    #[schema(minimum = 0, maximum = 86400)]
    #[serde(default, deserialize_with = "not_null")]
    pub misfire_grace_seconds: Option<i32>,
    #[serde(default, deserialize_with = "not_null")]
    pub concurrency: Option<Concurrency>,
    /// `Some(None)` (`null`) unpins the config: it follows the current version.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, pattern = "^[0-9a-f]{64}$")]
    pub plugin_digest: Option<Option<String>>,
    #[schema(max_items = 20)]
    #[serde(default, deserialize_with = "not_null")]
    pub tags: Option<Vec<String>>,
    /// `null` removes the limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 10000)]
    pub max_concurrency: Option<Option<i32>>,
    /// `null` removes the rate limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimit>)]
    pub rate_limit: Option<Option<RateLimit>>,
    /// `null`: back to the task type's group (else `default`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    pub worker_group: Option<Option<String>>,
    /// `null` turns notifications off; a notify without `secret` keeps the
    /// secret set before.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Notify>)]
    pub notify: Option<Option<Notify>>,
    /// `null` removes the webhook; a webhook replaces the secret.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Webhook>)]
    pub webhook: Option<Option<Webhook>>,
    /// A workflow replaces the task type; `null` removes the workflow (set
    /// `task_type` with it).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Workflow>)]
    pub workflow: Option<Option<Workflow>>,
}

/// A field that, when present, has a value: `null` is refused (naming the
/// field), never taken for "leave it as it is".
fn not_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    match Option::<T>::deserialize(d)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom("may not be null (leave the field out to keep it)")),
    }
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl ConfigPatch {
    /// The config with this patch applied (without touching timestamps).
    pub fn apply(&self, mut c: TaskConfig) -> TaskConfig {
        macro_rules! set {
            ($($f:ident),+) => { $(if let Some(v) = &self.$f { c.$f = v.clone(); })+ };
        }
        set!(name, description, task_type, scheduler_type, schedule_config, parameters);
        set!(max_retries, timeout_seconds, priority, misfire_grace_seconds, concurrency, plugin_digest);
        set!(tags, max_concurrency, rate_limit, worker_group, webhook, workflow);
        // One of the two: setting either leaves the other out, unless the
        // patch sets both (which validation refuses).
        match (&self.task_type, &self.workflow) {
            (None, Some(Some(_))) => c.task_type = String::new(),
            (Some(_), None) => c.workflow = None,
            _ => {}
        }
        if let Some(notify) = &self.notify {
            let kept = c.notify.take().and_then(|n| n.secret);
            c.notify = notify.clone().map(|n| Notify { secret: n.secret.or(kept), ..n });
        }
        c
    }
}
