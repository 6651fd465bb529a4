//! The engine: the loops that move work. [`scheduler`] is the scheduler
//! service (schedule actions as one atomic backend step, the fire loop,
//! startup reconciliation); [`worker`] takes runs off the queue, runs them
//! in the executor, records and acknowledges them; [`notifier`] tells a
//! config's webhook of its outcomes; [`reload`] follows the plugin
//! directory; [`workflow`] conducts the runs of workflow configs.
//!
//! Speaks no HTTP and knows no front end: the application layer above
//! calls it, and it reaches schedules, queues and records only through the
//! contracts and the store below.

pub mod notifier;
pub mod reload;
pub mod scheduler;
pub mod worker;
pub mod workflow;
