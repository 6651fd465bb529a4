//! The config and token stores, one conformance suite over both databases
//! (`distributed`: PostgreSQL; `embedded`: SQLite): configs, the name
//! filter's LIKE escaping, execution records, statistics, cleanup, tokens.

use chrono::{Duration, SubsecRound, Utc};
use reqwest::StatusCode;
use serde_json::json;
use taskbox::store::*;
use uuid::Uuid;

use crate::support::*;

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
        parameters: Some(json!({"n": attempt})),
        timeout_seconds: Some(60.0),
        cancelled_by: None,
        workflow_execution_id: None,
        step: None,
        step_index: None,
    }
}

/// The names of the configs whose name contains `part`, sorted here (the
/// two databases collate symbols differently).
async fn named(s: &dyn ConfigStore, part: &str) -> Vec<String> {
    let filter = ConfigFilter { name_contains: Some(part.into()), ..Default::default() };
    let (page, total) = s.list_configs(&filter, Page::default()).await.unwrap();
    assert_eq!(total as usize, page.len(), "{part:?}");
    let mut names: Vec<_> = page.into_iter().map(|c| c.name).collect();
    names.sort();
    names
}

conformance! {
    #[tokio::test]
    async fn configs_are_created_read_listed_updated_and_deleted(d) {
        let s = &d.store;
        let mut new = NewConfig::manual("nightly-report", "echo");
        new.scheduler_type = SchedulerType::Cron;
        new.schedule_config = json!({"cron_expression": "0 3 * * *"});
        new.parameters = json!({"x": 1, "nested": {"list": [1, "two", null]}});
        new.timeout_seconds = Some(1.5);
        new.concurrency = Concurrency::Forbid;
        let created = s.create_config(new.clone()).await.unwrap();
        assert_eq!(created.name, "nightly-report");
        assert_eq!(created.parameters, new.parameters);
        assert_eq!((created.concurrency, created.timeout_seconds), (Concurrency::Forbid, Some(1.5)));
        assert_eq!(created.created_at, created.updated_at);
        assert_eq!(s.get_config(created.id).await.unwrap(), Some(created.clone()));
        assert_eq!(s.get_config(Uuid::new_v4()).await.unwrap(), None);

        let dup = s.create_config(new).await.unwrap_err();
        assert!(matches!(dup, StoreError::DuplicateName(ref n) if n == "nightly-report"), "{dup:?}");

        for i in 0..5 {
            s.create_config(NewConfig::manual(&format!("other-{i}"), "fib")).await.unwrap();
        }
        let (page, total) = s.list_configs(&ConfigFilter::default(), Page { limit: 2, offset: 1 }).await.unwrap();
        assert_eq!(total, 6);
        assert_eq!(page.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["other-0", "other-1"]);
        let (page, total) = s.list_configs(&ConfigFilter::default(), Page { limit: 10, offset: 6 }).await.unwrap();
        assert_eq!((page.len(), total), (0, 6), "a page past the end still counts");
        let filter = ConfigFilter { task_type: Some("echo".into()), ..Default::default() };
        assert_eq!(s.list_configs(&filter, Page::default()).await.unwrap().1, 1);
        let filter = ConfigFilter { name_contains: Some("OTHER-".into()), ..Default::default() };
        assert_eq!(s.list_configs(&filter, Page::default()).await.unwrap().1, 5);
        let filter = ConfigFilter { scheduler_type: Some(SchedulerType::Cron), ..Default::default() };
        assert_eq!(s.list_configs(&filter, Page::default()).await.unwrap().1, 1);
        let filter = ConfigFilter {
            task_type: Some("fib".into()),
            scheduler_type: Some(SchedulerType::Manual),
            name_contains: Some("4".into()),
            tag: None,
        };
        assert_eq!(s.list_configs(&filter, Page::default()).await.unwrap().1, 1, "filters combine with AND");
        let all = s.all_configs().await.unwrap();
        assert_eq!(all.iter().map(|c| c.name.as_str()).collect::<Vec<_>>()[..2], ["nightly-report", "other-0"]);

        let patch = ConfigPatch { priority: Some(7), timeout_seconds: Some(Some(2.5)), ..Default::default() };
        let updated = s.update_config(created.id, &patch).await.unwrap().unwrap();
        assert_eq!((updated.priority, updated.timeout_seconds), (7, Some(2.5)));
        assert_eq!((updated.name.as_str(), updated.concurrency), ("nightly-report", Concurrency::Forbid));
        assert!(updated.updated_at > created.updated_at);
        assert_eq!(updated.created_at, created.created_at);
        assert_eq!(s.get_config(created.id).await.unwrap(), Some(updated.clone()));
        let clear = ConfigPatch { timeout_seconds: Some(None), ..Default::default() };
        assert_eq!(s.update_config(created.id, &clear).await.unwrap().unwrap().timeout_seconds, None);
        let rename = ConfigPatch { name: Some("other-1".into()), ..Default::default() };
        let dup = s.update_config(created.id, &rename).await.unwrap_err();
        assert!(matches!(dup, StoreError::DuplicateName(ref n) if n == "other-1"), "{dup:?}");
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
}

conformance! {
    #[tokio::test]
    async fn the_name_filter_matches_backslash_percent_and_underscore_literally(d) {
        let s = d.store.as_ref();
        for name in ["ab\\cd", "abcd", "50%_off", "50 off", "a_b", "axb"] {
            s.create_config(NewConfig::manual(name, "echo")).await.unwrap();
        }
        assert_eq!(named(s, "b\\c").await, ["ab\\cd"]);
        assert_eq!(named(s, "B\\C").await, ["ab\\cd"], "case-insensitive");
        assert_eq!(named(s, "\\").await, ["ab\\cd"]);
        assert_eq!(named(s, "%_").await, ["50%_off"]);
        assert_eq!(named(s, "%").await, ["50%_off"]);
        assert_eq!(named(s, "_").await, ["50%_off", "a_b"]);
        assert_eq!(named(s, "a_b").await, ["a_b"]);
        assert_eq!(named(s, "bc").await, ["abcd"]);
        assert!(named(s, "b%c").await.is_empty());
    }
}

conformance! {
    #[tokio::test]
    async fn the_api_name_filter_finds_a_backslash(d) {
        d.store.create_config(NewConfig::manual("ab\\cd", "echo")).await.unwrap();
        d.store.create_config(NewConfig::manual("abcd", "echo")).await.unwrap();
        let plugins = PluginDir::new();
        let mut env = d.serve_env();
        env.push(("TASKBOX_ROLES", "api".into()));
        env.push(("TASKBOX_PLUGIN_DIR", plugins.path().display().to_string()));
        env.push(("TASKBOX_CACHE_DIR", plugins.cache.path().display().to_string()));
        let server = Server::start(&env);
        let (status, list) = server.get("/configs?name=b%5Cc").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let names: Vec<_> = list["items"].as_array().unwrap().iter().map(|c| c["name"].clone()).collect();
        assert_eq!(names, [json!("ab\\cd")], "{list}");
    }
}

conformance! {
    #[tokio::test]
    async fn records_are_idempotent_per_execution_and_attempt(d) {
        let s = &d.store;
        let config = s.create_config(NewConfig::manual("c", "echo")).await.unwrap();
        let first = record(&config, 1, false, 0.2, 0);
        let mut retry = first.clone();
        retry.attempt = 2;
        retry.trigger = Trigger::Retry;
        retry.is_success = true;
        retry.result = Some(json!({"deep": [1, {"x": null}]}));
        s.record_executions(&[first.clone(), retry.clone()]).await.unwrap();
        // A re-delivered attempt (say, after a worker crash) changes nothing.
        let mut again = first.clone();
        again.is_success = true;
        s.record_executions(&[again]).await.unwrap();
        s.record_executions(&[]).await.unwrap();

        let (items, total) = s.list_executions(&ExecutionFilter::default(), Page::default()).await.unwrap();
        assert_eq!(total, 2);
        let attempt_1 = items.iter().find(|e| e.record.attempt == 1).unwrap();
        assert_eq!(attempt_1.record, first);
        assert_eq!(s.get_execution(attempt_1.id).await.unwrap().unwrap().record, first);
        assert_eq!(s.get_execution(attempt_1.id + 1000).await.unwrap(), None);
        let found = s.find_attempt(first.execution_id, 2).await.unwrap().unwrap();
        assert_eq!(found.record, retry);
        assert_eq!(s.find_attempt(first.execution_id, 3).await.unwrap(), None);
        assert_eq!(s.find_attempt(Uuid::new_v4(), 1).await.unwrap(), None);
    }
}

conformance! {
    #[tokio::test]
    async fn a_record_for_a_deleted_config_is_kept_without_it(d) {
        let s = &d.store;
        let config = s.create_config(NewConfig::manual("gone", "echo")).await.unwrap();
        let kept = s.create_config(NewConfig::manual("kept", "echo")).await.unwrap();
        s.delete_config(config.id).await.unwrap();
        s.record_executions(&[record(&config, 1, true, 0.1, 0), record(&kept, 1, true, 0.1, 1)]).await.unwrap();
        let (items, _) = s.list_executions(&ExecutionFilter::default(), Page::default()).await.unwrap();
        assert_eq!(items.iter().map(|e| e.record.config_id).collect::<Vec<_>>(), [None, Some(kept.id)]);
    }
}

conformance! {
    #[tokio::test]
    async fn stats_filters_and_cleanup(d) {
        let s = &d.store;
        let a = s.create_config(NewConfig::manual("a", "echo")).await.unwrap();
        let b = s.create_config(NewConfig::manual("b", "echo")).await.unwrap();
        let mut records: Vec<_> = (1..=20).map(|i| record(&a, 1, i % 4 != 0, i as f64, i)).collect();
        records.push(record(&b, 1, false, 100.0, 60 * 24 * 10));
        s.record_executions(&records).await.unwrap();

        let stats = s.execution_stats(Some(a.id), None).await.unwrap();
        assert_eq!((stats.total, stats.successes, stats.failures), (20, 15, 5));
        assert_eq!(stats.success_rate, 0.75);
        assert_eq!(stats.avg_duration_seconds, Some(10.5));
        assert!((stats.p95_duration_seconds.unwrap() - 19.05).abs() < 1e-9, "{stats:?}");
        assert_eq!(stats.last_run_at, Some(records[0].started_at));
        let all = s.execution_stats(None, None).await.unwrap();
        assert_eq!((all.total, all.failures), (21, 6));
        let since = s.execution_stats(Some(a.id), Some(records[4].started_at)).await.unwrap();
        assert_eq!(since.total, 5);
        assert!((since.p95_duration_seconds.unwrap() - 4.8).abs() < 1e-9, "{since:?}");
        let one = s.execution_stats(Some(b.id), None).await.unwrap();
        assert_eq!((one.total, one.p95_duration_seconds, one.success_rate), (1, Some(100.0), 0.0));
        let empty = s.execution_stats(Some(Uuid::new_v4()), None).await.unwrap();
        assert_eq!((empty.total, empty.success_rate, empty.avg_duration_seconds), (0, 0.0, None));
        assert_eq!((empty.p95_duration_seconds, empty.last_run_at), (None, None));

        let failed = ExecutionFilter { is_success: Some(false), ..Default::default() };
        assert_eq!(s.list_executions(&failed, Page::default()).await.unwrap().1, 6);
        let failed_a = ExecutionFilter { config_id: Some(a.id), ..failed };
        assert_eq!(s.list_executions(&failed_a, Page::default()).await.unwrap().1, 5);
        let recent = ExecutionFilter {
            since: Some(Utc::now() - Duration::minutes(5) - Duration::seconds(30)),
            ..Default::default()
        };
        let (items, total) = s.list_executions(&recent, Page { limit: 3, offset: 0 }).await.unwrap();
        assert_eq!((items.len(), total), (3, 5));
        assert!(items.windows(2).all(|w| w[0].record.started_at >= w[1].record.started_at), "newest first");
        let (rest, _) = s.list_executions(&recent, Page { limit: 3, offset: 3 }).await.unwrap();
        assert_eq!(rest.len(), 2);
        assert!(items[2].record.started_at >= rest[0].record.started_at);

        assert_eq!(s.delete_executions_before(Utc::now() - Duration::days(7)).await.unwrap(), 1);
        assert_eq!(s.execution_stats(None, None).await.unwrap().total, 20);
        assert_eq!(s.delete_executions_before(Utc::now() - Duration::days(7)).await.unwrap(), 0);
    }
}

/// The records of `all` that `f` matches, counted one by one.
fn counted(all: &[ExecutionRecord], f: &ExecutionFilter) -> (i64, i64, f64) {
    let matching: Vec<_> = all
        .iter()
        .filter(|r| f.config_id.is_none_or(|id| r.config_id == Some(id)))
        .filter(|r| f.since.is_none_or(|since| r.started_at >= since))
        .collect();
    let successes = matching.iter().filter(|r| r.is_success).count() as i64;
    (matching.len() as i64, successes, matching.iter().map(|r| r.duration_seconds).sum())
}

/// Compares the store's totals with the rows', for every config and window.
async fn totals_match(s: &dyn ConfigStore, all: &[ExecutionRecord], windows: &[chrono::DateTime<Utc>]) {
    let configs: Vec<Option<Uuid>> = [None].into_iter().chain(all.iter().map(|r| r.config_id)).collect();
    for config_id in configs {
        for since in windows.iter().copied().map(Some).chain([None]) {
            let f = ExecutionFilter { config_id, since, ..Default::default() };
            let (total, successes, sum) = counted(all, &f);
            let stats = s.execution_stats(config_id, since).await.unwrap();
            assert_eq!((stats.total, stats.successes), (total, successes), "{config_id:?} since {since:?}");
            if total > 0 {
                assert!((stats.avg_duration_seconds.unwrap() - sum / total as f64).abs() < 1e-6, "{stats:?}");
            }
            let failed = ExecutionFilter { is_success: Some(false), ..f };
            assert_eq!(
                s.list_executions(&failed, Page::default()).await.unwrap().1 as i64,
                total - successes
            );
        }
    }
}

conformance! {
    #[tokio::test]
    async fn running_totals_match_the_rows_for_every_window(d) {
        let s = &d.store;
        let a = s.create_config(NewConfig::manual("a", "echo")).await.unwrap();
        let b = s.create_config(NewConfig::manual("b", "echo")).await.unwrap();
        let gone = s.create_config(NewConfig::manual("gone", "echo")).await.unwrap();
        s.delete_config(gone.id).await.unwrap();
        // Spread over three hours, a few seconds apart and off the minute.
        let start = Utc::now().trunc_subsecs(6) - Duration::hours(3);
        let mut all: Vec<ExecutionRecord> = (0..200)
            .map(|i| {
                let config = [&a, &b, &gone][i % 3];
                let mut r = record(config, 1, i % 7 != 0, (i % 11) as f64 / 4.0, 0);
                r.started_at = start + Duration::milliseconds(i as i64 * 53_917);
                r
            })
            .collect();
        s.record_executions(&all).await.unwrap();
        for r in all.iter_mut().filter(|r| r.config_id == Some(gone.id)) {
            r.config_id = None;
        }
        // A re-delivered attempt is stored once and counted once.
        s.record_executions(&all[..10]).await.unwrap();
        let windows: Vec<_> = [0, 59_999, 60_000, 3_599_000, 3_600_000, 3_600_001, 5_000_000, 9_000_000]
            .iter()
            .map(|ms| start + Duration::milliseconds(*ms))
            .collect();
        totals_match(s.as_ref(), &all, &windows).await;

        s.delete_config(b.id).await.unwrap();
        all.retain(|r| r.config_id != Some(b.id));
        totals_match(s.as_ref(), &all, &windows).await;

        // A cleanup that ends inside a minute and an hour.
        let cut = start + Duration::milliseconds(4_000_000 + 30_500);
        let deleted = s.delete_executions_before(cut).await.unwrap();
        assert_eq!(deleted as usize, all.iter().filter(|r| r.started_at < cut).count());
        all.retain(|r| r.started_at >= cut);
        totals_match(s.as_ref(), &all, &windows).await;
    }
}

conformance! {
    #[tokio::test]
    async fn tokens_are_created_listed_revoked_and_looked_up_by_digest(d) {
        let t = &d.tokens;
        let ops = t.create_token("ops", TokenRole::Admin, &"a".repeat(64)).await.unwrap();
        assert_eq!((ops.name.as_str(), ops.role), ("ops", TokenRole::Admin));
        assert!(ops.created_at > Utc::now() - Duration::minutes(1));
        let ci = t.create_token("ci", TokenRole::Viewer, &"b".repeat(64)).await.unwrap();

        let dup = t.create_token("ops", TokenRole::Viewer, &"c".repeat(64)).await.unwrap_err();
        assert!(matches!(dup, StoreError::DuplicateToken(ref n) if n == "ops"), "{dup:?}");
        assert_eq!(t.list_tokens().await.unwrap(), [ci.clone(), ops.clone()], "by name");

        assert_eq!(t.token_role(&"a".repeat(64)).await.unwrap(), Some(TokenRole::Admin));
        assert_eq!(t.token_role(&"b".repeat(64)).await.unwrap(), Some(TokenRole::Viewer));
        assert_eq!(t.token_role(&"c".repeat(64)).await.unwrap(), None);

        assert!(t.revoke_token("ops").await.unwrap());
        assert!(!t.revoke_token("ops").await.unwrap());
        assert_eq!(t.token_role(&"a".repeat(64)).await.unwrap(), None);
        assert_eq!(t.list_tokens().await.unwrap(), [ci]);
    }
}
