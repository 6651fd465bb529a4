//! taskbox: a task runtime for WebAssembly components.
//!
//! Teams compile jobs to components and drop them in the plugin directory;
//! each run happens in a fresh wasmtime sandbox with a deadline and a memory
//! cap. The parts, in the words of `DESIGN.md`:
//!
//! - [`job`] — a run to be queued: the job snapshot, the queued run, its
//!   band and trigger, and the coordination error (a leaf).
//! - [`registry`] — the plugin registry: scanning, validating, compiling,
//!   caching and publishing components from the plugin directory.
//! - [`artifacts`] — plugins as versioned artifacts: every version kept in
//!   the config store, the current one served on every node, pinned ones
//!   found by digest, uploads and rollbacks.
//! - [`executor`] — the executor: one execution in a fresh sandboxed
//!   instance, turned into an [`executor::Outcome`].
//! - [`guest`] — task projects in Rust, Python and JavaScript: the SDKs and
//!   WIT inside the binary, `taskbox new` and `taskbox build`.
//! - [`store`] — the config store: task configs and execution records in SQL.
//! - [`schedule`] — schedule specs (cron, date, manual), the status machine,
//!   history events, the [`schedule::backend::ScheduleBackend`] contract
//!   (schedule core + schedule state) and the fired-ahead protocol
//!   ([`schedule::ahead`]).
//! - [`scheduler`] — the scheduler service: schedule actions as atomic
//!   steps, the fire loop, startup reconciliation.
//! - [`queue`] — the execution queue contract, as workers see it.
//! - [`worker`] — takes runs off the queue, runs them, records, acknowledges.
//! - [`notifier`] — failure notifications: which outcomes a config hears
//!   of, the signed POST, its retries and the record of each delivery.
//! - [`redis_backend`] — schedule core, state and queue on Redis (distributed).
//! - [`local_backend`] — the same on the embedded SQLite database.
//! - [`backend`] — picks one of the two from the settings.
//! - [`sqlite`] — the embedded deployment's one SQLite file: query-only
//!   reads, and one writer behind a lock (a leaf).
//! - [`backoff`] — retrying with backoff, for every loop (a leaf).
//! - [`outbound`] — a plugin's outbound-HTTP allowlist and the private
//!   address rule (a leaf; the executor's HTTP door asks it).
//! - [`kv`] — the key-value contract plugins' state lives behind, and its
//!   bounds (a leaf; both backends implement it).
//! - [`secrets`] — secrets for plugins: the key, sealing at rest, put, list,
//!   delete and resolving a run's grants.
//! - [`reload`] — hot reload: watches the plugin directory, rescans the
//!   registry, notes changes in the configs' history.
//! - [`api`] — the HTTP API: validation and composition over the store and
//!   the scheduler service.
//! - [`ui`] — the dashboard at `/ui`: server-rendered pages and a session
//!   login over the same calls as the API.
//! - [`settings`] — typed settings: defaults, `taskbox.toml`, `TASKBOX_*`.
//! - [`app`] — the [`app::Application`]: builds the parts, binds, and runs
//!   the loops of this process's roles until shutdown.
//! - [`serve`] — `taskbox serve`: the application until SIGTERM or SIGINT.
//! - [`cli`] — the `taskbox` command line.

pub mod api;
pub mod app;
pub mod artifacts;
pub mod backend;
pub mod backoff;
pub mod cli;
pub mod executor;
pub mod guest;
pub mod job;
pub mod kv;
pub mod local_backend;
pub mod notifier;
pub mod outbound;
pub mod queue;
pub mod redis_backend;
pub mod registry;
pub mod reload;
pub mod schedule;
pub mod scheduler;
pub mod secrets;
pub mod serve;
pub mod settings;
pub mod sqlite;
pub mod store;
mod text_enum;
pub mod ui;
pub mod worker;
