//! taskbox's black-box suite: real components (built from `examples/` and
//! `tests/components/` by `cargo xtask plugins`) in real wasmtime, real
//! PostgreSQL and Redis, taskbox in-process and as the real `taskbox`
//! binary. Run it with `cargo xtask test`. `support/` holds every fixture.

#[macro_use]
mod support;

mod api;
mod app;
mod architecture;
mod cli;
mod dashboard;
mod failover;
mod fleet;
mod hardening;
mod key_value;
mod languages;
mod operators;
mod outbound;
mod partitions;
mod preview1;
mod queue;
mod registry;
mod reload;
mod sandbox;
mod scheduler;
mod secrets;
mod shards;
mod store;
mod traces;
mod versions;
mod worker;
mod workflows;
