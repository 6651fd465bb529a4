//! taskbox: a task runtime for WebAssembly components.
//!
//! Teams compile jobs to components and drop them in the plugin directory;
//! each run happens in a fresh wasmtime sandbox with a deadline and a memory
//! cap. One folder per layer, from the top down; a layer imports only the
//! layers below it (`tests/suite/architecture.rs` holds the code to that):
//!
//! - [`cli`] — the `taskbox` command line.
//! - [`server`] — one process: settings, [`server::Application`] (binds,
//!   opens the store, loads plugins) and the loops of its roles.
//! - [`http`] — the API (`/api/v1`) and the dashboard (`/ui`) on one port.
//! - [`app`] — the application layer: every command and read the front
//!   ends offer, each rule once.
//! - [`engine`] — the scheduler service and its fire loop, the worker, the
//!   notifier, hot reload.
//! - [`plugins`] — the plugin registry, plugin versions as artifacts, and
//!   guest projects (`taskbox new`, `taskbox build`).
//! - [`executor`] — one execution in a fresh sandboxed instance, with the
//!   guest side of the doors.
//! - [`doors`] — the doors' policy: the outbound allowlist, secrets.
//! - [`backends`] — schedule core, schedule state, queue and key-value on
//!   Redis (distributed) or in the SQLite file (embedded).
//! - [`store`] — the config store: configs, records and the rest in SQL.
//! - [`contract`] — the words and traits the parts hand each other.
//! - [`support`] — small leaves (backoff, text enums).

pub mod app;
pub mod backends;
pub mod cli;
pub mod contract;
pub mod doors;
pub mod engine;
pub mod executor;
pub mod http;
pub mod plugins;
pub mod server;
pub mod store;
pub mod support;
