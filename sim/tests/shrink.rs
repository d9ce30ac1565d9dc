//! The shrinker on real runs. The simulator finds no violation today, so the failure here is
//! made up: a check that "breaks" whenever at least two clients ran and a backend died on a
//! call (a `crash` fault). From a big world (five clients, four backends, every fault, views,
//! roots, authentication) the shrinker must get down to the smallest world that still does
//! that, and the command line it prints must run that world again.

use onemcp_sim::args::{command, flag, parse_options};
use onemcp_sim::shrink::{BUDGET, Shrunk, shrink};
use onemcp_sim::{
    BackendFaults, ClientFaults, FaultPlan, Faults, Invariant, SimOptions, Violation, WorldFaults, pin, run,
};
use std::process::Command;
use std::sync::OnceLock;

const SEED: u64 = 2024;

/// The made-up check, on a real run.
fn two_clients_and_a_crash(seed: u64, options: &SimOptions) -> Option<Violation> {
    let report = match run(seed, options) {
        Ok(report) => report,
        Err(real) => return Some(real),
    };
    (report.clients >= 2 && report.crashes > 0).then(|| Violation {
        seed,
        step: report.steps,
        invariant: Invariant::Isolation,
        detail: format!("made up: {} clients and {} crashes", report.clients, report.crashes),
        trace: vec![],
    })
}

fn big_world() -> SimOptions {
    let all = BackendFaults {
        spawn_fail: 0.05,
        hang: 0.05,
        crash: 0.03,
        garbage: 0.05,
        partial: 0.05,
        duplicate: 0.05,
        unknown_id: 0.05,
        slow: 0.05,
        error: 0.05,
        list_changed: 0.05,
        ping: 0.05,
        honour_cancel: 0.5,
    };
    let plan = FaultPlan {
        backends: ["alpha", "beta", "gamma", "delta"].iter().map(|n| ((*n).to_owned(), all.clone())).collect(),
        clients: ClientFaults {
            disconnect: 0.05,
            cancel: 0.05,
            delete: 0.01,
            unknown_tool: 0.05,
            list: 0.05,
            sse: 0.5,
            listen: 0.05,
        },
        world: WorldFaults {
            reload_every_ms: 800,
            invalid: 0.2,
            per_session: Some("beta".into()),
            storm: Some("gamma".into()),
        },
        ..FaultPlan::default()
    };
    SimOptions {
        steps: 800,
        clients: Some(5),
        backends: Some(4),
        colliding_ids: Some(true),
        views: Some(true),
        roots: Some(true),
        auth: Some(true),
        faults: Faults::Plan(plan),
        ..SimOptions::default()
    }
}

/// The shrink both tests look at (made once).
fn shrunk() -> &'static Shrunk {
    static SHRUNK: OnceLock<Shrunk> = OnceLock::new();
    SHRUNK.get_or_init(|| {
        let start = big_world();
        let violation = two_clients_and_a_crash(SEED, &start).expect("the big world fails the made-up check");
        assert_eq!(violation.invariant, Invariant::Isolation, "and no real check: {violation}");
        shrink(SEED, &start, violation, BUDGET, two_clients_and_a_crash)
    })
}

#[test]
fn a_big_failing_world_shrinks_to_two_clients_one_backend_and_the_crash() {
    let shrunk = shrunk();
    let o = &shrunk.options;
    println!("{} runs: {}", shrunk.runs, command(SEED, o));
    assert!(shrunk.reproduced && !shrunk.exhausted, "{} runs: {o:?}", shrunk.runs);
    assert!(shrunk.runs <= BUDGET);
    assert_eq!((o.clients, o.backends), (Some(2), Some(1)), "{o:?}");
    assert_eq!((o.colliding_ids, o.views, o.roots, o.auth), (Some(false), Some(false), Some(false), Some(false)));
    let Faults::Plan(plan) = &o.faults else { panic!("an explicit plan: {o:?}") };
    assert_eq!(plan.to_string(), "alpha:crash=0.03", "only the crash fault is left");
    assert!(o.steps < big_world().steps, "{} steps", o.steps);
    // Nothing smaller fails: one step fewer and the call it crashed on never went out.
    let shorter = SimOptions { steps: o.steps - 1, ..o.clone() };
    assert!(two_clients_and_a_crash(SEED, &shorter).is_none(), "{} steps is the least", o.steps);
    let report = run(SEED, &shorter).expect("a passing run");
    assert_eq!(report.crashes, 0);
}

#[test]
fn the_printed_command_reproduces_the_smallest_world() {
    let shrunk = shrunk();
    let line = command(shrunk.seed, &shrunk.options);
    let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    assert_eq!(args[..2], ["onemcp-sim", "run"], "{line}");
    let seed: u64 = flag(&args, "--seed").and_then(|s| s.parse().ok()).expect("a seed");
    let options = parse_options(&args).expect("it parses");
    assert_eq!((seed, &options), (SEED, &shrunk.options), "{line}");
    let again = two_clients_and_a_crash(seed, &options).expect("it fails again");
    assert_eq!(again, shrunk.violation);
    // And the binary runs the same world: two clients, one backend, the crash.
    let out = Command::new(env!("CARGO_BIN_EXE_onemcp-sim")).args(&args[1..]).output().expect("onemcp-sim runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains(&format!("SEED={SEED} ok: 2 clients, 1 backends")), "{stdout}");
    let expected = run(SEED, &options).expect("passes the real checks");
    assert!(stdout.contains(&format!("trace {:016x}", expected.trace_hash)), "the very same run: {stdout}");
}

/// What the shrinker stands on: a seed's world with every dimension fixed to what the seed
/// drew is the same run, byte for byte.
#[test]
fn a_pinned_seed_is_the_same_run() {
    let options = SimOptions { full_trace: true, steps: 600, ..SimOptions::default() };
    for seed in 0..12 {
        let pinned = pin(seed, &options);
        assert!(pinned.clients.is_some() && pinned.backends.is_some() && matches!(pinned.faults, Faults::Plan(_)));
        let (drawn, fixed) = (run(seed, &options), run(seed, &pinned));
        assert_eq!(drawn.map(|r| r.trace), fixed.map(|r| r.trace), "seed {seed}");
    }
}

/// End to end through the binary, on a real failure: a settling budget too small to settle
/// (`--liveness-steps 5`) breaks invariant 5 on some seeds; `swarm` shrinks the first one and
/// prints a command that fails the same way.
#[test]
fn swarm_prints_a_command_that_fails_the_same_way() {
    let bin = env!("CARGO_BIN_EXE_onemcp-sim");
    let sweep = ["swarm", "--seeds", "0..8", "--jobs", "1", "--steps", "300", "--liveness-steps", "5"];
    let out = Command::new(bin).args(sweep).output().expect("onemcp-sim runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let first = stdout.lines().find(|l| l.starts_with("SEED=")).expect("a failing seed");
    assert!(first.contains("invariant 5"), "{first}");
    let line = stdout.lines().skip_while(|l| *l != "reproduce it with:").nth(1).expect("a reproduction");
    let (cargo, args) = line.split_once(" -- ").expect("a cargo command line");
    assert_eq!(cargo.trim(), "cargo run --release -p onemcp-sim");
    let args: Vec<&str> = args.split_whitespace().collect();
    let again = Command::new(bin).args(&args).output().expect("onemcp-sim runs");
    let again = String::from_utf8_lossy(&again.stdout);
    let seed = first.split_whitespace().next().unwrap_or_default();
    assert!(again.starts_with(&format!("{seed} step=")) && again.contains("invariant 5"), "{line}\n{again}");
}
