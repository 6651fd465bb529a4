//! What a config must be to be stored: every field checked as it would be
//! stored, before anything is written (a refusal names its field and
//! changes nothing). The schedule's own rules (cron syntax, time zones)
//! are the spec's; this adds what a stored config must also hold.

use chrono::Utc;

use super::{App, AppError};
use crate::contract::job::{RateLimit, SchedulerType};
use crate::contract::limits::is_valid_group;
use crate::contract::schedule::ScheduleSpec;
use crate::store::{TaskConfig, Workflow};

const MAX_NAME: usize = 200;
const MAX_DESCRIPTION: usize = 10_000;
const MAX_RETRIES: i32 = 100;
/// A deadline shorter than a few epoch ticks cannot be kept (nor meant).
const MIN_TIMEOUT_SECONDS: f64 = 0.01;
const MAX_TIMEOUT_SECONDS: f64 = 7.0 * 24.0 * 3600.0;
const MAX_GRACE_SECONDS: i32 = 24 * 3600;
/// Tags a config may carry, and how long each may be.
const MAX_TAGS: usize = 20;
const MAX_TAG: usize = 64;
const MAX_CONCURRENCY: i32 = 10_000;
const MAX_URL: usize = 2048;
const MAX_SECRET: usize = 256;

/// A tag: 1 to 64 letters, digits or `_ - . : /`.
pub fn is_valid_tag(tag: &str) -> bool {
    (1..=MAX_TAG).contains(&tag.len())
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/'))
}

/// A tag from a request, or why not.
pub fn tag(tag: &str) -> Result<(), AppError> {
    match is_valid_tag(tag) {
        true => Ok(()),
        false => Err(AppError::invalid("tag", "a tag is 1 to 64 letters, digits or _ - . : /")),
    }
}

/// Tags as stored: in order of first mention, each once.
pub fn tidy(tags: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    tags.into_iter().filter(|t| seen.insert(t.clone())).collect()
}

/// Does any string (or object key) in `value` hold a NUL character?
/// PostgreSQL refuses the byte in text and JSON, and a guest should never
/// see it: one rule for both databases, refused at the door.
pub fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

impl App {
    /// Checks a whole config as it would be stored; a `run_date` in the
    /// past is refused only when the schedule is being set
    /// (`check_run_date`).
    pub(super) async fn validate(&self, c: &TaskConfig, check_run_date: bool) -> Result<(), AppError> {
        self.validate_fields(c, check_run_date)?;
        self.validate_pin(c).await
    }

    fn validate_fields(&self, c: &TaskConfig, check_run_date: bool) -> Result<(), AppError> {
        let texts = [("name", c.name.contains('\0')), ("description", c.description.contains('\0'))];
        let json = [("parameters", has_nul(&c.parameters)), ("schedule_config", has_nul(&c.schedule_config))];
        if let Some((field, _)) = texts.iter().chain(&json).find(|(_, nul)| *nul) {
            return Err(AppError::invalid(field, "must not contain a NUL character (\\u0000)"));
        }
        let name = c.name.trim();
        if name.is_empty() || c.name.chars().count() > MAX_NAME {
            return Err(AppError::invalid("name", format!("must be 1 to {MAX_NAME} characters, not blank")));
        }
        if c.description.chars().count() > MAX_DESCRIPTION {
            return Err(AppError::invalid(
                "description",
                format!("must be at most {MAX_DESCRIPTION} characters"),
            ));
        }
        if let Some(workflow) = &c.workflow {
            self.validate_workflow(c, workflow)?;
        } else if c.task_type.is_empty() {
            return Err(AppError::invalid(
                "task_type",
                "required: a loaded plugin's name (or give a workflow)",
            ));
        } else if c.plugin_digest.is_none() && self.registry().get(&c.task_type).is_none() {
            // A pinned config names a version, which `validate_pin` checks.
            let catalog = self.registry().catalog();
            let known: Vec<&str> =
                catalog.iter().filter(|(_, e)| e.plugin.is_some()).map(|(n, _)| n.as_str()).collect();
            return Err(AppError::invalid(
                "task_type",
                format!("unknown task type {:?}; loaded: [{}]", c.task_type, known.join(", ")),
            ));
        }
        let spec = ScheduleSpec::parse(c.scheduler_type, &c.schedule_config)
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        if let (true, ScheduleSpec::Date(at)) = (check_run_date, &spec)
            && *at <= Utc::now()
        {
            return Err(AppError::invalid("schedule_config.run_date", format!("{at} is in the past")));
        }
        if c.scheduler_type == SchedulerType::Cron && spec.first_fire(Utc::now()).is_none() {
            return Err(AppError::invalid(
                "schedule_config",
                "this schedule never fires (no such date in any year)",
            ));
        }
        if !(0..=MAX_RETRIES).contains(&c.max_retries) {
            return Err(AppError::invalid("max_retries", format!("must be between 0 and {MAX_RETRIES}")));
        }
        if let Some(t) = c.timeout_seconds
            && !(MIN_TIMEOUT_SECONDS..=MAX_TIMEOUT_SECONDS).contains(&t)
        {
            return Err(AppError::invalid(
                "timeout_seconds",
                format!("must be between {MIN_TIMEOUT_SECONDS} and {MAX_TIMEOUT_SECONDS}"),
            ));
        }
        if !(0..=MAX_GRACE_SECONDS).contains(&c.misfire_grace_seconds) {
            return Err(AppError::invalid(
                "misfire_grace_seconds",
                format!("must be between 0 and {MAX_GRACE_SECONDS}"),
            ));
        }
        if let Some(gap) = spec.shortest_gap(Utc::now())
            && spec.jitter() >= gap
        {
            return Err(AppError::invalid(
                "schedule_config.jitter_seconds",
                format!("must be shorter than the time between runs ({}s)", gap.as_secs_f64()),
            ));
        }
        if c.tags.len() > MAX_TAGS {
            return Err(AppError::invalid("tags", format!("at most {MAX_TAGS} tags")));
        }
        if let Some(bad) = c.tags.iter().find(|t| !is_valid_tag(t)) {
            return Err(AppError::invalid(
                "tags",
                format!("{bad:?}: a tag is 1 to {MAX_TAG} letters, digits or _ - . : /"),
            ));
        }
        if let Some(n) = c.max_concurrency
            && !(1..=MAX_CONCURRENCY).contains(&n)
        {
            return Err(AppError::invalid(
                "max_concurrency",
                format!("must be between 1 and {MAX_CONCURRENCY}"),
            ));
        }
        if let Some(problem) = c.rate_limit.as_ref().and_then(RateLimit::problem) {
            return Err(AppError::invalid("rate_limit", problem));
        }
        if let Some(group) = c.worker_group.as_deref().filter(|g| !is_valid_group(g)) {
            return Err(AppError::invalid(
                "worker_group",
                format!("{group:?}: 1 to 64 of a-z 0-9 _ - (starting with a letter or digit)"),
            ));
        }
        if let Some(notify) = &c.notify {
            let url = reqwest::Url::parse(&notify.url).ok().filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some()
                    && notify.url.len() <= MAX_URL
            });
            if url.is_none() {
                return Err(AppError::invalid(
                    "notify.url",
                    "must be an http:// or https:// URL naming a host",
                ));
            }
            if notify.secret.as_ref().is_some_and(|s| s.is_empty() || s.len() > MAX_SECRET) {
                return Err(AppError::invalid("notify.secret", format!("must be 1 to {MAX_SECRET} bytes")));
            }
        }
        Ok(())
    }

    /// A workflow config has no task type of its own and no pin; its steps
    /// keep the definition's rules and the bounds a config's fields have.
    fn validate_workflow(&self, c: &TaskConfig, workflow: &Workflow) -> Result<(), AppError> {
        if !c.task_type.is_empty() {
            return Err(AppError::invalid("workflow", "a config has a task_type or a workflow, not both"));
        }
        if c.plugin_digest.is_some() {
            return Err(AppError::invalid(
                "plugin_digest",
                "a workflow's steps follow their current versions",
            ));
        }
        workflow
            .check(&|task_type| self.registry().get(task_type).is_some())
            .map_err(|e| AppError::invalid(&e.field, e.message))?;
        for (i, step) in workflow.steps.iter().enumerate() {
            let field = |f: &str| format!("workflow.steps[{i}].{f}");
            if step.parameters.as_ref().is_some_and(has_nul) {
                return Err(AppError::invalid(
                    &field("parameters"),
                    "must not contain a NUL character (\\u0000)",
                ));
            }
            if let Some(t) = step.timeout_seconds
                && !(MIN_TIMEOUT_SECONDS..=MAX_TIMEOUT_SECONDS).contains(&t)
            {
                let why = format!("must be between {MIN_TIMEOUT_SECONDS} and {MAX_TIMEOUT_SECONDS}");
                return Err(AppError::invalid(&field("timeout_seconds"), why));
            }
            if let Some(n) = step.max_retries
                && !(0..=MAX_RETRIES).contains(&n)
            {
                return Err(AppError::invalid(
                    &field("max_retries"),
                    format!("must be between 0 and {MAX_RETRIES}"),
                ));
            }
        }
        Ok(())
    }

    /// A pinned config's digest must name a version of its task type.
    async fn validate_pin(&self, c: &TaskConfig) -> Result<(), AppError> {
        let Some(digest) = &c.plugin_digest else { return Ok(()) };
        let invalid = |why: String| Err(AppError::invalid("plugin_digest", why));
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return invalid("must be a sha256 digest: 64 lowercase hex digits".into());
        }
        let Some(store) = self.inner.plugins.store() else {
            return invalid("this process keeps no plugin versions to pin".into());
        };
        if !store.has_version(&c.task_type, digest).await? {
            return invalid(format!(
                "no version {digest} of {:?} (see GET /plugins/{}/versions)",
                c.task_type, c.task_type
            ));
        }
        Ok(())
    }
}
