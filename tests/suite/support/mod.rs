//! Everything the suite's tests stand on, one way in each:
//!
//! - [`services`] — real PostgreSQL, Redis and the test Redis Cluster: a
//!   fresh database and a unique key prefix per test, removed afterwards;
//! - [`cluster`] — a Redis Cluster of a test's own, to kill a node of;
//! - [`deploy`] — the deployments of DESIGN §2 (distributed on one Redis
//!   and on a cluster, embedded) as fixtures, and `conformance!`, which
//!   runs one test body on each;
//! - [`components`] — the built components, plugin directories, one
//!   executor, running a plugin;
//! - [`app`] — taskbox in-process from `Application::build` ([`spawn_app`]);
//! - [`server`] — taskbox as a `taskbox serve` process ([`Server`], [`Fleet`]);
//! - [`client`] — what tests ask of an API ([`Api`], behind both);
//! - [`poll`] — [`eventually`], the one way to wait;
//! - [`targets`] — servers on loopback for the doors and notifications.

pub mod app;
pub mod client;
pub mod cluster;
pub mod components;
#[macro_use]
pub mod deploy;
pub mod poll;
pub mod server;
pub mod services;
pub mod targets;

pub use app::{TOKEN, TestApp, spawn_app, spawn_app_plugins, spawn_app_with};
pub use client::{Api, error_code};
pub use components::{
    EXECUTOR, PluginDir, built_plugin, digest_of, example, probe_ok, probe_refused, run, run_with,
    viewer_token,
};
pub use deploy::{Deployment, Kind};
pub use poll::eventually;
pub use server::{EmptyNodes, Fleet, SERVER_TOKEN, Server, serve, serve_plugins, serve_worker};
