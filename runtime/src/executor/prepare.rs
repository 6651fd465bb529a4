//! Telling the two accepted plugin shapes apart and pre-linking them.

use serde::Serialize;
use wasmtime::component::Component;
use wasmtime_wasi::p2::bindings::CommandPre;

use super::Executor;
use super::bindings::TaskPre;
use super::state::RunState;

/// The two component shapes of DESIGN §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Targets `taskbox:plugin/task`: exports `run(ctx, params)`.
    Task,
    /// A plain `wasi:cli/command`: params on stdin and in `TASKBOX_PARAMS`.
    Command,
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Shape::Task => "task",
            Shape::Command => "command",
        })
    }
}

/// A compiled component linked against the host, ready to instantiate.
#[derive(Clone)]
pub struct Prepared(pub(crate) Linked);

#[derive(Clone)]
pub(crate) enum Linked {
    Task(TaskPre<RunState>),
    Command(CommandPre<RunState>),
}

impl Prepared {
    pub fn shape(&self) -> Shape {
        match self.0 {
            Linked::Task(_) => Shape::Task,
            Linked::Command(_) => Shape::Command,
        }
    }
}

/// Why a compiled component cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(
        "exports neither `run` (the taskbox:plugin/task world) nor `wasi:cli/run` \
         (a WASI command); it exports: [{0}]"
    )]
    UnknownShape(String),
    #[error("cannot be linked: {0:#}")]
    Link(wasmtime::Error),
    #[error("looks like a {shape} plugin but does not match its interface: {source:#}")]
    Mismatch { shape: Shape, source: wasmtime::Error },
}

impl Executor {
    /// Decides the component's shape from its exports, links it, and checks
    /// its signature, so every later run skips all of that.
    pub fn prepare(&self, component: &Component) -> Result<Prepared, PrepareError> {
        let engine = self.engine();
        let exports: Vec<String> =
            component.component_type().exports(engine).map(|(name, _)| name.to_owned()).collect();
        let shape = if exports.iter().any(|e| e == "run") {
            Shape::Task
        } else if exports.iter().any(|e| e.starts_with("wasi:cli/run@")) {
            Shape::Command
        } else {
            return Err(PrepareError::UnknownShape(exports.join(", ")));
        };
        let pre = self.shared.linker.instantiate_pre(component).map_err(PrepareError::Link)?;
        let mismatch = |source| PrepareError::Mismatch { shape, source };
        Ok(Prepared(match shape {
            Shape::Task => Linked::Task(TaskPre::new(pre).map_err(mismatch)?),
            Shape::Command => Linked::Command(CommandPre::new(pre).map_err(mismatch)?),
        }))
    }
}
