//! The plugin layer: components from the directory or an upload to a
//! runnable plugin. [`registry`] loads, validates, compiles, caches and
//! publishes them; [`artifacts`] keeps every version in the config store
//! and serves the current (or a pinned) one on every node; [`guest`]
//! writes and builds task projects (`taskbox new`, `taskbox build`).
//!
//! Never runs a plugin (the executor does) and never decides when one runs.

pub mod artifacts;
pub mod guest;
pub mod registry;
