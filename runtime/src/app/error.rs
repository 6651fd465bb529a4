//! Why the application layer refused or could not do what was asked, in
//! the words a front end shows: each variant is one kind of answer (not
//! found, conflict, invalid field, unavailable, forbidden), and what went
//! wrong inside is kept for the log, never shown.

use crate::contract::BackendError;
use crate::contract::kv::KvError;
use crate::doors::secrets::SecretsError;
use crate::engine::scheduler::ServiceError;
use crate::plugins::artifacts::UploadError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    NotFound(String),
    /// The request is valid but meets the state it is in (a finished run,
    /// a current version, a duplicate name).
    #[error("{0}")]
    Conflict(String),
    /// Names the field: `field: what is wrong`.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
    /// A webhook delivery without its config's signature (the same answer
    /// whatever was wrong, so it tells nothing about which configs exist).
    #[error("{0}")]
    Unsigned(String),
    /// A body that does not parse (not the JSON it claims to be).
    #[error("{0}")]
    Malformed(String),
    /// A body in a format this does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// This client asked too often; it may ask again shortly.
    #[error("{0}")]
    Throttled(String),
    /// A part this needs (the database, the backend, a key) is not there.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of ours; the detail is logged, not answered.
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    /// `field: message`.
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> Self {
        AppError::Invalid(format!("{field}: {message}"))
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DuplicateName(_) | StoreError::DuplicateToken(_) => AppError::Conflict(e.to_string()),
            StoreError::Unavailable(_) => AppError::Unavailable("the database is unreachable".into()),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<BackendError> for AppError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Unavailable(_) | BackendError::Stopped(_) => {
                AppError::Unavailable("the schedule backend is unreachable".into())
            }
            other @ (BackendError::Corrupt { .. } | BackendError::Misconfigured(_)) => {
                AppError::Internal(other.to_string())
            }
        }
    }
}

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound(_) => AppError::NotFound(e.to_string()),
            ServiceError::Refused(_) => AppError::Conflict(e.to_string()),
            ServiceError::Spec(spec) => AppError::Invalid(spec.to_string()),
            ServiceError::Store(e) => e.into(),
            ServiceError::Backend(e) => e.into(),
            ServiceError::KeyReused(_) => AppError::Conflict(e.to_string()),
            ServiceError::Backfill(message) => AppError::Invalid(message),
        }
    }
}

impl From<KvError> for AppError {
    fn from(e: KvError) -> Self {
        match e {
            KvError::Unavailable(_) => AppError::Unavailable("the key-value store is unreachable".into()),
            KvError::KeyTooLong(..) | KvError::EmptyKey => AppError::invalid("key", e),
            KvError::BadCursor(_) => AppError::invalid("cursor", e),
            KvError::BucketFull(..) => AppError::Conflict(e.to_string()),
            other => AppError::invalid("value", other),
        }
    }
}

impl From<SecretsError> for AppError {
    fn from(e: SecretsError) -> Self {
        match e {
            SecretsError::Store(e) => e.into(),
            SecretsError::Missing(_) => AppError::NotFound(e.to_string()),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<UploadError> for AppError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::Invalid(reason) => AppError::invalid("component", reason),
            UploadError::NoSuchVersion { name, digest } => AppError::invalid(
                "digest",
                format!("no version {digest:?} of {name:?} (see GET /plugins/{name}/versions)"),
            ),
            UploadError::NotKept => AppError::Unavailable(e.to_string()),
            UploadError::Store(e) => e.into(),
            UploadError::Io(e) => AppError::Internal(e.to_string()),
        }
    }
}
