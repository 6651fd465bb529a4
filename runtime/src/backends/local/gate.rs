//! Handing waiting rows to a worker: the rows that wait for a slot (a
//! config's or a task type's `max_concurrency`) are taken, in order, only
//! while fewer rows of their config (task type) than the limit are held;
//! the rest fill the claim.

use chrono::Utc;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use std::collections::HashMap;
use uuid::Uuid;

use super::LocalBackend;
use super::codec::{band_of, ms, parse_handle};
use crate::contract::BackendError;
use crate::contract::job::QueuedRun;
use crate::contract::queue::Delivery;

/// The ids of gated waiting rows a claim may take now, at most `max`, in
/// order: while fewer rows of a run's config (task type) than its limit
/// are held by workers, counting the ones taken here.
async fn gated_ready(tx: &mut SqliteConnection, now: i64, max: usize) -> Result<Vec<i64>, BackendError> {
    /// A waiting row: id, config, task type, its limits.
    type Waiting = (i64, Uuid, Option<String>, Option<i64>, Option<i64>);
    let waiting: Vec<Waiting> = sqlx::query_as(
        "SELECT id, config_id, task_type, cfg_limit, type_limit FROM local_queue \
         WHERE consumer IS NULL AND (cfg_limit IS NOT NULL OR type_limit IS NOT NULL) AND ready_ms <= ? \
         ORDER BY band, id LIMIT ?",
    )
    .bind(now)
    .bind((max * 8 + 64) as i64)
    .fetch_all(&mut *tx)
    .await?;
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    let held: Vec<(Uuid, Option<String>, bool, bool)> = sqlx::query_as(
        "SELECT config_id, task_type, cfg_limit IS NOT NULL, type_limit IS NOT NULL FROM local_queue \
         WHERE consumer IS NOT NULL AND (cfg_limit IS NOT NULL OR type_limit IS NOT NULL)",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut by_config: HashMap<Uuid, i64> = HashMap::new();
    let mut by_type: HashMap<String, i64> = HashMap::new();
    for (config, task_type, counts_config, counts_type) in held {
        if counts_config {
            *by_config.entry(config).or_default() += 1;
        }
        if let (true, Some(t)) = (counts_type, task_type) {
            *by_type.entry(t).or_default() += 1;
        }
    }
    let mut taken = Vec::new();
    for (id, config, task_type, cfg_limit, type_limit) in waiting {
        let task_type = task_type.unwrap_or_default();
        let config_room = cfg_limit.is_none_or(|l| by_config.get(&config).copied().unwrap_or(0) < l);
        let type_room = type_limit.is_none_or(|l| by_type.get(&task_type).copied().unwrap_or(0) < l);
        if !(config_room && type_room) {
            continue;
        }
        if cfg_limit.is_some() {
            *by_config.entry(config).or_default() += 1;
        }
        if type_limit.is_some() {
            *by_type.entry(task_type).or_default() += 1;
        }
        taken.push(id);
        if taken.len() == max {
            break;
        }
    }
    Ok(taken)
}

impl LocalBackend {
    /// Hands the rows chosen by `pick` (a subquery of ids, in order) to
    /// `consumer`, at most `max`, and reads them back as deliveries. With
    /// `gated`, the rows that wait for a slot are taken first, as far as
    /// their limits allow, and `pick` fills the rest.
    pub(super) async fn hand_out(
        &self,
        consumer: &str,
        max: usize,
        gated: bool,
        pick: impl FnOnce(&mut QueryBuilder<Sqlite>),
    ) -> Result<Vec<Delivery>, BackendError> {
        let mut tx = self.db.write().await?;
        let first = match gated {
            true => gated_ready(&mut tx, ms(Utc::now()), max).await?,
            false => Vec::new(),
        };
        let mut q = QueryBuilder::<Sqlite>::new("UPDATE local_queue SET consumer = ");
        q.push_bind(consumer.to_owned())
            .push(", deliveries = deliveries + 1, claims = claims + 1 WHERE id IN (NULL");
        for id in &first {
            q.push(", ").push_bind(*id);
        }
        q.push(") OR id IN (");
        pick(&mut q);
        q.push(" LIMIT ")
            .push_bind((max - first.len()) as i64)
            .push(") RETURNING id, band, run, deliveries, claims, cancel_by");
        let rows: Vec<(i64, i64, String, i64, i64, Option<String>)> =
            q.build_query_as().fetch_all(&mut *tx).await?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, band, run, deliveries, claims, cancel_by) in rows {
            match serde_json::from_str::<QueuedRun>(&run)
                .map(|run| QueuedRun { cancelled_by: cancel_by, ..run })
            {
                Ok(run) => out.push(Delivery {
                    band: band_of(band),
                    handle: format!("{id}:{claims}"),
                    deliveries: deliveries as u64,
                    run,
                }),
                Err(e) => {
                    tracing::error!(id, error = %e, "dropping unreadable queue entry");
                    sqlx::query("DELETE FROM local_queue WHERE id = ?").bind(id).execute(&mut *tx).await?;
                }
            }
        }
        tx.commit().await?;
        out.sort_by_key(|d| (d.band, parse_handle(&d.handle).map_or(0, |(id, _)| id)));
        Ok(out)
    }
}
