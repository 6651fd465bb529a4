//! The execution records on PostgreSQL, partitioned by month (migration
//! 0016): partitions ahead of time, retention that drops whole months and
//! deletes the rest row by row, one record per attempt across partitions.

use chrono::{DateTime, Datelike, Duration, SubsecRound, TimeZone, Utc};
use serde_json::json;
use taskbox::store::*;
use uuid::Uuid;

use crate::support::services::TestDb;

fn record(config: &TaskConfig, started_at: DateTime<Utc>) -> ExecutionRecord {
    let started_at = started_at.trunc_subsecs(6);
    ExecutionRecord {
        config_id: Some(config.id),
        execution_id: Uuid::new_v4(),
        attempt: 1,
        trigger: Trigger::Manual,
        task_type: config.task_type.clone(),
        scheduled_at: started_at,
        started_at,
        completed_at: started_at + Duration::milliseconds(5),
        duration_seconds: 0.005,
        is_success: true,
        result: Some(json!({"ok": true})),
        error_message: None,
        logs: String::new(),
        plugin_digest: None,
        worker: "test".into(),
        parameters: None,
        timeout_seconds: None,
        cancelled_by: None,
        workflow_execution_id: None,
        step: None,
        step_index: None,
    }
}

async fn partitions(db: &TestDb) -> Vec<(String, Option<DateTime<Utc>>, DateTime<Utc>)> {
    sqlx::query_as("SELECT name, lower_bound, upper_bound FROM taskbox_record_partition_bounds()")
        .fetch_all(db.store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn records_live_in_monthly_partitions_and_retention_drops_whole_months() {
    let db = TestDb::new().await;
    let s: &dyn ConfigStore = &db.store;
    let config = s.create_config(NewConfig::manual("kept", "echo")).await.unwrap();
    let now = Utc::now();
    let month = Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).unwrap();

    // A fresh database: the first partition holds all before this month,
    // and this month and the next three have their own.
    let parts = partitions(&db).await;
    assert_eq!(parts[0], ("task_executions_legacy".into(), None, month), "{parts:?}");
    assert_eq!(parts.len(), 5, "{parts:?}");
    assert!(parts.last().unwrap().2 >= now + Duration::days(89), "three months ahead: {parts:?}");
    // Asking again creates nothing twice.
    s.housekeep().await.unwrap();
    assert_eq!(partitions(&db).await, parts);

    let old: Vec<_> = [100, 70, 40].iter().map(|d| record(&config, month - Duration::days(*d))).collect();
    let early = record(&config, month + Duration::minutes(1));
    let recent = record(&config, now);
    s.record_executions(&[old.clone(), vec![early.clone(), recent.clone()]].concat()).await.unwrap();
    assert_eq!(s.execution_stats(None, None).await.unwrap().total, 5);

    // A cutoff just after this month began: the first partition goes whole.
    assert_eq!(s.delete_executions_before(month + Duration::seconds(30)).await.unwrap(), 3);
    let names: Vec<String> = partitions(&db).await.into_iter().map(|p| p.0).collect();
    assert!(!names.contains(&"task_executions_legacy".to_owned()), "{names:?}");
    // The past still has a place: a record from long ago is kept.
    assert_eq!(partitions(&db).await[0], ("task_executions_older".into(), None, month));
    s.record_executions(&[record(&config, month - Duration::days(400))]).await.unwrap();
    assert_eq!(s.execution_stats(None, None).await.unwrap().total, 3);

    // Inside a month: row by row, the rest of the month stays.
    let cut = month + Duration::minutes(2);
    assert_eq!(s.delete_executions_before(cut.min(now)).await.unwrap(), if cut < now { 2 } else { 1 });
    let left = s.list_executions(&ExecutionFilter::default(), Page::default()).await.unwrap().0;
    assert!(left.iter().any(|e| e.record.execution_id == recent.execution_id), "{left:?}");
    assert_eq!(s.execution_stats(None, None).await.unwrap().total, left.len() as i64);
}

#[tokio::test]
async fn an_attempt_is_recorded_once_whatever_its_start() {
    let db = TestDb::new().await;
    let s: &dyn ConfigStore = &db.store;
    let config = s.create_config(NewConfig::manual("once", "echo")).await.unwrap();
    let first = record(&config, Utc::now() - Duration::days(45));
    // The same attempt run again after a reclaim (another start, another
    // month's partition), and the same record committed twice.
    let again = ExecutionRecord { started_at: Utc::now().trunc_subsecs(6), ..first.clone() };
    s.record_executions(std::slice::from_ref(&first)).await.unwrap();
    s.record_executions(&[again, first.clone()]).await.unwrap();
    let all = s.list_executions(&ExecutionFilter::default(), Page::default()).await.unwrap().0;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].record.started_at, first.started_at, "the first record is kept");
    assert_eq!(s.execution_stats(None, None).await.unwrap().total, 1);
}
