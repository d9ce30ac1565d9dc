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
    /// Passing seeds that had stateless clients.
    pub stateless: u64,
    /// Stateless calls answered `input_required` in passing seeds (the bridge crossed).
    pub input_required: u64,
    /// Retries that resumed their parked call, in passing seeds.
    pub resumed: u64,
    /// Retries whose state was refused, in passing seeds.
    pub refused: u64,
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
        self.stateless += other.stateless;
        self.input_required += other.input_required;
        self.resumed += other.resumed;
        self.refused += other.refused;
    }
}

/// How a sweep runs.
#[derive(Clone, Debug)]
pub struct SweepConfig {
    /// Worker threads.
    pub jobs: usize,
    /// How often progress is reported.
    pub progress_every: Duration,
    /// Hand out no more seeds after this long (the seeds run are still a prefix of the range).
    pub time_limit: Option<Duration>,
}

/// What a sweep found.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// The seeds run: all of the range asked for, or its start when the time limit cut it.
    pub seeds: Range<u64>,
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
                stats.stateless += u64::from(r.stateless_clients > 0);
                stats.input_required += r.bridge.input_required;
                stats.resumed += r.bridge.resumed;
                stats.refused += r.bridge.refused;
            }
            Err(v) => {
                stats.violations += 1;
                violations.push(v);
            }
        }
    }
    (stats, violations)
}

/// Run every seed of `seeds` with `options` on `config.jobs` threads, or those a time limit
/// leaves; `progress` is called about every `config.progress_every` with the totals so far
/// and the time spent.
pub fn sweep(
    seeds: Range<u64>,
    options: &SimOptions,
    config: &SweepConfig,
    mut progress: impl FnMut(&SweepStats, Duration),
) -> Sweep {
    let (jobs, every) = (config.jobs, config.progress_every);
    let started = Instant::now();
    let out_of_time = || config.time_limit.is_some_and(|limit| started.elapsed() >= limit);
    let next = AtomicU64::new(seeds.start);
    let (tx, rx) = mpsc::channel();
    let mut stats = SweepStats::default();
    let mut violations: Vec<Violation> = vec![];
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let (tx, next, end, out_of_time) = (tx.clone(), &next, seeds.end, &out_of_time);
            scope.spawn(move || {
                // Every block handed out is run to its end: the seeds run stay a prefix.
                while !out_of_time() {
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
    let ran = seeds.start..seeds.start + stats.seeds;
    Sweep { seeds: ran, stats, violations, elapsed: started.elapsed() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_change_nothing_but_the_time() {
        let options = SimOptions { steps: 200, ..SimOptions::default() };
        let config = |jobs| SweepConfig { jobs, progress_every: Duration::from_secs(3600), time_limit: None };
        let one = sweep(0..40, &options, &config(1), |_, _| {});
        let three = sweep(0..40, &options, &config(3), |_, _| {});
        assert_eq!((one.seeds, one.stats.seeds), (0..40, 40));
        assert!(one.stats.events > 0);
        assert_eq!(one.stats, three.stats);
        assert_eq!(one.violations, three.violations);
    }

    #[test]
    fn a_time_limit_stops_at_a_prefix_of_the_range() {
        let options = SimOptions { steps: 200, ..SimOptions::default() };
        let config = SweepConfig {
            jobs: 2,
            progress_every: Duration::from_secs(3600),
            time_limit: Some(Duration::from_millis(1)),
        };
        let cut = sweep(100..1_000_000, &options, &config, |_, _| {});
        assert!(cut.seeds.end < 1_000_000, "{:?}", cut.seeds);
        assert_eq!((cut.seeds.start, cut.seeds.end - cut.seeds.start), (100, cut.stats.seeds));
    }
}
