//! Handing waiting rows to a worker of their group: the rows that wait
//! for a slot (a config's or a task type's `max_concurrency`) are taken, in
//! order, only while fewer rows of their config (task type) than the limit
//! are held, and those with a rate only while fewer than its `max` started
//! in its window (a claim here is a start: it is logged in
//! `local_rate_log`); the rest fill the claim.

use chrono::Utc;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use std::collections::HashMap;
use uuid::Uuid;

use super::LocalBackend;
use super::codec::{band_of, ms, parse_handle};
use super::queue::push_groups;
use crate::contract::BackendError;
use crate::contract::job::QueuedRun;
use crate::contract::queue::{Consumer, Delivery};

/// A waiting row that something may hold back.
#[derive(sqlx::FromRow)]
struct Waiting {
    id: i64,
    config_id: Uuid,
    task_type: Option<String>,
    cfg_limit: Option<i64>,
    type_limit: Option<i64>,
    cfg_rate: Option<String>,
    type_rate: Option<String>,
}

/// A rate as a row keeps it ('<max>/<window ms>').
fn parse_rate(text: &str) -> Option<(i64, i64)> {
    let (max, window) = text.split_once('/')?;
    Some((max.parse().ok()?, window.parse().ok()?))
}

/// Starts of rate-limited runs within their windows, by gate: read from
/// `local_rate_log` as first needed (dropping entries past the window),
/// then counted on as this claim takes rows.
struct Rates {
    now: i64,
    used: HashMap<String, i64>,
}

impl Rates {
    async fn room(
        &mut self,
        tx: &mut SqliteConnection,
        gate: &str,
        (max, window): (i64, i64),
    ) -> Result<bool, BackendError> {
        if !self.used.contains_key(gate) {
            sqlx::query("DELETE FROM local_rate_log WHERE gate = ? AND at_ms <= ?")
                .bind(gate)
                .bind(self.now - window)
                .execute(&mut *tx)
                .await?;
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM local_rate_log WHERE gate = ?")
                .bind(gate)
                .fetch_one(&mut *tx)
                .await?;
            self.used.insert(gate.to_owned(), n);
        }
        Ok(self.used[gate] < max)
    }

    async fn start(&mut self, tx: &mut SqliteConnection, gate: &str) -> Result<(), BackendError> {
        sqlx::query("INSERT INTO local_rate_log (gate, at_ms) VALUES (?, ?)")
            .bind(gate)
            .bind(self.now)
            .execute(&mut *tx)
            .await?;
        *self.used.entry(gate.to_owned()).or_default() += 1;
        Ok(())
    }
}

/// The ids of gated waiting rows of `groups` a claim may take now, at most
/// `max`, in order: while fewer rows of a run's config (task type) than
/// its limit are held by workers, and fewer runs of it than its rate
/// started in the rate's window, counting the ones taken here (whose
/// starts are logged).
async fn gated_ready(
    tx: &mut SqliteConnection,
    now: i64,
    groups: &[String],
    max: usize,
) -> Result<Vec<i64>, BackendError> {
    let mut q = QueryBuilder::<Sqlite>::new(
        "SELECT id, config_id, task_type, cfg_limit, type_limit, cfg_rate, type_rate FROM local_queue \
         WHERE consumer IS NULL AND (cfg_limit IS NOT NULL OR type_limit IS NOT NULL \
         OR cfg_rate IS NOT NULL OR type_rate IS NOT NULL) AND ready_ms <= ",
    );
    q.push_bind(now).push(" AND worker_group IN ");
    push_groups(&mut q, groups);
    q.push(" ORDER BY band, id LIMIT ").push_bind((max * 8 + 64) as i64);
    let waiting: Vec<Waiting> = q.build_query_as().fetch_all(&mut *tx).await?;
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
    let mut rates = Rates { now, used: HashMap::new() };
    let mut taken = Vec::new();
    for row in waiting {
        let task_type = row.task_type.clone().unwrap_or_default();
        let config = row.config_id;
        let config_room = row.cfg_limit.is_none_or(|l| by_config.get(&config).copied().unwrap_or(0) < l);
        let type_room = row.type_limit.is_none_or(|l| by_type.get(&task_type).copied().unwrap_or(0) < l);
        if !(config_room && type_room) {
            continue;
        }
        let row_rates: Vec<(String, (i64, i64))> = [
            row.cfg_rate.as_deref().and_then(parse_rate).map(|r| (format!("c:{config}"), r)),
            row.type_rate.as_deref().and_then(parse_rate).map(|r| (format!("t:{task_type}"), r)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut rate_room = true;
        for (gate, rate) in &row_rates {
            rate_room &= rates.room(tx, gate, *rate).await?;
        }
        if !rate_room {
            continue;
        }
        for (gate, _) in &row_rates {
            rates.start(tx, gate).await?;
        }
        if row.cfg_limit.is_some() {
            *by_config.entry(config).or_default() += 1;
        }
        if row.type_limit.is_some() {
            *by_type.entry(task_type).or_default() += 1;
        }
        taken.push(row.id);
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
        consumer: &Consumer,
        max: usize,
        gated: bool,
        pick: impl FnOnce(&mut QueryBuilder<Sqlite>),
    ) -> Result<Vec<Delivery>, BackendError> {
        let mut tx = self.db.write().await?;
        let first = match gated {
            true => gated_ready(&mut tx, ms(Utc::now()), &consumer.groups, max).await?,
            false => Vec::new(),
        };
        let mut q = QueryBuilder::<Sqlite>::new("UPDATE local_queue SET consumer = ");
        q.push_bind(consumer.name.clone())
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
