//! The pages, one file each. Each reads one page of data (never a whole
//! table) from the application layer, as the API does, and renders it
//! with the shell of `layout.rs` and the pieces of `partials.rs`.

mod audit;
mod config;
mod overview;
mod plugins;
mod run;
mod runs;
mod schedules;
mod workflow;

pub(crate) use audit::audit;
pub(crate) use config::config;
pub(crate) use overview::overview;
pub(crate) use plugins::plugins;
pub(crate) use run::run;
pub(crate) use runs::{RunsQuery, run_rows, runs};
pub(crate) use schedules::schedules;
pub(crate) use workflow::workflow_run;

use serde::Deserialize;

use super::UiError;
use crate::http::error::ApiError;

/// A query string's value: absent or empty is `None`.
pub(super) fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A filter value the page cannot use.
pub(super) fn bad(field: &str, value: &str) -> UiError {
    ApiError::invalid(field, format!("{value:?} is not valid here")).into()
}

/// `pairs` as a query string (URL-encoded), leaving out absent values.
pub(super) fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    let given: Vec<(&str, &str)> = pairs.iter().filter_map(|(k, v)| Some((*k, (*v)?))).collect();
    serde_urlencoded::to_string(given).expect("string pairs encode")
}

#[derive(Deserialize, Default)]
pub(crate) struct NoticeQuery {
    notice: Option<String>,
}
