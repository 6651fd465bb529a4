//! The scheduler service: the only way schedules change and the only way
//! the API reads them. It combines the config store (what a config says)
//! with the schedule backend (status, entry, history) so that every action
//! is one atomic backend step, and it runs the loop that fires due entries.
//! It never speaks HTTP and never runs a task.

mod enqueue;
mod firing;
mod read;
mod reconcile;
mod service;

pub use enqueue::{Backfilled, MAX_BACKFILL, Requested, RunRequest};
pub use firing::{fire_due, fire_loop};
pub use read::{ScheduleItem, Summary};
pub use reconcile::{Reconciled, watch_state};
pub use service::{ActionDone, ScheduleView, SchedulerService, ServiceError};
