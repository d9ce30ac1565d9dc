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
//! Every other scenario, scored or not, must pass through 1mcp, in every leg: the 2025-11-25 set
//! with the backend as configured by default (asked its era, found session-based, an instance
//! per client session, so each client's instance opens its own session and stream) and pinned
//! with `"protocol": "legacy"` (no question first); the 2026-07-28 set with the backend pinned to
//! the stateless revision and asked (`"auto"`). Needs the tooling from `tests/js/setup.sh`;
//! without it these tests skip loudly (fail under `CI=true`).

use std::fmt::Write as _;

use onemcp_tests::js::{
    ClientRequirements, ClientResults, ConformanceSuite, client_conformance_harness_js, is_auth_scenario,
    loopback_preload_js, node_binary, require_tool, run_client_conformance,
};

/// One suite run at a time: each runs every scenario of a set at once, with a 1mcp and an SDK
/// client per scenario, and the machine has two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn tooling(test: &str) -> Option<()> {
    let cli = ConformanceSuite::Next20251125.cli();
    require_tool(test, &[&node_binary(), &cli, &client_conformance_harness_js(), &loopback_preload_js()])
}

/// Runs the client requirement set of `revision` through the harness (with `env`) and checks:
/// every scenario of the set ran; the `auth/...` ones were offered and not attempted; every other
/// one passed with the harness saying it did every step.
async fn client_leg(revision: &str, env: &[(&str, &str)]) {
    let _serial = SERIAL.lock().await;
    let requirements = ClientRequirements::of(revision).expect("the suite's frozen requirement set");
    let results = run_client_conformance(revision, env).await;
    eprintln!("{}", table(revision, env, &requirements, &results));

    let missing: Vec<&str> = requirements.all().filter(|name| !results.contains_key(*name)).collect();
    assert!(missing.is_empty(), "scenarios of the {revision} client set that did not run: {missing:?}");

    let attempted_auth: Vec<&str> =
        requirements.all().filter(|name| is_auth_scenario(name) && results[*name].harness != "not-attempted").collect();
    assert!(attempted_auth.is_empty(), "auth scenarios the harness should have left alone: {attempted_auth:?}");

    let mut unexpected = String::new();
    for name in requirements.all().filter(|name| !is_auth_scenario(name)) {
        let result = &results[name];
        if !(result.outcome.passed && result.harness == "ok") {
            let _ = write!(
                unexpected,
                "\n== {name}: harness {} ({})\nfailed checks: {:#?}\n--- harness stderr (tail: its steps, then 1mcp's log) ---\n{}\n",
                result.harness, result.harness_detail, result.outcome.failures, result.stderr_tail
            );
        }
    }
    assert!(
        unexpected.is_empty(),
        "non-auth client scenarios that fail through 1mcp ({revision}, {env:?}):{unexpected}"
    );
}

/// Scenario, scoring, outcome, harness verdict and why, one line each.
fn table(revision: &str, env: &[(&str, &str)], requirements: &ClientRequirements, results: &ClientResults) -> String {
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
    client_leg("2025-11-25", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_requirements_2026_07_28_through_1mcp_with_a_stateless_backend() {
    if tooling("client_requirements_2026_07_28_through_1mcp_with_a_stateless_backend").is_none() {
        return;
    }
    client_leg("2026-07-28", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_requirements_2026_07_28_through_1mcp_with_protocol_auto() {
    if tooling("client_requirements_2026_07_28_through_1mcp_with_protocol_auto").is_none() {
        return;
    }
    client_leg("2026-07-28", &[("ONEMCP_HARNESS_PROTOCOL", "auto")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_requirements_2025_11_25_through_1mcp_with_protocol_legacy() {
    if tooling("client_requirements_2025_11_25_through_1mcp_with_protocol_legacy").is_none() {
        return;
    }
    client_leg("2025-11-25", &[("ONEMCP_HARNESS_PROTOCOL", "legacy")]).await;
}
