//! Plugins: what this node serves, a rescan of the directory, and the
//! versions kept in the config store (upload, list, read, rollback,
//! delete). A change of the current version is noted in the history of
//! the configs that follow it.

use serde::Serialize;
use utoipa::ToSchema;

use super::{App, AppError};
use crate::engine::reload;
use crate::plugins::artifacts::{Changed, Upload};
use crate::plugins::registry::{PluginInfo, is_valid_task_type};
use crate::store::{KeptBecause, Page, PluginStore, PluginVersion};

/// A version that became current.
#[derive(Serialize, ToSchema)]
pub struct Published {
    #[serde(flatten)]
    pub version: PluginVersion,
    /// The digest that served on this node before, if any.
    pub previous_digest: Option<String>,
}

fn no_version(name: &str, digest: &str) -> AppError {
    AppError::NotFound(format!("no version {digest:?} of {name:?}"))
}

impl App {
    /// Every plugin this node knows, loaded or not.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.registry().catalog().values().map(|e| e.info.clone()).collect()
    }

    /// One plugin: shape, digest, its load error if any, where it came from.
    pub fn plugin(&self, name: &str) -> Result<PluginInfo, AppError> {
        match self.registry().entry(name) {
            Some(entry) => Ok(entry.info.clone()),
            None => Err(AppError::NotFound(format!("no plugin named {name:?}"))),
        }
    }

    /// Rescans the plugin directory now; what changed, in words.
    pub async fn reload_plugins(&self) -> Result<usize, AppError> {
        let changes = reload::rescan(&self.inner.plugins, Some(self.scheduler()))
            .await
            .map_err(|e| AppError::Internal(format!("scanning {}: {e}", self.registry().dir().display())))?;
        Ok(changes.len())
    }

    fn versions_store(&self) -> Result<&dyn PluginStore, AppError> {
        self.inner
            .plugins
            .store()
            .map(|s| s.as_ref())
            .ok_or_else(|| AppError::Unavailable("plugin versions are not kept by this process".into()))
    }

    /// Would an upload as `name` be taken (a valid name, versions kept)?
    /// Asked before the component is read, and again with it.
    pub fn accepts_upload(&self, name: &str) -> Result<(), AppError> {
        if !is_valid_task_type(name) {
            return Err(AppError::invalid("name", "a task type is 1 to 64 of a-z 0-9 _ -"));
        }
        self.versions_store().map(|_| ())
    }

    /// Makes an uploaded component the current version of its name on
    /// every node; `true` when the version is new.
    pub async fn upload_plugin(&self, upload: Upload) -> Result<(Published, bool), AppError> {
        self.accepts_upload(&upload.name)?;
        let name = upload.name.clone();
        let changed = self.inner.plugins.upload(upload).await?;
        self.note_new_current(&name, "uploaded", &changed).await;
        let created = changed.created;
        Ok((Published { version: changed.version, previous_digest: changed.previous }, created))
    }

    /// Makes a kept version of `name` current again on every node.
    pub async fn rollback_plugin(&self, name: &str, digest: &str) -> Result<Published, AppError> {
        self.versions_store()?;
        let changed = self.inner.plugins.rollback(name, digest).await?;
        self.note_new_current(name, "rolled back", &changed).await;
        Ok(Published { version: changed.version, previous_digest: changed.previous })
    }

    /// The versions of `name`, most recently seen first, a page of them.
    pub async fn plugin_versions(
        &self,
        name: &str,
        page: Page,
    ) -> Result<(Vec<PluginVersion>, u64), AppError> {
        let all = self.versions_store()?.versions(name).await?;
        if all.is_empty() && self.registry().entry(name).is_none() {
            return Err(AppError::NotFound(format!("no plugin named {name:?}")));
        }
        let total = all.len() as u64;
        Ok((all.into_iter().skip(page.offset as usize).take(page.limit as usize).collect(), total))
    }

    /// One version of `name`.
    pub async fn plugin_version(&self, name: &str, digest: &str) -> Result<PluginVersion, AppError> {
        self.versions_store()?.version(name, digest).await?.ok_or_else(|| no_version(name, digest))
    }

    /// The component of one version, as it was stored.
    pub async fn plugin_component(&self, name: &str, digest: &str) -> Result<Vec<u8>, AppError> {
        self.plugin_version(name, digest).await?;
        self.versions_store()?
            .blob(digest)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("the component of version {digest} is gone")))
    }

    /// Deletes a version nothing needs: not while it is current or pinned.
    pub async fn delete_plugin_version(&self, name: &str, digest: &str) -> Result<(), AppError> {
        match self.versions_store()?.delete_version(name, digest).await? {
            Ok(()) => Ok(()),
            Err(KeptBecause::NotFound) => Err(no_version(name, digest)),
            Err(KeptBecause::Current) => Err(AppError::Conflict(format!(
                "version {digest} is the current version of {name:?}: roll back or upload another first"
            ))),
            Err(KeptBecause::Pinned(n)) => Err(AppError::Conflict(format!(
                "version {digest} of {name:?} is pinned by {n} config(s): unpin them first (PATCH plugin_digest: null)"
            ))),
        }
    }

    /// Notes a change of the current version in the history of the
    /// configs that follow it (logged, not fatal, if it cannot be written).
    async fn note_new_current(&self, name: &str, what: &str, changed: &Changed) {
        let to = &changed.version.digest;
        if changed.previous.as_ref() == Some(to) {
            return;
        }
        let short = |d: &str| d.chars().take(12).collect::<String>();
        let description = match &changed.previous {
            Some(from) => format!("plugin {what}: digest {} -> {}", short(from), short(to)),
            None => format!("plugin {what}: digest {}", short(to)),
        };
        if let Err(e) = self.scheduler().note_plugin_changes(&[(name.to_owned(), description)]).await {
            tracing::warn!(error = %e, plugin = %name, "the plugin changed, but its configs' history could not be written");
        }
    }
}
