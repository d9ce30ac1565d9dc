//! `1mcp proxy`: stdio clients share one running daemon. The proxy finds it (server.pid in
//! the config dir, or --url), bridges lines to HTTP and back, keeps each client's traffic to
//! itself, and fails loudly (errors for what is in flight, exit code, one stderr line) when the
//! daemon goes away. The daemon runs with authentication on (as `1mcp serve` starts): found
//! through its config dir, the proxy gets a token by itself; given an explicit --url, it is
//! handed the harness token with --token, as a user would.

use onemcp_tests::{Daemon, StdioProcess, fixture_backend, fixture_server_bin, mcp_config};
use rustix::process::Signal;
use serde_json::json;
use std::time::Duration;

/// `1mcp proxy -u <daemon url> --token <harness token> extra...`.
fn proxy_to(daemon: &Daemon, extra: &[&str]) -> StdioProcess {
    let token = daemon.token.as_deref().expect("a harness token");
    let mut args = vec!["proxy", "-u", &daemon.url, "--token", token];
    args.extend_from_slice(extra);
    StdioProcess::spawn(&args)
}

async fn daemon() -> Daemon {
    let bin = fixture_server_bin!();
    let config =
        mcp_config([("alpha", fixture_backend(bin, "alpha", &[])), ("beta", fixture_backend(bin, "beta", &[]))]);
    let daemon = Daemon::start(&config).await;
    daemon.wait_ready().await;
    daemon
}

/// initialize, tools/list, tools/call, a malformed line, then EOF: exit 0.
async fn round_trip(mut proxy: StdioProcess) {
    let init = proxy.initialize().await;
    assert_eq!(init["result"]["serverInfo"]["name"], "1mcp", "{init}");
    let names = proxy.tools_once_listed(&["alpha_1mcp_echo", "beta_1mcp_echo"]).await;
    assert!(names.iter().all(|n| n.contains("_1mcp_")), "{names:?}");
    assert_eq!(
        proxy.call_tool_text(json!(5), "alpha_1mcp_echo", json!({"text": "via proxy"})).await,
        "alpha: via proxy"
    );
    proxy.send_line("[not json").await;
    let parse_error = proxy.recv("answer to a malformed line").await;
    assert_eq!(parse_error["error"]["code"], -32700, "{parse_error}");
    proxy.close_stdin();
    let status = proxy.wait_exit(Duration::from_secs(15)).await;
    assert!(status.is_some_and(|s| s.success()), "EOF ends the proxy cleanly: {status:?}\n{}", proxy.describe());
    proxy.assert_only_json_rpc();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_the_daemon_through_its_pid_file() {
    let daemon = daemon().await;
    let dir = daemon.dir.path().display().to_string();
    round_trip(StdioProcess::spawn(&["proxy", "-d", &dir, "--log-level", "debug"])).await;
    // No --token: the proxy made itself one in the daemon's config dir.
    let listed = onemcp_tests::run_onemcp(&["token", "list", "-d", &dir], Duration::from_secs(10));
    assert!(listed.stdout.contains("1mcp proxy"), "the proxy's own token: {}", listed.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_to_an_explicit_url() {
    let daemon = daemon().await;
    let empty = tempfile::tempdir().expect("temporary dir");
    let dir = empty.path().display().to_string();
    round_trip(proxy_to(&daemon, &["-d", &dir])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_see_only_their_own_answers() {
    let daemon = daemon().await;
    let mut one = proxy_to(&daemon, &[]);
    let mut two = proxy_to(&daemon, &[]);
    one.initialize().await;
    two.initialize().await;
    one.tools_once_listed(&["alpha_1mcp_echo"]).await;
    two.tools_once_listed(&["alpha_1mcp_echo"]).await;
    // Same request ids on both, sent before either reads: each must get its own text back.
    for (proxy, text) in [(&mut one, "from one"), (&mut two, "from two")] {
        let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "alpha_1mcp_echo", "arguments": {"text": text}}});
        proxy.send(&call).await;
    }
    let answer_one = one.response(&json!(1)).await;
    let answer_two = two.response(&json!(1)).await;
    assert_eq!(answer_one["result"]["content"][0]["text"], "alpha: from one", "{answer_one}");
    assert_eq!(answer_two["result"]["content"][0]["text"], "alpha: from two", "{answer_two}");
    for (proxy, foreign) in [(&mut one, "from two"), (&mut two, "from one")] {
        proxy.close_stdin();
        let status = proxy.wait_exit(Duration::from_secs(15)).await;
        assert!(status.is_some_and(|s| s.success()), "{status:?}\n{}", proxy.describe());
        let leaked: Vec<String> = proxy.stdout_lines().into_iter().filter(|l| l.contains(foreign)).collect();
        assert!(leaked.is_empty(), "the other client's answer leaked: {leaked:?}");
        proxy.assert_only_json_rpc();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_daemon_fails_the_request_in_flight_and_the_proxy() {
    let mut daemon = daemon().await;
    let mut proxy = proxy_to(&daemon, &["-t", "2000"]);
    proxy.initialize().await;
    proxy.tools_once_listed(&["alpha_1mcp_sleep"]).await;
    let slow = json!({"jsonrpc": "2.0", "id": "stuck", "method": "tools/call",
        "params": {"name": "alpha_1mcp_sleep", "arguments": {"ms": 60_000}}});
    proxy.send(&slow).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    daemon.signal(Signal::KILL);
    daemon.wait_exit(Duration::from_secs(5)).await.expect("SIGKILL ends the daemon");

    let answer = proxy.response(&json!("stuck")).await;
    assert_eq!(answer["error"]["code"], -32603, "{answer}");
    assert!(answer["error"]["message"].as_str().is_some_and(|m| m.contains("unreachable")), "{answer}");
    let status = proxy.wait_exit(Duration::from_secs(15)).await;
    assert!(status.is_some_and(|s| !s.success() && s.code().is_some()), "{status:?}\n{}", proxy.describe());
    let stderr = proxy.stderr();
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("1mcp proxy: lost the connection to the 1mcp daemon at"), "last stderr line: {last:?}");
    proxy.assert_only_json_rpc();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_daemon_is_one_clear_error() {
    let empty = tempfile::tempdir().expect("temporary dir");
    let dir = empty.path().display().to_string();
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let url = format!("http://127.0.0.1:{port}/mcp");
    let mut proxy = StdioProcess::spawn(&["proxy", "-u", &url, "-d", &dir, "-t", "1000"]);
    let status = proxy.wait_exit(Duration::from_secs(10)).await;
    assert!(status.is_some_and(|s| s.code() == Some(1)), "{status:?}\n{}", proxy.describe());
    assert!(proxy.stderr().contains("no 1mcp daemon answers at"), "{}", proxy.describe());
    assert!(proxy.stdout_lines().is_empty(), "{}", proxy.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_flags_reach_the_daemon() {
    let daemon = daemon().await;
    let mut proxy = proxy_to(&daemon, &["--tags", "beta"]);
    proxy.initialize().await;
    let names = proxy.tools_once_listed(&["beta_1mcp_echo"]).await;
    assert!(names.iter().all(|n| n.starts_with("beta_1mcp_")), "--tags beta let other servers in: {names:?}");
    proxy.assert_only_json_rpc();
}
