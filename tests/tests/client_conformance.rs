//! The official MCP conformance suite in client mode (`@modelcontextprotocol/conformance`
//! 0.2.0-alpha.12, `client --requirements 2025-11-25` and `--requirements 2026-07-28`), with
//! `1mcp` as the client under test: for each scenario the suite starts a mock MCP server and runs
//! `tests/js/client-conformance-harness.mjs` with its URL. The harness starts `1mcp serve` with
//! authentication on (a token minted with `1mcp token create`) and the mock as its only backend,
//! drives it with an official TypeScript SDK client as the scenario asks (lists tools, calls the
//! named ones, answers elicitations), and stops it by its PID. The suite scores what its mock saw
//! 1mcp send.
//!
//! Every scenario of each requirement set runs, and every one must pass through 1mcp except the
//! authorization extensions the suite does not score (client credentials, DPoP, enterprise
//! managed authorization, workload identity), which are reported either way. In the
//! authorization scenarios (`auth/...`) the mock server is protected: 1mcp walks discovery,
//! registration, PKCE and the token request itself, and the harness plays the operator and the
//! user agent through 1mcp's `/oauth/authorize/<server>` page and its callback. The legs: the 2025-11-25 set
//! with the backend as configured by default (asked its era, found session-based, an instance
//! per client session, so each client's instance opens its own session and stream) and pinned
//! with `"protocol": "legacy"` (no question first); the 2026-07-28 set with the backend pinned to
//! the stateless revision and asked (`"auto"`). The authorization scenarios run in the first leg of
//! each set (the default backend, and the stateless one): the other legs vary how the backend is
//! asked its era, which authorization does not depend on, and every scenario of a set runs at
//! once on a two-core machine, so they are left out there. Needs the tooling from `tests/js/setup.sh`;
//! without it these tests skip loudly (fail under `CI=true`).

use std::fmt::Write as _;

use onemcp_tests::js::{
    ClientRequirements, ClientResults, ConformanceSuite, client_conformance_harness_js, is_auth_scenario,
    loopback_preload_js, node_binary, require_tool, run_client_auth_suite_stable, run_client_conformance,
};

/// One suite run at a time: each runs every scenario of a set at once, with a 1mcp and an SDK
/// client per scenario, and the machine has two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn tooling(test: &str) -> Option<()> {
    let cli = ConformanceSuite::Next20251125.cli();
    require_tool(test, &[&node_binary(), &cli, &client_conformance_harness_js(), &loopback_preload_js()])
}

/// Runs the client requirement set of `revision` through the harness (with `env`) and checks:
/// every scenario of the set ran, and every one passed (the harness saying it did every step,
/// or, where the suite expects the client to refuse, the suite scoring the refusal), except the
/// authorization extensions the suite does not score.
async fn client_leg(revision: &str, env: &[(&str, &str)]) {
    let _serial = SERIAL.lock().await;
    let requirements = ClientRequirements::of(revision).expect("the suite's frozen requirement set");
    let results = run_client_conformance(revision, env).await;
    eprintln!("{}", table(revision, env, &requirements, &results));

    let missing: Vec<&str> = requirements.all().filter(|name| !results.contains_key(*name)).collect();
    assert!(missing.is_empty(), "scenarios of the {revision} client set that did not run: {missing:?}");

    let auth_elsewhere = env.contains(&("ONEMCP_HARNESS_AUTH", "skip"));
    if auth_elsewhere {
        let attempted: Vec<&str> =
            requirements.all().filter(|n| is_auth_scenario(n) && results[*n].harness != "not-attempted").collect();
        assert!(attempted.is_empty(), "auth scenarios the harness should have left to another leg: {attempted:?}");
    }
    let mut unexpected = String::new();
    let required = |n: &&str| !(is_bonus(&requirements, n) || (auth_elsewhere && is_auth_scenario(n)));
    for name in requirements.all().filter(required) {
        let result = &results[name];
        if !passed(name, result) {
            let _ = write!(
                unexpected,
                "\n== {name}: harness {} ({})\nfailed checks: {:#?}\n--- harness stderr (tail: its steps, then 1mcp's log) ---\n{}\n",
                result.harness, result.harness_detail, result.outcome.failures, result.stderr_tail
            );
        }
    }
    assert!(unexpected.is_empty(), "client scenarios that fail through 1mcp ({revision}, {env:?}):{unexpected}");
    assert_no_secret_logged(&results);
}

/// No scenario's log (the harness's steps and 1mcp's debug log) holds a token, code or secret
/// of the mock authorization server.
fn assert_no_secret_logged(results: &onemcp_tests::js::ClientResults) {
    let leaks: Vec<(&String, &Vec<&str>)> =
        results.iter().filter(|(_, r)| !r.leaked.is_empty()).map(|(n, r)| (n, &r.leaked)).collect();
    assert!(leaks.is_empty(), "secrets of the authorization server in the logs: {leaks:?}");
}

/// An authorization extension the suite runs but does not score: reported, not required.
fn is_bonus(requirements: &ClientRequirements, name: &str) -> bool {
    is_auth_scenario(name) && requirements.not_scored.iter().any(|(n, _)| n == name)
}

/// The suite passed the scenario, and the harness did every step, except where 1mcp is meant to
/// refuse (a wrong `iss`, poisoned metadata, a resource mismatch, a server that never grants
/// enough scope): then the harness stops where 1mcp gave up, and the suite's checks are what
/// count.
fn passed(name: &str, result: &onemcp_tests::js::ClientScenario) -> bool {
    result.outcome.passed && (result.harness == "ok" || (REFUSALS.contains(&name) && result.harness == "failed"))
}

/// The scenarios where the client is meant to stop (the suite's `allowClientError`).
const REFUSALS: [&str; 7] = [
    "auth/iss-supported-missing",
    "auth/iss-wrong-issuer",
    "auth/iss-unexpected",
    "auth/iss-normalized",
    "auth/metadata-issuer-mismatch",
    "auth/resource-mismatch",
    "auth/scope-retry-limit",
];

/// Scenario, scoring, outcome, harness verdict and why, one line each.
fn table(revision: &str, env: &[(&str, &str)], requirements: &ClientRequirements, results: &ClientResults) -> String {
    let mut out = format!("\n== conformance client --requirements {revision} through 1mcp {env:?}\n");
    let width = requirements.all().map(str::len).max().unwrap_or(8);
    let (mut passes, mut failed, mut auth) = (0, 0, 0);
    for name in requirements.all() {
        let scoring = match requirements.not_scored.iter().find(|(n, _)| n == name) {
            Some((_, reason)) => format!("not scored ({reason})"),
            None => "scored".to_owned(),
        };
        let Some(result) = results.get(name) else {
            let _ = writeln!(out, "{name:<width$}  {scoring:<32}  did not run");
            continue;
        };
        let cell = if is_bonus(requirements, name) {
            auth += 1;
            let verdict = if result.outcome.passed { "pass" } else { "fail" };
            format!(
                "extension: {verdict} ({}/{})",
                result.outcome.checks - result.outcome.failures.len(),
                result.outcome.checks
            )
        } else if passed(name, result) {
            passes += 1;
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
    let _ = writeln!(out, "required: {passes} passed, {failed} failed; unscored authorization extensions: {auth}");
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
    client_leg("2026-07-28", &[("ONEMCP_HARNESS_PROTOCOL", "auto"), ("ONEMCP_HARNESS_AUTH", "skip")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_requirements_2025_11_25_through_1mcp_with_protocol_legacy() {
    if tooling("client_requirements_2025_11_25_through_1mcp_with_protocol_legacy").is_none() {
        return;
    }
    client_leg("2025-11-25", &[("ONEMCP_HARNESS_PROTOCOL", "legacy"), ("ONEMCP_HARNESS_AUTH", "skip")]).await;
}

/// The 0.1.16 suite's `auth` suite (`client --suite auth`): every scenario it runs passes
/// through 1mcp (refusals scored by the suite), the unscored extensions reported either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_auth_suite_0_1_16_through_1mcp() {
    let cli = ConformanceSuite::Stable.cli();
    let (node, harness, preload) = (node_binary(), client_conformance_harness_js(), loopback_preload_js());
    if require_tool("client_auth_suite_0_1_16_through_1mcp", &[&node, &cli, &harness, &preload]).is_none() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let results = run_client_auth_suite_stable(&[]).await;
    let mut out = String::from("\n== conformance 0.1.16 client --suite auth through 1mcp\n");
    let mut unexpected = String::new();
    for (name, result) in &results {
        let verdict = if passed(name, result) { "pass" } else { "FAIL" };
        let _ = writeln!(out, "{name:<44} {verdict} ({} checks) harness {}", result.outcome.checks, result.harness);
        if !passed(name, result) {
            let _ = write!(
                unexpected,
                "\n== {name}: harness {} ({})\nfailed checks: {:#?}\n--- harness stderr ---\n{}\n",
                result.harness, result.harness_detail, result.outcome.failures, result.stderr_tail
            );
        }
    }
    eprintln!("{out}");
    assert!(results.keys().all(|name| is_auth_scenario(name)), "the auth suite runs auth scenarios: {out}");
    assert!(results.len() >= 14, "the auth suite ran {} scenarios: {out}", results.len());
    assert!(unexpected.is_empty(), "auth scenarios of 0.1.16 that fail through 1mcp:{unexpected}");
    assert_no_secret_logged(&results);
}
