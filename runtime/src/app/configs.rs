//! Configs: create (validated, its schedule decided in the same request,
//! undone as a whole if that fails), read merged with the live schedule,
//! list, update (a scheduled config picks up its new definition at once),
//! and delete. A webhook's secret is sealed before the store sees it.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::validate::tidy;
use super::{App, AppError};
use crate::engine::scheduler::ScheduleView;
use crate::store::{ConfigFilter, ConfigPatch, ExecutionStats, NewConfig, Page, TaskConfig};

/// History events shown with a config.
const RECENT_HISTORY: usize = 10;

/// A config merged with its live schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigView {
    #[serde(flatten)]
    pub config: TaskConfig,
    #[serde(flatten)]
    pub schedule: ScheduleView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<ExecutionStats>,
}

fn no_config(id: Uuid) -> AppError {
    AppError::NotFound(format!("no task config with id {id}"))
}

impl App {
    /// The config of `id`.
    pub async fn config(&self, id: Uuid) -> Result<TaskConfig, AppError> {
        self.store().get_config(id).await?.ok_or_else(|| no_config(id))
    }

    /// `config` with its schedule (its `history` newest events), and its
    /// statistics if asked.
    pub async fn view_of(
        &self,
        config: TaskConfig,
        history: usize,
        stats: bool,
    ) -> Result<ConfigView, AppError> {
        let stats = async {
            match stats {
                true => Ok::<_, AppError>(Some(self.store().execution_stats(Some(config.id), None).await?)),
                false => Ok(None),
            }
        };
        let (schedule, stats) = tokio::try_join!(
            async { Ok::<_, AppError>(self.scheduler().view(&config, history).await?) },
            stats
        )?;
        Ok(ConfigView { config, schedule, stats })
    }

    /// One config merged with its live schedule.
    pub async fn config_view(&self, id: Uuid, stats: bool) -> Result<ConfigView, AppError> {
        let config = self.config(id).await?;
        self.view_of(config, RECENT_HISTORY, stats).await
    }

    /// Creates a config; with `auto_start`, its schedule starts at once
    /// (cron and date configs). Refused as a whole: a config left without
    /// its schedule's decision would be started by the next reconciliation
    /// whatever `auto_start` said, so it is deleted again if that step fails.
    pub async fn create_config(&self, mut new: NewConfig, auto_start: bool) -> Result<ConfigView, AppError> {
        new.name = new.name.trim().to_owned();
        new.tags = tidy(std::mem::take(&mut new.tags));
        given_task_type(new.task_type.as_deref())?;
        self.validate(&new.preview(), true).await?;
        new.webhook = self.sealed(new.webhook)?;
        let config = self.store().create_config(new).await?;
        if let Err(e) = self.scheduler().config_created(&config, auto_start).await {
            if let Err(undo) = self.store().delete_config(config.id).await {
                tracing::error!(config = %config.id, error = %undo, "cannot remove a config whose schedule step failed");
            }
            return Err(e.into());
        }
        self.view_of(config, RECENT_HISTORY, false).await
    }

    /// One page of configs (with their schedules), and how many match.
    pub async fn list_configs(
        &self,
        filter: ConfigFilter,
        page: Page,
    ) -> Result<(Vec<ConfigView>, u64), AppError> {
        let (configs, total) = self.store().list_configs(&filter, page).await?;
        let mut items = Vec::with_capacity(configs.len());
        for config in configs {
            items.push(self.view_of(config, RECENT_HISTORY, false).await?);
        }
        Ok((items, total))
    }

    /// Changes fields of a config; a scheduled config is re-registered at once.
    pub async fn update_config(&self, id: Uuid, mut patch: ConfigPatch) -> Result<ConfigView, AppError> {
        let current = self.config(id).await?;
        patch.name = patch.name.map(|n| n.trim().to_owned());
        patch.tags = patch.tags.map(tidy);
        let schedule_changed = patch.scheduler_type.is_some() || patch.schedule_config.is_some();
        given_task_type(patch.task_type.as_deref())?;
        self.validate(&patch.apply(current.clone()), schedule_changed).await?;
        if let Some(webhook) = patch.webhook.take() {
            patch.webhook = Some(self.sealed(webhook)?);
        }
        let updated = self.store().update_config(current.id, &patch).await?.ok_or_else(|| no_config(id))?;
        self.scheduler().config_updated(&updated).await?;
        self.view_of(updated, RECENT_HISTORY, false).await
    }

    /// Deletes a config: its schedule first (so nothing fires for a config
    /// that is going away), its queued runs, the config and its records.
    pub async fn delete_config(&self, id: Uuid) -> Result<(), AppError> {
        let config = self.config(id).await?;
        self.scheduler().forget(config.id).await?;
        self.store().delete_config(config.id).await?;
        Ok(())
    }
}

/// A `task_type` that is given names a plugin: it is never empty (a
/// workflow config leaves it out).
fn given_task_type(task_type: Option<&str>) -> Result<(), AppError> {
    match task_type {
        Some("") => Err(AppError::invalid("task_type", "must not be empty (leave it out for a workflow)")),
        _ => Ok(()),
    }
}
