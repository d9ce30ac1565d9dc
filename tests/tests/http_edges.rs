//! The streamable-HTTP endpoint and the health endpoints, byte by byte: sessions, status codes,
//! JSON-RPC error shapes, DNS-rebinding protection, body limits.

use onemcp_tests::{
    Daemon, HttpRequest, HttpResponse, fixture_backend, fixture_server_bin, initialize_request, mcp_config,
    raw_http_head,
};
use serde_json::{Value, json};

async fn start() -> Daemon {
    let config = mcp_config([("alpha", fixture_backend(fixture_server_bin!(), "alpha", &[]))]);
    let daemon = Daemon::start(&config).await;
    daemon.wait_ready().await;
    daemon
}

/// Sends `request` with the harness token (authentication is on, as `1mcp serve` starts).
async fn send(daemon: &Daemon, request: &HttpRequest) -> HttpResponse {
    daemon.send(request).await.unwrap_or_else(|e| panic!("raw HTTP exchange failed: {e}"))
}

/// POSTs `initialize` (and `notifications/initialized`); returns the session id.
async fn open_session(daemon: &Daemon) -> String {
    let response = send(daemon, &HttpRequest::mcp_post(None, &initialize_request("2025-11-25"))).await;
    assert_eq!(response.status, 200, "initialize: {}", response.describe());
    let session = response
        .header("Mcp-Session-Id")
        .unwrap_or_else(|| panic!("no Mcp-Session-Id: {}", response.describe()))
        .to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = send(daemon, &HttpRequest::mcp_post(Some(&session), &initialized)).await;
    assert_eq!(response.status, 202, "notifications/initialized: {}", response.describe());
    session
}

fn message(response: &HttpResponse) -> Value {
    response.json_rpc_message().unwrap_or_else(|| panic!("no JSON-RPC message in {}", response.describe()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_opens_a_session_with_a_random_id() {
    let daemon = start().await;
    let request = HttpRequest::mcp_post(None, &initialize_request("2025-11-25"));
    let first = send(&daemon, &request).await;
    assert_eq!(first.status, 200, "{}", first.describe());
    let first_id = first.header("Mcp-Session-Id").expect("Mcp-Session-Id header").to_owned();
    assert!(first_id.len() >= 16, "session id too short to be unguessable: {first_id:?}");
    let result = message(&first);
    assert_eq!(result["id"], 1, "{result}");
    assert_eq!(result["result"]["serverInfo"]["name"], "1mcp", "{result}");
    let second = send(&daemon, &request).await;
    let second_id = second.header("Mcp-Session-Id").expect("Mcp-Session-Id header");
    assert_ne!(first_id, second_id, "two sessions share an id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_versions_are_negotiated() {
    let daemon = start().await;
    for version in ["2025-11-25", "2025-06-18", "2025-03-26"] {
        let response = send(&daemon, &HttpRequest::mcp_post(None, &initialize_request(version))).await;
        assert_eq!(response.status, 200, "{version}: {}", response.describe());
        let result = message(&response);
        assert_eq!(result["result"]["protocolVersion"], version, "{result}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_and_client_responses_are_accepted_with_202() {
    let daemon = start().await;
    let session = open_session(&daemon).await;
    let client_response = json!({"jsonrpc": "2.0", "id": "server-req-1", "result": {}});
    let response = send(&daemon, &HttpRequest::mcp_post(Some(&session), &client_response)).await;
    assert_eq!(response.status, 202, "{}", response.describe());
    assert!(response.body.is_empty(), "202 with a body: {}", response.describe());
    let cancelled = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 99}});
    let response = send(&daemon, &HttpRequest::mcp_post(Some(&session), &cancelled)).await;
    assert_eq!(response.status, 202, "{}", response.describe());
    assert!(response.body.is_empty(), "202 with a body: {}", response.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_a_400_parse_error_without_an_id() {
    let daemon = start().await;
    let session = open_session(&daemon).await;
    let request = HttpRequest::post("/mcp")
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .header("Mcp-Session-Id", &session)
        .header("MCP-Protocol-Version", "2025-11-25")
        .body(br#"{"jsonrpc": "2.0", "id": 3, "method": "#.to_vec());
    let response = send(&daemon, &request).await;
    assert_eq!(response.status, 400, "{}", response.describe());
    let body = response.json().unwrap_or_else(|e| panic!("not JSON ({e}): {}", response.describe()));
    assert_eq!(body["error"]["code"], -32700, "{body}");
    assert!(body.get("id").is_none(), "a parse error must not carry an id (not even null): {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_method_is_method_not_found() {
    let daemon = start().await;
    let session = open_session(&daemon).await;
    let request = json!({"jsonrpc": "2.0", "id": 7, "method": "no/such/method", "params": {}});
    let response = send(&daemon, &HttpRequest::mcp_post(Some(&session), &request)).await;
    assert_eq!(response.status, 200, "{}", response.describe());
    let reply = message(&response);
    assert_eq!(reply["id"], 7, "{reply}");
    assert_eq!(reply["error"]["code"], -32601, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_need_a_live_session() {
    let daemon = start().await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let response = send(&daemon, &HttpRequest::mcp_post(None, &list)).await;
    assert_eq!(response.status, 400, "request without a session: {}", response.describe());

    let response = send(&daemon, &HttpRequest::mcp_post(Some("0123456789abcdef0123456789abcdef"), &list)).await;
    assert_eq!(response.status, 404, "unknown session: {}", response.describe());

    let session = open_session(&daemon).await;
    let response = send(&daemon, &HttpRequest::mcp_post(Some(&session), &list)).await;
    assert_eq!(response.status, 200, "live session: {}", response.describe());
    assert!(message(&response)["result"]["tools"].is_array(), "{}", response.describe());

    let delete =
        HttpRequest::delete("/mcp").header("Mcp-Session-Id", &session).header("MCP-Protocol-Version", "2025-11-25");
    let response = send(&daemon, &delete).await;
    assert!(matches!(response.status, 200 | 204), "DELETE: {}", response.describe());
    let response = send(&daemon, &HttpRequest::mcp_post(Some(&session), &list)).await;
    assert_eq!(response.status, 404, "deleted session: {}", response.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_opens_an_event_stream_only_for_a_session() {
    let daemon = start().await;
    let session = open_session(&daemon).await;
    let stream = HttpRequest::get("/mcp")
        .header("Accept", "text/event-stream")
        .header("Mcp-Session-Id", &session)
        .header("MCP-Protocol-Version", "2025-11-25");
    let response = raw_http_head(daemon.port, &daemon.authorized(stream)).await.expect("GET /mcp head");
    assert_eq!(response.status, 200, "{}", response.describe());
    let content_type = response.header("Content-Type").unwrap_or_default();
    assert!(content_type.starts_with("text/event-stream"), "{}", response.describe());

    let no_session = HttpRequest::get("/mcp").header("Accept", "text/event-stream");
    let response = raw_http_head(daemon.port, &daemon.authorized(no_session)).await.expect("GET /mcp head");
    assert_eq!(response.status, 400, "{}", response.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origin_and_host_are_forbidden() {
    let daemon = start().await;
    let initialize = initialize_request("2025-11-25");
    let evil_origin = HttpRequest::mcp_post(None, &initialize).header("Origin", "http://evil.example.com");
    let response = send(&daemon, &evil_origin).await;
    assert_eq!(response.status, 403, "foreign Origin: {}", response.describe());

    let evil_host = HttpRequest::mcp_post(None, &initialize).header("Host", "evil.example.com");
    let response = send(&daemon, &evil_host).await;
    assert_eq!(response.status, 403, "foreign Host: {}", response.describe());

    for origin in [format!("http://localhost:{}", daemon.port), format!("http://127.0.0.1:{}", daemon.port)] {
        let local = HttpRequest::mcp_post(None, &initialize).header("Origin", &origin);
        let response = send(&daemon, &local).await;
        assert_eq!(response.status, 200, "Origin {origin}: {}", response.describe());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_is_413_and_the_daemon_keeps_serving() {
    let daemon = start().await;
    // A syntactically valid JSON-RPC request just over 4 MiB.
    let padding = "x".repeat(4 * 1024 * 1024 + 1024);
    let huge = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"padding": padding}});
    let response = send(&daemon, &HttpRequest::mcp_post(None, &huge)).await;
    assert_eq!(response.status, 413, "{}", response.describe());

    let response = send(&daemon, &HttpRequest::mcp_post(None, &initialize_request("2025-11-25"))).await;
    assert_eq!(response.status, 200, "initialize after a 413: {}", response.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_endpoints_describe_the_daemon() {
    let daemon = start().await;
    let (code, health) = daemon.get_json("/health").await;
    assert_eq!(code, 200, "{health}");
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(health["servers"]["total"], 1, "{health}");
    assert_eq!(health["servers"]["healthy"], 1, "{health}");
    assert_eq!(health["servers"]["unhealthy"], 0, "{health}");
    let alpha = &health["servers"]["details"][0];
    assert_eq!(alpha["name"], "alpha", "{health}");
    assert_eq!(alpha["status"], "ready", "{health}");
    assert_eq!(alpha["healthy"], true, "{health}");
    assert_eq!(alpha["tags"], json!(["fixture", "alpha"]), "{health}");

    let (code, live) = daemon.get_json("/health/live").await;
    assert_eq!((code, &live["status"]), (200, &json!("alive")), "{live}");

    let (code, ready) = daemon.get_json("/health/ready").await;
    assert_eq!((code, &ready["status"]), (200, &json!("ready")), "{ready}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_backend_is_reported_and_not_started() {
    let bin = fixture_server_bin!();
    let mut off = fixture_backend(bin, "off", &[]);
    off["disabled"] = json!(true);
    let config = mcp_config([("alpha", fixture_backend(bin, "alpha", &[])), ("off", off)]);
    let daemon = Daemon::start(&config).await;
    daemon.wait_ready().await;
    let (_, health) = daemon.get_json("/health").await;
    let details = health["servers"]["details"].as_array().cloned().unwrap_or_default();
    let off = details
        .iter()
        .find(|d| d["name"] == "off")
        .unwrap_or_else(|| panic!("disabled server missing from /health: {health}"));
    assert_eq!(off["status"], "disabled", "{health}");
    assert_eq!(health["status"], "healthy", "a disabled server does not degrade health: {health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_protocol_version_header_is_a_400() {
    let daemon = start().await;
    let session = open_session(&daemon).await;
    let list = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"});
    let request = HttpRequest::post("/mcp")
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .header("Mcp-Session-Id", &session)
        .header("MCP-Protocol-Version", "1999-01-01")
        .body(list.to_string().into_bytes());
    let response = send(&daemon, &request).await;
    assert_eq!(response.status, 400, "{}", response.describe());
    let reply = message(&response);
    assert!(reply["error"]["message"].as_str().is_some_and(|m| m.contains("1999-01-01")), "{reply}");
}

/// `--no-auth`, the one way to switch authentication off: this test is about what that does, so
/// it is where the daemon starts without auth. Any local client gets in without a token (raw
/// HTTP, rmcp, the legacy SSE stream), `/health` shows everything to anyone, and the operator is
/// warned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auth_any_local_client_gets_in_and_the_operator_is_warned() {
    let config = mcp_config([("alpha", fixture_backend(fixture_server_bin!(), "alpha", &[]))]);
    let daemon = Daemon::start_without_auth(&config, &[]).await;
    daemon.wait_ready().await;
    assert!(daemon.token.is_none(), "no harness token with auth off");

    let response = daemon.http(&HttpRequest::mcp_post(None, &initialize_request("2025-11-25"))).await.expect("answer");
    assert_eq!(response.status, 200, "initialize without a token: {}", response.describe());
    assert!(response.header("WWW-Authenticate").is_none(), "{}", response.describe());

    let client = onemcp_tests::mcp_client(&daemon.url).await.expect("an rmcp client without a token connects");
    let result = onemcp_tests::bounded(
        "echo without a token",
        client.call_tool(onemcp_tests::call_args("alpha_1mcp_echo", json!({"text": "open"}))),
    )
    .await
    .expect("echo answers");
    assert_eq!(onemcp_tests::tool_text(&result), "alpha: open");
    let _ = client.cancel().await;

    let (status, stream) = onemcp_tests::SseStream::open(daemon.port, "/sse", &[]).await.expect("GET /sse");
    assert_eq!(status, 200, "the legacy stream opens without a token");
    drop(stream);

    let response = daemon.http(&HttpRequest::get("/health")).await.expect("health");
    let health = response.json().unwrap_or_else(|e| panic!("not JSON ({e}): {}", response.describe()));
    assert_eq!(response.status, 200, "{health}");
    assert_eq!(health["servers"]["details"][0]["name"], "alpha", "the full document, to anyone: {health}");

    let warned: Vec<String> = daemon.stderr().lines().filter(|l| l.contains("WARN")).map(str::to_owned).collect();
    assert!(warned.iter().any(|l| l.contains("authentication is off")), "no warning that auth is off: {warned:#?}");
}

/// With authentication on, every method on a session is the session owner's: another valid
/// token gets 404 for its event stream (GET) and cannot end it (DELETE), and the session lives on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tokens_get_and_delete_do_not_reach_a_session() {
    let daemon = start().await;
    let session = open_session(&daemon).await;
    let dir = daemon.dir.path().to_string_lossy().into_owned();
    let minted = onemcp_tests::run_onemcp(
        &["token", "create", "-d", &dir, "--name", "other"],
        std::time::Duration::from_secs(10),
    );
    assert_eq!(minted.code, Some(0), "{}", minted.describe());
    let other = format!("Bearer {}", minted.stdout.trim());

    let stream = HttpRequest::get("/mcp")
        .header("Accept", "text/event-stream")
        .header("Mcp-Session-Id", &session)
        .header("MCP-Protocol-Version", "2025-11-25")
        .header("Authorization", &other);
    let response = raw_http_head(daemon.port, &stream).await.expect("GET /mcp head");
    assert_eq!(response.status, 404, "another token's GET: {}", response.describe());

    let delete = HttpRequest::delete("/mcp")
        .header("Mcp-Session-Id", &session)
        .header("MCP-Protocol-Version", "2025-11-25")
        .header("Authorization", &other);
    let response = daemon.http(&delete).await.expect("DELETE");
    assert_eq!(response.status, 404, "another token's DELETE: {}", response.describe());

    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let response = send(&daemon, &HttpRequest::mcp_post(Some(&session), &list)).await;
    assert_eq!(response.status, 200, "the owner's session lives on: {}", response.describe());
}
