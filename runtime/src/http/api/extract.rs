//! Extractors that answer in the API's error shape: JSON bodies (syntax
//! errors 400, wrong fields or types 422 naming them, too large 413) and
//! query strings (422).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::ApiError;

/// A JSON body.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::Invalid(e.body_text())),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::BadRequest(e.body_text())),
            Err(JsonRejection::MissingJsonContentType(e)) => Err(ApiError::BadRequest(e.body_text())),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::TooLarge(e.body_text()))
            }
            Err(other) => Err(ApiError::BadRequest(other.body_text())),
        }
    }
}

/// A query string.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // PostgreSQL refuses a NUL in any text it is handed: refuse it here.
        if parts.uri.query().is_some_and(|q| q.to_ascii_lowercase().contains("%00")) {
            return Err(ApiError::Invalid("query: must not contain a NUL character (%00)".into()));
        }
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::Invalid(e.body_text())),
            Err(other) => Err(ApiError::BadRequest(other.body_text())),
        }
    }
}
