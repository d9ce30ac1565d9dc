//! The official MCP conformance suite in client mode (`@modelcontextprotocol/conformance`
//! 0.2.0-alpha.12, `client --requirements 2025-11-25` and `--requirements 2026-07-28`), with
//! `1mcp` as the client under test: for each scenario the suite starts a mock MCP server and runs
//! `tests/js/client-conformance-harness.mjs` with its URL. The harness starts `1mcp serve` with
//! authentication on (a token minted with `1mcp token create`) and the mock as its only backend,
//! drives it with an official TypeScript SDK client as the scenario asks (lists tools, calls the
//! named ones, answers elicitations), and stops it by its PID. The suite scores what its mock saw
//! 1mcp send.
//!
//! Every scenario of each requirement set runs. The authorization scenarios (`auth/...`, the
//! suite's own namespace for them) need 1mcp as an OAuth client of its backends, which is another
//! issue's work: the harness does not attempt them and these tests only check they were offered.
//! Every other scenario, scored or not, must pass through 1mcp, except the ones listed below with
//! the 1mcp defect that makes them fail. Needs the tooling from `tests/js/setup.sh`; without it
//! these tests skip loudly (fail under `CI=true`).

use std::fmt::Write as _;

use onemcp_tests::js::{
    ClientRequirements, ClientResults, ConformanceSuite, client_conformance_harness_js, is_auth_scenario,
    loopback_preload_js, node_binary, require_tool, run_client_conformance,
};

/// A scenario that fails through 1mcp because of 1mcp (not the harness), and the defect.
struct KnownDefect {
    scenario: &'static str,
    /// True when the defect fails the scenario every time; false when timing can let it pass.
    always: bool,
    defect: &'static str,
}

/// 1mcp defects the 2025-11-25 client set finds (backend as configured by default: no `protocol`
/// key, so a session-based backend with an instance per client session).
const DEFECTS_2025_11_25: &[KnownDefect] = &[
    KnownDefect {
        scenario: "sse-retry",
        // The mock answers the pending call on whatever GET stream opens next, and the per-session
        // instance opens its own at about the time of the call. One full pass was seen (under load,
        // results not kept); every other run failed the retry timing.
        always: false,
        defect: "1mcp resumes a POST's answer stream that ended early with a GET carrying Last-Event-ID after \
                  the server's retry (io/src/http_backend/streamable.rs; it passes with a shared backend, the \
                  \"auto\" leg), but a per-session HTTP instance opens its own GET stream while its first call \
                  is in flight, and the mock takes that GET for an early reconnection without Last-Event-ID (the \
                  same instance start-up race as elicitation-sep1034-client-defaults)",
    },
    KnownDefect {
        scenario: "elicitation-sep1034-client-defaults",
        always: false,
        defect: "a per-session instance of an HTTP backend is declared ready and sent its first call before its \
                  own GET event stream is open; the mock sends its elicitation/create on that stream (no related \
                  request), finds none and drops it (SDK 1.x without an event store), so the call never ends. \
                  With `perSession: false` (a stream opened long before the call) the scenario passes",
    },
];

/// 1mcp defects the 2025-11-25 client set finds with `"protocol": "auto"`.
const DEFECTS_2025_11_25_AUTO: &[KnownDefect] = &[KnownDefect {
    scenario: "sse-retry",
    always: false,
    defect: "resumed as SEP-1699 asks (passes in this leg since the resumption landed); kept as timing-tolerant \
              until it has passed in CI runs: the mock counts any GET as the reconnection",
}];

/// 1mcp defects the 2026-07-28 client set finds with `"protocol": "2026-07-28"`: none.
const DEFECTS_2026_07_28: &[KnownDefect] = &[];

/// 1mcp defects the 2026-07-28 client set finds with `"protocol": "auto"`: none.
const DEFECTS_2026_07_28_AUTO: &[KnownDefect] = &[];

/// One suite run at a time: each runs every scenario of a set at once, with a 1mcp and an SDK
/// client per scenario, and the machine has two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn tooling(test: &str) -> Option<()> {
    let cli = ConformanceSuite::Next20251125.cli();
    require_tool(test, &[&node_binary(), &cli, &client_conformance_harness_js(), &loopback_preload_js()])
}

/// Runs the client requirement set of `revision` through the harness (with `env`) and checks:
/// every scenario of the set ran; the `auth/...` ones were offered and not attempted; every other
/// one passed with the harness saying it did every step, unless `known` names it (then a pass of
/// an `always` defect fails the test, so the entry goes when 1mcp is fixed).
async fn client_leg(revision: &str, env: &[(&str, &str)], known: &[KnownDefect]) {
    let _serial = SERIAL.lock().await;
    let requirements = ClientRequirements::of(revision).expect("the suite's frozen requirement set");
    let results = run_client_conformance(revision, env).await;
    eprintln!("{}", table(revision, env, &requirements, &results, known));

    let missing: Vec<&str> = requirements.all().filter(|name| !results.contains_key(*name)).collect();
    assert!(missing.is_empty(), "scenarios of the {revision} client set that did not run: {missing:?}");

    let attempted_auth: Vec<&str> =
        requirements.all().filter(|name| is_auth_scenario(name) && results[*name].harness != "not-attempted").collect();
    assert!(attempted_auth.is_empty(), "auth scenarios the harness should have left alone: {attempted_auth:?}");

    let mut unexpected = String::new();
    let mut fixed = Vec::new();
    for name in requirements.all().filter(|name| !is_auth_scenario(name)) {
        let result = &results[name];
        let passed = result.outcome.passed && result.harness == "ok";
        match known.iter().find(|k| k.scenario == name) {
            Some(defect) if passed && defect.always => fixed.push(name),
            Some(_) => {}
            None if passed => {}
            None => {
                let _ = write!(
                    unexpected,
                    "\n== {name}: harness {} ({})\nfailed checks: {:#?}\n--- harness stderr (tail: its steps, then 1mcp's log) ---\n{}\n",
                    result.harness, result.harness_detail, result.outcome.failures, result.stderr_tail
                );
            }
        }
    }
    assert!(
        unexpected.is_empty(),
        "non-auth client scenarios that fail through 1mcp ({revision}, {env:?}):{unexpected}"
    );
    assert!(
        fixed.is_empty(),
        "these scenarios now pass through 1mcp ({revision}, {env:?}): the defect is fixed, remove them from the \
         known defects: {fixed:?}"
    );
}

/// Scenario, scoring, outcome, harness verdict and why, one line each.
fn table(
    revision: &str,
    env: &[(&str, &str)],
    requirements: &ClientRequirements,
    results: &ClientResults,
    known: &[KnownDefect],
) -> String {
    let mut out = format!("\n== conformance client --requirements {revision} through 1mcp {env:?}\n");
    let width = requirements.all().map(str::len).max().unwrap_or(8);
    let (mut passed, mut failed, mut auth) = (0, 0, 0);
    for name in requirements.all() {
        let scoring = match requirements.not_scored.iter().find(|(n, _)| n == name) {
            Some((_, reason)) => format!("not scored ({reason})"),
            None => "scored".to_owned(),
        };
        let Some(result) = results.get(name) else {
            let _ = writeln!(out, "{name:<width$}  {scoring:<32}  did not run");
            continue;
        };
        let cell = if is_auth_scenario(name) {
            auth += 1;
            "skipped: auth".to_owned()
        } else if result.outcome.passed && result.harness == "ok" {
            passed += 1;
            format!("pass ({} checks)", result.outcome.checks)
        } else {
            failed += 1;
            format!("FAIL ({}/{})", result.outcome.failures.len(), result.outcome.checks)
        };
        let mut why = result.outcome.failures.join(" | ");
        if !result.warnings.is_empty() {
            why = format!("{why} warnings: {}", result.warnings.join(" | "));
        }
        if let Some(defect) = known.iter().find(|k| k.scenario == name) {
            why = format!("[known 1mcp defect] {why}  -- {}", defect.defect);
        }
        let why: String = why.chars().take(400).collect();
        let _ = writeln!(out, "{name:<width$}  {scoring:<32}  {cell:<20}  harness {:<13}  {why}", result.harness);
    }
    let _ = writeln!(out, "non-auth: {passed} passed, {failed} failed; auth (not attempted): {auth}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_requirements_2025_11_25_through_1mcp() {
    if tooling("client_requirements_2025_11_25_through_1mcp").is_none() {
        return;
    }
    client_leg("2025-11-25", &[], DEFECTS_2025_11_25).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_requirements_2026_07_28_through_1mcp_with_a_stateless_backend() {
    if tooling("client_requirements_2026_07_28_through_1mcp_with_a_stateless_backend").is_none() {
        return;
    }
    client_leg("2026-07-28", &[], DEFECTS_2026_07_28).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_requirements_2026_07_28_through_1mcp_with_protocol_auto() {
    if tooling("client_requirements_2026_07_28_through_1mcp_with_protocol_auto").is_none() {
        return;
    }
    client_leg("2026-07-28", &[("ONEMCP_HARNESS_PROTOCOL", "auto")], DEFECTS_2026_07_28_AUTO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_requirements_2025_11_25_through_1mcp_with_protocol_auto() {
    if tooling("client_requirements_2025_11_25_through_1mcp_with_protocol_auto").is_none() {
        return;
    }
    client_leg("2025-11-25", &[("ONEMCP_HARNESS_PROTOCOL", "auto")], DEFECTS_2025_11_25_AUTO).await;
}
