//! `1mcp serve --transport stdio`: the daemon's one client is its own stdin/stdout. Answers
//! carry the client's ids, stdout carries nothing but JSON-RPC (logs go to stderr), and the end
//! of stdin stops the daemon and every backend.

use onemcp_tests::{StdioProcess, children_of, fixture_backend, fixture_server_bin, is_alive, mcp_config};
use serde_json::json;
use std::time::{Duration, Instant};

/// Starts `serve --transport stdio` on alpha and beta in a fresh config dir.
fn serve_stdio(dir: &tempfile::TempDir, extra_args: &[&str]) -> StdioProcess {
    let bin = fixture_server_bin!();
    let config =
        mcp_config([("alpha", fixture_backend(bin, "alpha", &[])), ("beta", fixture_backend(bin, "beta", &[]))]);
    let path = dir.path().join("mcp.json");
    std::fs::write(&path, config.to_string()).expect("write mcp.json");
    let (path, dir) = (path.display().to_string(), dir.path().display().to_string());
    // Debug logging: plenty of log lines that must all stay off stdout. No --no-auth: as a user
    // types it (the one client is the daemon's own stdin, so there is no token to present).
    let mut args = vec!["serve", "--transport", "stdio", "-c", &path, "-d", &dir, "--log-level", "debug"];
    args.extend_from_slice(extra_args);
    StdioProcess::spawn(&args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_client_is_served_and_its_eof_stops_everything() {
    let dir = tempfile::tempdir().expect("temporary config dir");
    let mut daemon = serve_stdio(&dir, &[]);

    let init = daemon.initialize().await;
    assert_eq!(init["result"]["serverInfo"]["name"], "1mcp", "{init}");
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");

    let names = daemon.tools_once_listed(&["alpha_1mcp_echo", "beta_1mcp_echo"]).await;
    assert!(names.iter().all(|n| n.starts_with("alpha_1mcp_") || n.starts_with("beta_1mcp_")), "{names:?}");
    assert_eq!(daemon.call_tool_text(json!(41), "alpha_1mcp_echo", json!({"text": "hi"})).await, "alpha: hi");
    assert_eq!(daemon.call_tool_text(json!("b-1"), "beta_1mcp_whoami", json!({})).await, "beta");

    daemon.send_line("{this is not json").await;
    let parse_error = daemon.recv("answer to a malformed line").await;
    assert_eq!(parse_error["error"]["code"], -32700, "{parse_error}");

    let pong = daemon.request(json!(7), "ping", json!({})).await;
    assert_eq!(pong["result"], json!({}), "{pong}");

    // No server.pid: a stdio daemon cannot be reached by `1mcp proxy`.
    assert!(!dir.path().join("server.pid").exists(), "stdio mode wrote server.pid");
    let backends = children_of(daemon.pid());
    assert_eq!(backends.len(), 2, "one child per backend: {backends:?}");

    daemon.close_stdin();
    let status = daemon.wait_exit(Duration::from_secs(15)).await;
    assert!(status.is_some_and(|s| s.success()), "EOF must stop the daemon cleanly: {status:?}\n{}", daemon.describe());
    let deadline = Instant::now() + Duration::from_secs(5);
    while backends.iter().any(|p| is_alive(*p)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let alive: Vec<u32> = backends.iter().copied().filter(|p| is_alive(*p)).collect();
    assert!(alive.is_empty(), "backends outlived the daemon: {alive:?}");
    daemon.assert_only_json_rpc();
    assert!(daemon.stderr().contains("shutting down"), "logs go to stderr:\n{}", daemon.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_do_not_hold_up_later_ones() {
    let dir = tempfile::tempdir().expect("temporary config dir");
    let mut daemon = serve_stdio(&dir, &[]);
    daemon.initialize().await;
    daemon.tools_once_listed(&["alpha_1mcp_sleep", "beta_1mcp_echo"]).await;
    let slow = json!({"jsonrpc": "2.0", "id": "slow", "method": "tools/call",
        "params": {"name": "alpha_1mcp_sleep", "arguments": {"ms": 1500}}});
    daemon.send(&slow).await;
    let started = Instant::now();
    // `response` skips other messages: the order is read from stdout afterwards.
    let fast = daemon.call_tool_text(json!("fast"), "beta_1mcp_echo", json!({"text": "first"})).await;
    assert_eq!(fast, "beta: first");
    println!("the fast call was answered after {:?}", started.elapsed());
    let answered_at = |lines: &[String], id: &str| {
        lines.iter().position(|line| {
            serde_json::from_str::<serde_json::Value>(line).is_ok_and(|m| m.get("result").is_some() && m["id"] == id)
        })
    };
    let so_far = daemon.stdout_lines();
    assert_eq!(answered_at(&so_far, "slow"), None, "the slow call (1.5 s) still runs when the fast one is answered");
    let answer = daemon.response(&json!("slow")).await;
    assert_eq!(answer["result"]["content"][0]["text"], "slept 1500", "{answer}");
    let all = daemon.stdout_lines();
    assert!(answered_at(&all, "fast") < answered_at(&all, "slow"), "answered as they finished, not as sent");
    daemon.assert_only_json_rpc();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_flags_choose_the_servers() {
    let dir = tempfile::tempdir().expect("temporary config dir");
    let mut daemon = serve_stdio(&dir, &["--filter", "fixture and not alpha", "--pagination", "false"]);
    daemon.initialize().await;
    let names = daemon.tools_once_listed(&["beta_1mcp_echo"]).await;
    assert!(names.iter().all(|n| n.starts_with("beta_1mcp_")), "the filter let other servers in: {names:?}");
    let refused =
        daemon.request(json!(9), "tools/call", json!({"name": "alpha_1mcp_echo", "arguments": {"text": "x"}})).await;
    assert!(refused.get("error").is_some(), "a filtered-out tool must not be callable: {refused}");
    daemon.assert_only_json_rpc();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_client_may_speak_the_stateless_revision_and_a_session_in_the_same_process() {
    let dir = tempfile::tempdir().expect("temporary config dir");
    let mut daemon = serve_stdio(&dir, &[]);
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}});
    // Discovery first, as a dual-era client starts: answered, no initialize needed.
    let discover = daemon.request(json!("d"), "server/discover", json!({"_meta": meta})).await;
    assert_eq!(discover["result"]["supportedVersions"], json!(["2026-07-28"]), "{discover}");
    assert_eq!(discover["result"]["resultType"], "complete");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = daemon.request(json!("l"), "tools/list", json!({"_meta": meta})).await;
        let names: Vec<&str> =
            list["result"]["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
        if names.contains(&"alpha_1mcp_echo") {
            // The hints are the backends' (the fixture is a stateless server: it gives its own).
            assert!(list["result"]["ttlMs"].is_u64() && list["result"]["cacheScope"].is_string(), "{list}");
            break;
        }
        assert!(Instant::now() < deadline, "alpha never listed: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let call = json!({"name": "alpha_1mcp_echo", "arguments": {"text": "modern"}, "_meta": meta});
    let answer = daemon.request(json!(1), "tools/call", call).await;
    assert_eq!(answer["result"]["content"][0]["text"], "alpha: modern", "{answer}");
    assert_eq!(answer["result"]["resultType"], "complete");
    // A request of a revision it does not speak is refused as the revision says.
    let wrong = json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2031-01-01", "io.modelcontextprotocol/clientCapabilities": {}}});
    let refused = daemon.request(json!(2), "tools/list", wrong).await;
    assert_eq!(refused["error"]["code"], -32022, "{refused}");
    // The same process then opens a session, and both work.
    let init = daemon.initialize().await;
    assert_eq!(init["result"]["serverInfo"]["name"], "1mcp", "{init}");
    assert_eq!(daemon.call_tool_text(json!(3), "beta_1mcp_whoami", json!({})).await, "beta");
    let again = daemon
        .request(
            json!(4),
            "tools/call",
            json!({"name": "alpha_1mcp_echo", "arguments": {"text": "again"}, "_meta": meta}),
        )
        .await;
    assert_eq!(again["result"]["content"][0]["text"], "alpha: again", "{again}");
    daemon.close_stdin();
    let status = daemon.wait_exit(Duration::from_secs(15)).await;
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{}", daemon.describe());
    daemon.assert_only_json_rpc();
}
