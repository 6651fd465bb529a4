//! Firing due ticks on Redis: each shard's entries in one `fire.lua`
//! call, confirmed by a replica before the ticks count as settled, and
//! the runs among them handed to their home shard (`handoff.rs`).

use chrono::Utc;
use serde::Serialize;

use super::schedule::{json, ms, rfc3339};
use super::{FIRE, RedisBackend, gates, lane_of};
use crate::contract::BackendError;
use crate::contract::job::Concurrency;
use crate::contract::schedule::backend::{Fire, Fired};

/// One entry of `fire.lua`'s arguments.
#[derive(Serialize)]
struct FireArgs {
    id: String,
    due_ms: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_ms: Option<String>,
    /// The run's lane (see `lua/common.lua`).
    #[serde(skip_serializing_if = "Option::is_none")]
    band: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exec: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gates: Option<String>,
    policy: &'static str,
    event: String,
    ending: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<String>,
    /// The shard to hand the run to (`handoff.rs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    home: Option<String>,
}

impl RedisBackend {
    /// Fires the entries of one shard.
    pub(super) async fn fire_on(&self, shard: usize, fires: &[&Fire]) -> Result<Vec<Fired>, BackendError> {
        let mut invocation = self.call(shard, &FIRE);
        invocation.arg(rfc3339(Utc::now()));
        let mut handed = false;
        for f in fires {
            let home = f.run.as_ref().and_then(|run| self.home_of(run));
            handed |= home.is_some();
            let args = FireArgs {
                id: f.config_id.to_string(),
                due_ms: ms(f.due),
                next_ms: f.next.map(ms),
                band: f.run.as_ref().map(lane_of),
                run: f.run.as_ref().map(json),
                exec: f.run.as_ref().map(|run| run.execution_id.to_string()),
                gates: f.run.as_ref().map(gates),
                policy: f.policy.as_str(),
                event: json(&f.event),
                ending: f.ending.as_str(),
                revision: f.revision.map(|r| r.to_string()),
                home: home.map(|h| h.to_string()),
            };
            invocation.arg(json(&args));
        }
        let results: Vec<i64> = invocation.invoke_async(&mut self.acked.clone()).await?;
        // A settled tick stays settled through a failover.
        self.replicated(shard).await?;
        let replaced = fires.iter().any(|f| f.policy == Concurrency::Replace);
        if handed || replaced {
            self.pass_on(shard, replaced).await;
        } else if results.contains(&1) {
            self.announce_queued().await;
        }
        Ok(results
            .into_iter()
            .map(|r| match r {
                1 => Fired::Enqueued,
                2 => Fired::Skipped,
                _ => Fired::Lost,
            })
            .collect())
    }
}
