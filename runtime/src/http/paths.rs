//! Typed path parameters (each the route's first), one shape of refusal
//! for both front ends: an id that cannot name anything is a 404 like one
//! that names nothing (`no task config with id "…"`).

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use uuid::Uuid;

use crate::app::RecordRef;

use super::error::ApiError;

/// The first segment of the path's parameters, parsed, or a 404 saying
/// `what`.
async fn parsed<T: std::str::FromStr>(parts: &mut Parts, what: &str) -> Result<T, ApiError> {
    let text = match Path::<Vec<(String, String)>>::from_request_parts(parts, &()).await {
        Ok(Path(pairs)) => pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default(),
        Err(_) => String::new(),
    };
    text.parse().map_err(|_| ApiError::NotFound(format!("no {what} {text:?}")))
}

macro_rules! path_id {
    ($(#[$doc:meta])* $name:ident($inner:ty), $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub $inner);

        impl<S: Send + Sync> FromRequestParts<S> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
                parsed(parts, $what).await.map($name)
            }
        }
    };
}

path_id!(
    /// `{id}` of a config.
    ConfigId(Uuid), "task config with id"
);
path_id!(
    /// `{id}` of an execution record: its row number, or a run's
    /// execution id (its latest attempt).
    RecordId(RecordRef), "execution with id"
);
path_id!(
    /// The execution id of a run (the UUID `POST /configs/{id}/run` answers).
    ExecutionId(Uuid), "run with execution_id"
);

/// `{name}` of a plugin (any text: an unknown name is the answer's 404).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PluginName {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parsed::<String>(parts, "plugin named").await.map(PluginName)
    }
}
