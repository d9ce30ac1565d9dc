//! The official TypeScript and Python SDK clients against `1mcp` fronting
//! `@modelcontextprotocol/server-everything` (stdio): sampling, elicitation (accept and decline),
//! roots, progress and cancellation, with two clients (A and B) connected and busy at the same
//! time, each answering with its own markers and checking it sees only its own traffic.
//!
//! The client scripts are `tests/js/sdk-clients.mjs` and `tests/py/sdk_clients.py`; each prints a
//! JSON report the tests turn into a table. The `*_direct_baseline` tests run the same scripts
//! with each client owning its own server-everything (no proxy), which proves the scripts'
//! expectations are what the real server does. Through 1mcp they run with authentication on
//! (the default), presenting a token from `1mcp token create`. Needs the tooling from `tests/js/setup.sh`;
//! without it these tests skip loudly (fail under `CI=true`).
//!
//! The `*_logs_in_*` tests run the same SDKs' OAuth clients (`tests/js/sdk-oauth.mjs`,
//! `tests/py/sdk_oauth.py`) through 1mcp's own authorization server against two tagged fixture
//! servers: 401, discovery, dynamic registration or a Client ID Metadata Document served by the
//! script on loopback, PKCE, the operator's consent (the script plays the browser with the cookie
//! of a `1mcp auth link`) narrowing the grant to `alpha`, the token, a tool call, the `beta` tool
//! refused, and a refresh with rotation in the same session.

use std::path::PathBuf;
use std::time::Duration;

use onemcp_tests::js::{
    ClientCheck, client_table, js_dir, node_binary, parse_client_report, python_binary, require_tool, run_bounded,
    server_everything_js,
};
use onemcp_tests::{Daemon, workspace_root};
use serde_json::json;

/// Longest one script run may take (every round trip inside it is bounded to 20 s).
const SCRIPT_LIMIT: Duration = Duration::from_secs(180);

fn ts_script() -> PathBuf {
    workspace_root().join("tests/js/sdk-clients.mjs")
}

fn py_script() -> PathBuf {
    workspace_root().join("tests/py/sdk_clients.py")
}

/// `mcp.json` with server-everything (stdio, names unprefixed) as the only backend.
fn everything_config() -> serde_json::Value {
    json!({"mcpServers": {"everything": {
        "command": node_binary(),
        "args": [server_everything_js(), "stdio"],
        "prefix": false
    }}})
}

/// Runs a client script and returns its checks; panics with its output if it reported nothing.
async fn run_script(what: &str, mut command: tokio::process::Command) -> Vec<ClientCheck> {
    let scratch = tempfile::Builder::new().prefix("onemcp-sdk-").tempdir().expect("create a scratch directory");
    command.env("ONEMCP_JS_DIR", js_dir());
    let started = std::time::Instant::now();
    let output = run_bounded(command, scratch.path(), SCRIPT_LIMIT).await;
    eprintln!("{what}: ran in {:.1}s (exit {:?})", started.elapsed().as_secs_f64(), output.code);
    match parse_client_report(&output.stdout) {
        Some(checks) if !checks.is_empty() => checks,
        _ => panic!("{what}: no report (timed out: {})\n{}", output.timed_out, output.tail(80)),
    }
}

fn assert_all_ok(what: &str, checks: &[ClientCheck]) {
    let table = client_table(what, checks);
    assert!(checks.iter().all(|c| c.ok), "{what}: some round trips failed:{table}");
    eprintln!("{table}");
}

fn ts_command(target: &[String]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(node_binary());
    command.arg(ts_script()).args(target);
    command
}

fn py_command(target: &[String]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(python_binary());
    command.arg(py_script()).args(target);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_clients_through_1mcp() {
    if require_tool("typescript_sdk_clients_through_1mcp", &[&node_binary(), &server_everything_js()]).is_none() {
        return;
    }
    let daemon = Daemon::start_with_auth(&everything_config(), &[]).await;
    daemon.wait_ready().await;
    let mut command = ts_command(std::slice::from_ref(&daemon.url));
    command.env("ONEMCP_TOKEN", daemon.token.as_deref().unwrap_or_default());
    let checks = run_script("TypeScript SDK clients A+B through 1mcp", command).await;
    assert_all_ok("TypeScript SDK clients A+B through 1mcp (server-everything, stdio)", &checks);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_clients_through_1mcp() {
    let tools = [&python_binary(), &node_binary(), &server_everything_js()];
    if require_tool("python_sdk_clients_through_1mcp", &tools.map(PathBuf::as_path)).is_none() {
        return;
    }
    let daemon = Daemon::start_with_auth(&everything_config(), &[]).await;
    daemon.wait_ready().await;
    let mut command = py_command(std::slice::from_ref(&daemon.url));
    command.env("ONEMCP_TOKEN", daemon.token.as_deref().unwrap_or_default());
    let checks = run_script("Python SDK clients A+B through 1mcp", command).await;
    assert_all_ok("Python SDK clients A+B through 1mcp (server-everything, stdio)", &checks);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_clients_direct_baseline() {
    if require_tool("typescript_sdk_clients_direct_baseline", &[&node_binary(), &server_everything_js()]).is_none() {
        return;
    }
    let checks = run_script("TypeScript SDK clients A+B direct", ts_command(&["--direct".to_owned()])).await;
    assert_all_ok("TypeScript SDK clients A+B, each with its own server-everything (no proxy)", &checks);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_clients_direct_baseline() {
    let tools = [&python_binary(), &node_binary(), &server_everything_js()];
    if require_tool("python_sdk_clients_direct_baseline", &tools.map(PathBuf::as_path)).is_none() {
        return;
    }
    let target =
        ["--direct".to_owned(), node_binary().display().to_string(), server_everything_js().display().to_string()];
    let checks = run_script("Python SDK clients A+B direct", py_command(&target)).await;
    assert_all_ok("Python SDK clients A+B, each with its own server-everything (no proxy)", &checks);
}

// ---------------------------------------------------------------------------------------------
// The official SDK clients through 1mcp's OAuth 2.1 login (tests/js/sdk-oauth.mjs,
// tests/py/sdk_oauth.py): 401, discovery, registration or a Client ID Metadata Document, PKCE,
// the operator's consent narrowing the grant to one tag, the token, a tool call, a refresh.
// ---------------------------------------------------------------------------------------------

fn oauth_ts_script() -> PathBuf {
    workspace_root().join("tests/js/sdk-oauth.mjs")
}

fn oauth_py_script() -> PathBuf {
    workspace_root().join("tests/py/sdk_oauth.py")
}

/// Two fixture servers tagged `alpha` and `beta` (tools `alpha_1mcp_echo`, `beta_1mcp_echo`, ...).
fn tagged_config() -> serde_json::Value {
    let fixture = env!("CARGO_BIN_EXE_fixture-server");
    onemcp_tests::mcp_config([
        ("alpha", onemcp_tests::fixture_backend(fixture, "alpha", &[])),
        ("beta", onemcp_tests::fixture_backend(fixture, "beta", &[])),
    ])
}

/// A fresh one-time operator link for the daemon (`1mcp auth link`).
fn operator_link(daemon: &Daemon) -> String {
    let config = daemon.config_path().to_string_lossy().into_owned();
    let run = onemcp_tests::run_onemcp(&["auth", "link", "-c", &config], Duration::from_secs(10));
    assert_eq!(run.code, Some(0), "{}", run.describe());
    run.stdout.trim().to_owned()
}

/// Runs an OAuth client script against a fresh auth daemon with a fresh operator link; asserts
/// every check passed and names the checks that must be there.
async fn oauth_run(what: &str, mut command: tokio::process::Command, daemon: &Daemon, required: &[&str]) {
    command.env("ONEMCP_OPERATOR_LINK", operator_link(daemon)).env("ONEMCP_TAG", "alpha");
    let scratch = tempfile::Builder::new().prefix("onemcp-sdk-oauth-").tempdir().expect("create a scratch directory");
    command.env("ONEMCP_JS_DIR", js_dir());
    let output = run_bounded(command, scratch.path(), SCRIPT_LIMIT).await;
    let checks = match parse_client_report(&output.stdout) {
        Some(checks) if !checks.is_empty() => checks,
        _ => panic!("{what}: no report (timed out: {})\n{}", output.timed_out, output.tail(80)),
    };
    let report: serde_json::Value =
        output.stdout.lines().rev().find_map(|l| serde_json::from_str(l).ok()).unwrap_or_default();
    let table = client_table(what, &checks);
    assert!(checks.iter().all(|c| c.ok), "{what}: some steps failed:{table}\n{}", output.tail(40));
    for name in required {
        assert!(checks.iter().any(|c| c.check == *name), "{what}: step {name} never ran:{table}");
    }
    eprintln!("{table}login (first 401 to first tool result): {} ms", report["loginMs"]);
}

const TS_OAUTH_STEPS: [&str; 12] = [
    "sign-in",
    "first-connect-needs-login",
    "discovery",
    "consent-page",
    "pkce-authorization-request",
    "consent-approved",
    "token",
    "sees-only-its-tag",
    "tool-call",
    "other-tag-refused",
    "refresh",
    "call-after-refresh",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_client_logs_in_with_dynamic_registration() {
    if require_tool("typescript_sdk_client_logs_in_with_dynamic_registration", &[&node_binary()]).is_none() {
        return;
    }
    let daemon = Daemon::start_with_auth(&tagged_config(), &[]).await;
    daemon.wait_ready().await;
    let mut command = tokio::process::Command::new(node_binary());
    command.arg(oauth_ts_script()).args([daemon.url.as_str(), "dcr"]);
    let mut steps = TS_OAUTH_STEPS.to_vec();
    steps.push("dynamic-registration");
    oauth_run("TypeScript SDK client, OAuth with dynamic registration", command, &daemon, &steps).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_client_logs_in_with_a_client_id_metadata_document() {
    if require_tool("typescript_sdk_client_logs_in_with_a_client_id_metadata_document", &[&node_binary()]).is_none() {
        return;
    }
    let daemon = Daemon::start_with_auth(&tagged_config(), &[]).await;
    daemon.wait_ready().await;
    let mut command = tokio::process::Command::new(node_binary());
    command.arg(oauth_ts_script()).args([daemon.url.as_str(), "cimd"]);
    let mut steps = TS_OAUTH_STEPS.to_vec();
    steps.push("metadata-document");
    oauth_run("TypeScript SDK client, OAuth with a Client ID Metadata Document", command, &daemon, &steps).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_client_logs_in_with_dynamic_registration() {
    if require_tool("python_sdk_client_logs_in_with_dynamic_registration", &[&python_binary()]).is_none() {
        return;
    }
    let daemon = Daemon::start_with_auth(&tagged_config(), &[]).await;
    daemon.wait_ready().await;
    let mut command = tokio::process::Command::new(python_binary());
    command.arg(oauth_py_script()).arg(&daemon.url);
    let steps = [
        "sign-in",
        "first-request-401",
        "discovery",
        "dynamic-registration",
        "consent-page",
        "pkce-authorization-request",
        "consent-approved",
        "token",
        "sees-only-its-tag",
        "tool-call",
        "other-tag-refused",
        "refresh",
        "call-after-refresh",
    ];
    oauth_run("Python SDK client, OAuth with dynamic registration", command, &daemon, &steps).await;
}
