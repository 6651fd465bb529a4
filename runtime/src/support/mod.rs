//! Small leaves any layer may use: retrying with backoff, the
//! `text_enum!` helper for enums stored as words, and logs and traces
//! (`trace.rs`: the subscriber, OTLP export, the W3C context a run
//! carries). Imports nothing of ours.

pub mod backoff;
pub(crate) mod text_enum;
pub mod trace;
