//! The contract layer: the words and traits the other parts hand each
//! other, and nothing else. A run to be queued ([`job`]), the queue as a
//! worker sees it ([`queue`]), schedules and the schedule backend's
//! contract ([`schedule`]), plugins' key-value state ([`kv`]), a secret's name ([`secret`]), worker
//! groups and rate limits ([`limits`]), and the
//! error every backend answers with ([`BackendError`]).
//!
//! Imports no other layer: both backends implement these traits, the
//! engine and the store speak these words, and each file reads alone.

mod error;
pub mod job;
pub mod kv;
pub mod limits;
pub mod queue;
pub mod schedule;
pub mod secret;

pub use error::{BackendError, Source, Unknown};
