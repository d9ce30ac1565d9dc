//! Real SDK peers of the stateless 2026-07-28 revision through `1mcp` (authentication on, a token
//! from `1mcp token create`), next to legacy ones:
//!
//! - backend: `tests/js/modern-server.mjs`, a server on the official TypeScript SDK v2
//!   (`@modelcontextprotocol/server` 2.x) that serves only 2026-07-28 and refuses `initialize`,
//!   with a plain tool (`v2_echo`) and one that asks the user's name by returning an
//!   InputRequiredResult with a `requestState` (`v2_ask_name`); as an HTTP backend (`"url"`) and as
//!   a stdio one, both with `"protocol": "2026-07-28"`. Beside it the conformance fixture
//!   (`conformance-server`, rmcp) as a stdio backend held to a session (`"protocol": "legacy"`),
//!   whose `test_elicitation` sends a real `elicitation/create` into its session.
//! - clients: the TypeScript SDK v2 client pinned to 2026-07-28 (`tests/js/modern-client.mjs`), the
//!   Python SDK (`mcp` 2.3) in the same revision (`tests/py/modern_client.py`), and the TypeScript
//!   SDK 1.x client in a 2025-11-25 session (`modern-client.mjs` with `"era": "legacy"`).
//!
//! Both bridges are crossed with the elicited value checked on the far side: a modern client's
//! call to the legacy backend's `test_elicitation` must come back as an InputRequiredResult the
//! client answers (its answer in the tool's result), and a legacy session's call to `v2_ask_name`
//! must reach the session as an `elicitation/create` whose answer goes back to the stateless
//! server on a retry carrying the server's own `requestState` ("Hello, ts-v1-name! (requestState
//! round-tripped)"). Needs the tooling from `tests/js/setup.sh`; without it these tests skip
//! loudly (fail under `CI=true`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use onemcp_tests::js::{
    ClientCheck, ModernServer, client_table, js_dir, modern_client_js, modern_client_py, modern_server_js, node_binary,
    parse_client_report, python_binary, require_tool, run_bounded, sdk_v2_packages,
};
use onemcp_tests::{Daemon, HttpRequest};
use serde_json::{Value, json};

/// Longest one client script may take (each round trip inside it is bounded to 20 s).
const SCRIPT_LIMIT: Duration = Duration::from_secs(120);
/// How long backends get to become ready before the clients run anyway (and say what is missing).
const SETTLE_LIMIT: Duration = Duration::from_secs(15);
const CONFORMANCE: &str = env!("CARGO_BIN_EXE_conformance-server");

/// An SDK client that runs a plan (see `tests/js/modern-client.mjs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// TypeScript SDK 1.x, a 2025-11-25 session.
    TsLegacy,
    /// TypeScript SDK v2, pinned to 2026-07-28.
    TsModern,
    /// Python SDK 2.x, 2026-07-28 after a `server/discover` probe.
    PyModern,
}

impl Peer {
    /// The label the script answers elicitations with (`<label>-<field>`).
    fn label(self) -> &'static str {
        match self {
            Peer::TsLegacy => "ts-v1",
            Peer::TsModern => "ts-v2",
            Peer::PyModern => "py",
        }
    }

    /// The check that proves what the client put on the wire.
    fn wire_check(self) -> &'static str {
        if self == Peer::TsLegacy { "wire-session" } else { "wire-stateless" }
    }

    fn command(self, url: &str, plan: &Value) -> tokio::process::Command {
        let mut command = match self {
            Peer::PyModern => {
                let mut command = tokio::process::Command::new(python_binary());
                command.arg(modern_client_py());
                command
            }
            Peer::TsLegacy | Peer::TsModern => {
                let mut command = tokio::process::Command::new(node_binary());
                command.arg(modern_client_js());
                command
            }
        };
        command.arg(url).arg(plan.to_string()).env("ONEMCP_JS_DIR", js_dir());
        command
    }
}

/// Everything the tests need: Node, the v2 SDK packages, the 1.x SDK, the scripts, Python.
fn tooling(test: &str) -> Option<()> {
    let mut paths: Vec<PathBuf> = vec![node_binary(), python_binary(), modern_server_js(), modern_client_js()];
    paths.extend(sdk_v2_packages());
    paths.push(js_dir().join("node_modules/@modelcontextprotocol/sdk/dist/esm/client/index.js"));
    paths.push(modern_client_py());
    require_tool(test, &paths.iter().map(PathBuf::as_path).collect::<Vec<_>>())
}

/// One call of a plan: `expect` must be in the result's text, after exactly `elicitations`
/// answered elicitations.
fn call(check: &str, name: &str, arguments: Value, expect: &[String], elicitations: u32) -> Value {
    json!({"check": check, "name": name, "arguments": arguments, "expect": expect, "elicitations": elicitations})
}

/// A plan for `peer`: these tools must be listed, these calls must succeed.
fn plan(peer: Peer, tools: &[&str], calls: Vec<Value>) -> Value {
    let era = if peer == Peer::TsLegacy { "legacy" } else { "2026-07-28" };
    json!({"era": era, "label": peer.label(), "tools": tools, "calls": calls})
}

/// The calls on the stateless TypeScript v2 server's tools, exposed as `<prefix>v2_echo` and
/// `<prefix>v2_ask_name`: the plain one, and the one that asks for the user's name.
fn v2_calls(peer: Peer, prefix: &str) -> Vec<Value> {
    let label = peer.label();
    vec![
        call(
            "v2-echo",
            &format!("{prefix}v2_echo"),
            json!({"message": format!("from {label}")}),
            &[format!("v2 echo: from {label}")],
            0,
        ),
        call(
            "v2-ask-name",
            &format!("{prefix}v2_ask_name"),
            json!({}),
            &[format!("Hello, {label}-name! (requestState round-tripped)")],
            1,
        ),
    ]
}

/// The calls on the legacy conformance fixture behind `legacy_1mcp_`: a plain tool, and
/// `test_elicitation`, which sends `elicitation/create` into the backend's session.
fn legacy_calls(peer: Peer) -> Vec<Value> {
    let label = peer.label();
    vec![
        call(
            "legacy-simple-text",
            "legacy_1mcp_test_simple_text",
            json!({}),
            &["This is a simple text response for testing.".to_owned()],
            0,
        ),
        call(
            "legacy-elicitation",
            "legacy_1mcp_test_elicitation",
            json!({"message": format!("Who is {label}?")}),
            &[
                "User response: action=accept".to_owned(),
                format!("\"username\":\"{label}-username\""),
                format!("\"email\":\"{label}-email\""),
            ],
            1,
        ),
    ]
}

/// Runs `plan` with `peer` against `url` (with `token` as its bearer) and returns its checks;
/// panics with the script's output if it reported nothing.
async fn run_plan(peer: Peer, url: &str, token: Option<&str>, plan: &Value) -> Vec<ClientCheck> {
    let scratch = tempfile::Builder::new().prefix("onemcp-modern-peer-").tempdir().expect("create a scratch directory");
    let mut command = peer.command(url, plan);
    if let Some(token) = token {
        command.env("ONEMCP_TOKEN", token);
    }
    let started = Instant::now();
    let output = run_bounded(command, scratch.path(), SCRIPT_LIMIT).await;
    eprintln!("{}: ran in {:.1}s (exit {:?})", peer.label(), started.elapsed().as_secs_f64(), output.code);
    match parse_client_report(&output.stdout) {
        Some(checks) if !checks.is_empty() => checks,
        _ => panic!("{}: no report (timed out: {})\n{}", peer.label(), output.timed_out, output.tail(80)),
    }
}

/// The check names a complete run of `plan` by `peer` reports.
fn required_checks(peer: Peer, plan: &Value) -> Vec<String> {
    let calls = plan["calls"].as_array().into_iter().flatten().filter_map(|c| c["check"].as_str());
    ["connect", "tools-listed"].into_iter().chain(calls).chain([peer.wire_check()]).map(str::to_owned).collect()
}

/// The run's table, and what is wrong with it: a failed check, or one the plan implies that never
/// ran.
fn judge(what: &str, peer: Peer, plan: &Value, checks: &[ClientCheck]) -> (String, Vec<String>) {
    let table = client_table(&format!("{what} — {}", peer.label()), checks);
    let mut wrong: Vec<String> =
        checks.iter().filter(|c| !c.ok).map(|c| format!("{} {} failed", peer.label(), c.check)).collect();
    for name in required_checks(peer, plan) {
        if !checks.iter().any(|c| c.check == name) {
            wrong.push(format!("{} never ran {name}", peer.label()));
        }
    }
    (table, wrong)
}

/// Every check of every run passed and ran; otherwise panics with all the tables and `context`.
fn assert_complete(what: &str, runs: &[(Peer, Value, Vec<ClientCheck>)], context: &str) {
    let mut tables = String::new();
    let mut wrong = Vec::new();
    for (peer, plan, checks) in runs {
        let (table, problems) = judge(what, *peer, plan, checks);
        tables.push_str(&table);
        wrong.extend(problems);
    }
    assert!(wrong.is_empty(), "{what}: {}{tables}{context}", wrong.join("; "));
    eprintln!("{tables}");
}

/// Polls `/health` (with the daemon's token) until every backend is ready or [`SETTLE_LIMIT`]
/// passes; returns the last body either way, so a test can run its clients and show both.
async fn settle(daemon: &Daemon) -> (bool, Value) {
    let deadline = Instant::now() + SETTLE_LIMIT;
    let mut last = Value::Null;
    loop {
        if let Ok(response) = daemon.send(&HttpRequest::get("/health")).await {
            last = response.json().unwrap_or(Value::Null);
        }
        let details = last["servers"]["details"].as_array().cloned().unwrap_or_default();
        let ready = !details.is_empty() && details.iter().all(|server| server["status"] == "ready");
        if ready || Instant::now() >= deadline {
            return (ready, last);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The conformance fixture over stdio, as `legacy`, held to a session: it speaks both eras, and
/// asked (the default) it would be found stateless and the bridge not crossed.
fn legacy_backend() -> Value {
    json!({"command": CONFORMANCE, "protocol": "legacy"})
}

/// `stateless` (the TypeScript v2 server, as `modern`) beside the legacy fixture: each client
/// lists both servers' tools and calls both, crossing the bridge in its direction.
async fn both_eras_through_1mcp(what: &str, stateless: Value) {
    let config = json!({"mcpServers": {"modern": stateless, "legacy": legacy_backend()}});
    let daemon = Daemon::start(&config).await;
    let (ready, health) = settle(&daemon).await;
    let tools = [
        "modern_1mcp_v2_echo",
        "modern_1mcp_v2_ask_name",
        "legacy_1mcp_test_simple_text",
        "legacy_1mcp_test_elicitation",
    ];
    let mut outcomes = Vec::new();
    for peer in [Peer::TsLegacy, Peer::TsModern, Peer::PyModern] {
        let mut calls = v2_calls(peer, "modern_1mcp_");
        calls.extend(legacy_calls(peer));
        let plan = plan(peer, &tools, calls);
        let checks = run_plan(peer, &daemon.url, daemon.token.as_deref(), &plan).await;
        outcomes.push((peer, plan, checks));
    }
    let context = format!("\n/health after {SETTLE_LIMIT:?} (every backend ready: {ready}): {health}");
    assert_complete(what, &outcomes, &context);
    assert!(ready, "{what}: not every backend became ready{context}");
}

/// The baseline without 1mcp: the TypeScript v2 server serves the modern clients (the elicitation
/// answered through an InputRequiredResult and the `requestState` echoed) and refuses the legacy
/// client's `initialize` -- so whatever a legacy session gets from it through 1mcp, 1mcp bridged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stateless_ts_v2_server_serves_modern_clients_and_refuses_legacy_ones_directly() {
    let test = "the_stateless_ts_v2_server_serves_modern_clients_and_refuses_legacy_ones_directly";
    if tooling(test).is_none() {
        return;
    }
    let server = ModernServer::start().await;
    let mut runs = Vec::new();
    for peer in [Peer::TsModern, Peer::PyModern] {
        let plan = plan(peer, &["v2_echo", "v2_ask_name"], v2_calls(peer, ""));
        let checks = run_plan(peer, &server.url, None, &plan).await;
        runs.push((peer, plan, checks));
    }
    assert_complete("directly against the TypeScript v2 server", &runs, &server.log());
    let plan = plan(Peer::TsLegacy, &[], Vec::new());
    let checks = run_plan(Peer::TsLegacy, &server.url, None, &plan).await;
    let table = client_table("legacy client directly against the TypeScript v2 server", &checks);
    let refused = checks.iter().any(|c| c.check == "connect" && !c.ok && c.detail.contains("-32022"));
    assert!(refused, "the stateless-only server must refuse initialize with -32022:{table}");
    let log = server.log();
    assert!(
        log.contains("\"seen\":\"initialize\"") && log.contains("Unsupported protocol version"),
        "the server's log shows the refused initialize:\n{log}"
    );
    eprintln!("{table}(as it must: the server is stateless-only)");
}

/// The TypeScript v2 server as an HTTP backend (`"url"`, `"protocol": "2026-07-28"`) beside the
/// legacy fixture: the legacy TypeScript client, the TypeScript v2 client and the Python modern
/// client each see and call both, and each elicitation crosses whichever bridge lies between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_of_both_eras_use_a_stateless_ts_v2_http_backend_beside_a_legacy_one() {
    if tooling("clients_of_both_eras_use_a_stateless_ts_v2_http_backend_beside_a_legacy_one").is_none() {
        return;
    }
    let server = ModernServer::start().await;
    let backend = json!({"url": server.url, "protocol": "2026-07-28"});
    // On failure `server` prints what it was sent when it drops.
    both_eras_through_1mcp("TypeScript v2 server over HTTP + legacy fixture, through 1mcp", backend).await;
}

/// The same TypeScript v2 server, stateless-only, as a stdio backend (`"protocol": "2026-07-28"`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_of_both_eras_use_a_stateless_ts_v2_stdio_backend_beside_a_legacy_one() {
    if tooling("clients_of_both_eras_use_a_stateless_ts_v2_stdio_backend_beside_a_legacy_one").is_none() {
        return;
    }
    let backend = json!({
        "command": node_binary(),
        "args": [modern_server_js(), "--stdio"],
        "env": {"ONEMCP_JS_DIR": js_dir()},
        "protocol": "2026-07-28"
    });
    // Its stderr (what it refused) goes into the daemon's log, printed on failure.
    both_eras_through_1mcp("TypeScript v2 server over stdio + legacy fixture, through 1mcp", backend).await;
}

/// The modern clients alone against a legacy backend: they discover 1mcp as a 2026-07-28 server,
/// list and call, and the backend's `elicitation/create` reaches them as an InputRequiredResult
/// whose answer (their own values) comes back in the tool's result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_sdk_clients_answer_a_legacy_backends_elicitation_through_1mcp() {
    if tooling("modern_sdk_clients_answer_a_legacy_backends_elicitation_through_1mcp").is_none() {
        return;
    }
    let daemon = Daemon::start(&json!({"mcpServers": {"legacy": legacy_backend()}})).await;
    daemon.wait_ready().await;
    let mut runs = Vec::new();
    for peer in [Peer::TsModern, Peer::PyModern] {
        let plan = plan(peer, &["legacy_1mcp_test_simple_text", "legacy_1mcp_test_elicitation"], legacy_calls(peer));
        let checks = run_plan(peer, &daemon.url, daemon.token.as_deref(), &plan).await;
        runs.push((peer, plan, checks));
    }
    assert_complete("modern clients, legacy fixture, through 1mcp", &runs, "");
}
