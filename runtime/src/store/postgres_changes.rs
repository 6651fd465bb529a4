//! The feed of task-config changes made by any process, heard over
//! PostgreSQL `LISTEN`: a trigger (migrations/postgres/0003) announces every
//! update and delete of a `task_configs` row when its transaction commits.
//!
//! Owns one listening connection and its reconnection. It never says a
//! change was heard when it may have been missed: every gap in the feed is
//! told as [`Feed::Lost`], and [`Feed::Listening`] only once `LISTEN` holds
//! again.

use sqlx::postgres::PgListener;
use std::time::Duration;
use uuid::Uuid;

use super::PgStore;

/// The channel the trigger notifies on.
const CHANNEL: &str = "taskbox_config_changes";
/// Pause between attempts to listen again.
const RETRY: Duration = Duration::from_secs(1);

/// What the feed tells its listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Every change from now on will be heard.
    Listening,
    /// This config was updated or deleted.
    Changed(Uuid),
    /// Changes may be missed from now until the next `Listening`.
    Lost,
}

impl PgStore {
    /// Tells `hear` of every config change, from a task of its own, until
    /// `hear` answers false.
    pub fn feed_config_changes(&self, mut hear: impl FnMut(Feed) -> bool + Send + 'static) {
        let pool = self.pool().clone();
        tokio::spawn(async move {
            loop {
                let listened = async {
                    let mut listener = PgListener::connect_with(&pool).await?;
                    listener.listen(CHANNEL).await?;
                    Ok::<_, sqlx::Error>(listener)
                };
                let mut listener = match listened.await {
                    Ok(listener) => listener,
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot listen for config changes; trying again");
                        if !hear(Feed::Lost) {
                            return;
                        }
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                };
                if !hear(Feed::Listening) {
                    return;
                }
                loop {
                    let told = match listener.try_recv().await {
                        Ok(Some(note)) => match note.payload().parse() {
                            Ok(id) => hear(Feed::Changed(id)),
                            Err(_) => {
                                tracing::warn!(payload = note.payload(), "not a config id on {CHANNEL}");
                                true
                            }
                        },
                        // The connection dropped and is listening again:
                        // whatever changed in between went unheard.
                        Ok(None) => hear(Feed::Lost) && hear(Feed::Listening),
                        Err(e) => {
                            tracing::debug!(error = %e, "the config change feed broke");
                            if !hear(Feed::Lost) {
                                return;
                            }
                            break;
                        }
                    };
                    if !told {
                        return;
                    }
                }
                tokio::time::sleep(RETRY).await;
            }
        });
    }
}
