//! The conformance suite of the schedule backend and queue traits, through
//! the scheduler service and fire loop: every test runs against both
//! deployments (PostgreSQL + Redis, and SQLite + the local backend).

use chrono::{Duration as Chrono, DurationRound, Utc};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;
use taskbox::contract::job::{Band, Job, QueuedRun};
use taskbox::contract::queue::Settle;
use taskbox::contract::schedule::backend::{EntryChange, Transition};
use taskbox::contract::schedule::{Action, HistoryEvent, Status};
use taskbox::engine::scheduler::{SchedulerService, ServiceError, fire_due, fire_loop};
use taskbox::store::*;

use crate::support::*;

struct Env {
    d: Deployment,
    service: SchedulerService,
}

fn env(d: Deployment) -> Env {
    let service = SchedulerService::new(d.store.clone(), d.schedule.clone());
    Env { d, service }
}

fn cron(name: &str, expr: &str) -> NewConfig {
    let mut c = NewConfig::manual(name, "echo");
    c.scheduler_type = SchedulerType::Cron;
    c.schedule_config = json!({"cron_expression": expr});
    c
}

async fn status(env: &Env, config: &TaskConfig) -> (Status, bool, bool) {
    let view = env.service.view(config, 10).await.unwrap();
    (view.schedule_status, view.is_scheduled, view.status_consistent)
}

/// Takes everything on the queue (and acknowledges it).
async fn drain(env: &Env) -> Vec<QueuedRun> {
    let mut runs = Vec::new();
    loop {
        let got = env
            .d
            .queue
            .claim(&taskbox::contract::queue::Consumer::of_default("test"), 1000, Duration::ZERO)
            .await
            .unwrap();
        if got.is_empty() {
            return runs;
        }
        let settle = got.iter().map(|d| Settle::of(d.band, d.handle.clone(), &d.run)).collect();
        env.d.queue.settle(settle).await.unwrap();
        runs.extend(got.into_iter().map(|d| d.run));
    }
}

conformance! {
#[tokio::test]
async fn every_transition_and_every_refusal(d) {
    let env = env(d);
    let config = env.d.store.create_config(cron("c", "0 3 * * *")).await.unwrap();
    assert_eq!(status(&env, &config).await, (Status::Inactive, false, true));

    let refused = |r: Result<_, ServiceError>, current: Status| match r {
        Err(ServiceError::Refused(e)) => assert_eq!(e.current, current),
        other => panic!("expected a refusal in {current}, got {other:?}"),
    };
    refused(env.service.act(config.id, Action::Pause).await, Status::Inactive);
    refused(env.service.act(config.id, Action::Resume).await, Status::Inactive);

    let done = env.service.act(config.id, Action::Start).await.unwrap();
    assert_eq!(done.schedule_status, Status::Active);
    assert_eq!(status(&env, &config).await, (Status::Active, true, true));
    let view = env.service.view(&config, 10).await.unwrap();
    let next = view.next_run.unwrap();
    assert!(next > Utc::now() && next <= Utc::now() + Chrono::days(1));
    assert_eq!(next.format("%H:%M:%S").to_string(), "03:00:00");
    refused(env.service.act(config.id, Action::Start).await, Status::Active);
    refused(env.service.act(config.id, Action::Resume).await, Status::Active);

    env.service.act(config.id, Action::Pause).await.unwrap();
    assert_eq!(status(&env, &config).await, (Status::Paused, false, true));
    refused(env.service.act(config.id, Action::Pause).await, Status::Paused);
    refused(env.service.act(config.id, Action::Start).await, Status::Paused);
    env.service.act(config.id, Action::Resume).await.unwrap();
    assert_eq!(status(&env, &config).await, (Status::Active, true, true));

    env.service.act(config.id, Action::Stop).await.unwrap();
    assert_eq!(status(&env, &config).await, (Status::Inactive, false, true));
    env.service.act(config.id, Action::Stop).await.unwrap();

    // error → start is allowed; error → pause is not.
    let event = HistoryEvent::new("error", "test", Some(Status::Error));
    env.d
        .schedule
        .transition(Transition::new(config.id, Status::ALL.to_vec(), Some(Status::Error), EntryChange::Remove, event))
        .await
        .unwrap();
    refused(env.service.act(config.id, Action::Pause).await, Status::Error);
    env.service.act(config.id, Action::Start).await.unwrap();

    let history = env.service.view(&config, 100).await.unwrap().recent_history;
    let events: Vec<&str> = history.iter().rev().map(|e| e.event.as_str()).collect();
    assert_eq!(events, ["started", "paused", "resumed", "stopped", "stopped", "error", "started"]);

    let summary = env.d.schedule.summary().await.unwrap();
    assert_eq!(summary[&Status::Active], 1);
    assert_eq!(summary.values().sum::<u64>(), 1);

    assert!(matches!(
        env.service.act(uuid::Uuid::new_v4(), Action::Start).await,
        Err(ServiceError::NotFound(_))
    ));
}
}

conformance! {
#[tokio::test]
async fn reload_applies_an_updated_schedule_and_keeps_the_status(d) {
    let env = env(d);
    let config = env.d.store.create_config(cron("c", "0 3 * * *")).await.unwrap();
    env.service.act(config.id, Action::Start).await.unwrap();
    let patch =
        ConfigPatch { schedule_config: Some(json!({"cron_expression": "30 4 * * *"})), ..Default::default() };
    let config = env.d.store.update_config(config.id, &patch).await.unwrap().unwrap();
    let done = env.service.act(config.id, Action::Reload).await.unwrap();
    assert_eq!(done.schedule_status, Status::Active);
    let next = env.service.view(&config, 1).await.unwrap().next_run.unwrap();
    assert_eq!(next.format("%H:%M:%S").to_string(), "04:30:00");

    env.service.act(config.id, Action::Pause).await.unwrap();
    assert_eq!(env.service.act(config.id, Action::Reload).await.unwrap().schedule_status, Status::Paused);
    assert_eq!(status(&env, &config).await, (Status::Paused, false, true));
}
}

conformance! {
#[tokio::test]
async fn manual_configs_never_fire_but_run_on_request(d) {
    let env = env(d);
    let config = env.d.store.create_config(NewConfig::manual("m", "echo")).await.unwrap();
    env.service.act(config.id, Action::Start).await.unwrap();
    assert_eq!(status(&env, &config).await, (Status::Active, false, true));
    let execution_id = env.service.run_now(config.id).await.unwrap();
    let runs = drain(&env).await;
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].execution_id, runs[0].attempt, runs[0].trigger), (execution_id, 1, Trigger::Manual));
    assert_eq!(runs[0].job, Job { revision: runs[0].job.revision, ..Job::of(&config) });
    let history = env.service.view(&config, 1).await.unwrap().recent_history;
    assert_eq!(history[0].event, "run_requested");
}
}

conformance! {
#[tokio::test]
async fn a_per_second_cron_fires_every_second_on_the_second(d) {
    let env = env(d);
    let config = env.d.store.create_config(cron("every-second", "* * * * * *")).await.unwrap();
    env.service.act(config.id, Action::Start).await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let looping = tokio::spawn(fire_loop(env.d.schedule.clone(), env.d.changes.clone(), taskbox::contract::job::no_type_rules(), stopped));
    tokio::time::sleep(Duration::from_millis(3500)).await;
    stop.send(true).unwrap();
    looping.await.unwrap();

    let runs = drain(&env).await;
    // Ticks are queued up to one LOOKAHEAD ahead of their time.
    assert!((4..=5).contains(&runs.len()), "{} runs in 3.5 s", runs.len());
    for run in &runs {
        assert_eq!(run.trigger, Trigger::Cron);
        assert_eq!(run.scheduled_at, run.scheduled_at.duration_trunc(Chrono::seconds(1)).unwrap());
    }
    let times: HashSet<_> = runs.iter().map(|r| r.scheduled_at).collect();
    assert_eq!(times.len(), runs.len(), "no tick twice");
}
}

conformance! {
#[tokio::test]
async fn two_schedulers_never_fire_the_same_tick_twice(d) {
    let env = env(d);
    for i in 0..20 {
        let c = env.d.store.create_config(cron(&format!("c{i}"), "* * * * * *")).await.unwrap();
        env.service.act(c.id, Action::Start).await.unwrap();
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut loops = Vec::new();
    for _ in 0..2 {
        let other = env.d.another().await;
        loops.push(tokio::spawn(fire_loop(other.schedule, other.changes, taskbox::contract::job::no_type_rules(), stopped.clone())));
    }
    tokio::time::sleep(Duration::from_millis(5500)).await;
    stop.send(true).unwrap();
    for l in loops {
        l.await.unwrap();
    }
    let runs = drain(&env).await;
    let ticks: HashSet<_> = runs.iter().map(|r| (r.job.config_id, r.scheduled_at)).collect();
    assert_eq!(ticks.len(), runs.len(), "a (config, tick) fired twice");
    assert!(runs.len() >= 20 * 5, "{} runs", runs.len());
}
}

conformance! {
#[tokio::test]
async fn a_date_schedule_fires_once_then_completes(d) {
    let env = env(d);
    let mut new = NewConfig::manual("once", "echo");
    new.scheduler_type = SchedulerType::Date;
    let at = (Utc::now() + Chrono::milliseconds(800)).duration_trunc(Chrono::milliseconds(1)).unwrap();
    new.schedule_config = json!({"run_date": at.to_rfc3339()});
    let config = env.d.store.create_config(new).await.unwrap();
    env.service.act(config.id, Action::Start).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    fire_due(env.d.schedule.as_ref()).await.unwrap();
    fire_due(env.d.schedule.as_ref()).await.unwrap();
    let runs = drain(&env).await;
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].trigger, runs[0].scheduled_at), (Trigger::Date, at));
    assert_eq!(status(&env, &config).await, (Status::Inactive, false, true));
    let history = env.service.view(&config, 2).await.unwrap().recent_history;
    assert_eq!((history[0].event.as_str(), history[1].event.as_str()), ("completed", "fired"));
}
}

/// Pretends the scheduler was down: the entry was due `late` ago.
async fn due_in_the_past(env: &Env, config: &TaskConfig, late: Chrono) {
    let event = HistoryEvent::new("test", "", None);
    let entry = EntryChange::Set { job: Job::of(config), next_run: Some(Utc::now() - late) };
    let t = Transition::new(config.id, vec![Status::Active], None, entry, event);
    env.d.schedule.transition(t).await.unwrap();
}

conformance! {
#[tokio::test]
async fn a_misfire_within_grace_runs_once_and_beyond_grace_is_skipped(d) {
    let env = env(d);
    let mut within = cron("within", "* * * * * *");
    within.misfire_grace_seconds = 60;
    let within = env.d.store.create_config(within).await.unwrap();
    let mut beyond = cron("beyond", "* * * * * *");
    beyond.misfire_grace_seconds = 5;
    let beyond = env.d.store.create_config(beyond).await.unwrap();
    for c in [&within, &beyond] {
        env.service.act(c.id, Action::Start).await.unwrap();
        due_in_the_past(&env, c, Chrono::seconds(30)).await;
    }
    fire_due(env.d.schedule.as_ref()).await.unwrap();
    let runs = drain(&env).await;
    assert_eq!(runs.len(), 1, "one catch-up run, never a burst");
    assert_eq!(runs[0].job.config_id, within.id);
    let skipped = env.service.view(&beyond, 1).await.unwrap();
    assert_eq!(skipped.recent_history[0].event, "misfired");
    for c in [&within, &beyond] {
        let view = env.service.view(c, 1).await.unwrap();
        assert!(view.next_run.unwrap() > Utc::now() - Chrono::seconds(1), "rescheduled from now");
        assert!(view.status_consistent);
    }
}
}

conformance! {
#[tokio::test]
async fn forbid_skips_a_tick_while_a_run_is_in_flight(d) {
    let env = env(d);
    let mut new = cron("forbid", "* * * * * *");
    new.concurrency = Concurrency::Forbid;
    let config = env.d.store.create_config(new).await.unwrap();
    env.service.act(config.id, Action::Start).await.unwrap();
    due_in_the_past(&env, &config, Chrono::milliseconds(10)).await;
    fire_due(env.d.schedule.as_ref()).await.unwrap();
    // The first run is taken but not finished: the next tick is skipped.
    let taken = env.d.queue.claim(&taskbox::contract::queue::Consumer::of_default("w"), 10, Duration::ZERO).await.unwrap();
    assert_eq!(taken.len(), 1);
    due_in_the_past(&env, &config, Chrono::milliseconds(10)).await;
    fire_due(env.d.schedule.as_ref()).await.unwrap();
    assert!(env.d.queue.claim(&taskbox::contract::queue::Consumer::of_default("w"), 10, Duration::ZERO).await.unwrap().is_empty());
    assert_eq!(env.service.view(&config, 1).await.unwrap().recent_history[0].event, "skipped");
    // Once it is settled, ticks run again.
    let settle =
        Settle::of(Band::Normal, taken[0].handle.clone(), &taken[0].run);
    env.d.queue.settle(vec![settle]).await.unwrap();
    due_in_the_past(&env, &config, Chrono::milliseconds(10)).await;
    fire_due(env.d.schedule.as_ref()).await.unwrap();
    assert_eq!(drain(&env).await.len(), 1);
}
}

conformance! {
#[tokio::test]
async fn reconciliation_starts_new_configs_keeps_paused_and_stopped_and_repairs_entries(d) {
    let env = env(d);
    let fresh = env.d.store.create_config(cron("fresh", "0 3 * * *")).await.unwrap();
    let paused = env.d.store.create_config(cron("paused", "0 3 * * *")).await.unwrap();
    let stopped = env.d.store.create_config(cron("stopped", "0 3 * * *")).await.unwrap();
    let broken = env.d.store.create_config(cron("broken", "0 3 * * *")).await.unwrap();
    let manual = env.d.store.create_config(NewConfig::manual("manual", "echo")).await.unwrap();
    for c in [&paused, &stopped, &broken] {
        env.service.act(c.id, Action::Start).await.unwrap();
    }
    env.service.act(paused.id, Action::Pause).await.unwrap();
    env.service.act(stopped.id, Action::Stop).await.unwrap();
    // The due entry of an active config is lost (say, a partial restore).
    env.d.lose_due_entry(broken.id).await;
    assert!(!env.service.view(&broken, 0).await.unwrap().status_consistent);
    // State for a config that no longer exists.
    let ghost = uuid::Uuid::new_v4();
    let event = HistoryEvent::new("test", "", None);
    env.d
        .schedule
        .transition(Transition::new(ghost, vec![Status::Inactive], Some(Status::Paused), EntryChange::Keep, event))
        .await
        .unwrap();

    let done = env.service.reconcile().await.unwrap();
    assert_eq!((done.started, done.repaired, done.forgotten), (1, 1, 1));
    assert_eq!(status(&env, &fresh).await, (Status::Active, true, true));
    assert_eq!(status(&env, &paused).await, (Status::Paused, false, true));
    assert_eq!(status(&env, &stopped).await, (Status::Inactive, false, true));
    assert_eq!(status(&env, &broken).await, (Status::Active, true, true));
    assert_eq!(status(&env, &manual).await.0, Status::Inactive);
    assert_eq!(env.d.schedule.info(ghost, 0).await.unwrap().status, None);
    assert_eq!(env.service.reconcile().await.unwrap(), Default::default(), "a second pass changes nothing");
}
}

conformance! {
#[tokio::test]
async fn history_is_capped_at_100_events_with_a_ttl(d) {
    let env = env(d);
    let config = env.d.store.create_config(NewConfig::manual("chatty", "echo")).await.unwrap();
    for _ in 0..120 {
        env.service.run_now(config.id).await.unwrap();
    }
    let history = env.d.schedule.history(config.id, 1000).await.unwrap();
    assert_eq!(history.len(), 100);
    let ttl = env.d.history_ttl(config.id).await.as_secs();
    assert!(ttl > 6 * 24 * 3600 && ttl <= 7 * 24 * 3600, "{ttl}");
}
}

conformance! {
#[tokio::test]
async fn higher_priority_runs_are_taken_first(d) {
    let env = env(d);
    for (name, priority) in [("low", -5), ("normal", 0), ("high", 9)] {
        let mut new = NewConfig::manual(name, "echo");
        new.priority = priority;
        let c = env.d.store.create_config(new).await.unwrap();
        for _ in 0..3 {
            env.service.run_now(c.id).await.unwrap();
        }
    }
    let mut order = Vec::new();
    loop {
        let got = env.d.queue.claim(&taskbox::contract::queue::Consumer::of_default("one-at-a-time"), 1, Duration::ZERO).await.unwrap();
        let Some(d) = got.into_iter().next() else { break };
        order.push(d.run.job.priority);
        let settle = Settle::of(d.band, d.handle.clone(), &d.run);
        env.d.queue.settle(vec![settle]).await.unwrap();
    }
    assert_eq!(order, [9, 9, 9, 0, 0, 0, -5, -5, -5]);
}
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_lists_page_in_the_store_and_filter_by_status_across_chunks(d) {
    let env = env(d);
    // More configs than one chunk of the filtered walk (500); every third paused.
    let mut paused = Vec::new();
    for i in 0..1050 {
        let config = env.d.store.create_config(NewConfig::manual(&format!("cfg-{i:04}"), "echo")).await.unwrap();
        if i % 3 == 0 {
            let event = HistoryEvent::new("paused", "test", Some(Status::Paused));
            let to = Some(Status::Paused);
            let t = Transition::new(config.id, vec![Status::Inactive], to, EntryChange::Keep, event);
            env.d.schedule.transition(t).await.unwrap();
            paused.push(config.name);
        }
    }
    let names = |items: &[taskbox::engine::scheduler::ScheduleItem]| items.iter().map(|i| i.name.clone()).collect::<Vec<_>>();

    let (items, total) = env.service.list_schedules(None, Default::default(), Page { limit: 10, offset: 1045 }).await.unwrap();
    assert_eq!((total, names(&items)), (1050, (1045..1050).map(|i| format!("cfg-{i:04}")).collect()));
    assert_eq!(items[0].schedule_status, Status::Inactive, "cfg-1045 has no state: inactive");

    let (items, total) =
        env.service.list_schedules(Some(Status::Paused), Default::default(), Page { limit: 100, offset: 250 }).await.unwrap();
    assert_eq!(total, 350);
    assert_eq!(names(&items), paused[250..].to_vec(), "the page after the first 250 paused, by name");
    assert!(items.iter().all(|i| i.schedule_status == Status::Paused && !i.is_scheduled));

    let (items, total) =
        env.service.list_schedules(Some(Status::Inactive), Default::default(), Page { limit: 3, offset: 699 }).await.unwrap();
    assert_eq!((total, names(&items)), (700, vec!["cfg-1049".to_owned()]));
    let (items, _) = env.service.list_schedules(Some(Status::Error), Default::default(), Page { limit: 50, offset: 0 }).await.unwrap();
    assert!(items.is_empty());
}
}
