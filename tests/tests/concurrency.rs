//! Many sessions calling at once: every answer reaches the session and request that asked.

use std::time::{Duration, Instant};

use onemcp_tests::{
    Daemon, call_args, fixture_backend, fixture_server_bin, mcp_client_with_token, mcp_config, tool_text,
};
use rmcp::model::ProtocolVersion;
use serde_json::json;
use tokio::task::JoinSet;

const SESSIONS: usize = 20;
const CALLS_PER_SESSION: usize = 50;
/// The whole run must finish well within this, even in a debug build.
const RUN_LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_get_exactly_their_own_answers() {
    let bin = fixture_server_bin!();
    let config =
        mcp_config([("alpha", fixture_backend(bin, "alpha", &[])), ("beta", fixture_backend(bin, "beta", &[]))]);
    let daemon = Daemon::start(&config).await;
    daemon.wait_ready().await;
    let started = Instant::now();

    let mut sessions = JoinSet::new();
    for session in 0..SESSIONS {
        let (url, token) = (daemon.url.clone(), daemon.token.clone());
        sessions.spawn(async move {
            let client = mcp_client_with_token(&url, ProtocolVersion::V_2025_11_25, token.as_deref())
                .await
                .unwrap_or_else(|e| panic!("session {session}: connect: {e}"));
            let mut calls = JoinSet::new();
            for call in 0..CALLS_PER_SESSION {
                let peer = client.peer().clone();
                let backend = if (session + call) % 2 == 0 { "alpha" } else { "beta" };
                calls.spawn(async move {
                    let payload = format!("s{session}-c{call}");
                    let tool = format!("{backend}_1mcp_echo");
                    let result = peer
                        .call_tool(call_args(&tool, json!({"text": payload})))
                        .await
                        .unwrap_or_else(|e| panic!("{tool} {payload}: {e}"));
                    (format!("{backend}: {payload}"), tool_text(&result))
                });
            }
            let mut mismatches = Vec::new();
            let mut answered = 0;
            while let Some(joined) = calls.join_next().await {
                let (expected, got) = joined.expect("a call task panicked");
                answered += 1;
                if expected != got {
                    mismatches.push(format!("expected {expected:?}, got {got:?}"));
                }
            }
            let _ = client.cancel().await;
            (session, answered, mismatches)
        });
    }

    let all = tokio::time::timeout(RUN_LIMIT, async {
        let mut outcomes = Vec::new();
        while let Some(joined) = sessions.join_next().await {
            outcomes.push(joined.expect("a session task panicked"));
        }
        outcomes
    })
    .await
    .unwrap_or_else(|_| panic!("{SESSIONS} sessions x {CALLS_PER_SESSION} calls took over {RUN_LIMIT:?}"));

    assert_eq!(all.len(), SESSIONS);
    for (session, answered, mismatches) in &all {
        assert_eq!(*answered, CALLS_PER_SESSION, "session {session} lost calls");
        assert!(mismatches.is_empty(), "session {session} got others' answers: {mismatches:?}");
    }
    eprintln!("{} calls over {SESSIONS} sessions in {:?}", SESSIONS * CALLS_PER_SESSION, started.elapsed());
}
