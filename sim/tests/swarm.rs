//! The simulator in the test suite: a proptest sweep over seeds, a determinism check, and
//! named scenarios whose faults are fixed so their outcomes can be asserted.

use onemcp_sim::args::command;
use onemcp_sim::shrink::shrink_violation;
use onemcp_sim::{BackendFaults, CallResult, ClientFaults, FaultPlan, Faults, SimOptions, WorldFaults, run};
use proptest::prelude::*;
use std::collections::BTreeMap;

proptest! {
    // proptest would shrink the seed to a smaller number, which is just another world: ours
    // shrinks the world itself (fewer clients, backends, faults, steps) and says how to run it.
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        max_shrink_iters: 0,
        ..ProptestConfig::default()
    })]

    // Stateless clients stay out of this sweep until the core bugs the ignored tests at the end
    // name are fixed (they fail about one stateless seed in twenty); the stateless test below
    // sweeps them in worlds that step around those bugs.
    #[test]
    fn every_seed_keeps_the_routing_invariants(seed in any::<u64>()) {
        let options = SimOptions { stateless: Some(false), ..SimOptions::default() };
        if let Err(violation) = run(seed, &options) {
            let shrunk = shrink_violation(violation.clone(), &options);
            prop_assert!(
                false,
                "{violation}\nsmallest world that still fails ({} runs):\n{}\n{}",
                shrunk.runs,
                shrunk.violation,
                command(seed, &shrunk.options)
            );
        }
    }
}

/// One server that often announces `tools/list_changed` and sometimes never answers: the
/// hub's re-list must time out like any other request so its tables drain.
#[test]
fn a_silent_relist_is_drained() {
    let flaky = BackendFaults { list_changed: 0.3, hang: 0.1, ..BackendFaults::default() };
    let options = SimOptions {
        backends: Some(1),
        clients: Some(1),
        steps: 300,
        faults: plan(&[("alpha", flaky)], ClientFaults::default()),
        ..SimOptions::default()
    };
    for seed in 0..20 {
        if let Err(violation) = run(seed, &options) {
            panic!("{violation}");
        }
    }
}

#[test]
fn a_seed_replays_byte_for_byte() {
    let options = SimOptions { full_trace: true, ..SimOptions::default() };
    let first = run(7, &options).expect("seed 7 passes");
    let second = run(7, &options).expect("seed 7 passes again");
    assert!(first.trace.len() > 100, "a real run, not an empty one");
    assert_eq!(first.trace.join("\n"), second.trace.join("\n"));
    assert_eq!(first, second);
    let other = run(8, &options).expect("seed 8 passes");
    assert_ne!(first.trace_hash, other.trace_hash, "the seed matters");
}

fn plan(backends: &[(&str, BackendFaults)], clients: ClientFaults) -> Faults {
    let backends: BTreeMap<String, BackendFaults> =
        backends.iter().map(|(n, f)| ((*n).to_owned(), f.clone())).collect();
    Faults::Plan(FaultPlan { backends, clients, ..FaultPlan::default() })
}

#[test]
fn a_backend_crash_fails_only_its_own_calls() {
    let options = SimOptions {
        backends: Some(2),
        clients: Some(2),
        steps: 600,
        faults: plan(&[("alpha", BackendFaults { crash: 1.0, ..BackendFaults::default() })], ClientFaults::default()),
        ..SimOptions::default()
    };
    let report = run(11, &options).expect("invariants hold");
    let alpha: Vec<&CallResult> = report.outcomes.iter().filter(|o| o.backend == "alpha").map(|o| &o.result).collect();
    let beta: Vec<&CallResult> = report.outcomes.iter().filter(|o| o.backend == "beta").map(|o| &o.result).collect();
    assert!(
        alpha.iter().any(
            |r| matches!(r, CallResult::Error(m) if m.contains("server 'alpha' failed before answering tools/call"))
        ),
        "the call in flight when alpha crashed is failed with alpha's name: {alpha:?}"
    );
    assert!(!alpha.iter().any(|r| matches!(r, CallResult::Ok(_))), "alpha never answers");
    assert!(beta.iter().filter(|r| matches!(r, CallResult::Ok(_))).count() > 10, "beta keeps serving: {beta:?}");
    assert!(
        !beta.iter().any(|r| matches!(r, CallResult::Error(m) if m.contains("failed"))),
        "beta is untouched: {beta:?}"
    );
    // alpha is supervised: once calls stop crashing it, its restart sticks.
    assert_eq!(report.settled.ready_backends, 2);
}

#[test]
fn a_client_that_disconnects_mid_call_gets_nothing_and_the_backend_is_told() {
    let options = SimOptions {
        backends: Some(1),
        clients: Some(1),
        steps: 600,
        full_trace: true,
        faults: plan(&[], ClientFaults { disconnect: 0.5, ..ClientFaults::default() }),
        ..SimOptions::default()
    };
    let report = run(1, &options).expect("invariants hold");
    let gone = report.outcomes.iter().filter(|o| o.result == CallResult::Unanswered("client disconnected")).count();
    assert!(gone > 5, "disconnects happened mid-call: {:?}", report.outcomes);
    let told = report
        .trace
        .iter()
        .filter(|l| l.contains("OUT write") && l.contains(r#""reason":"client disconnected""#))
        .count();
    assert!(told > 0 && told <= gone, "each abandoned call is cancelled on the backend once ({told} for {gone})");
    assert_eq!(report.settled.open_exchanges, 0);
    assert_eq!(report.settled.pending_backend_requests, 0);
}

#[test]
fn two_sessions_with_the_same_ids_get_their_own_results() {
    let options = SimOptions {
        backends: Some(1),
        clients: Some(2),
        colliding_ids: Some(true),
        steps: 600,
        faults: Faults::Off,
        ..SimOptions::default()
    };
    let report = run(3, &options).expect("invariants hold");
    let ok = |client: usize| -> BTreeMap<String, String> {
        report
            .outcomes
            .iter()
            .filter(|o| o.client == client)
            .filter_map(|o| match &o.result {
                CallResult::Ok(text) => Some((o.id.clone(), text.clone())),
                _ => None,
            })
            .collect()
    };
    let (first, second) = (ok(0), ok(1));
    let shared: Vec<&String> = first.keys().filter(|id| second.contains_key(*id)).collect();
    assert!(shared.len() > 10, "both sessions used the same ids: {shared:?}");
    for id in shared {
        assert!(
            first[id].starts_with("c0-") && second[id].starts_with("c1-"),
            "id {id}: {} / {}",
            first[id],
            second[id]
        );
    }
}

/// Reloads every few hundred milliseconds (added, removed, restarted, retagged servers and
/// broken files) under ordinary backend faults: rule 6 holds after every one.
#[test]
fn reloads_mid_traffic_touch_only_what_changed() {
    let world = WorldFaults { reload_every_ms: 300, invalid: 0.2, ..WorldFaults::default() };
    let flaky = BackendFaults { hang: 0.02, crash: 0.02, slow: 0.05, ..BackendFaults::default() };
    let faults = Faults::Plan(FaultPlan {
        backends: [("alpha", flaky.clone()), ("beta", flaky)].into_iter().map(|(n, f)| (n.to_owned(), f)).collect(),
        clients: ClientFaults { disconnect: 0.05, cancel: 0.05, ..ClientFaults::default() },
        world,
        ..FaultPlan::default()
    });
    let options = SimOptions { backends: Some(2), clients: Some(3), steps: 800, faults, ..SimOptions::default() };
    for seed in 0..30 {
        if let Err(violation) = run(seed, &options) {
            panic!("{violation}");
        }
    }
}

/// A per-session server with clients that hang up: a request queued while its session's
/// instance starts is dropped when its client leaves (SEED=32 once found it forwarded anyway
/// and answered on the closed exchange).
#[test]
fn a_request_queued_for_a_starting_instance_is_dropped_when_its_client_leaves() {
    let options = SimOptions { per_session_disconnects: true, ..SimOptions::default() };
    if let Err(violation) = run(32, &options) {
        panic!("{violation}");
    }
}

/// Worlds where some servers ask for roots and some clients have them: a shared server is
/// told none, each client's instances are told only its roots (rule 2); and the runs really
/// go through both paths.
#[test]
fn roots_stay_with_their_client() {
    // Stateless clients off: see `every_seed_keeps_the_routing_invariants`.
    let options =
        SimOptions { roots: Some(true), stateless: Some(false), full_trace: true, steps: 800, ..SimOptions::default() };
    let (mut shared, mut own) = (0, 0);
    for seed in 0..20 {
        let report = run(seed, &options).unwrap_or_else(|v| panic!("{v}"));
        let writes = report.trace.iter().filter(|l| l.contains("OUT write") && l.contains(r#""result":{"roots""#));
        for line in writes {
            if line.contains("_1mcp_session") { own += 1 } else { shared += 1 }
        }
    }
    assert!(shared > 0 && own > 0, "both paths taken: {shared} shared answers, {own} instances given roots");
}

/// Worlds with authentication on: each client presents its own credential (live tokens, some
/// bound to tags; none, unknown, malformed, revoked, expired, expiring mid-run, in the URL) and
/// some name other clients' sessions. Rule 4 holds with the token's tags, the door refuses what
/// it must and nothing else; and the runs really go through every path.
#[test]
fn principals_see_only_what_their_tokens_admit() {
    let options = SimOptions { auth: Some(true), full_trace: true, steps: 800, ..SimOptions::default() };
    let (mut refused, mut foreign, mut scoped, mut served) = (0, 0, 0, 0);
    for seed in 0..30 {
        let report = run(seed, &options).unwrap_or_else(|v| panic!("{v}"));
        assert!(report.auth);
        for line in &report.trace {
            refused += usize::from(line.contains(" 401 "));
            foreign += usize::from(line.contains(" 404 ") && line.contains("-32001"));
            scoped += usize::from(line.contains(" 403 "));
            served += usize::from(line.contains("OUT respond") && line.contains(r#""result""#));
        }
    }
    assert!(
        refused > 0 && foreign > 0 && scoped > 0 && served > 0,
        "{refused} refused 401, {foreign} foreign 404, {scoped} scope 403, {served} served"
    );
}

/// Worlds with stateless (2026-07-28) clients beside session ones, and servers that ask, log
/// and report progress mid-call: every rule holds, the bridge is crossed (calls answered
/// `input_required`, retries resumed), and the retries meant to be refused (tampered, replayed,
/// other arguments, after the server died) are. Roots and reloads stay off: with them on, the
/// core breaks two rules (the ignored tests below name the seeds).
#[test]
fn stateless_clients_cross_the_bridge_and_keep_every_rule() {
    let options = SimOptions {
        stateless: Some(true),
        roots: Some(false),
        without: vec!["world.reload_every_ms".into()],
        full_trace: true,
        steps: 800,
        ..SimOptions::default()
    };
    let (mut input_required, mut resumed, mut refused) = (0, 0, 0);
    let mut seen = BTreeMap::new();
    let shapes = [
        "failed verification",
        "belongs to another request",
        "is expired or was used already",
        "Missing required client capability",
        "notifications/message",
        "notifications/progress",
        "inputRequests",
    ];
    for seed in 0..30 {
        let report = run(seed, &options).unwrap_or_else(|v| panic!("{v}"));
        input_required += report.bridge.input_required;
        resumed += report.bridge.resumed;
        refused += report.bridge.refused;
        for shape in shapes {
            let pushed = report.trace.iter().filter(|l| l.contains("OUT ") && l.contains(shape)).count();
            *seen.entry(shape).or_insert(0) += pushed;
        }
    }
    assert!(input_required > 20 && resumed > 10 && refused > 5, "{input_required} {resumed} {refused}");
    assert!(seen.values().all(|n| *n > 0), "every path taken: {seen:?}");
}

/// A stateless world replays byte for byte, like any other.
#[test]
fn a_stateless_seed_replays_byte_for_byte() {
    let options = SimOptions { stateless: Some(true), full_trace: true, steps: 600, ..SimOptions::default() };
    let first = run(5, &options).expect("seed 5 passes");
    let second = run(5, &options).expect("seed 5 passes again");
    assert!(first.stateless_clients > 0 && first.bridge.input_required > 0, "{first}");
    assert_eq!(first.trace.join("\n"), second.trace.join("\n"));
    assert_eq!(first, second);
}

/// The world a `run` command line describes (what the shrinker prints).
fn world(line: &str) -> (u64, SimOptions) {
    let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    let seed = onemcp_sim::args::flag(&args, "--seed").and_then(|s| s.parse().ok()).expect("a seed");
    (seed, onemcp_sim::args::parse_options(&args).expect("a world"))
}

fn must_pass(line: &str) {
    let (seed, options) = world(line);
    if let Err(violation) = run(seed, &options) {
        panic!("{violation}");
    }
}

/// Regression (a core bug `swarm` found, seed 16 of a default sweep; fixed): a reload that removes a server
/// whose call is parked for a stateless client's answers stops the server, then writes it the
/// error answer to the question it asked ("the client session ended: its call ended while it
/// waited for the client's retry"). The record ends inside the failing of the call, before the
/// backend's questions are withdrawn, so `drop_server_requests_of` still finds the question and
/// writes to the stopped, removed process.
#[test]
fn a_removed_server_gets_no_answer_to_a_parked_calls_question() {
    must_pass("run --seed 16 --stateless on");
}

/// Regression (a core bug, seed 48, shrunk; fixed: the instance no longer waits for roots
/// the stateless request cannot give before its call, and its question is asked within the call): a stateless request for a per-session server that asks for roots
/// (the shared one asked, so the hub knows) waits for its instance, which asks for roots right
/// after `initialized`, before the call is sent. The bridge cannot park a call not yet in flight,
/// so the question is never put to the client; the instance never gets roots, never becomes
/// ready, and at its connect timeout (else its idle timer, or a reload) the withdrawn question is
/// announced to the stateless client as `notifications/cancelled` on its request's stream (the
/// revision has no server requests to cancel), before the request fails.
#[test]
fn a_stateless_request_never_hears_of_a_question_it_was_not_asked() {
    must_pass(
        "run --seed 48 --steps 5 --clients 1 --backends 1 --roots on --stateless on --faults world:per_session=alpha",
    );
}

/// Regression (a core bug, seed 1, shrunk; fixed): a retry is a request of its own, and an SDK that makes a progress
/// token per request gives it a new one; the resumed call's progress still goes out under the
/// first request's token, which the client no longer listens for.
#[test]
fn a_retry_hears_progress_under_its_own_token() {
    must_pass(
        "run --seed 1 --steps 17 --clients 1 --backends 2 --roots off --stateless on \
         --faults bridge:ask=0.5886,progress=0.2596 --fresh-retry-tokens",
    );
}

/// Regression (a core bug, seed 432, shrunk; fixed; rule 1, errors keep their server's context): the -32021 that
/// ends a stateless call whose per-session instance asked for roots the request did not
/// declare names no server. On an answer already streaming it goes out with status 200.
#[test]
fn a_missing_capability_error_names_its_server() {
    must_pass(
        "run --seed 432 --steps 53 --clients 4 --backends 2 --colliding-ids off --views off --roots on --auth on \
         --stateless on --faults clients:delete=0.005659999999999999/bridge:log=0.24/world:per_session=beta",
    );
}
