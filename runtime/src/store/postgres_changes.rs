//! The feed of task-config changes made by any process, heard over
//! PostgreSQL `LISTEN`: a trigger (migrations/postgres/0003) announces every
//! update, delete and truncate of `task_configs` when its transaction
//! commits.
//!
//! Owns one listening connection and its reconnection. It never says a
//! change was heard when it may have been missed: a connection that fails
//! or closes is told as [`Feed::Lost`], and [`Feed::Listening`] only once
//! `LISTEN` holds again on a new one. A connection that dies silently (a
//! network partition, no reset) goes unnoticed; the cache's age limit
//! bounds what that can cost.

use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio::task::AbortHandle;
use uuid::Uuid;

use super::PgStore;

/// The channel the trigger notifies on.
const CHANNEL: &str = "taskbox_config_changes";
/// Pause between attempts to listen again.
const RETRY: Duration = Duration::from_secs(1);

/// What the feed tells its listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Feed {
    /// Every change from now on will be heard.
    Listening,
    /// This config was updated or deleted.
    Changed(Uuid),
    /// Any config may have changed (a truncate, or a note this version
    /// cannot read).
    AllChanged,
    /// Changes may be missed from now until the next `Listening`.
    Lost,
}

impl PgStore {
    /// Tells `hear` of every config change, from a task of its own, until
    /// `hear` answers false or the task is aborted.
    pub(super) fn feed_config_changes(
        &self,
        mut hear: impl FnMut(Feed) -> bool + Send + 'static,
    ) -> AbortHandle {
        let pool = self.pool().clone();
        let task = tokio::spawn(async move {
            loop {
                let listened = async {
                    let mut listener = PgListener::connect_with(&pool).await?;
                    // A lost connection is ours to report before anything
                    // else happens, not to be mended silently inside.
                    listener.eager_reconnect(false);
                    listener.listen(CHANNEL).await?;
                    Ok::<_, sqlx::Error>(listener)
                };
                match listened.await {
                    Ok(mut listener) => {
                        if !hear(Feed::Listening) {
                            return;
                        }
                        loop {
                            let feed = match listener.try_recv().await {
                                Ok(Some(note)) => match note.payload().parse() {
                                    Ok(id) => Feed::Changed(id),
                                    Err(_) => Feed::AllChanged,
                                },
                                Ok(None) => break,
                                Err(e) => {
                                    tracing::debug!(error = %e, "the config change feed broke");
                                    break;
                                }
                            };
                            if !hear(feed) {
                                return;
                            }
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "cannot listen for config changes; trying again"),
                }
                if !hear(Feed::Lost) {
                    return;
                }
                tokio::time::sleep(RETRY).await;
            }
        });
        task.abort_handle()
    }
}
