//! Schedules: the specs that say when a config fires, the status machine,
//! and the history events the schedule backend keeps.

pub mod backend;
mod spec;
mod status;

pub use spec::{ScheduleSpec, SpecError};
pub use status::{Action, HistoryEvent, Status, TransitionError};
