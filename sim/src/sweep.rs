//! A sweep over a range of seeds on worker threads: each worker takes the next block of seeds
//! (disjoint blocks, handed out in order), and the results come back merged in seed order, so
//! a sweep reports the same whatever the number of workers.

use crate::{SimOptions, Violation, run};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Seeds a worker takes at a time.
const BLOCK: u64 = 16;

/// Violations a sweep keeps (those of the lowest seeds); the rest are only counted.
pub const KEPT: usize = 100;

/// Totals of a sweep so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepStats {
    /// Seeds run.
    pub seeds: u64,
    /// Steps taken.
    pub steps: u64,
    /// Events handled.
    pub events: u64,
    /// HTTP requests the clients sent.
    pub requests: u64,
    /// Faults injected.
    pub faults: u64,
    /// Seeds that broke an invariant.
    pub violations: u64,
    /// Passing seeds that ran with authentication on.
    pub auth: u64,
}

impl SweepStats {
    fn add(&mut self, other: &SweepStats) {
        self.seeds += other.seeds;
        self.steps += other.steps;
        self.events += other.events;
        self.requests += other.requests;
        self.faults += other.faults;
        self.violations += other.violations;
        self.auth += other.auth;
    }
}

/// What a sweep found.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// Totals.
    pub stats: SweepStats,
    /// The violations of the lowest seeds (at most [`KEPT`]), in seed order.
    pub violations: Vec<Violation>,
    /// Wall time.
    pub elapsed: Duration,
}

/// One block's results.
fn run_block(seeds: Range<u64>, options: &SimOptions) -> (SweepStats, Vec<Violation>) {
    let mut stats = SweepStats::default();
    let mut violations = vec![];
    for seed in seeds {
        stats.seeds += 1;
        match run(seed, options) {
            Ok(r) => {
                stats.events += r.events;
                stats.steps += r.steps;
                stats.requests += r.requests;
                stats.faults += r.faults_injected;
                stats.auth += u64::from(r.auth);
            }
            Err(v) => {
                stats.violations += 1;
                violations.push(v);
            }
        }
    }
    (stats, violations)
}

/// Run every seed of `seeds` with `options` on `jobs` threads; `progress` is called about
/// every `every` with the totals so far and the time spent.
pub fn sweep(
    seeds: Range<u64>,
    options: &SimOptions,
    jobs: usize,
    every: Duration,
    mut progress: impl FnMut(&SweepStats, Duration),
) -> Sweep {
    let started = Instant::now();
    let next = AtomicU64::new(seeds.start);
    let (tx, rx) = mpsc::channel();
    let mut stats = SweepStats::default();
    let mut violations: Vec<Violation> = vec![];
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let (tx, next, end) = (tx.clone(), &next, seeds.end);
            scope.spawn(move || {
                loop {
                    let start = next.fetch_add(BLOCK, Ordering::Relaxed);
                    if start >= end {
                        return;
                    }
                    if tx.send(run_block(start..(start + BLOCK).min(end), options)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut last = Instant::now();
        loop {
            match rx.recv_timeout(every.saturating_sub(last.elapsed())) {
                Ok((block, found)) => {
                    stats.add(&block);
                    violations.extend(found);
                    violations.sort_by_key(|v| v.seed);
                    violations.truncate(KEPT);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if last.elapsed() >= every {
                progress(&stats, started.elapsed());
                last = Instant::now();
            }
        }
    });
    Sweep { stats, violations, elapsed: started.elapsed() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_change_nothing_but_the_time() {
        let options = SimOptions { steps: 200, ..SimOptions::default() };
        let one = sweep(0..40, &options, 1, Duration::from_secs(3600), |_, _| {});
        let three = sweep(0..40, &options, 3, Duration::from_secs(3600), |_, _| {});
        assert_eq!(one.stats.seeds, 40);
        assert!(one.stats.events > 0);
        assert_eq!(one.stats, three.stats);
        assert_eq!(one.violations, three.violations);
    }
}
