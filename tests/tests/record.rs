//! `serve --record FILE`: a real session with two servers and two clients is recorded, and the
//! simulator replays it through a fresh core and checks the routing invariants on it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use onemcp_tests::{Daemon, bounded, call_args, fixture_backend, fixture_server_bin, mcp_config, tool_text};
use serde_json::{Value, json};

/// Set to a path to keep the recording there, with machine paths replaced by placeholders
/// (that is how `sim/tests/data/two_clients.jsonl` was made).
const KEEP: &str = "SIM_KEEP_RECORDING";

/// Two fixture servers, two sessions: calls to both, one failing call, a list; then SIGTERM.
/// Authentication is on (as `1mcp serve` starts); returns the token the clients presented.
async fn record_a_session(path: &Path) -> String {
    let bin = fixture_server_bin!();
    let config =
        mcp_config([("alpha", fixture_backend(bin, "alpha", &[])), ("beta", fixture_backend(bin, "beta", &[]))]);
    let path_arg = path.to_str().expect("a UTF-8 temporary path");
    let mut daemon = Daemon::start_with_args(&config, &["--record", path_arg]).await;
    daemon.wait_ready().await;
    let first = daemon.mcp_client().await.expect("connect the first client");
    let second = daemon.mcp_client().await.expect("connect the second client");
    for (client, who) in [(&first, "one"), (&second, "two")] {
        for backend in ["alpha", "beta"] {
            let tool = format!("{backend}_1mcp_echo");
            let result =
                bounded(&tool, client.call_tool(call_args(&tool, json!({"text": who})))).await.expect("echo answers");
            assert_eq!(tool_text(&result), format!("{backend}: {who}"));
        }
    }
    let failed = bounded("fail", second.call_tool(call_args("beta_1mcp_fail", json!({})))).await;
    assert!(failed.is_err() || failed.as_ref().is_ok_and(|r| r.is_error == Some(true)), "{failed:?}");
    let tools = bounded("tools/list", first.list_all_tools()).await.expect("tools/list");
    assert!(tools.len() >= 2);
    let _ = first.cancel().await;
    let _ = second.cancel().await;
    daemon.signal(rustix::process::Signal::TERM);
    let status = daemon.wait_exit(Duration::from_secs(15)).await.expect("the daemon stops on SIGTERM");
    assert!(status.success(), "daemon exit: {status:?}\n{}", daemon.stderr());
    if let Ok(keep) = std::env::var(KEEP) {
        let text = std::fs::read_to_string(path).expect("read the recording");
        let text = text.replace(bin, "fixture-server").replace(&daemon.dir.path().display().to_string(), "$DIR");
        std::fs::write(&keep, text).expect("keep the recording");
    }
    daemon.token.clone().expect("a harness token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_session_replays_through_the_core_with_every_invariant() {
    let dir = tempfile::Builder::new().prefix("onemcp-record-").tempdir().expect("a temporary directory");
    let path = dir.path().join("session.jsonl");
    let token = record_a_session(&path).await;

    let mode = std::fs::metadata(&path).expect("the recording exists").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the recording holds secrets: owner-only");
    let text = std::fs::read_to_string(&path).expect("read the recording");
    let lines: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let header = &lines[0]["header"];
    assert_eq!(header["seed"].as_array().map(Vec::len), Some(32), "{header}");
    assert!(header["hub_config"]["mcp"]["servers"]["alpha"].is_object(), "{header}");
    let kinds: Vec<&str> = lines[1..].iter().filter_map(|l| l["input"]["type"].as_str()).collect();
    for kind in ["backend_spawned", "backend_line", "http_request", "shutdown", "backend_exited"] {
        assert!(kinds.contains(&kind), "no {kind} recorded: {kinds:?}");
    }
    // Requests are recorded with the credential they presented, never with the token itself.
    assert!(
        lines.iter().any(|l| l["input"]["request"]["credential"]["kind"] == "token"),
        "no request recorded with its token's credential"
    );
    assert!(!text.contains(&token), "the bearer token reached the recording");

    let report = onemcp_sim::replay(&path).unwrap_or_else(|violation| panic!("{violation}"));
    assert!(!report.appended_shutdown, "the daemon recorded its own shutdown");
    // 2 initializes, 4 echoes, 1 failing call, at least one tools/list page.
    assert!(report.rpc_requests >= 8, "{report:?}");
    assert_eq!(report.rpc_answered, report.rpc_requests, "every call answered once: {report:?}");
    // Replaying the same file twice does the same thing: the hub is a function of its inputs.
    assert_eq!(onemcp_sim::replay(&path).ok(), Some(report));
}
