//! The config store on a real PostgreSQL: configs, execution records,
//! statistics and cleanup.

use chrono::{Duration, SubsecRound, Utc};
use serde_json::json;
use taskbox::store::*;
use uuid::Uuid;

use crate::services::TestDb;

fn record(config: &TaskConfig, attempt: i32, ok: bool, secs: f64, ago_minutes: i64) -> ExecutionRecord {
    // PostgreSQL keeps microseconds.
    let started_at = Utc::now().trunc_subsecs(6) - Duration::minutes(ago_minutes);
    ExecutionRecord {
        config_id: Some(config.id),
        execution_id: Uuid::new_v4(),
        attempt,
        trigger: Trigger::Manual,
        task_type: config.task_type.clone(),
        scheduled_at: started_at,
        started_at,
        completed_at: started_at + Duration::milliseconds((secs * 1000.0) as i64),
        duration_seconds: secs,
        is_success: ok,
        result: ok.then(|| json!({"ok": true})),
        error_message: (!ok).then(|| "failed".to_owned()),
        logs: String::new(),
        plugin_digest: Some("ab".repeat(32)),
        worker: "test".into(),
    }
}

#[tokio::test]
async fn configs_are_created_read_listed_updated_and_deleted() {
    let db = TestDb::new().await;
    let s = &db.store;
    let mut new = NewConfig::manual("nightly-report", "echo");
    new.scheduler_type = SchedulerType::Cron;
    new.schedule_config = json!({"cron_expression": "0 3 * * *"});
    new.parameters = json!({"x": 1});
    let created = s.create_config(new.clone()).await.unwrap();
    assert_eq!(created.name, "nightly-report");
    assert_eq!(created.parameters, json!({"x": 1}));
    assert_eq!(s.get_config(created.id).await.unwrap(), Some(created.clone()));

    let dup = s.create_config(new).await.unwrap_err();
    assert!(matches!(dup, StoreError::DuplicateName(ref n) if n == "nightly-report"), "{dup:?}");

    for i in 0..5 {
        s.create_config(NewConfig::manual(&format!("other-{i}"), "fib")).await.unwrap();
    }
    let (page, total) = s.list_configs(&ConfigFilter::default(), Page { limit: 2, offset: 1 }).await.unwrap();
    assert_eq!(total, 6);
    assert_eq!(page.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["other-0", "other-1"]);
    let filter = ConfigFilter { task_type: Some("echo".into()), ..Default::default() };
    assert_eq!(s.list_configs(&filter, Page::default()).await.unwrap().1, 1);
    let filter = ConfigFilter { name_contains: Some("OTHER-".into()), ..Default::default() };
    assert_eq!(s.list_configs(&filter, Page::default()).await.unwrap().1, 5);
    let filter = ConfigFilter { scheduler_type: Some(SchedulerType::Cron), ..Default::default() };
    assert_eq!(s.list_configs(&filter, Page::default()).await.unwrap().1, 1);

    let patch = ConfigPatch { priority: Some(7), timeout_seconds: Some(Some(2.5)), ..Default::default() };
    let updated = s.update_config(created.id, &patch).await.unwrap().unwrap();
    assert_eq!((updated.priority, updated.timeout_seconds), (7, Some(2.5)));
    assert!(updated.updated_at > created.updated_at);
    assert_eq!(updated.created_at, created.created_at);
    let rename = ConfigPatch { name: Some("other-1".into()), ..Default::default() };
    assert!(matches!(s.update_config(created.id, &rename).await, Err(StoreError::DuplicateName(_))));
    assert_eq!(s.update_config(Uuid::new_v4(), &patch).await.unwrap(), None);

    s.record_executions(&[record(&created, 1, true, 0.1, 0)]).await.unwrap();
    assert!(s.delete_config(created.id).await.unwrap());
    assert!(!s.delete_config(created.id).await.unwrap());
    assert_eq!(s.get_config(created.id).await.unwrap(), None);
    let by_config = ExecutionFilter { config_id: Some(created.id), ..Default::default() };
    assert_eq!(
        s.list_executions(&by_config, Page::default()).await.unwrap().1,
        0,
        "executions go with the config"
    );
}

#[tokio::test]
async fn records_are_idempotent_per_execution_and_attempt() {
    let db = TestDb::new().await;
    let s = &db.store;
    let config = s.create_config(NewConfig::manual("c", "echo")).await.unwrap();
    let first = record(&config, 1, false, 0.2, 0);
    let mut retry = first.clone();
    retry.attempt = 2;
    retry.trigger = Trigger::Retry;
    retry.is_success = true;
    s.record_executions(&[first.clone(), retry.clone()]).await.unwrap();
    // A re-delivered attempt (say, after a worker crash) changes nothing.
    let mut again = first.clone();
    again.is_success = true;
    s.record_executions(&[again]).await.unwrap();

    let (items, total) = s.list_executions(&ExecutionFilter::default(), Page::default()).await.unwrap();
    assert_eq!(total, 2);
    let attempt_1 = items.iter().find(|e| e.record.attempt == 1).unwrap();
    assert_eq!(attempt_1.record, first);
    assert_eq!(s.get_execution(attempt_1.id).await.unwrap().unwrap().record, first);
}

#[tokio::test]
async fn a_record_for_a_deleted_config_is_kept_without_it() {
    let db = TestDb::new().await;
    let s = &db.store;
    let config = s.create_config(NewConfig::manual("gone", "echo")).await.unwrap();
    s.delete_config(config.id).await.unwrap();
    s.record_executions(&[record(&config, 1, true, 0.1, 0)]).await.unwrap();
    let (items, _) = s.list_executions(&ExecutionFilter::default(), Page::default()).await.unwrap();
    assert_eq!(items[0].record.config_id, None);
}

#[tokio::test]
async fn stats_filters_and_cleanup() {
    let db = TestDb::new().await;
    let s = &db.store;
    let a = s.create_config(NewConfig::manual("a", "echo")).await.unwrap();
    let b = s.create_config(NewConfig::manual("b", "echo")).await.unwrap();
    let mut records: Vec<_> = (1..=20).map(|i| record(&a, 1, i % 4 != 0, i as f64, i)).collect();
    records.push(record(&b, 1, false, 100.0, 60 * 24 * 10));
    s.record_executions(&records).await.unwrap();

    let stats = s.execution_stats(Some(a.id), None).await.unwrap();
    assert_eq!((stats.total, stats.successes, stats.failures), (20, 15, 5));
    assert_eq!(stats.success_rate, 0.75);
    assert_eq!(stats.avg_duration_seconds, Some(10.5));
    assert!((stats.p95_duration_seconds.unwrap() - 19.05).abs() < 1e-9);
    assert!(stats.last_run_at.unwrap() > Utc::now() - Duration::minutes(2));
    assert_eq!(s.execution_stats(None, None).await.unwrap().total, 21);
    let empty = s.execution_stats(Some(Uuid::new_v4()), None).await.unwrap();
    assert_eq!((empty.total, empty.success_rate, empty.avg_duration_seconds), (0, 0.0, None));

    let failed = ExecutionFilter { is_success: Some(false), ..Default::default() };
    assert_eq!(s.list_executions(&failed, Page::default()).await.unwrap().1, 6);
    let recent = ExecutionFilter {
        since: Some(Utc::now() - Duration::minutes(5) - Duration::seconds(30)),
        ..Default::default()
    };
    let (items, total) = s.list_executions(&recent, Page { limit: 3, offset: 0 }).await.unwrap();
    assert_eq!((items.len(), total), (3, 5));
    assert!(items.windows(2).all(|w| w[0].record.started_at >= w[1].record.started_at), "newest first");

    assert_eq!(s.delete_executions_before(Utc::now() - Duration::days(7)).await.unwrap(), 1);
    assert_eq!(s.execution_stats(None, None).await.unwrap().total, 20);
}
