//! The config store, written once for both databases: every [`Dialect`]
//! is a [`ConfigStore`], with the reads here (from `sql.rs`) and each write
//! the dialect's own.
//!
//! Owns the reads, in SQL both databases run as it is, and never a
//! database's quirks. The bounds below only say, in the compiler's terms,
//! that the dialect's database binds and decodes what the shared queries
//! use (PostgreSQL and SQLite both do).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Executor, IntoArguments, QueryBuilder};
use uuid::Uuid;

use super::dialect::Dialect;
use super::rollups::{self, Sums};
use super::sql::{Decoded, P95_SAMPLE, Param, Sql};
use super::*;

type Db<D> = <D as Dialect>::DB;
type Row<D> = <Db<D> as Database>::Row;

#[async_trait]
impl<D> ConfigStore for D
where
    D: Dialect + WorkflowStore,
    for<'c> &'c mut <Db<D> as Database>::Connection: Executor<'c, Database = Db<D>>,
    <Db<D> as Database>::Arguments: IntoArguments<Db<D>>,
    TaskConfig: Decoded<Row<D>>,
    StoredExecution: Decoded<Row<D>>,
    (i64,): Decoded<Row<D>>,
    (DateTime<Utc>,): Decoded<Row<D>>,
    Sums: Decoded<Row<D>>,
    Uuid: Param<Db<D>>,
    String: Param<Db<D>>,
    i32: Param<Db<D>>,
    i64: Param<Db<D>>,
    bool: Param<Db<D>>,
    Option<f64>: Param<Db<D>>,
    Option<String>: Param<Db<D>>,
    Option<i32>: Param<Db<D>>,
    Option<serde_json::Value>: Param<Db<D>>,
    serde_json::Value: Param<Db<D>>,
    DateTime<Utc>: Param<Db<D>>,
{
    async fn migrate(&self) -> Result<(), StoreError> {
        self.run_migrations().await
    }

    async fn housekeep(&self) -> Result<(), StoreError> {
        Dialect::housekeep(self).await
    }

    async fn create_config(&self, new: NewConfig) -> Result<TaskConfig, StoreError> {
        self.insert_config(new).await
    }

    async fn get_config(&self, id: Uuid) -> Result<Option<TaskConfig>, StoreError> {
        read_twice(self, || async { Ok(Sql::config(id).build_query_as().fetch_optional(self.pool()).await?) })
            .await
    }

    async fn list_configs(&self, filter: &ConfigFilter, page: Page) -> Listed<TaskConfig> {
        read_twice(self, || async {
            let mut count = QueryBuilder::new("SELECT count(*) FROM task_configs");
            Sql::config_filter(&mut count, filter, D::LIKE, D::HAS_TAG);
            let total: i64 = count.build_query_scalar().fetch_one(self.pool()).await?;
            let mut q = Sql::configs();
            Sql::config_filter(&mut q, filter, D::LIKE, D::HAS_TAG);
            q.push(" ORDER BY name");
            Sql::page(&mut q, page);
            Ok((q.build_query_as().fetch_all(self.pool()).await?, total as u64))
        })
        .await
    }

    async fn all_configs(&self) -> Result<Vec<TaskConfig>, StoreError> {
        read_twice(self, || async {
            let mut q = Sql::configs();
            Ok(q.push(" ORDER BY name").build_query_as().fetch_all(self.pool()).await?)
        })
        .await
    }

    async fn configs_after(
        &self,
        filter: &ConfigFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<TaskConfig>, StoreError> {
        read_twice(self, || async {
            let mut q = Sql::configs();
            Sql::config_filter(&mut q, filter, D::LIKE, D::HAS_TAG);
            if let Some(after) = after {
                q.push(" AND name > ").push_bind(after.to_owned());
            }
            q.push(" ORDER BY name LIMIT ").push_bind(i64::from(limit));
            Ok(q.build_query_as().fetch_all(self.pool()).await?)
        })
        .await
    }

    async fn update_config(&self, id: Uuid, patch: &ConfigPatch) -> Result<Option<TaskConfig>, StoreError> {
        self.patch_config(id, patch).await
    }

    async fn delete_config(&self, id: Uuid) -> Result<bool, StoreError> {
        self.remove_config(id).await
    }

    async fn record_executions(&self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        self.insert_executions(records).await
    }

    async fn list_executions(&self, filter: &ExecutionFilter, page: Page) -> Listed<StoredExecution> {
        // The total comes from the running totals: counting the rows would
        // cost the whole window on every page.
        read_twice(self, || async {
            let total = match filter.workflow_execution_id {
                // The steps of one workflow run: few enough to count.
                Some(_) => {
                    let mut count = QueryBuilder::new("SELECT count(*) FROM task_executions");
                    Sql::execution_filter(&mut count, filter);
                    let (n,): (i64,) = count.build_query_as().fetch_one(self.pool()).await?;
                    n
                }
                None => {
                    let sums: Sums = rollups::sums(filter).build_query_as().fetch_one(self.pool()).await?;
                    sums.count(filter.is_success)
                }
            };
            let mut q = Sql::executions();
            Sql::execution_filter(&mut q, filter);
            q.push(" ORDER BY started_at DESC, id DESC");
            Sql::page(&mut q, page);
            Ok((q.build_query_as().fetch_all(self.pool()).await?, total.max(0) as u64))
        })
        .await
    }

    async fn get_execution(&self, id: i64) -> Result<Option<StoredExecution>, StoreError> {
        read_twice(self, || async {
            let mut q = Sql::executions();
            q.push(" WHERE id = ").push_bind(id);
            Ok(q.build_query_as().fetch_optional(self.pool()).await?)
        })
        .await
    }

    async fn latest_attempt(&self, execution_id: Uuid) -> Result<Option<StoredExecution>, StoreError> {
        read_twice(self, || async {
            let mut q = Sql::executions();
            q.push(" WHERE execution_id = ").push_bind(execution_id).push(" ORDER BY attempt DESC LIMIT 1");
            Ok(q.build_query_as().fetch_optional(self.pool()).await?)
        })
        .await
    }

    async fn find_attempt(
        &self,
        execution_id: Uuid,
        attempt: i32,
    ) -> Result<Option<StoredExecution>, StoreError> {
        read_twice(self, || async {
            let mut q = Sql::executions();
            q.push(" WHERE execution_id = ")
                .push_bind(execution_id)
                .push(" AND attempt = ")
                .push_bind(attempt);
            Ok(q.build_query_as().fetch_optional(self.pool()).await?)
        })
        .await
    }

    async fn tick_runs(
        &self,
        config_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        read_twice(self, || async {
            // The partial index `task_executions_ticks` answers this.
            let mut q = QueryBuilder::new("SELECT scheduled_at FROM task_executions WHERE config_id = ");
            q.push_bind(config_id)
                .push(" AND trigger IN ('cron', 'backfill') AND step IS NULL AND scheduled_at >= ")
                .push_bind(from)
                .push(" AND scheduled_at < ")
                .push_bind(to);
            let rows: Vec<(DateTime<Utc>,)> = q.build_query_as().fetch_all(self.pool()).await?;
            Ok(rows.into_iter().map(|(at,)| at).collect())
        })
        .await
    }

    async fn execution_stats(
        &self,
        config_id: Option<Uuid>,
        since: Option<DateTime<Utc>>,
    ) -> Result<ExecutionStats, StoreError> {
        // A workflow run counts once: its own record, not its steps'.
        let filter = ExecutionFilter { config_id, since, ..Default::default() };
        read_twice(self, || async {
            // The totals and the latest start are independent: ask both at once.
            let (mut sums, mut last) = (rollups::sums(&filter), Sql::last_started(&filter));
            let (sums, last): (Sums, _) = tokio::try_join!(
                sums.build_query_as().fetch_one(self.pool()),
                last.build_query_scalar().fetch_optional(self.pool())
            )?;
            let p95 = match sums.total {
                0 => None,
                total => self.p95(&filter, total.min(P95_SAMPLE)).await?,
            };
            Ok(ExecutionStats::of(sums, last, p95))
        })
        .await
    }

    async fn delete_executions_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.remove_executions_before(before).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }
}
