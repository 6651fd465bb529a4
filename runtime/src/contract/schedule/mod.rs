//! Schedules: the specs that say when a config fires, the status machine,
//! the history events the schedule backend keeps, the backend contract,
//! and the fired-ahead protocol.

pub mod ahead;
pub mod backend;
mod spec;
mod status;

pub use spec::{COUNT_CAP, ScheduleSpec, SpecError};
pub use status::{Action, HistoryEvent, Status, TransitionError};
