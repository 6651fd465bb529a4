//! The executor: runs one execution in a fresh sandboxed instance.
//!
//! Owns the shared [`wasmtime::Engine`], the linker that defines what a plugin
//! may import, the epoch ticker behind deadlines, and the turning of whatever
//! a guest did (returned, failed, trapped, overran its deadline or memory
//! cap, flooded its output) into an [`Outcome`]. It never queues, retries,
//! schedules or touches SQL: callers hand it a prepared plugin and a request
//! and get an outcome back — never an error, never a panic.

mod bindings;
mod capture;
mod engine;
mod http_door;
mod kv_door;
mod outcome;
mod prepare;
mod redact;
mod run;
mod state;
mod verdict;

pub use engine::EngineSettings;
pub use http_door::{DEFAULT_HTTP_LIMITS, HttpLimits};
pub use outcome::{CANCELLED, Doors, Limits, Outcome, RunContext, RunRequest};
pub use prepare::{PrepareError, Prepared, Shape};
pub use run::{DirGrant, Grants, Runnable};

use std::sync::Arc;
use tokio::sync::Semaphore;
use wasmtime::component::Linker;

use engine::EpochTicker;
use state::RunState;

/// Cheap-to-clone handle to the sandbox: one engine for the whole process.
#[derive(Clone)]
pub struct Executor {
    shared: Arc<Shared>,
}

struct Shared {
    engine: wasmtime::Engine,
    /// WASI p2, `wasi:http` (outgoing), `wasi:keyvalue` and the
    /// `taskbox:plugin/host` interface; both shapes link here.
    linker: Linker<RunState>,
    /// TLS for outbound HTTPS: webpki's roots plus the configured CA file.
    tls: Arc<rustls::ClientConfig>,
    /// Drives epoch-based deadlines; ticks only while a run is in flight.
    ticker: EpochTicker,
    /// One permit per pooled instance slot, so a burst of runs waits for a
    /// slot instead of failing on an exhausted pool.
    slots: Semaphore,
}

/// The executor could not be set up (bad engine settings, or an OS refusal
/// such as no virtual address space for the instance pool).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the wasm sandbox: {0:#}")]
pub struct SetupError(wasmtime::Error);

impl Executor {
    pub fn new(settings: EngineSettings) -> Result<Self, SetupError> {
        let engine = engine::build(&settings).map_err(SetupError)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(SetupError)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(SetupError)?;
        kv_door::add_to_linker(&mut linker, RunState::kv_view).map_err(SetupError)?;
        bindings::Task::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(SetupError)?;
        let tls = engine::tls_config(settings.extra_ca_file.as_deref()).map_err(SetupError)?;
        Ok(Self {
            shared: Arc::new(Shared {
                tls,
                ticker: EpochTicker::start(engine.clone()),
                slots: Semaphore::new(settings.max_instances as usize),
                engine,
                linker,
            }),
        })
    }

    /// The engine, for compiling and (de)serialising components.
    pub fn engine(&self) -> &wasmtime::Engine {
        &self.shared.engine
    }
}
