//! What outside probes of both deployments found, one test each, written
//! before their fixes: input that must be refused naming the field (and
//! store nothing), host directories an upload must not grant, a run whose
//! claim reply was lost, schedule state a Redis lost, slow clients, a
//! secret URL in a refusal line, the allowlist's ports and proxies, lost
//! database connections, input bounds, shutdown with busy slots, replay,
//! the dashboard's pages, and a flood of wrong tokens.

mod bounds;
mod database;
mod host_dirs;
mod inputs;
mod lost_state;
mod outbound_rules;
pub(crate) mod pages;
mod redelivery;
mod replay;
mod secret_urls;
mod shutdown;
mod slow_clients;
mod throttle;
