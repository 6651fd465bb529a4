//! The coordination error: why the schedule backend or the queue could not
//! do what was asked. Carries the underlying error as its `source`.

use std::sync::Arc;

/// An underlying error, shareable (a group commit answers many callers
/// with one failure).
pub type Source = Arc<dyn std::error::Error + Send + Sync>;

/// Why the backend (schedule or queue) could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// Unreachable or refusing: worth retrying later.
    #[error("schedule backend unavailable: {0}")]
    Unavailable(#[source] Source),
    /// A part of this process that the backend needs has stopped.
    #[error("schedule backend unavailable: {0} stopped")]
    Stopped(&'static str),
    /// Set up in a way it cannot start with (the settings disagree with
    /// the state it keeps).
    #[error("schedule backend: {0}")]
    Misconfigured(#[source] Source),
    /// Stored data this version cannot read.
    #[error("schedule backend: corrupt {what}: {source}")]
    Corrupt {
        what: String,
        #[source]
        source: Source,
    },
}

/// A stored value outside the words this version knows.
#[derive(Debug, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct Unknown(pub String);

impl BackendError {
    pub fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        BackendError::Unavailable(Arc::new(e))
    }

    /// `what` (say "job of <id>") could not be read: `e` says why.
    pub fn corrupt(what: impl Into<String>, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        BackendError::Corrupt { what: what.into(), source: Arc::new(e) }
    }

    /// `what` holds a value this version does not know.
    pub fn unknown(what: impl Into<String>, value: impl Into<String>) -> Self {
        BackendError::corrupt(what, Unknown(value.into()))
    }
}
