//! What a run with real servers from npm showed, fixed and kept fixed: one client's roots never
//! reach another client through a shared server (server-filesystem), a backend's error passes
//! through as it was (server-everything), stderr is a server's log and not 1mcp's warnings,
//! readiness does not wait on broken servers, and a call to a server that is not serving says
//! which server and why.

use std::path::PathBuf;
use std::time::Duration;

use onemcp_tests::js::{client_table, js_dir, node_binary, parse_client_report, require_tool, run_bounded};
use onemcp_tests::{Daemon, fixture_backend, workspace_root};
use rmcp::ServiceExt;
use rmcp::model::{ClientCapabilities, GetPromptRequestParams, Implementation, InitializeRequestParams};
use serde_json::{Value, json};

fn server_filesystem_js() -> PathBuf {
    js_dir().join("node_modules/@modelcontextprotocol/server-filesystem/dist/index.js")
}

fn server_everything_js() -> PathBuf {
    onemcp_tests::js::server_everything_js()
}

/// The daemon's log lines at `level` (`WARN`, `INFO`, ...).
fn log_lines<'a>(log: &'a str, level: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.split_whitespace().nth(1) == Some(level) || l.contains(&format!(" {level} "))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_roots_confine_only_its_own_server_filesystem() {
    if require_tool(
        "a_clients_roots_confine_only_its_own_server_filesystem",
        &[&node_binary(), &server_filesystem_js()],
    )
    .is_none()
    {
        return;
    }
    let ws = tempfile::Builder::new().prefix("onemcp-ws-").tempdir().expect("workspace dir");
    for (dir, file, text) in
        [("files", "hello.txt", "hello from files"), ("shell", "a.txt", "shell file"), ("other", "b.txt", "other file")]
    {
        std::fs::create_dir_all(ws.path().join(dir)).expect("mkdir");
        std::fs::write(ws.path().join(dir).join(file), text).expect("write");
    }
    let files = ws.path().join("files");
    let config = json!({"mcpServers": {"filesystem": {
        "command": node_binary(),
        "args": [server_filesystem_js(), files],
    }}});
    // Authentication on, as a user runs it: the client script presents a token.
    let daemon = Daemon::start_with_auth(&config, &[]).await;
    daemon.wait_ready().await;
    let token = daemon.token.clone().expect("a token with auth on");
    let health = daemon
        .wait_for_health("filesystem learned to ask for roots", |h| {
            h["servers"]["details"][0]["asksForRoots"] == json!(true)
        })
        .await;
    assert_eq!(health["servers"]["details"][0]["status"], "ready");

    let scratch = tempfile::Builder::new().prefix("onemcp-roots-").tempdir().expect("scratch");
    let mut command = tokio::process::Command::new(node_binary());
    command.arg(workspace_root().join("tests/js/roots-filesystem.mjs")).arg(&daemon.url).arg(ws.path());
    command.env("ONEMCP_JS_DIR", js_dir()).env("ONEMCP_TOKEN", &token);
    let output = run_bounded(command, scratch.path(), Duration::from_secs(120)).await;
    let checks = parse_client_report(&output.stdout)
        .unwrap_or_else(|| panic!("no report (timed out: {})\n{}", output.timed_out, output.tail(80)));
    let table = client_table("roots through 1mcp (server-filesystem, shared)", &checks);
    assert!(checks.len() >= 12 && checks.iter().all(|c| c.ok), "{table}\n{}", daemon.stderr());
    eprintln!("{table}");

    let log = daemon.stderr();
    assert!(
        !log.contains("Failed to request initial roots"),
        "the shared server's start-up roots question is answered, not failed:\n{log}"
    );
    // stderr is the server's log channel: its banner is INFO under its name, never a warning.
    let banner: Vec<&str> =
        log.lines().filter(|l| l.contains("Secure MCP Filesystem Server running on stdio")).collect();
    assert!(!banner.is_empty(), "the server's banner is in the log:\n{log}");
    assert!(banner.iter().all(|l| l.contains("INFO") && l.contains("filesystem")), "{banner:#?}");
    let warnings = log_lines(&log, "WARN");
    assert!(warnings.is_empty(), "a clean run logs no warnings:\n{}", warnings.join("\n"));
}

/// `prompts/get` of server-everything's `args-prompt` without its required `city`, over stdio
/// straight to the server: the error as the server itself gives it.
async fn direct_prompt_error() -> rmcp::ErrorData {
    let mut child = tokio::process::Command::new(node_binary())
        .arg(server_everything_js())
        .arg("stdio")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn server-everything");
    let transport = (child.stdout.take().expect("stdout"), child.stdin.take().expect("stdin"));
    let info = InitializeRequestParams::new(ClientCapabilities::default(), Implementation::new("direct", "1"));
    let client = onemcp_tests::bounded("initialize server-everything", info.serve(transport))
        .await
        .expect("initialize server-everything directly");
    let result =
        onemcp_tests::bounded("prompts/get", client.get_prompt(GetPromptRequestParams::new("args-prompt"))).await;
    let error = onemcp_tests::json_rpc_error("direct prompts/get", result);
    let _ = client.cancel().await;
    error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backends_error_passes_through_as_it_was_with_the_server_in_its_data() {
    if require_tool("a_backends_error_passes_through_as_it_was", &[&node_binary(), &server_everything_js()]).is_none() {
        return;
    }
    let direct = direct_prompt_error().await;
    let config = json!({"mcpServers": {"everything": {
        "command": node_binary(),
        "args": [server_everything_js(), "stdio"],
    }}});
    let daemon = Daemon::start(&config).await;
    daemon.wait_ready().await;
    let client = daemon.mcp_client().await.expect("connect");
    let result = onemcp_tests::bounded(
        "prompts/get through 1mcp",
        client.get_prompt(GetPromptRequestParams::new("everything_1mcp_args-prompt")),
    )
    .await;
    let proxied = onemcp_tests::json_rpc_error("prompts/get through 1mcp", result);
    eprintln!("direct:  {direct:?}\nthrough: {proxied:?}");
    assert_eq!(proxied.code, direct.code, "the server's code");
    assert_eq!(proxied.message, direct.message, "the server's message, not re-worded");
    let mut expected = match direct.data.clone() {
        None | Some(Value::Null) => json!({}),
        Some(other) => other,
    };
    expected["server"] = json!("everything");
    assert_eq!(proxied.data, Some(expected), "the server's data, plus which server said it");
    let _ = client.cancel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_servers_do_not_hold_readiness_back_and_calls_to_them_say_why() {
    let fixture = env!("CARGO_BIN_EXE_fixture-server");
    let mut broken = fixture_backend(fixture, "broken", &["--exit-at-start", "3"]);
    broken["restartDelay"] = json!(60_000);
    let mut missing = json!({"command": "/nonexistent/onemcp-no-such-server"});
    missing["restartDelay"] = json!(60_000);
    let config = json!({"mcpServers": {
        "good": fixture_backend(fixture, "good", &[]),
        "broken": broken,
        "missing": missing,
    }});
    let daemon = Daemon::start(&config).await;
    let started = std::time::Instant::now();
    daemon.wait_ready().await;
    let waited = started.elapsed();
    let (_, ready) = daemon.get_json("/health/ready").await;
    assert_eq!(ready["servers"]["ready"], 1, "{ready}");
    assert_eq!(ready["servers"]["restarting"], 2, "{ready}");
    assert!(waited < Duration::from_secs(10), "ready while the broken ones wait 60 s to restart ({waited:?})");

    let client = daemon.mcp_client().await.expect("connect");
    let result = onemcp_tests::bounded(
        "call to a restarting server",
        client.call_tool(onemcp_tests::call_args("broken_1mcp_echo", json!({"text": "x"}))),
    )
    .await;
    let error = onemcp_tests::json_rpc_error("call to a restarting server", result);
    assert!(error.message.starts_with("server 'broken' is restarting"), "{error:?}");
    let data = error.data.clone().unwrap_or_default();
    assert_eq!((data["server"].clone(), data["state"].clone()), (json!("broken"), json!("restarting")), "{data}");
    assert!(data["retryInMs"].as_u64().is_some_and(|ms| ms > 30_000), "{data}");
    assert!(data["reason"].as_str().is_some_and(|r| !r.is_empty()), "{data}");
    let result = onemcp_tests::bounded(
        "an unknown tool",
        client.call_tool(onemcp_tests::call_args("good_1mcp_nope", json!({}))),
    )
    .await;
    let error = onemcp_tests::json_rpc_error("an unknown tool", result);
    assert_eq!(error.message, "Unknown tool: good_1mcp_nope");
    let _ = client.cancel().await;
}
