//! The queue's handles on both deployments: a worker that lost its claim
//! can never acknowledge a run that another worker holds now, in the same
//! attempt or a later one.

use chrono::Utc;
use std::time::Duration;
use taskbox::contract::job::{Band, Trigger};
use taskbox::contract::queue::{Delivery, Settle};
use taskbox::engine::scheduler::SchedulerService;
use taskbox::store::NewConfig;

fn acknowledge(d: &Delivery) -> Settle {
    Settle::of(Band::of_run(&d.run), d.handle.clone(), &d.run)
}

conformance! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_handle_never_settles_a_later_attempt(d) {
    let service = SchedulerService::new(d.store.clone(), d.schedule.clone());
    let c = d.store.create_config(NewConfig::manual("handles", "echo")).await.unwrap();
    service.run_now(c.id).await.unwrap();
    let q = &d.queue;
    let wait = Duration::from_secs(2);

    // Worker a takes the run and stops heart-beating; b takes it over.
    let lost = q.claim(&taskbox::contract::queue::Consumer::of_default("a"), 1, wait).await.unwrap().remove(0);
    let taken = q.reclaim(&taskbox::contract::queue::Consumer::of_default("b"), 10).await.unwrap().remove(0);
    assert_eq!(taken.run.execution_id, lost.run.execution_id);
    // b fails it and parks attempt 2, which c then takes.
    let mut next = taken.run.clone();
    next.attempt = 2;
    next.trigger = Trigger::Retry;
    q.settle(vec![Settle { retry: Some((next, Utc::now())), ..acknowledge(&taken) }]).await.unwrap();
    q.promote_retries(Utc::now() + chrono::Duration::seconds(1)).await.unwrap();
    let current = q.claim(&taskbox::contract::queue::Consumer::of_default("c"), 1, wait).await.unwrap().remove(0);
    assert_eq!((current.run.execution_id, current.run.attempt), (lost.run.execution_id, 2));

    // a comes back and acknowledges with the handle it had: nothing happens.
    q.settle(vec![acknowledge(&lost)]).await.unwrap();
    assert_eq!(d.held().await, 1, "attempt 2 is still held by c");
    q.settle(vec![acknowledge(&current)]).await.unwrap();
    assert_eq!(d.held().await, 0);
}
}
