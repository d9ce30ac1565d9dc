//! The legacy HTTP+SSE transport (2024-11-05) end to end: `GET /sse` names the endpoint,
//! `POST /messages?sessionId=` is accepted with 202, and answers arrive on the stream.

use onemcp_tests::{Daemon, HttpRequest, SseStream, fixture_backend, fixture_server_bin, mcp_config};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

async fn post(daemon: &Daemon, endpoint: &str, message: Value) -> u16 {
    let request =
        HttpRequest::post(endpoint).header("Content-Type", "application/json").body(message.to_string().into_bytes());
    daemon.send(&request).await.expect("POST /messages").status
}

async fn next_message(stream: &mut SseStream) -> Value {
    let event = stream.next_event(WAIT).await.expect("an event on the stream");
    assert_eq!(event.event, "message", "{event:?}");
    serde_json::from_str(&event.data).expect("a JSON-RPC message")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_client_gets_its_answers_on_the_stream() {
    let config = mcp_config([("alpha", fixture_backend(fixture_server_bin!(), "alpha", &[]))]);
    let daemon = Daemon::start(&config).await;
    daemon.wait_ready().await;
    // Authentication is on (as `1mcp serve` starts): the stream and each POST carry the token.
    let bearer = daemon.bearer().expect("a harness token");
    let (status, mut stream) =
        SseStream::open(daemon.port, "/sse", &[("Authorization", &bearer)]).await.expect("GET /sse");
    assert_eq!(status, 200);
    let endpoint = stream.next_event(WAIT).await.expect("endpoint event");
    assert_eq!(endpoint.event, "endpoint");
    assert!(endpoint.data.starts_with("/messages?sessionId="), "{endpoint:?}");

    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "legacy", "version": "1"}}});
    assert_eq!(post(&daemon, &endpoint.data, init).await, 202);
    let answer = next_message(&mut stream).await;
    assert_eq!((answer["id"].clone(), answer["result"]["protocolVersion"].clone()), (json!(1), json!("2024-11-05")));
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(post(&daemon, &endpoint.data, initialized).await, 202);

    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "alpha_1mcp_echo", "arguments": {"text": "over sse"}}});
    assert_eq!(post(&daemon, &endpoint.data, call).await, 202);
    let answer = next_message(&mut stream).await;
    assert_eq!(answer["id"], 2);
    assert_eq!(answer["result"]["content"][0]["text"], "alpha: over sse");

    assert_eq!(post(&daemon, "/messages?sessionId=stream-unknown", json!({})).await, 404);
    drop(stream);
    // The session ends with its stream; give the daemon a moment to notice the hang-up.
    let ping = json!({"jsonrpc": "2.0", "id": 3, "method": "ping"});
    let mut status = 0;
    for _ in 0..50 {
        status = post(&daemon, &endpoint.data, ping.clone()).await;
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 404, "a legacy session ends when its stream closes");
}

/// `1mcp token create -d <daemon dir> extra...`: the token printed on stdout.
fn create_token(daemon: &Daemon, extra: &[&str]) -> String {
    let dir = daemon.dir.path().to_string_lossy().into_owned();
    let mut args = vec!["token", "create", "-d", &dir];
    args.extend_from_slice(extra);
    let run = onemcp_tests::run_onemcp(&args, Duration::from_secs(10));
    assert_eq!(run.code, Some(0), "{}", run.describe());
    run.stdout.trim().to_owned()
}

/// With authentication on, the legacy transport is a door like `/mcp`: no token, no stream and
/// no POST; a stream belongs to the token that opened it (another valid token posting to its
/// session id gets 404); a token's tags bound what its legacy session sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_session_needs_a_token_and_belongs_to_it() {
    let bin = fixture_server_bin!();
    let config =
        mcp_config([("alpha", fixture_backend(bin, "alpha", &[])), ("beta", fixture_backend(bin, "beta", &[]))]);
    let daemon = Daemon::start(&config).await;
    daemon.wait_ready().await;

    let (status, _) = SseStream::open(daemon.port, "/sse", &[]).await.expect("GET /sse without a token");
    assert_eq!(status, 401, "a stream without a token");

    let scoped = create_token(&daemon, &["--name", "alpha-only", "--tags", "alpha"]);
    let scoped_bearer = format!("Bearer {scoped}");
    let (status, mut stream) =
        SseStream::open(daemon.port, "/sse", &[("Authorization", &scoped_bearer)]).await.expect("GET /sse");
    assert_eq!(status, 200);
    let endpoint = stream.next_event(WAIT).await.expect("endpoint event").data;

    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "legacy", "version": "1"}}});
    let as_is = |message: &Value| {
        HttpRequest::post(&endpoint).header("Content-Type", "application/json").body(message.to_string().into_bytes())
    };
    let anonymous = daemon.http(&as_is(&init)).await.expect("POST without a token");
    assert_eq!(anonymous.status, 401, "{}", anonymous.describe());
    // The harness token is valid, but the session is the scoped token's.
    let stranger = daemon.send(&as_is(&init)).await.expect("POST with another token");
    assert_eq!(stranger.status, 404, "another token's legacy session: {}", stranger.describe());

    let owner = |message: &Value| as_is(message).header("Authorization", &scoped_bearer);
    assert_eq!(daemon.http(&owner(&init)).await.expect("initialize").status, 202);
    let answer = next_message(&mut stream).await;
    assert_eq!(answer["id"], 1, "{answer}");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(daemon.http(&owner(&initialized)).await.expect("initialized").status, 202);
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    assert_eq!(daemon.http(&owner(&list)).await.expect("tools/list").status, 202);
    let answer = next_message(&mut stream).await;
    let names: Vec<&str> =
        answer["result"]["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
    assert!(!names.is_empty() && names.iter().all(|n| n.starts_with("alpha_1mcp_")), "alpha only: {names:?}");
}
