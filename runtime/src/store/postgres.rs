//! The config and token stores on PostgreSQL (the distributed deployment):
//! the pool, and what PostgreSQL does its own way ([`Dialect`]): `ILIKE`,
//! the database's clock, a patch under `FOR UPDATE`, a batch of records as
//! one `UNNEST` insert, the p95 as `percentile_cont`, and the records'
//! monthly partitions (`partitions.rs`).
//!
//! Every query both databases run as it is lives in `sql.rs`, never here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Postgres, QueryBuilder};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use uuid::Uuid;

use super::dialect::Dialect;
use super::partitions;
use super::rollups::{self, Inserted, RETURNED};
use super::sql::{RECORD_COLUMNS, Sql};
use super::*;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

type Q = Sql<Postgres>;

/// A pooled connection idle this long is pinged before it is used again.
/// Where a change of a current plugin version is announced.
const HEADS_CHANNEL: &str = "taskbox_plugin_heads";
const IDLE_PING: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// When a connection was last found broken (ms since the epoch): every
    /// connection opened before then is pinged before its next use.
    lost_at: Arc<AtomicI64>,
}

impl PgStore {
    /// Connects lazily: the pool opens connections on first use, so a
    /// database that is down at start is an error on use, not a crash.
    pub fn connect_lazy(url: &str) -> Result<Self, StoreError> {
        let lost_at = Arc::new(AtomicI64::new(0));
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(3))
            // sqlx already pings every connection it takes back, so the
            // ping before each use only catches one that broke while idle
            // (a restarted server): do it for those alone, not on every
            // query, where it doubled the round trips. The price: right
            // after a restart, a connection idle for less than IDLE_PING
            // fails its one query and is discarded, and marks every older
            // connection for a ping too (`connections_lost`), so a read
            // asked again gets a live one.
            .test_before_acquire(false)
            .before_acquire({
                let lost_at = lost_at.clone();
                move |conn, meta| {
                    let opened_ms = chrono::Utc::now().timestamp_millis() - meta.age.as_millis() as i64;
                    let suspect = opened_ms <= lost_at.load(Ordering::Relaxed);
                    Box::pin(async move {
                        if suspect || meta.idle_for >= IDLE_PING {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                }
            })
            .connect_lazy(url)
            .map_err(StoreError::from)?;
        Ok(Self { pool, lost_at })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// One column of a batch, for binding as an array.
fn column<'a, T>(records: &'a [ExecutionRecord], f: impl Fn(&'a ExecutionRecord) -> T) -> Vec<T> {
    records.iter().map(f).collect()
}

#[async_trait]
impl Dialect for PgStore {
    type DB = Postgres;
    const LIKE: &'static str = "ILIKE";
    const HAS_TAG: (&'static str, &'static str) = ("tags @> jsonb_build_array(", "::text)");

    fn connections_lost(&self) {
        self.lost_at.store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn run_migrations(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        partitions::create_ahead(&self.pool).await?;
        Ok(())
    }

    async fn housekeep(&self) -> Result<(), StoreError> {
        partitions::create_ahead(&self.pool).await?;
        Ok(())
    }

    async fn insert_config(&self, new: NewConfig) -> Result<TaskConfig, StoreError> {
        let mut q = Q::insert_config(&new, Self::CLOCK);
        q.build_query_as().fetch_one(&self.pool).await.map_err(|e| unique_name(e, &new.name))
    }

    async fn patch_config(&self, id: Uuid, patch: &ConfigPatch) -> Result<Option<TaskConfig>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let patched = Q::patch(&mut tx, id, patch, " FOR UPDATE", Self::CLOCK).await?;
        tx.commit().await?;
        Ok(patched)
    }

    async fn remove_config(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = Q::delete_config(id).build().execute(&mut *tx).await?;
        rollups::forget::<Postgres>(&mut tx, id).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn insert_executions(&self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        // One array per column: a batch costs twenty-one binds, however large.
        // A record whose config was deleted meanwhile keeps a NULL config_id
        // rather than failing the batch on the foreign key.
        let sql = format!(
            "INSERT INTO task_executions ({RECORD_COLUMNS}) \
             SELECT c.id, u.execution_id, u.attempt, u.trigger, u.task_type, u.scheduled_at, u.started_at, \
             u.completed_at, u.duration_seconds, u.is_success, u.result, u.error_message, u.logs, \
             u.plugin_digest, u.worker, u.parameters, u.timeout_seconds, u.cancelled_by, \
             u.workflow_execution_id, u.step, u.step_index \
             FROM UNNEST($1::uuid[], $2::uuid[], $3::int4[], $4::text[], $5::text[], $6::timestamptz[], \
             $7::timestamptz[], $8::timestamptz[], $9::float8[], $10::bool[], $11::jsonb[], $12::text[], \
             $13::text[], $14::text[], $15::text[], $16::jsonb[], $17::float8[], $18::text[], $19::uuid[], \
             $20::text[], $21::int4[]) \
             AS u({RECORD_COLUMNS}) \
             LEFT JOIN task_configs c ON c.id = u.config_id \
             WHERE NOT EXISTS (SELECT 1 FROM task_executions e \
             WHERE e.execution_id = u.execution_id AND e.attempt = u.attempt) \
             ON CONFLICT (execution_id, attempt, started_at) DO NOTHING{RETURNED}"
        );
        let mut tx = self.pool.begin().await?;
        // One record per attempt: the table is partitioned by started_at, so
        // its key cannot hold an attempt alone (migration 0016); the same
        // record committed twice meets the key, and an attempt recorded
        // with another start (run again after a reclaim, found by the
        // worker's look-up first) meets the NOT EXISTS above. Two commits of
        // one attempt with different starts in the same instant (a run
        // reclaimed while its first worker, silent for 10 s, was still on
        // it, both finishing together) could both land, which the key on
        // (execution_id, attempt) before 0016 refused.
        let inserted: Vec<Inserted> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(column(records, |r| r.config_id))
            .bind(column(records, |r| r.execution_id))
            .bind(column(records, |r| r.attempt))
            .bind(column(records, |r| r.trigger.as_str()))
            .bind(column(records, |r| r.task_type.as_str()))
            .bind(column(records, |r| r.scheduled_at))
            .bind(column(records, |r| r.started_at))
            .bind(column(records, |r| r.completed_at))
            .bind(column(records, |r| r.duration_seconds))
            .bind(column(records, |r| r.is_success))
            .bind(column(records, |r| r.result.clone()))
            .bind(column(records, |r| r.error_message.as_deref()))
            .bind(column(records, |r| r.logs.as_str()))
            .bind(column(records, |r| r.plugin_digest.as_deref()))
            .bind(column(records, |r| r.worker.as_str()))
            .bind(column(records, |r| r.parameters.clone()))
            .bind(column(records, |r| r.timeout_seconds))
            .bind(column(records, |r| r.cancelled_by.as_deref()))
            .bind(column(records, |r| r.workflow_execution_id))
            .bind(column(records, |r| r.step.as_deref()))
            .bind(column(records, |r| r.step_index))
            .fetch_all(&mut *tx)
            .await?;
        rollups::add::<Postgres>(&mut tx, &inserted).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn p95(&self, filter: &ExecutionFilter, sample: i64) -> Result<Option<f64>, StoreError> {
        let mut q = QueryBuilder::new("SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY d) FROM (");
        Q::latest_durations(&mut q, filter, sample);
        q.push(") AS sample");
        Ok(q.build_query_scalar().fetch_one(&self.pool).await?)
    }

    async fn remove_executions_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        // Whole months first, then what is left before the cutoff row by row.
        let dropped = partitions::drop_before(&self.pool, before).await?;
        let mut tx = self.pool.begin().await?;
        let runs = Q::delete_executions_before(before, false).build().execute(&mut *tx).await?;
        let steps = Q::delete_executions_before(before, true).build().execute(&mut *tx).await?;
        rollups::trim::<Postgres>(&mut tx, before).await?;
        tx.commit().await?;
        Ok(dropped + runs.rows_affected() + steps.rows_affected())
    }

    async fn insert_token(&self, name: &str, role: TokenRole, sha256: &str) -> Result<ApiToken, StoreError> {
        let mut q = tokens::insert(name, role, sha256, Self::CLOCK);
        q.build_query_as().fetch_one(&self.pool).await.map_err(|e| unique_token(e, name))
    }

    async fn remove_token(&self, name: &str) -> Result<bool, StoreError> {
        self.execute(tokens::delete(name)).await.map(|n| n > 0)
    }

    async fn execute(&self, mut q: QueryBuilder<Postgres>) -> Result<u64, StoreError> {
        Ok(q.build().execute(&self.pool).await?.rows_affected())
    }

    /// LISTENs on the channel a trigger on `plugin_heads` notifies
    /// (migration 0012), on a connection of its own; the stream ends at the
    /// first error (a lost connection), for the caller to listen again.
    async fn listen_heads(&self) -> Result<Option<HeadChanges>, StoreError> {
        use futures::StreamExt;
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        // A lost connection ends the stream rather than being mended
        // silently, with what was announced meanwhile missed.
        listener.eager_reconnect(false);
        listener.listen(HEADS_CHANNEL).await?;
        let changes = futures::stream::unfold(listener, |mut listener| async move {
            match listener.try_recv().await {
                Ok(Some(_)) => Some(((), listener)),
                Ok(None) | Err(_) => None,
            }
        });
        Ok(Some(changes.boxed()))
    }
}
