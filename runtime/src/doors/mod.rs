//! The doors (DESIGN §9) as the host's policy: what a plugin may reach
//! beyond its sandbox. [`outbound`] parses and checks the outbound-HTTP
//! allowlist and the private-address rule (also used for notifications);
//! [`secrets`] seals secrets at rest and resolves a run's grants.
//!
//! The guest side of each door (the WASI bindings a run links) lives in
//! the executor; the key-value contract lives in `contract::kv`.

pub mod outbound;
pub mod secrets;
