//! Shrinking a failing world: from a seed that breaks an invariant to the smallest world the
//! same seed still breaks it in.
//!
//! A seed draws its world (how many clients and backends, which faults at which rates, views,
//! roots, authentication). [`crate::pin`] fixes every drawn dimension to what was drawn, which
//! replays the same run; from there [`shrink`] reduces one dimension at a time and keeps a
//! reduction when the run still breaks the same invariant (at any step): fewer backends, fewer
//! clients, colliding ids / views / roots / authentication / stateless clients off, each fault kind off (on every
//! backend, then per backend), and fewer steps (cut to the violation's step, then bisected),
//! round after round until nothing more goes or the budget of runs is spent. The seed stays.
//!
//! Steps shrink exactly (a shorter run is a prefix of the longer one) and so, mostly, do faults
//! (a fault at probability 0 draws nothing). Fewer clients or backends draw less, which moves
//! every later draw: such a candidate is a different world, kept only if it still fails.
//!
//! [`shrink`] is pure over its `run` closure, so it is tested on made-up failures as well as
//! on real runs.

use crate::world::BACKEND_NAMES;
use crate::{Faults, Invariant, SimOptions, Violation};

/// Runs a shrink may make unless told otherwise.
pub const BUDGET: usize = 200;

/// The smallest failing world found.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The seed (never changed).
    pub seed: u64,
    /// The world: every dimension fixed.
    pub options: SimOptions,
    /// What that world breaks.
    pub violation: Violation,
    /// Runs made.
    pub runs: usize,
    /// The starting world reproduced the failure (else nothing was shrunk).
    pub reproduced: bool,
    /// The budget ran out before a round reduced nothing.
    pub exhausted: bool,
}

struct Search<F> {
    seed: u64,
    target: Invariant,
    budget: usize,
    runs: usize,
    /// Steps of the starting world: a simpler world gets all of them to fail in (its failure
    /// may come later than the current one's), and the steps are bisected again after.
    steps: u64,
    best: SimOptions,
    violation: Violation,
    run: F,
}

impl<F: FnMut(u64, &SimOptions) -> Option<Violation>> Search<F> {
    fn spent(&self) -> bool {
        self.runs >= self.budget
    }

    /// Run `candidate`; keep it if it breaks the same invariant.
    fn try_keep(&mut self, candidate: SimOptions) -> bool {
        if self.spent() || candidate == self.best {
            return false;
        }
        self.runs += 1;
        match (self.run)(self.seed, &candidate) {
            Some(v) if v.invariant == self.target => {
                self.best = candidate;
                self.violation = v;
                self.cut_steps();
                true
            }
            _ => false,
        }
    }

    /// A violation found at step `k` of the safety phase is found again by a run of `k` steps
    /// (the same prefix): no run is needed to cut there.
    fn cut_steps(&mut self) {
        if self.violation.step < self.best.steps {
            self.best.steps = self.violation.step;
        }
    }

    /// The current world, changed by `change`, with all the starting steps.
    fn simpler(&self, change: impl FnOnce(&mut SimOptions)) -> SimOptions {
        let mut candidate = SimOptions { steps: self.steps, ..self.best.clone() };
        change(&mut candidate);
        candidate
    }

    /// The first of `candidates` that still fails, if any.
    fn first_failing(&mut self, candidates: impl IntoIterator<Item = SimOptions>) -> bool {
        candidates.into_iter().any(|c| self.try_keep(c))
    }

    fn fewer_backends(&mut self) -> bool {
        let now = self.best.backends.unwrap_or(1);
        let candidates: Vec<SimOptions> = (1..now)
            .map(|n| {
                self.simpler(|o| {
                    o.backends = Some(n);
                    if let Faults::Plan(plan) = &o.faults {
                        o.faults = Faults::Plan(plan.only(&BACKEND_NAMES[..n]));
                    }
                })
            })
            .collect();
        self.first_failing(candidates)
    }

    fn fewer_clients(&mut self) -> bool {
        let now = self.best.clients.unwrap_or(1);
        let candidates: Vec<SimOptions> = (1..now).map(|n| self.simpler(|o| o.clients = Some(n))).collect();
        self.first_failing(candidates)
    }

    /// Colliding ids, views, roots, authentication and stateless clients off, each in turn.
    fn plainer(&mut self) -> bool {
        let mut progress = false;
        let switches: [fn(&mut SimOptions) -> &mut Option<bool>; 5] =
            [|o| &mut o.colliding_ids, |o| &mut o.views, |o| &mut o.roots, |o| &mut o.auth, |o| &mut o.stateless];
        for switch in switches {
            let mut candidate = self.simpler(|_| {});
            if *switch(&mut candidate) == Some(true) {
                *switch(&mut candidate) = Some(false);
                progress |= self.try_keep(candidate);
            }
        }
        progress
    }

    /// Each fault kind off in turn (the list is read again after each one that goes: a kind
    /// off everywhere takes its per-backend entries along).
    fn fewer_faults(&mut self) -> bool {
        let mut progress = false;
        let mut tried = vec![];
        loop {
            let Faults::Plan(plan) = &self.best.faults else { return progress };
            let Some(kind) = plan.kinds().into_iter().find(|k| !tried.contains(k)) else { return progress };
            let fewer = Faults::Plan(plan.without(&kind));
            let candidate = self.simpler(|o| o.faults = fewer);
            tried.push(kind);
            progress |= self.try_keep(candidate);
            if self.spent() {
                return progress;
            }
        }
    }

    /// The fewest steps that still fail, by bisection (below a failing count, the run is a
    /// prefix of it, so failing is nearly monotone in the steps).
    fn fewer_steps(&mut self) -> bool {
        let (mut pass, mut fail) = (0, self.best.steps);
        let start = fail;
        while pass + 1 < fail && !self.spent() {
            let mid = pass + (fail - pass) / 2;
            if self.try_keep(SimOptions { steps: mid, ..self.best.clone() }) {
                fail = self.best.steps;
            } else {
                pass = mid;
            }
        }
        self.best.steps < start
    }
}

/// Shrink the failing run of `seed` with `options` (every dimension fixed: see
/// [`crate::pin`]) that broke `violation`, making at most `budget` runs of `run` (which
/// returns the violation a run finds, if any). A candidate counts as failing when it breaks
/// the same invariant, at any step.
pub fn shrink(
    seed: u64,
    options: &SimOptions,
    violation: Violation,
    budget: usize,
    run: impl FnMut(u64, &SimOptions) -> Option<Violation>,
) -> Shrunk {
    let target = violation.invariant;
    let mut search = Search {
        seed,
        target,
        budget,
        runs: 0,
        steps: options.steps,
        best: options.clone(),
        violation: violation.clone(),
        run,
    };
    // The start itself first: the printed reproduction must be a run that was seen to fail.
    search.runs += 1;
    let reproduced = match (search.run)(seed, options) {
        Some(v) if v.invariant == target => {
            search.violation = v;
            true
        }
        _ => false,
    };
    if !reproduced {
        return Shrunk { seed, options: options.clone(), violation, runs: 1, reproduced, exhausted: false };
    }
    search.cut_steps();
    loop {
        // Bitwise or: every pass runs every round, whatever the one before it found.
        let progress = search.fewer_backends()
            | search.fewer_clients()
            | search.plainer()
            | search.fewer_faults()
            | search.fewer_steps();
        if !progress || search.spent() {
            break;
        }
    }
    let exhausted = search.spent();
    Shrunk { seed, options: search.best, violation: search.violation, runs: search.runs, reproduced, exhausted }
}

/// Shrink `violation`, found by a run with `options` (dimensions left to the seed or not),
/// against the real simulator.
pub fn shrink_violation(violation: Violation, options: &SimOptions) -> Shrunk {
    let seed = violation.seed;
    shrink(seed, &crate::pin(seed, options), violation, BUDGET, |s, o| crate::run(s, o).err())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BackendFaults, ClientFaults, FaultPlan, WorldFaults};

    fn everything() -> FaultPlan {
        let all = BackendFaults {
            spawn_fail: 0.1,
            hang: 0.1,
            crash: 0.1,
            garbage: 0.1,
            partial: 0.1,
            duplicate: 0.1,
            unknown_id: 0.1,
            slow: 0.1,
            error: 0.1,
            list_changed: 0.1,
            ping: 0.1,
            honour_cancel: 0.5,
        };
        FaultPlan {
            backends: BACKEND_NAMES.iter().map(|n| ((*n).to_owned(), all.clone())).collect(),
            clients: ClientFaults {
                disconnect: 0.1,
                cancel: 0.1,
                delete: 0.1,
                unknown_tool: 0.1,
                list: 0.1,
                sse: 0.1,
                listen: 0.1,
            },
            world: WorldFaults {
                reload_every_ms: 500,
                invalid: 0.1,
                per_session: Some("beta".into()),
                storm: Some("gamma".into()),
            },
            bridge: crate::BridgeFaults::default(),
        }
    }

    fn big() -> SimOptions {
        SimOptions {
            steps: 1500,
            backends: Some(4),
            clients: Some(5),
            colliding_ids: Some(true),
            views: Some(true),
            roots: Some(true),
            auth: Some(true),
            faults: Faults::Plan(everything()),
            ..SimOptions::default()
        }
    }

    fn violation(step: u64) -> Violation {
        Violation { seed: 9, step, invariant: Invariant::Isolation, detail: "made up".into(), trace: vec![] }
    }

    /// A made-up bug: two clients and a crashing backend break isolation at step 37.
    fn made_up_bug(_: u64, o: &SimOptions) -> Option<Violation> {
        let crash = matches!(&o.faults, Faults::Plan(p) if p.backends.values().any(|f| f.crash > 0.0));
        (o.clients.unwrap_or(1) >= 2 && crash && o.steps >= 37).then(|| violation(37))
    }

    #[test]
    fn a_made_up_bug_shrinks_to_its_cause() {
        let shrunk = shrink(9, &big(), violation(37), BUDGET, made_up_bug);
        let o = &shrunk.options;
        assert!(shrunk.reproduced && !shrunk.exhausted, "{shrunk:?}");
        assert_eq!((o.clients, o.backends, o.steps), (Some(2), Some(1), 37));
        assert_eq!((o.colliding_ids, o.views, o.roots, o.auth), (Some(false), Some(false), Some(false), Some(false)));
        let Faults::Plan(plan) = &o.faults else { panic!("a plan: {o:?}") };
        assert_eq!(plan.to_string(), "alpha:crash=0.1");
        assert!(shrunk.runs <= BUDGET, "{} runs", shrunk.runs);
    }

    #[test]
    fn the_budget_bounds_the_search() {
        let mut runs = 0;
        let shrunk = shrink(9, &big(), violation(37), 10, |s, o| {
            runs += 1;
            made_up_bug(s, o)
        });
        assert_eq!((runs, shrunk.runs), (10, 10));
        assert!(shrunk.exhausted);
        assert!(made_up_bug(9, &shrunk.options).is_some(), "what it returns still fails");
    }

    #[test]
    fn another_invariant_does_not_count() {
        let other = |_: u64, o: &SimOptions| {
            let mut v = made_up_bug(9, o)?;
            if o.clients != Some(5) {
                v.invariant = Invariant::Drains;
            }
            Some(v)
        };
        let shrunk = shrink(9, &big(), violation(37), BUDGET, other);
        assert_eq!(shrunk.options.clients, Some(5), "fewer clients break another rule: not the same failure");
    }

    #[test]
    fn a_start_that_does_not_fail_is_left_alone() {
        let shrunk = shrink(9, &big(), violation(37), BUDGET, |_, _| None);
        assert!(!shrunk.reproduced);
        assert_eq!((shrunk.runs, &shrunk.options), (1, &big()));
    }
}
