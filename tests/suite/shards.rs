//! Virtual shards of the Redis state, on the test Redis Cluster (16
//! shards, its default) and on one Redis with 4: a run limited by its task
//! type is handed from its config's shard to the type's home shard, held
//! to the limit there, cancelled there and let go when it settles; a
//! hand-off or a release cut short by a crash is finished by maintenance;
//! state kept under another shard count is refused at start.

use chrono::Utc;
use redis::AsyncCommands;
use std::sync::Arc;
use std::time::Duration;
use taskbox::backends::redis::{RedisBackend, Target};
use taskbox::contract::job::Band;
use taskbox::contract::limits::TypeRule;
use taskbox::contract::queue::{Cancelled, Consumer, Delivery, Queue, Settle};
use taskbox::engine::scheduler::SchedulerService;
use taskbox::store::NewConfig;
use uuid::Uuid;

use crate::support::services::{TestRedis, redis_url};
use crate::support::*;

fn settle(d: &Delivery) -> Settle {
    Settle::of(Band::of_run(&d.run), d.handle.clone(), &d.run)
}

/// The places of a config's runs in flight in its own shard.
async fn places(redis: &TestRedis, config: Uuid) -> Vec<(String, String)> {
    let mut conn = redis.raw();
    let mut all: Vec<(String, String)> =
        conn.hgetall(redis.key_of(config, &format!("runs:{config}"))).await.unwrap();
    all.sort();
    all
}

async fn take(queue: &RedisBackend, max: usize) -> Vec<Delivery> {
    queue.claim(&Consumer::of_default("w"), max, Duration::from_millis(500)).await.unwrap()
}

/// The scenario, on `redis` (its shards) with the configs of `d`'s store.
async fn hand_off_scenario(d: &Deployment, redis: &TestRedis) {
    let backend = redis.backend();
    let shards = backend.shards();
    let home = shards.home("echo");
    // A config outside the home of its task type.
    let config = loop {
        let name = format!("limited-{}", Uuid::new_v4().simple());
        let c = d.store.create_config(NewConfig::manual(&name, "echo")).await.unwrap();
        if shards.of(c.id) != home {
            break c.id;
        }
    };
    let rule = TypeRule { max_concurrency: Some(1), ..TypeRule::default() };
    let service = SchedulerService::new(d.store.clone(), Arc::new(backend.clone()))
        .with_type_rules(Arc::new(move |_| rule.clone()));
    let first = service.run_now(config).await.unwrap();
    let second = service.run_now(config).await.unwrap();
    let forwarded = format!("f|{home}");
    let mut expected = vec![(first.to_string(), forwarded.clone()), (second.to_string(), forwarded.clone())];
    expected.sort();
    assert_eq!(places(redis, config).await, expected, "both are the config's runs in flight, handed home");

    // The type's limit of one holds at its home: one taken, one waits.
    let taken = take(backend, 10).await;
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0].run.execution_id, first);
    assert!(
        taken[0].handle.starts_with(&format!("s{home}/")),
        "taken from the home shard: {}",
        taken[0].handle
    );
    assert!(take(backend, 10).await.is_empty(), "the second waits for the type's slot");
    backend.settle(vec![settle(&taken[0])]).await.unwrap();
    assert_eq!(
        places(redis, config).await,
        vec![(second.to_string(), forwarded.clone())],
        "the first let go"
    );

    // The second, let through by the settle, is cancelled where it waits.
    let cancelled = backend.cancel(second, "tester").await.unwrap();
    assert!(matches!(cancelled, Cancelled::Waiting(_)), "{cancelled:?}");
    let marker = take(backend, 10).await;
    assert_eq!(marker.len(), 1, "{marker:?}");
    assert_eq!((marker[0].run.execution_id, marker[0].cancelled_by()), (second, Some("tester")));
    backend.settle(vec![settle(&marker[0])]).await.unwrap();
    assert!(places(redis, config).await.is_empty(), "nothing of the config in flight");

    let mut conn = redis.raw();
    let at_home = |name: &str| format!("{}{name}", shards.prefix(home));
    let slots: Option<i64> = conn.get(at_home("slots:t:echo")).await.unwrap();
    assert_eq!(slots.unwrap_or(0), 0, "no slot leaked at the home");

    // A process stopped after the home settled a run, before its release:
    // maintenance asks the home and lets the run go.
    let ghost = Uuid::new_v4().to_string();
    let (runs, run_config) =
        (redis.key_of(config, &format!("runs:{config}")), redis.key_of(config, "run_config"));
    let () = conn.hset(&runs, &ghost, &forwarded).await.unwrap();
    let () = conn.hset(&run_config, &ghost, config.to_string()).await.unwrap();
    let () = conn.zadd(redis.key_of(config, "forwarded"), &ghost, 0).await.unwrap();
    backend.promote_retries(Utc::now()).await.unwrap();
    assert!(places(redis, config).await.is_empty(), "the stale run was released");

    // A process stopped after the hand-off was kept, before passing it on:
    // maintenance passes it on, and it runs once.
    let third = Uuid::new_v4();
    let mut run = taken[0].run.clone();
    run.execution_id = third;
    let item = format!("normal|{config}|{third}|,1,,,echo|{}", serde_json::to_string(&run).unwrap());
    let () = conn
        .hset(redis.key_of(config, "outbox"), third.to_string(), format!("{home}|999|{item}"))
        .await
        .unwrap();
    let () = conn.zadd(redis.key_of(config, "outbox_at"), third.to_string(), 0).await.unwrap();
    let () = conn.hset(&runs, third.to_string(), format!("o|{home}")).await.unwrap();
    let () = conn.hset(&run_config, third.to_string(), config.to_string()).await.unwrap();
    assert!(take(backend, 10).await.is_empty(), "not passed on yet");
    backend.promote_retries(Utc::now()).await.unwrap();
    assert_eq!(places(redis, config).await, vec![(third.to_string(), forwarded.clone())]);
    let passed = take(backend, 10).await;
    assert_eq!(passed.iter().map(|d| d.run.execution_id).collect::<Vec<_>>(), vec![third]);
    backend.promote_retries(Utc::now()).await.unwrap();
    assert!(take(backend, 10).await.is_empty(), "passed on once");
    backend.settle(vec![settle(&passed[0])]).await.unwrap();
    assert!(places(redis, config).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_limited_by_its_task_type_is_handed_to_the_types_shard_on_the_cluster() {
    let d = Deployment::new(Kind::Cluster).await;
    let redis = d.redis.as_ref().unwrap();
    assert_eq!(redis.backend().shards().count(), 16, "a cluster's default");
    hand_off_scenario(&d, redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_limited_by_its_task_type_is_handed_to_the_types_shard_on_one_redis() {
    let d = Deployment::new(Kind::Distributed).await;
    let redis = TestRedis::sharded(Target::Single(redis_url()), Some(4)).await;
    assert_eq!(redis.backend().shards().count(), 4);
    hand_off_scenario(&d, &redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_kept_under_another_shard_count_is_refused_at_start() {
    for (target, kept, asked) in
        [(Target::Single(redis_url()), 1, 4), (Target::Cluster(services::cluster_nodes()), 16, 8)]
    {
        let redis = TestRedis::sharded(target.clone(), None).await;
        assert_eq!(redis.backend().shards().count(), kept);
        let refused = RedisBackend::connect_sharded(&target, &redis.prefix, Some(asked)).await.err();
        let message = refused.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains(&format!("kept in {kept} shard(s), but TASKBOX_REDIS_SHARDS asks for {asked}")),
            "{message}"
        );
        RedisBackend::connect_sharded(&target, &redis.prefix, Some(kept as u16))
            .await
            .expect("the same count starts");
    }
}
