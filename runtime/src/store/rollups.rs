//! Running totals of execution records, so that a count, a success rate or
//! an average over any window costs the window's buckets, not its rows.
//!
//! Owns the `execution_rollups` table: per config (its `scope`), and for
//! every record under the nil id, the count, the successes and the sum of
//! durations of the records that started in each minute and each hour. The
//! store's writes keep it in the transaction that changes the records
//! ([`add`], [`forget`], [`trim`]); reads sum it ([`sums`]): the hours a
//! window covers whole, the minutes of the hour it starts in, and the
//! records of the minute it starts in. It never holds a record or a
//! duration's distribution (the p95 is the dialect's, from a sample).

use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, IntoArguments, QueryBuilder, Type};
use std::collections::BTreeMap;
use uuid::Uuid;

use super::StoreError;
use super::model::ExecutionFilter;

/// The bucket lengths kept, in seconds.
const MINUTE: i64 = 60;
const HOUR: i64 = 3600;

/// The scope of the totals over every record (configs have random ids).
pub(super) const ALL: Uuid = Uuid::nil();

/// What an insert of records hands back of each row it really inserted
/// (a re-delivered attempt that was stored already is not among them).
#[derive(Debug, sqlx::FromRow)]
pub(super) struct Inserted {
    config_id: Option<Uuid>,
    started_at: DateTime<Utc>,
    is_success: bool,
    duration_seconds: f64,
    /// A step run of a workflow: not counted (its workflow run is).
    step: Option<String>,
}

/// The columns an insert of records returns for [`add`].
pub(super) const RETURNED: &str = " RETURNING config_id, started_at, is_success, duration_seconds, step";

/// Totals of some records.
#[derive(Debug, Default, Clone, Copy, PartialEq, sqlx::FromRow)]
pub(super) struct Sums {
    pub total: i64,
    pub successes: i64,
    pub duration_sum: Option<f64>,
}

impl Sums {
    fn add(&mut self, is_success: bool, duration: f64) {
        self.total += 1;
        self.successes += i64::from(is_success);
        self.duration_sum = Some(self.duration_sum.unwrap_or(0.0) + duration);
    }

    /// How many of them `is_success` (None: all) selects.
    pub fn count(&self, is_success: Option<bool>) -> i64 {
        match is_success {
            None => self.total,
            Some(true) => self.successes,
            Some(false) => self.total - self.successes,
        }
    }
}

/// The start of the `span` bucket that holds `at`.
fn bucket(at: DateTime<Utc>, span: i64) -> i64 {
    at.timestamp().div_euclid(span) * span
}

/// The first bucket boundary of `span` at or after `at`.
fn boundary_after(at: DateTime<Utc>, span: i64) -> i64 {
    let start = bucket(at, span);
    if start == at.timestamp() && at.timestamp_subsec_nanos() == 0 { start } else { start + span }
}

fn time(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The change each bucket gets from `rows`, ordered by key, so that two
/// writers lock the rows they share in the same order (no deadlock).
fn deltas(rows: &[Inserted]) -> BTreeMap<(Uuid, i64, i64), Sums> {
    let mut out: BTreeMap<(Uuid, i64, i64), Sums> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.step.is_none()) {
        let scopes = [Some(ALL), row.config_id];
        for scope in scopes.into_iter().flatten() {
            for span in [MINUTE, HOUR] {
                out.entry((scope, span, bucket(row.started_at, span)))
                    .or_default()
                    .add(row.is_success, row.duration_seconds);
            }
        }
    }
    out
}

/// A value the rollup queries bind.
pub(super) trait Bind<DB: Database>: for<'q> Encode<'q, DB> + Type<DB> {}
impl<DB: Database, T: for<'q> Encode<'q, DB> + Type<DB>> Bind<DB> for T {}

/// Adds the rows an insert returned to their buckets.
pub(super) async fn add<DB: Database>(conn: &mut DB::Connection, rows: &[Inserted]) -> Result<(), StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    Uuid: Bind<DB>,
    i64: Bind<DB>,
    Option<f64>: Bind<DB>,
{
    let deltas: Vec<_> = deltas(rows).into_iter().collect();
    // Six binds a bucket; both databases take far more than this per statement.
    for chunk in deltas.chunks(5_000) {
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO execution_rollups (scope, span, bucket, total, successes, duration_sum) ",
        );
        q.push_values(chunk, |mut row, ((scope, span, bucket), sums)| {
            row.push_bind(*scope).push_bind(*span).push_bind(*bucket);
            row.push_bind(sums.total).push_bind(sums.successes).push_bind(sums.duration_sum);
        });
        q.push(
            " ON CONFLICT (scope, span, bucket) DO UPDATE SET total = execution_rollups.total + excluded.total, \
             successes = execution_rollups.successes + excluded.successes, \
             duration_sum = execution_rollups.duration_sum + excluded.duration_sum",
        );
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Takes a deleted config's buckets out of the totals of all records.
pub(super) async fn forget<DB: Database>(conn: &mut DB::Connection, config: Uuid) -> Result<(), StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    Uuid: Bind<DB>,
{
    let mut q = QueryBuilder::<DB>::new(
        "UPDATE execution_rollups AS a SET total = a.total - c.total, successes = a.successes - c.successes, \
         duration_sum = a.duration_sum - c.duration_sum FROM execution_rollups AS c \
         WHERE a.span = c.span AND a.bucket = c.bucket AND a.scope = ",
    );
    q.push_bind(ALL).push(" AND c.scope = ").push_bind(config);
    q.build().execute(&mut *conn).await?;
    let mut q = QueryBuilder::<DB>::new("DELETE FROM execution_rollups WHERE total <= 0 OR scope = ");
    q.push_bind(config);
    q.build().execute(&mut *conn).await?;
    Ok(())
}

/// After the records that started before `before` were deleted: drops the
/// buckets that ended by then and counts again the two (a minute and an
/// hour) that `before` falls inside, from the records left in them.
pub(super) async fn trim<DB: Database>(
    conn: &mut DB::Connection,
    before: DateTime<Utc>,
) -> Result<(), StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    Uuid: Bind<DB>,
    i64: Bind<DB>,
    DateTime<Utc>: Bind<DB>,
{
    for span in [MINUTE, HOUR] {
        let start = bucket(before, span);
        let mut q = QueryBuilder::<DB>::new("DELETE FROM execution_rollups WHERE span = ");
        q.push_bind(span).push(" AND bucket <= ").push_bind(start);
        q.build().execute(&mut *conn).await?;
        for per_config in [true, false] {
            let mut q = QueryBuilder::<DB>::new(
                "INSERT INTO execution_rollups (scope, span, bucket, total, successes, duration_sum) SELECT ",
            );
            if per_config {
                q.push("config_id");
            } else {
                q.push_bind(ALL);
            }
            q.push(", ").push_bind(span).push(", ").push_bind(start);
            q.push(
                ", count(*), sum(CASE WHEN is_success THEN 1 ELSE 0 END), sum(duration_seconds) \
                 FROM task_executions WHERE started_at >= ",
            );
            q.push_bind(time(start)).push(" AND started_at < ").push_bind(time(start + span));
            if per_config {
                q.push(" AND config_id IS NOT NULL GROUP BY config_id");
            }
            q.push(" HAVING count(*) > 0");
            q.build().execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// The SELECT of the [`Sums`] of the records `f` matches, `is_success`
/// aside (every [`Sums`] holds both counts).
pub(super) fn sums<DB: Database>(f: &ExecutionFilter) -> QueryBuilder<DB>
where
    Uuid: Bind<DB>,
    i64: Bind<DB>,
    DateTime<Utc>: Bind<DB>,
{
    let mut q = QueryBuilder::<DB>::new(
        "SELECT CAST(COALESCE(sum(total), 0) AS BIGINT) AS total, \
         CAST(COALESCE(sum(successes), 0) AS BIGINT) AS successes, sum(duration_sum) AS duration_sum FROM (",
    );
    let buckets = |q: &mut QueryBuilder<DB>, span: i64, from: Option<i64>, to: Option<i64>| {
        q.push("SELECT total, successes, duration_sum FROM execution_rollups WHERE scope = ");
        q.push_bind(f.config_id.unwrap_or(ALL)).push(" AND span = ").push_bind(span);
        if let Some(from) = from {
            q.push(" AND bucket >= ").push_bind(from);
        }
        if let Some(to) = to {
            q.push(" AND bucket < ").push_bind(to);
        }
    };
    match f.since {
        None => buckets(&mut q, HOUR, None, None),
        Some(since) => {
            let (minute, hour) = (boundary_after(since, MINUTE), boundary_after(since, HOUR));
            buckets(&mut q, HOUR, Some(hour), None);
            q.push(" UNION ALL ");
            buckets(&mut q, MINUTE, Some(minute), Some(hour));
            q.push(
                " UNION ALL SELECT count(*), sum(CASE WHEN is_success THEN 1 ELSE 0 END), sum(duration_seconds) \
                 FROM task_executions WHERE started_at >= ",
            );
            q.push_bind(since).push(" AND started_at < ").push_bind(time(minute));
            // Runs only (as the buckets count them): the by-time indexes' rows.
            q.push(" AND step IS NULL");
            if let Some(id) = f.config_id {
                q.push(" AND config_id = ").push_bind(id);
            }
        }
    }
    q.push(") AS parts");
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn boundaries_round_up_unless_exact() {
        let exact = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap();
        assert_eq!(boundary_after(exact, HOUR), exact.timestamp());
        let later = exact + chrono::Duration::milliseconds(1);
        assert_eq!(boundary_after(later, MINUTE), exact.timestamp() + 60);
        assert_eq!(boundary_after(later, HOUR), exact.timestamp() + 3600);
        assert_eq!(bucket(later + chrono::Duration::seconds(59), MINUTE), exact.timestamp());
    }

    #[test]
    fn every_row_counts_once_per_scope_and_span() {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 30).unwrap();
        let config = Uuid::new_v4();
        let row = |config_id, ok| Inserted {
            config_id,
            started_at: at,
            is_success: ok,
            duration_seconds: 2.0,
            step: None,
        };
        let d = deltas(&[row(Some(config), true), row(None, false)]);
        assert_eq!(d.len(), 4, "{d:?}");
        let all = d[&(ALL, MINUTE, at.timestamp() - 30)];
        assert_eq!((all.total, all.successes, all.duration_sum), (2, 1, Some(4.0)));
        assert_eq!(d[&(config, HOUR, at.timestamp() - 30)].total, 1);
    }
}
