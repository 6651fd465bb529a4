//! Runs asked for by a client: now, with a payload merged onto the
//! config's parameters and an `Idempotency-Key` that makes the request
//! safe to retry; and a backfill of a cron schedule's past ticks (admins
//! only). Checks what the client sent; the scheduler service queues.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::tokens::Actor;
use super::{App, AppError};
use crate::contract::job::Trigger;
use crate::engine::scheduler::{Backfilled, Requested, RunRequest};

/// The longest idempotency key (Stripe's bound).
pub const MAX_KEY: usize = 255;

/// A run asked for now.
#[derive(Debug, Clone, Default)]
pub struct RunInput {
    /// Merged onto the config's parameters (RFC 7396).
    pub payload: Option<serde_json::Value>,
    /// `Idempotency-Key`.
    pub key: Option<String>,
}

/// An idempotency key (or a webhook's delivery id, named `field`) is 1 to
/// [`MAX_KEY`] printable ASCII characters.
pub fn check_key(field: &str, key: &str) -> Result<(), AppError> {
    if key.is_empty() || key.len() > MAX_KEY || !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(AppError::invalid(field, format!("must be 1 to {MAX_KEY} printable ASCII characters")));
    }
    Ok(())
}

impl App {
    /// Queues a run of the config now, whatever its scheduler type, with
    /// its own parameters.
    pub async fn run_now(&self, id: Uuid) -> Result<Uuid, AppError> {
        Ok(self.run(id, RunInput::default()).await?.execution_id)
    }

    /// Queues a run of the config now as `input` asks; the same key with
    /// the same payload again answers the run queued first.
    pub async fn run(&self, id: Uuid, input: RunInput) -> Result<Requested, AppError> {
        if let Some(key) = &input.key {
            check_key("Idempotency-Key", key)?;
        }
        let config = self.config(id).await?;
        let request = RunRequest { trigger: Trigger::Manual, payload: input.payload, key: input.key };
        Ok(self.scheduler().request_run(&config, request).await?)
    }

    /// Queues a run per tick of a cron config's schedule in `[from, to)`;
    /// admins only.
    pub async fn backfill(
        &self,
        actor: &Actor,
        id: Uuid,
        window: (DateTime<Utc>, DateTime<Utc>),
        force: bool,
    ) -> Result<Backfilled, AppError> {
        if !actor.is_admin() {
            return Err(AppError::Forbidden("a backfill is for admin tokens only".into()));
        }
        let config = self.config(id).await?;
        Ok(self.scheduler().backfill(&config, window, force).await?)
    }
}
