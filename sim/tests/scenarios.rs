//! Named scenarios: small fixed worlds (one or two servers, one or two clients, a fixed seed,
//! no random faults beyond the scripted one) whose whole event trace is snapshotted. The
//! `.snap` files are the behaviour to review: read them as a story of what the hub did.

use onemcp_sim::{
    BackendFaults, BackendShape, CallResult, ConfigChange, FaultPlan, Faults, SimOptions, SimReport, WorldFaults, run,
};

/// One `echo` tool, no lists beyond tools, answers within 600 ms, starts within 50 ms.
fn shape() -> BackendShape {
    BackendShape {
        tools: vec!["echo".into()],
        prompts: false,
        resources: false,
        page_size: None,
        max_delay_ms: 600,
        max_spawn_ms: 50,
        request_timeout_ms: 2000,
    }
}

fn scenario(
    backends: usize,
    clients: usize,
    calls: u64,
    plan: FaultPlan,
    script: Vec<(u64, ConfigChange)>,
) -> SimOptions {
    SimOptions {
        backends: Some(backends),
        clients: Some(clients),
        colliding_ids: Some(false),
        steps: 500,
        faults: Faults::Plan(plan),
        full_trace: true,
        max_calls: Some(calls),
        client_start_ms: 100,
        shape: Some(shape()),
        script,
        ..SimOptions::default()
    }
}

fn trace(report: &SimReport) -> String {
    report.trace.join("\n")
}

fn results(report: &SimReport, backend: &str) -> Vec<CallResult> {
    report.outcomes.iter().filter(|o| o.backend == backend).map(|o| o.result.clone()).collect()
}

#[test]
fn crash_during_a_call() {
    let plan = FaultPlan {
        backends: [("alpha".to_owned(), BackendFaults { crash: 1.0, ..BackendFaults::default() })].into(),
        ..FaultPlan::default()
    };
    let report = run(9, &scenario(1, 1, 1, plan, vec![])).unwrap_or_else(|v| panic!("{v}"));
    let alpha = results(&report, "alpha");
    assert!(
        matches!(&alpha[..], [CallResult::Error(m)] if m.contains("server 'alpha' failed before answering tools/call")),
        "{alpha:?}"
    );
    assert_eq!(report.settled.ready_backends, 1, "alpha was restarted and serves again");
    insta::assert_snapshot!(trace(&report));
}

#[test]
fn reload_during_a_call() {
    // alpha's command changes while a call to alpha and a call to beta are in flight.
    let script = vec![(RELOAD_AT_MS, ConfigChange::Command("alpha".into()))];
    let report = run(RELOAD_SEED, &scenario(2, 2, 1, FaultPlan::default(), script)).unwrap_or_else(|v| panic!("{v}"));
    let (alpha, beta) = (results(&report, "alpha"), results(&report, "beta"));
    assert!(
        matches!(&alpha[..], [CallResult::Error(m)] if m.contains("server 'alpha' was stopped before answering tools/call: its configuration changed")),
        "alpha's call is failed by the restart: {alpha:?}"
    );
    assert!(matches!(&beta[..], [CallResult::Ok(_)]), "beta's call completes: {beta:?}");
    assert_eq!(report.settled.ready_backends, 2);
    insta::assert_snapshot!(trace(&report));
}

/// A seed whose two clients call alpha and beta, both in flight at [`RELOAD_AT_MS`].
const RELOAD_SEED: u64 = 508;
const RELOAD_AT_MS: u64 = 700;

#[test]
fn restart_storm() {
    let plan = FaultPlan {
        world: WorldFaults { storm: Some("alpha".into()), ..WorldFaults::default() },
        ..FaultPlan::default()
    };
    // Seed 8 draws maxRestarts 4: five starts, each dying within 50 ms, backing off in between.
    let report = run(8, &scenario(1, 1, 1, plan, vec![])).unwrap_or_else(|v| panic!("{v}"));
    let spawns = report.trace.iter().filter(|l| l.contains("OUT spawn alpha")).count();
    assert_eq!(spawns, 5, "the first start and four restarts, then no more");
    assert_eq!(report.settled.ready_backends, 0, "alpha ends in a crash loop");
    assert_eq!(report.settled.timers, 0, "and nothing is scheduled for it any more");
    insta::assert_snapshot!(trace(&report));
}
