//! The shared wasmtime engine and the epoch ticker that drives deadlines.

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
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self { max_instances: 256, max_memory_mb: 4096 }
    }
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

/// Increments the engine's epoch every [`TICK`] on an absolute schedule (so
/// sleep overshoot does not accumulate), but only while some run holds a
/// [`TickGuard`]: an idle process does not wake up a thousand times a second.
pub(crate) struct EpochTicker {
    shared: Arc<TickerShared>,
    thread: Thread,
}

struct TickerShared {
    active: AtomicUsize,
    stop: AtomicBool,
}

/// Keeps the ticker running while alive.
pub(crate) struct TickGuard<'a>(&'a EpochTicker);

impl EpochTicker {
    pub(crate) fn start(engine: Engine) -> Self {
        let shared = Arc::new(TickerShared { active: AtomicUsize::new(0), stop: AtomicBool::new(false) });
        let s = shared.clone();
        let handle = thread::Builder::new()
            .name("taskbox-epoch".into())
            .spawn(move || tick_loop(&engine, &s))
            .expect("spawning the epoch ticker thread");
        Self { shared, thread: handle.thread().clone() }
    }

    pub(crate) fn hold(&self) -> TickGuard<'_> {
        if self.shared.active.fetch_add(1, Ordering::AcqRel) == 0 {
            self.thread.unpark();
        }
        TickGuard(self)
    }
}

impl Drop for TickGuard<'_> {
    fn drop(&mut self) {
        self.0.shared.active.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

fn tick_loop(engine: &Engine, shared: &TickerShared) {
    let mut next = Instant::now() + TICK;
    while !shared.stop.load(Ordering::Acquire) {
        if shared.active.load(Ordering::Acquire) == 0 {
            thread::park();
            next = Instant::now() + TICK;
            continue;
        }
        let now = Instant::now();
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
