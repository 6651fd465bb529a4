//! Small leaves any layer may use: retrying with backoff, and the
//! `text_enum!` helper for enums stored as words. Imports nothing of ours.

pub mod backoff;
pub(crate) mod text_enum;
