//! Failure notifications. After a worker commits a final outcome of a
//! config that asked for them (`notify`), the [`Notifier`] decides whether
//! this outcome is one to tell (`on`: failures; failures and recoveries;
//! or every outcome), POSTs a JSON document to the config's URL, signed
//! GitHub's way when a secret is set, retries with backoff for a bounded
//! time, and records each delivery for `GET /executions/{id}`.
//!
//! Owns that decision, the document, the retries and the delivery records.
//! It never runs a task and never holds a worker up: a notice is handed
//! over without waiting, and the sending happens on tasks of its own. Where
//! a notice may go is `send.rs`'s rule.

mod send;

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

use crate::contract::job::NotifyOn;
use crate::doors::outbound::AllowedHosts;
use crate::store::{ConfigStore, DeliveryStore, DeliveryUpdate, ExecutionRecord};
pub use send::{SIGNATURE_HEADER, signature};

/// Notices waiting to be looked at, at most; beyond, they are dropped
/// (and counted) rather than slow the worker.
const BACKLOG: usize = 10_000;
/// Deliveries in progress at once.
const SENDING: usize = 32;
/// Tries per notification, and the wait before the second (doubled each time).
pub const ATTEMPTS: i32 = 5;
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// What a notifier needs to know of the deployment.
#[derive(Debug, Clone, Default)]
pub struct NotifySettings {
    /// Where notifications may go beyond public addresses.
    pub allowed: Vec<String>,
    /// The deployment's public address, for links.
    pub public_url: Option<String>,
}

/// Cheap-to-clone handle on the notifier's tasks.
#[derive(Clone)]
pub struct Notifier {
    notices: mpsc::Sender<(ExecutionRecord, NotifyOn)>,
}

struct Shared {
    configs: Arc<dyn ConfigStore>,
    deliveries: Arc<dyn DeliveryStore>,
    allowed: AllowedHosts,
    public_url: Option<String>,
    first_retry: Duration,
}

impl Notifier {
    /// Starts the notifier; it ends when the last handle is dropped.
    pub fn start(
        configs: Arc<dyn ConfigStore>,
        deliveries: Arc<dyn DeliveryStore>,
        settings: NotifySettings,
    ) -> Result<Self, crate::doors::outbound::InvalidEntry> {
        let allowed = send::destinations(&settings.allowed)?;
        let shared = Arc::new(Shared {
            configs,
            deliveries,
            allowed,
            public_url: settings.public_url,
            first_retry: FIRST_RETRY,
        });
        let (notices, mut waiting) = mpsc::channel::<(ExecutionRecord, NotifyOn)>(BACKLOG);
        tokio::spawn(async move {
            let sending = Arc::new(Semaphore::new(SENDING));
            while let Some((record, on)) = waiting.recv().await {
                let Ok(permit) = sending.clone().acquire_owned().await else { return };
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(e) = shared.notify(&record, on).await {
                        tracing::warn!(execution = %record.execution_id, error = %e, "cannot notify");
                    }
                    drop(permit);
                });
            }
        });
        Ok(Self { notices })
    }

    /// Hands over a committed final outcome; never waits.
    pub fn offer(&self, record: ExecutionRecord, on: NotifyOn) {
        if self.notices.try_send((record, on)).is_err() {
            metrics::counter!("taskbox_notifications_total", "outcome" => "dropped").increment(1);
            tracing::warn!("notification backlog full: a notification was dropped");
        }
    }
}

/// Which event an outcome is for a config that wants `on`, if any.
fn event_of(on: NotifyOn, is_success: bool, previous: Option<bool>) -> Option<&'static str> {
    match (on, is_success) {
        (_, false) => Some("failure"),
        (NotifyOn::Always, true) => Some(if previous == Some(false) { "recovery" } else { "success" }),
        (NotifyOn::Recovery, true) if previous == Some(false) => Some("recovery"),
        _ => None,
    }
}

impl Shared {
    async fn notify(&self, record: &ExecutionRecord, on: NotifyOn) -> Result<(), crate::store::StoreError> {
        let previous = match (on, record.is_success) {
            (NotifyOn::Failure, _) | (_, false) => None,
            _ => self.deliveries.previous_outcome(record).await?,
        };
        let Some(event) = event_of(on, record.is_success, previous) else { return Ok(()) };
        let Some(config) = (match record.config_id {
            Some(id) => self.configs.get_config(id).await?,
            None => None,
        }) else {
            return Ok(());
        };
        let Some(notify) = config.notify.clone() else { return Ok(()) };
        let Some(stored) = self.configs.find_attempt(record.execution_id, record.attempt).await? else {
            return Ok(());
        };
        if !self.deliveries.start_delivery(record, event, &notify.url).await? {
            return Ok(());
        }
        let base = self.public_url.clone().unwrap_or_default();
        let document = serde_json::json!({
            "event": event,
            "config": {"id": config.id, "name": config.name, "task_type": config.task_type, "tags": config.tags},
            "execution": stored,
            "links": {
                "execution": format!("{base}/api/v1/executions/{}", stored.id),
                "config": format!("{base}/api/v1/configs/{}", config.id),
                "runs": format!("{base}/api/v1/executions?config_id={}", config.id),
            },
        });
        let body = serde_json::to_vec(&document).expect("a JSON document serialises");
        let mut wait = self.first_retry;
        for attempt in 1..=ATTEMPTS {
            let sent = send::post(&self.allowed, &notify.url, event, &body, notify.secret.as_deref()).await;
            let last = attempt == ATTEMPTS;
            let update = match &sent {
                Ok(code) if (200..300).contains(code) => DeliveryUpdate {
                    status: "delivered",
                    attempts: attempt,
                    response_code: Some(*code as i32),
                    last_error: None,
                },
                Ok(code) => DeliveryUpdate {
                    status: if last { "failed" } else { "pending" },
                    attempts: attempt,
                    response_code: Some(*code as i32),
                    last_error: Some(format!("answered HTTP {code}")),
                },
                Err(send::SendError::Refused(why)) => DeliveryUpdate {
                    status: "refused",
                    attempts: attempt,
                    response_code: None,
                    last_error: Some(why.clone()),
                },
                Err(e) => DeliveryUpdate {
                    status: if last { "failed" } else { "pending" },
                    attempts: attempt,
                    response_code: None,
                    last_error: Some(e.to_string()),
                },
            };
            let done = update.status != "pending";
            if done {
                metrics::counter!("taskbox_notifications_total", "outcome" => update.status).increment(1);
            }
            self.deliveries.update_delivery(record, event, &update).await?;
            if done {
                return Ok(());
            }
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setting_hears_of_what_it_says() {
        use NotifyOn::*;
        assert_eq!(event_of(Failure, false, None), Some("failure"));
        assert_eq!(event_of(Failure, true, Some(false)), None);
        assert_eq!(event_of(Recovery, true, Some(false)), Some("recovery"));
        assert_eq!(event_of(Recovery, true, Some(true)), None);
        assert_eq!(event_of(Recovery, false, Some(true)), Some("failure"));
        assert_eq!(event_of(Always, true, None), Some("success"));
        assert_eq!(event_of(Always, true, Some(false)), Some("recovery"));
    }
}
