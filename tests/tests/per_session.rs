//! `perSession` end to end: each client session gets its own backend process, bounded in
//! number, stopped with its session or when idle.

use onemcp_tests::{
    Daemon, bounded, call_args, children_of, fixture_backend, fixture_server_bin, is_alive, mcp_config, tool_text,
};
use serde_json::json;
use std::time::{Duration, Instant};

async fn pid_of_instance(client: &onemcp_tests::McpClient) -> u32 {
    let result = bounded("pid", client.call_tool(call_args("solo_1mcp_pid", json!({})))).await.expect("solo_1mcp_pid");
    tool_text(&result).parse().expect("a pid")
}

async fn gone(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !is_alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_session_gets_its_own_process_within_bounds() {
    let mut solo = fixture_backend(fixture_server_bin!(), "solo", &[]);
    solo["perSession"] = json!({"maxInstances": 2, "idleTimeout": 1500});
    let daemon = Daemon::start(&mcp_config([("solo", solo)])).await;
    daemon.wait_ready().await;
    let shared = children_of(daemon.pid());
    assert_eq!(shared.len(), 1, "only the shared (listing) instance at first");

    let (a, b) = (daemon.mcp_client().await.expect("a"), daemon.mcp_client().await.expect("b"));
    let (pa, pb) = (pid_of_instance(&a).await, pid_of_instance(&b).await);
    assert_ne!(pa, pb, "two sessions, two processes");
    assert!(!shared.contains(&pa) && !shared.contains(&pb), "neither is the shared instance");
    assert_eq!(pid_of_instance(&a).await, pa, "a session keeps its instance");

    let c = daemon.mcp_client().await.expect("c");
    let refused = bounded("third", c.call_tool(call_args("solo_1mcp_pid", json!({})))).await;
    let error = refused.expect_err("a third session is over maxInstances");
    assert!(error.to_string().contains("maxInstances"), "{error}");

    a.cancel().await.expect("close a");
    assert!(gone(pa, Duration::from_secs(5)).await, "a's process ends with its session");
    assert!(gone(pb, Duration::from_secs(6)).await, "b's idle process is stopped after idleTimeout");
    assert!(is_alive(shared[0]), "the shared instance stays");
    let (_, health) = daemon.get_json("/health").await;
    assert_eq!(health["servers"]["details"][0]["sessionInstances"], 0, "{health}");
}
