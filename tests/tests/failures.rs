//! Backends that fail to start, die at once or print junk do not take the others down, and
//! `/health` says which ones failed and why.

use onemcp_tests::{
    Daemon, bounded, call_args, fixture_backend, fixture_server_bin, json_rpc_error, mcp_config, tool_text,
};
use serde_json::{Value, json};

/// A good backend (noisy on stderr), a missing command, one that exits with 3 at start, and one
/// that prints junk on stdout before serving. The broken ones are unsupervised so they settle
/// in "failed" (supervised ones keep "restarting", see `supervision.rs`).
fn mixed_backends() -> Value {
    let bin = fixture_server_bin!();
    mcp_config([
        ("alpha", fixture_backend(bin, "alpha", &["--stderr-noise", "50"])),
        (
            "missing",
            json!({"command": "/nonexistent/onemcp-tests/no-such-server", "args": [], "tags": ["broken"],
                   "restartOnExit": false}),
        ),
        ("exits", unsupervised(fixture_backend(bin, "exits", &["--exit-at-start", "3"]))),
        ("garbage", fixture_backend(bin, "garbage", &["--garbage"])),
    ])
}

fn unsupervised(mut server: Value) -> Value {
    server["restartOnExit"] = json!(false);
    server
}

/// The `servers.details` entry for `name` in a `/health` body.
fn detail<'a>(health: &'a Value, name: &str) -> Option<&'a Value> {
    health["servers"]["details"].as_array()?.iter().find(|d| d["name"] == name)
}

fn status_of<'a>(health: &'a Value, name: &str) -> &'a str {
    detail(health, name).and_then(|d| d["status"].as_str()).unwrap_or("absent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_backend_serves_while_siblings_fail() {
    let daemon = Daemon::start(&mixed_backends()).await;
    daemon.wait_for_health("alpha ready", |h| status_of(h, "alpha") == "ready").await;
    let client = daemon.mcp_client().await.expect("connect despite failed backends");
    let result = bounded("echo", client.call_tool(call_args("alpha_1mcp_echo", json!({"text": "still here"}))))
        .await
        .expect("alpha_1mcp_echo");
    assert_eq!(tool_text(&result), "alpha: still here");
    let tools = bounded("tools/list", client.list_all_tools()).await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(names.contains(&"alpha_1mcp_echo"), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("missing_") || n.starts_with("exits_")),
        "failed backends contribute tools: {names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_failed_backends_with_reasons() {
    let daemon = Daemon::start(&mixed_backends()).await;
    let health = daemon
        .wait_for_health("missing and exits failed, alpha ready", |h| {
            status_of(h, "missing") == "failed" && status_of(h, "exits") == "failed" && status_of(h, "alpha") == "ready"
        })
        .await;
    for name in ["missing", "exits"] {
        let entry = detail(&health, name).expect("detail present");
        assert_eq!(entry["healthy"], false, "{entry}");
        let reason = entry["error"].as_str().unwrap_or_default();
        assert!(!reason.trim().is_empty(), "{name} failed without a reason: {entry}");
    }
    let alpha = detail(&health, "alpha").expect("alpha detail");
    assert_eq!(alpha["healthy"], true, "{alpha}");
    assert_eq!(alpha["tags"], json!(["fixture", "alpha"]), "{alpha}");
    assert!(alpha.get("error").is_none_or(Value::is_null), "a ready server has no error: {alpha}");
    assert_eq!(health["servers"]["total"], 4, "{health}");
    assert_eq!(health["servers"]["healthy"], 2, "{health}");
    assert_eq!(health["servers"]["unhealthy"], 2, "{health}");
    // As in 1MCP: "degraded" needs a strict majority of healthy servers; 2 of 4 is not.
    assert_eq!(health["status"], "unhealthy", "{health}");
    let (code, body) = daemon.get_json("/health").await;
    assert_eq!(code, 503, "unhealthy is served with 503: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failure_among_three_is_degraded_200() {
    let bin = fixture_server_bin!();
    let config = mcp_config([
        ("alpha", fixture_backend(bin, "alpha", &[])),
        ("beta", fixture_backend(bin, "beta", &[])),
        ("exits", unsupervised(fixture_backend(bin, "exits", &["--exit-at-start", "3"]))),
    ]);
    let daemon = Daemon::start(&config).await;
    let health = daemon
        .wait_for_health("alpha and beta ready, exits failed", |h| {
            status_of(h, "alpha") == "ready" && status_of(h, "beta") == "ready" && status_of(h, "exits") == "failed"
        })
        .await;
    assert_eq!(health["status"], "degraded", "{health}");
    let (code, body) = daemon.get_json("/health").await;
    assert_eq!(code, 200, "degraded is still served with 200: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_before_the_handshake_is_skipped() {
    let daemon = Daemon::start(&mixed_backends()).await;
    daemon.wait_for_health("garbage ready", |h| status_of(h, "garbage") == "ready").await;
    let client = daemon.mcp_client().await.expect("connect");
    let result = bounded("echo", client.call_tool(call_args("garbage_1mcp_echo", json!({"text": "x"}))))
        .await
        .expect("garbage_1mcp_echo");
    assert_eq!(tool_text(&result), "garbage: x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_backends_failed_is_unhealthy_503() {
    let config = mcp_config([(
        "missing",
        json!({"command": "/nonexistent/onemcp-tests/no-such-server", "restartOnExit": false}),
    )]);
    let daemon = Daemon::start(&config).await;
    let health = daemon.wait_for_health("missing failed", |h| status_of(h, "missing") == "failed").await;
    assert_eq!(health["status"], "unhealthy", "{health}");
    let (code, body) = daemon.get_json("/health").await;
    assert_eq!(code, 503, "{body}");
    // The daemon itself is alive even with nothing to serve.
    let (code, live) = daemon.get_json("/health/live").await;
    assert_eq!((code, &live["status"]), (200, &json!("alive")), "{live}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_call_times_out_with_the_server_named_and_the_session_lives_on() {
    let bin = fixture_server_bin!();
    let mut alpha = fixture_backend(bin, "alpha", &[]);
    alpha["requestTimeout"] = json!(300);
    let daemon = Daemon::start(&mcp_config([("alpha", alpha)])).await;
    daemon.wait_ready().await;
    let client = daemon.mcp_client().await.expect("connect");
    let started = std::time::Instant::now();
    let tool = "alpha_1mcp_sleep";
    let outcome = bounded(tool, client.call_tool(call_args(tool, json!({"ms": 5000})))).await;
    let error = json_rpc_error(tool, outcome);
    println!("the call failed after {:?}", started.elapsed());
    // By its reason, not by a clock window: the server's own 300 ms timeout ended it.
    assert!(error.message.contains("within 300 ms"), "the requestTimeout was not what ended it: {error:?}");
    assert!(error.message.contains("alpha"), "timeout error does not name the server: {error:?}");
    let result = bounded("echo", client.call_tool(call_args("alpha_1mcp_echo", json!({"text": "after"}))))
        .await
        .expect("echo after a timeout");
    assert_eq!(tool_text(&result), "alpha: after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_backend_does_not_hold_up_the_others() {
    let bin = fixture_server_bin!();
    let config = mcp_config([
        ("alpha", fixture_backend(bin, "alpha", &[])),
        ("slow", fixture_backend(bin, "slow", &["--start-delay", "2500"])),
    ]);
    let daemon = Daemon::start(&config).await;
    let health = daemon.wait_for_health("alpha ready", |h| status_of(h, "alpha") == "ready").await;
    assert_eq!(status_of(&health, "slow"), "starting", "{health}");
    let (status, ready) = daemon.get_json("/health/ready").await;
    assert_eq!((status, ready["status"].as_str()), (503, Some("not_ready")), "{ready}");
    let client = daemon.mcp_client().await.expect("connect while slow is starting");
    let result = bounded("echo", client.call_tool(call_args("alpha_1mcp_echo", json!({"text": "now"}))))
        .await
        .expect("alpha serves while slow starts");
    assert_eq!(tool_text(&result), "alpha: now");
    daemon.wait_ready().await;
    let result = bounded("slow echo", client.call_tool(call_args("slow_1mcp_echo", json!({"text": "later"}))))
        .await
        .expect("slow serves once ready");
    assert_eq!(tool_text(&result), "slow: later");
}
