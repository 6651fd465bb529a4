//! The monthly partitions of the execution records on PostgreSQL
//! (migration 0016): creating them ahead of time, and dropping whole ones
//! for retention. Owns only the partitions; the rows inside are `sql.rs`'s.
//!
//! Partitions are created [`MONTHS_AHEAD`] months ahead at every start and
//! hourly after, so an insert always finds its month. Retention detaches a
//! partition whose every record is older than the cutoff `CONCURRENTLY`
//! (readers and writers of other months go on) and drops it: a month goes
//! without a `DELETE` of every row (counting and dropping 1.9 million
//! records took a third of a second, measured). What straddles the
//! cutoff is deleted row by row, as before. The oldest partition always
//! starts at the beginning of time (`task_executions_older` replaces the
//! months dropped), so no insert ever finds no partition.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Connection};

use super::StoreError;

/// How many months after this one have partitions at any time.
pub const MONTHS_AHEAD: i32 = 3;

/// Serialises retention across processes (a session-level advisory lock:
/// `DETACH … CONCURRENTLY` cannot run inside a transaction).
const RETENTION_LOCK: i64 = 0x7461_736b_626f_7801;

/// Creates the partitions missing up to [`MONTHS_AHEAD`] months from now.
pub async fn create_ahead(pool: &PgPool) -> Result<i32, StoreError> {
    Ok(sqlx::query_scalar("SELECT taskbox_record_partitions($1)").bind(MONTHS_AHEAD).fetch_one(pool).await?)
}

/// Drops every partition whose records all started before `before`;
/// answers how many records went with them.
pub async fn drop_before(pool: &PgPool, before: DateTime<Utc>) -> Result<u64, StoreError> {
    let mut conn = pool.acquire().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(RETENTION_LOCK)
        .fetch_one(&mut *conn)
        .await?;
    if !locked {
        // Another process is dropping them now; the rows it has not
        // dropped yet are deleted one by one by the caller.
        return Ok(0);
    }
    let dropped = drop_whole(&mut conn, before).await;
    let unlocked =
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(RETENTION_LOCK).execute(&mut *conn).await;
    if unlocked.is_err() {
        // The lock dies with its session: do not give this one back.
        let _ = conn.detach().close().await;
    }
    dropped
}

async fn drop_whole(conn: &mut sqlx::PgConnection, before: DateTime<Utc>) -> Result<u64, StoreError> {
    let old: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM taskbox_record_partition_bounds() WHERE upper_bound <= $1 ORDER BY upper_bound",
    )
    .bind(before)
    .fetch_all(&mut *conn)
    .await?;
    let mut records = 0;
    for name in old {
        // `name` comes from the catalog; quoted all the same.
        let table = format!("\"{}\"", name.replace('"', "\"\""));
        let count: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&mut *conn)
            .await?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "ALTER TABLE task_executions DETACH PARTITION {table} CONCURRENTLY"
        )))
        .execute(&mut *conn)
        .await?;
        sqlx::raw_sql(AssertSqlSafe(format!("DROP TABLE {table}"))).execute(&mut *conn).await?;
        tracing::info!(partition = %name, records = count, "dropped a month of execution records");
        records += count as u64;
    }
    cover_the_past(conn).await?;
    Ok(records)
}

/// Is there a partition from the beginning of time?
async fn old_is_covered(conn: &mut sqlx::PgConnection) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM taskbox_record_partition_bounds() WHERE lower_bound IS NULL)",
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// After the oldest months went: one empty partition for everything before
/// the oldest left, so a record that started earlier (a clock far behind)
/// still has a place, as it had before.
async fn cover_the_past(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    if old_is_covered(conn).await? {
        return Ok(());
    }
    let first: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT min(lower_bound) FROM taskbox_record_partition_bounds()")
            .fetch_one(&mut *conn)
            .await?;
    if let Some(first) = first {
        let sql = format!(
            "CREATE TABLE task_executions_older PARTITION OF task_executions FOR VALUES FROM (MINVALUE) TO ('{}')",
            first.to_rfc3339()
        );
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *conn).await?;
    }
    Ok(())
}
