//! The audit log: appending a change as its actor made it, reading the
//! log (admins only), and dropping events past their retention.

use chrono::Utc;

use super::tokens::Actor;
use super::{App, AppError};
use crate::store::{AuditEvent, AuditFilter, AuditStore, NewAuditEvent};

/// Events a read may ask for at once.
const MAX_EVENTS: u32 = 500;

impl App {
    fn audit_store(&self) -> Result<&dyn AuditStore, AppError> {
        self.inner.audit.as_deref().ok_or(AppError::Unavailable("this process keeps no audit log".into()))
    }

    /// Appends a change `actor` made (a summary in words; never a secret).
    pub async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        summary: &str,
    ) -> Result<(), AppError> {
        let label = self.tokens().label(actor).await?;
        self.audit_by(&label, action, target, summary).await
    }

    /// Appends a change made by `who` (a dashboard session, say).
    pub async fn audit_by(
        &self,
        who: &str,
        action: &str,
        target: &str,
        summary: &str,
    ) -> Result<(), AppError> {
        let event = NewAuditEvent {
            actor: who.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            summary: summary.to_owned(),
        };
        self.audit_store()?.append_audit(&event).await?;
        Ok(())
    }

    /// The newest events that match `filter` (at most `limit`, default
    /// 100), newest first; admins only.
    pub async fn audit_events(
        &self,
        actor: &Actor,
        filter: &AuditFilter,
        limit: Option<u32>,
    ) -> Result<Vec<AuditEvent>, AppError> {
        if !actor.is_admin() {
            return Err(AppError::Forbidden("the audit log is for admin tokens only".into()));
        }
        self.read_audit(filter, limit).await
    }

    /// The audit log as [`App::audit_events`] reads it, for a front end
    /// that checked its caller is an admin itself (the dashboard).
    pub async fn read_audit(
        &self,
        filter: &AuditFilter,
        limit: Option<u32>,
    ) -> Result<Vec<AuditEvent>, AppError> {
        let limit = limit.unwrap_or(100);
        if !(1..=MAX_EVENTS).contains(&limit) {
            return Err(AppError::invalid("limit", format!("must be between 1 and {MAX_EVENTS}")));
        }
        Ok(self.audit_store()?.audit_events(filter, limit).await?)
    }

    /// Drops events older than `days`.
    pub async fn prune_audit(&self, days: u32) -> Result<u64, AppError> {
        let before = Utc::now() - chrono::Duration::days(i64::from(days));
        Ok(self.audit_store()?.prune_audit(before).await?)
    }
}
