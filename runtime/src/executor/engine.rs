//! The shared wasmtime engine and the epoch ticker that drives deadlines.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// One epoch tick. Deadlines are counted in ticks, so this is their precision.
pub(crate) const TICK: Duration = Duration::from_millis(1);

/// Engine-wide sizing. Per-run limits (deadline, memory cap, output bound)
/// live in [`super::Limits`].
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Instances that may run at once; further runs wait for a slot.
    pub max_instances: u32,
    /// The largest memory cap any run may ask for.
    pub max_memory_mb: u64,
    /// PEM certificates trusted for plugins' outbound HTTPS besides webpki's
    /// roots (a private CA).
    pub extra_ca_file: Option<PathBuf>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self { max_instances: 256, max_memory_mb: 4096, extra_ca_file: None }
    }
}

/// The TLS client configuration every outbound HTTPS request uses.
pub(crate) fn tls_config(extra_ca_file: Option<&Path>) -> wasmtime::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
    if let Some(path) = extra_ca_file {
        let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| wasmtime::format_err!("CA file {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(wasmtime::format_err!("CA file {}: no certificate in it", path.display()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| wasmtime::format_err!("CA file {}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| wasmtime::format_err!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

pub(crate) fn build(settings: &EngineSettings) -> wasmtime::Result<Engine> {
    let slots = settings.max_instances;
    let mut pool = PoolingAllocationConfig::default();
    // A Rust wasip2 component is a handful of core instances with one memory
    // and a few tables; size the pool so `slots` such components fit.
    pool.total_component_instances(slots)
        .total_core_instances(slots * 8)
        .total_memories(slots * 2)
        .total_tables(slots * 4)
        .total_stacks(slots)
        .max_tables_per_module(4)
        .max_memory_size((settings.max_memory_mb as usize) << 20)
        // Keeping a little memory resident avoids an madvise (and a TLB
        // shootdown) per run; measured 28 µs → 17 µs per trivial run.
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(64 << 10);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// How long the ticker keeps ticking after the last run ends, so back-to-back
/// runs do not pay a thread wake-up each.
const IDLE_BEFORE_PARKING: Duration = Duration::from_millis(200);

/// Increments the engine's epoch every [`TICK`] on an absolute schedule (so
/// sleep overshoot does not accumulate), but only while runs are in flight
/// (or were, within [`IDLE_BEFORE_PARKING`]): an idle process does not wake
/// up a thousand times a second.
pub(crate) struct EpochTicker {
    shared: Arc<TickerShared>,
    thread: Thread,
}

struct TickerShared {
    /// Runs holding a [`TickGuard`].
    active: AtomicUsize,
    /// The ticker thread is parked (or about to park) and needs a wake-up.
    parked: AtomicBool,
    stop: AtomicBool,
}

/// Keeps the ticker running while alive.
pub(crate) struct TickGuard<'a>(&'a EpochTicker);

impl EpochTicker {
    pub(crate) fn start(engine: Engine) -> Self {
        let shared = Arc::new(TickerShared {
            active: AtomicUsize::new(0),
            parked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let handle = thread::Builder::new()
            .name("taskbox-epoch".into())
            .spawn(move || tick_loop(&engine, &s))
            .expect("spawning the epoch ticker thread");
        Self { shared, thread: handle.thread().clone() }
    }

    pub(crate) fn hold(&self) -> TickGuard<'_> {
        self.shared.active.fetch_add(1, Ordering::SeqCst);
        if self.shared.parked.load(Ordering::SeqCst) {
            self.thread.unpark();
        }
        TickGuard(self)
    }
}

impl Drop for TickGuard<'_> {
    fn drop(&mut self) {
        self.0.shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

fn tick_loop(engine: &Engine, shared: &TickerShared) {
    let mut next = Instant::now() + TICK;
    let mut last_busy = Instant::now();
    while !shared.stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if shared.active.load(Ordering::SeqCst) > 0 {
            last_busy = now;
        } else if now - last_busy > IDLE_BEFORE_PARKING {
            // Announce the park first, then re-check: a run that started in
            // between either is seen here or sees `parked` and unparks us.
            shared.parked.store(true, Ordering::SeqCst);
            if shared.active.load(Ordering::SeqCst) == 0 && !shared.stop.load(Ordering::SeqCst) {
                thread::park();
            }
            shared.parked.store(false, Ordering::SeqCst);
            last_busy = Instant::now();
            next = last_busy + TICK;
            continue;
        }
        if next > now {
            thread::sleep(next - now);
        } else if now - next > 10 * TICK {
            // We were descheduled for a while: resynchronise instead of
            // firing a burst of catch-up ticks.
            next = now;
        }
        engine.increment_epoch();
        next += TICK;
    }
}
