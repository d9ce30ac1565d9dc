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
