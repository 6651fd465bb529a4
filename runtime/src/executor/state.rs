//! What a store holds during one run: the WASI context, the memory limiter,
//! the doors' state (outbound HTTP, key-value), and the host side of
//! `taskbox:plugin/host`.

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::{Level, taskbox::plugin::host};
use super::capture::Capture;
use super::http_door::HttpDoor;
use super::kv_door::{KvDoor, KvView};

pub(crate) struct RunState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) memory: MemoryCap,
    /// Lines from the `log` import, bounded like stdout.
    pub(crate) log: Capture,
    pub(crate) http: WasiHttpCtx,
    pub(crate) http_door: HttpDoor,
    /// `None`: the plugin may open no bucket.
    pub(crate) kv: Option<KvDoor>,
}

impl RunState {
    /// What the key-value door's host functions reach.
    pub(crate) fn kv_view(&mut self) -> KvView<'_> {
        KvView { door: self.kv.as_ref(), table: &mut self.table, log: &self.log }
    }
}

impl WasiHttpView for RunState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.http_door }
    }
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl host::Host for RunState {
    fn log(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        };
        self.log.write_line(level, &message);
    }
}

/// Caps the total linear memory of one run and remembers a refusal, so a
/// failure caused by it can be named as such.
pub(crate) struct MemoryCap {
    limit: usize,
    total: usize,
    /// The largest total a refused growth asked for.
    pub(crate) refused: Option<usize>,
}

impl MemoryCap {
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit, total: 0, refused: None }
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total - current.min(self.total) + desired;
        if total > self.limit {
            self.refused = Some(self.refused.unwrap_or(0).max(total));
            return Ok(false);
        }
        self.total = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

impl super::bindings::taskbox::plugin::types::Host for RunState {}
