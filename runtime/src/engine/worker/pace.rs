//! How many runs a worker claims per round trip: decoupled from how many
//! run at once. A claim that brings only as many runs as there are free
//! slots costs one queue round trip per few runs, which caps trivial runs
//! at a fraction of what the sandbox can do (8 slots: 11k runs/s, against
//! 25k with 256). So the worker claims ahead by what the runs cost: enough
//! to keep its slots busy for one claim round trip (`slots × round trip ÷
//! run time`), never more than [`MAX_CLAIM`], and never fewer than the
//! free slots. Long runs (a second, say) are claimed one slot at a time, so
//! no worker hoards work another could start; runs of microseconds come
//! hundreds a claim.
//!
//! Claimed runs that wait for a slot stay pending on the queue under this
//! worker's name: if it dies they are reclaimed like running ones.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Most runs one claim takes (also a commit batch's worth).
pub const MAX_CLAIM: usize = 512;

/// Moving averages of what runs and claims cost, in nanoseconds.
#[derive(Debug)]
pub(super) struct Pace {
    run: AtomicU64,
    claim: AtomicU64,
}

impl Default for Pace {
    fn default() -> Self {
        // Until measured: runs as long as a claim, so claims bring one per slot.
        Self { run: AtomicU64::new(1_000_000), claim: AtomicU64::new(1_000_000) }
    }
}

/// An exponential moving average over about the last 16 samples.
fn blend(average: &AtomicU64, sample: Duration) {
    let sample = sample.as_nanos().min(u64::MAX as u128) as u64;
    let _ =
        average.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| Some(old - old / 16 + sample / 16));
}

impl Pace {
    /// One run took `took` in its slot.
    pub(super) fn ran(&self, took: Duration) {
        blend(&self.run, took);
    }

    /// One claim that brought runs took `took`.
    pub(super) fn claimed(&self, took: Duration) {
        blend(&self.claim, took);
    }

    /// How many runs to ask for with `free` of `slots` free.
    pub(super) fn claim_size(&self, free: usize, slots: usize) -> usize {
        let run = self.run.load(Ordering::Relaxed).max(1);
        let claim = self.claim.load(Ordering::Relaxed);
        let ahead = (slots as u64).saturating_mul(claim) / run;
        (ahead.min(MAX_CLAIM as u64) as usize).max(free).min(MAX_CLAIM.max(free))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_runs_are_claimed_ahead_and_long_ones_a_slot_at_a_time() {
        let pace = Pace::default();
        assert_eq!(pace.claim_size(8, 8), 8, "unmeasured: one per free slot");
        for _ in 0..200 {
            pace.ran(Duration::from_micros(40));
            pace.claimed(Duration::from_millis(1));
        }
        let ahead = pace.claim_size(1, 8);
        assert!((190..=200).contains(&ahead), "8 slots × 1 ms ÷ 40 µs = 200, averaged: {ahead}");
        for _ in 0..200 {
            pace.ran(Duration::from_secs(1));
        }
        assert_eq!(pace.claim_size(3, 8), 3, "a second a run: only the free slots");
        for _ in 0..200 {
            pace.ran(Duration::from_nanos(10));
        }
        assert_eq!(pace.claim_size(8, 8), MAX_CLAIM);
    }
}
