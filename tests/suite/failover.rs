//! A Redis Cluster master killed with SIGKILL under load, its replica
//! promoted by the cluster: the API answers 503 for a bounded window and
//! recovers by itself, no run it acknowledged with 202 is lost, every one
//! is recorded exactly once, and no tick of a per-second cron is recorded
//! twice. On a cluster of the test's own (the shared one serves the
//! other tests meanwhile).

use reqwest::StatusCode;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::cluster::PrivateCluster;
use crate::support::*;

const RUNS: usize = 2000;

/// What the clients saw: the runs acknowledged, and when requests failed.
#[derive(Default)]
struct Seen {
    acked: Vec<String>,
    failed_at: Vec<Instant>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_master_killed_under_load_loses_nothing_acknowledged_and_fires_no_tick_twice() {
    let mut cluster = PrivateCluster::start(1000);
    let d = Deployment::on_cluster(cluster.nodes()).await;
    let f = Fleet::start(&d, PluginDir::with(&["echo"]), 1, &[]);
    let api = f.api.api.clone();
    let burst =
        api.create_id(json!({"name": "burst", "task_type": "echo", "scheduler_type": "manual"})).await;
    let (status, tick) = api
        .post(
            "/configs?auto_start=true",
            json!({"name": "tick", "task_type": "echo", "scheduler_type": "cron",
                "schedule_config": {"cron_expression": "* * * * * *"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{tick}");
    let tick = tick["id"].as_str().unwrap().to_owned();

    // 2,000 runs asked for by 16 clients, each request retried with its
    // idempotency key until it is acknowledged (as a client would).
    let seen = Arc::new(Mutex::new(Seen::default()));
    let started = Instant::now();
    let clients: Vec<_> = (0..16)
        .map(|c| {
            let (api, burst, seen) = (api.clone(), burst.clone(), seen.clone());
            tokio::spawn(async move {
                for n in (c..RUNS).step_by(16) {
                    let url = api.url(&format!("/configs/{burst}/run"));
                    loop {
                        let answer = api
                            .client
                            .post(&url)
                            .bearer_auth(&api.token)
                            .header("Idempotency-Key", format!("run-{n}"))
                            .json(&json!({}))
                            .timeout(Duration::from_secs(10))
                            .send()
                            .await;
                        match answer {
                            Ok(r) if r.status() == StatusCode::ACCEPTED => {
                                let body: serde_json::Value = r.json().await.unwrap();
                                let id = body["execution_id"].as_str().unwrap().to_owned();
                                seen.lock().unwrap().acked.push(id);
                                break;
                            }
                            Ok(r) => {
                                let status = r.status();
                                assert_eq!(
                                    status,
                                    StatusCode::SERVICE_UNAVAILABLE,
                                    "{}",
                                    r.text().await.unwrap()
                                );
                                seen.lock().unwrap().failed_at.push(Instant::now());
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                            Err(e) => panic!("the API stopped answering: {e}"),
                        }
                    }
                    // About 100 requests a second: the load lasts through the failover.
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
            })
        })
        .collect();

    // Under way: kill the master holding the shard of the config run.
    eventually("a quarter of the runs acknowledged", Duration::from_secs(60), || async {
        seen.lock().unwrap().acked.len() >= RUNS / 4
    })
    .await;
    let redis = d.redis.as_ref().unwrap();
    let key = redis.key_of(burst.parse().unwrap(), "status");
    let master = cluster.master_of(&key);
    cluster.kill(master);
    let (killed, killed_at) = (Instant::now(), started.elapsed());
    // The cluster's part of the window: until a replica serves the slot.
    let promoted = loop {
        match cluster.serving(&key) {
            Some(port) if port != master => break killed.elapsed(),
            _ => assert!(killed.elapsed() < Duration::from_secs(60), "no replica was promoted"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for client in clients {
        client.await.unwrap();
    }
    let seen = Arc::try_unwrap(seen).ok().unwrap().into_inner().unwrap();
    // Refusals before the kill are the young cluster's replicas still
    // syncing (no replica confirms in time): not the failover's.
    let before = seen.failed_at.iter().filter(|t| **t < killed).count();
    let outage = seen.failed_at.last().map_or(Duration::ZERO, |t| t.saturating_duration_since(killed));
    eprintln!(
        "master on port {master} killed at {killed_at:?}; {} requests answered 503 after the kill, the last \
         {outage:?} after it; its replica served the slot {promoted:?} after the kill; {before} answered 503 \
         before the kill",
        seen.failed_at.len() - before
    );
    if outage >= Duration::from_secs(20) {
        let log = f.api.log.lock().unwrap();
        let warnings: Vec<&String> =
            log.iter().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect();
        eprintln!("the API's last warnings:\n{:#?}", &warnings[warnings.len().saturating_sub(30)..]);
    }
    assert!(
        outage < Duration::from_secs(20),
        "the API recovered by itself within 20 s of the kill, took {outage:?}"
    );
    assert_eq!(seen.acked.len(), RUNS);

    // Every acknowledged run is recorded exactly once.
    let pg = match &d.opened {
        taskbox::store::Opened::Postgres(pg) => pg.pool().clone(),
        taskbox::store::Opened::Sqlite(_) => unreachable!(),
    };
    let counts = || async {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT execution_id::text, count(*) FROM task_executions WHERE config_id = $1::uuid GROUP BY 1",
        )
        .bind(&burst)
        .fetch_all(&pg)
        .await
        .unwrap();
        rows.into_iter().collect::<HashMap<String, i64>>()
    };
    eventually("every acknowledged run recorded", Duration::from_secs(120), || async {
        let recorded = counts().await;
        seen.acked.iter().all(|id| recorded.contains_key(id))
    })
    .await;
    let recorded = counts().await;
    for id in &seen.acked {
        assert_eq!(recorded[id], 1, "run {id} recorded {} times", recorded[id]);
    }

    // The cron went on firing, and no tick is recorded twice.
    let ticks: Vec<(String, i64)> = sqlx::query_as(
        "SELECT scheduled_at::text, count(*) FROM task_executions WHERE config_id = $1::uuid GROUP BY 1",
    )
    .bind(&tick)
    .fetch_all(&pg)
    .await
    .unwrap();
    let twice: Vec<_> = ticks.iter().filter(|(_, n)| *n > 1).collect();
    assert!(twice.is_empty(), "ticks recorded twice: {twice:?}");
    let span = started.elapsed().as_secs() as usize;
    assert!(ticks.len() + 20 >= span, "{} ticks recorded over {span} s", ticks.len());
}
