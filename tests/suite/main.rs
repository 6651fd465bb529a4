//! taskbox's black-box suite: real components (built from `examples/` by
//! `cargo xtask plugins`) in real wasmtime, and the real `taskbox` binary.
//! Run it with `cargo xtask test`.

#[macro_use]
mod deploy;
mod api;
mod app;
mod architecture;
mod cli;
mod dashboard;
mod hardening;
mod helpers;
mod key_value;
mod languages;
mod operators;
mod outbound;
mod queue;
mod registry;
mod reload;
mod sandbox;
mod scheduler;
mod secrets;
mod services;
mod store;
mod targets;
mod versions;
mod worker;
