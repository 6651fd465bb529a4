//! Write a taskbox task in Rust as one function over serde types:
//!
//! ```ignore
//! use serde::{Deserialize, Serialize};
//! use taskbox_sdk::{Context, info};
//!
//! #[derive(Deserialize)]
//! struct Params { name: String }
//!
//! #[derive(Serialize)]
//! struct Greeting { text: String }
//!
//! fn run(ctx: &Context, p: Params) -> Result<Greeting, String> {
//!     info!("attempt {}", ctx.attempt);
//!     Ok(Greeting { text: format!("hello, {}", p.name) })
//! }
//!
//! taskbox_sdk::task!(run);
//! ```
//!
//! The params arrive as the config's JSON, parsed into your type (a parse
//! error is a failure naming it); what you return is stored as JSON; an
//! `Err` is a failure with its text. `trace!` … `error!` write to the run's
//! logs. The doors, when the sidecar grants them: [`kv`] (key-value state)
//! and [`http`] (outbound HTTP); secrets are environment variables.
//!
//! Without its default feature `task` it is only the [`http`] client, for
//! a plain WASI command. This crate owns the bindings of the `stateful-task` world (`wit/`); a
//! component built with it imports only what the task uses.

pub mod http;

#[cfg(feature = "task")]
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "stateful-task",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "taskbox_sdk::bindings",
    });
}

/// What the host tells a run about itself: `task_type`, `config_id` (empty
/// for an ad-hoc `taskbox run`), `execution_id`, `attempt` (1 for the first)
/// and `scheduled_at` (RFC 3339, UTC).
#[cfg(feature = "task")]
pub use bindings::taskbox::plugin::types::Context;

/// Key-value state (`wasi:keyvalue`): `store::open(bucket)`,
/// `atomics::increment`, `batch::get_many`, …; only the buckets the
/// sidecar names in `key_value_stores` open.
#[cfg(feature = "task")]
pub mod kv {
    pub use crate::bindings::wasi::keyvalue::{atomics, batch, store};
}

/// Severity of a log line.
#[cfg(feature = "task")]
pub use bindings::taskbox::plugin::host::Level;

/// Appends one line to the run's logs.
#[cfg(feature = "task")]
pub fn log(level: Level, message: &str) {
    bindings::taskbox::plugin::host::log(level, message);
}

/// Turns the host's call into a call of the task function: parses the
/// params, serialises the result, renders the error. Used by [`task!`].
#[cfg(feature = "task")]
#[doc(hidden)]
pub fn call<P, R, E>(
    ctx: &Context,
    params: &str,
    f: fn(&Context, P) -> Result<R, E>,
) -> Result<String, String>
where
    P: serde::de::DeserializeOwned,
    R: serde::Serialize,
    E: std::fmt::Display,
{
    let params = if params.trim().is_empty() { "{}" } else { params };
    let params: P = serde_json::from_str(params).map_err(|e| format!("params: {e}"))?;
    let result = f(ctx, params).map_err(|e| e.to_string())?;
    serde_json::to_string(&result).map_err(|e| format!("the result is not JSON: {e}"))
}

/// Makes `f: fn(&Context, P) -> Result<R, E>` the task (`P` deserialisable,
/// `R` serialisable, `E` displayable). Write it once per crate.
#[cfg(feature = "task")]
#[macro_export]
macro_rules! task {
    ($f:path) => {
        struct __TaskboxTask;

        impl $crate::bindings::Guest for __TaskboxTask {
            fn run(ctx: $crate::Context, params: ::std::string::String) -> ::std::result::Result<::std::string::String, ::std::string::String> {
                $crate::call(&ctx, &params, $f)
            }
        }

        $crate::bindings::export_world!(__TaskboxTask with_types_in $crate::bindings);
    };
}

/// Writes a formatted line at `$level` to the run's logs.
#[cfg(feature = "task")]
#[macro_export]
macro_rules! log {
    ($level:ident, $($arg:tt)+) => {
        $crate::log($crate::Level::$level, &::std::format!($($arg)+))
    };
}

/// `trace!("…", args)`: a trace line in the run's logs.
#[cfg(feature = "task")]
#[macro_export]
macro_rules! trace { ($($arg:tt)+) => { $crate::log!(Trace, $($arg)+) }; }
/// `debug!("…", args)`: a debug line in the run's logs.
#[cfg(feature = "task")]
#[macro_export]
macro_rules! debug { ($($arg:tt)+) => { $crate::log!(Debug, $($arg)+) }; }
/// `info!("…", args)`: an info line in the run's logs.
#[cfg(feature = "task")]
#[macro_export]
macro_rules! info { ($($arg:tt)+) => { $crate::log!(Info, $($arg)+) }; }
/// `warn!("…", args)`: a warning line in the run's logs.
#[cfg(feature = "task")]
#[macro_export]
macro_rules! warn { ($($arg:tt)+) => { $crate::log!(Warn, $($arg)+) }; }
/// `error!("…", args)`: an error line in the run's logs.
#[cfg(feature = "task")]
#[macro_export]
macro_rules! error { ($($arg:tt)+) => { $crate::log!(Error, $($arg)+) }; }
