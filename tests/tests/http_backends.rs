//! HTTP backends end to end: `1mcp` in front of the conformance fixture serving streamable
//! HTTP (`"type": "http"` held to a session, and a bare `url` in auto mode, which finds the
//! fixture's stateless revision), of a fixture that is killed and started again on the same port
//! (the lost session is noticed and re-initialized), of a server that speaks only the legacy
//! HTTP+SSE transport (a raw one here), reached through the auto fallback, and of real Python SDK
//! servers (`tests/py/http_server.py`) of each kind. The client is rmcp, declaring sampling.

// Sampling is what the fixture's `test_sampling` does; rmcp marks it deprecated (SEP-2577).
#![allow(deprecated)]

use onemcp_tests::{Daemon, bounded, call_args, mcp_config, tool_text};
use rmcp::model::{
    ClientCapabilities, ClientConfig, CreateMessageRequestParams, CreateMessageResult, ErrorData, Implementation,
    InitializeRequestParams, ProgressNotificationParam,
};
use rmcp::service::{NotificationContext, RequestContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

const CONFORMANCE_SERVER: &str = env!("CARGO_BIN_EXE_conformance-server");

/// The conformance fixture on `port` (0: any); returns it (killed on drop) and its URL.
async fn http_fixture(port: u16) -> (tokio::process::Child, String) {
    onemcp_tests::start_http_fixture(CONFORMANCE_SERVER, port).await
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().and_then(|rest| rest.split('/').next()).and_then(|p| p.parse().ok()).expect("a port")
}

/// An rmcp client that declares sampling, answers it, and records progress.
#[derive(Clone, Default)]
struct SamplingClient {
    progress: Arc<Mutex<Vec<f64>>>,
}

impl ClientHandler for SamplingClient {
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let prompt = serde_json::to_value(&params).unwrap_or_default()["messages"][0]["content"]["text"].clone();
        let result = json!({"model": "test-model", "role": "assistant",
            "content": {"type": "text", "text": format!("sampled {}", prompt.as_str().unwrap_or("?"))}});
        serde_json::from_value(result).map_err(|e| ErrorData::internal_error(e.to_string(), None))
    }

    async fn on_progress(&self, params: ProgressNotificationParam, _context: NotificationContext<RoleClient>) {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner).push(params.progress);
    }

    fn get_info(&self) -> ClientConfig {
        let capabilities: ClientCapabilities = serde_json::from_value(json!({"sampling": {}})).unwrap_or_default();
        InitializeRequestParams::new(capabilities, Implementation::new("http-backends-test", "1"))
    }
}

/// Connected to `daemon` with its harness token (authentication is on, as `1mcp serve` starts).
async fn sampling_client(daemon: &Daemon) -> (SamplingClient, RunningService<RoleClient, SamplingClient>) {
    let handler = SamplingClient::default();
    let http = reqwest::Client::builder().no_proxy().build().expect("HTTP client");
    let mut config = StreamableHttpClientTransportConfig::with_uri(daemon.url.as_str());
    if let Some(token) = &daemon.token {
        config = config.auth_header(token);
    }
    let transport = StreamableHttpClientTransport::with_client(http, config);
    let client = bounded("MCP initialize with 1mcp", handler.clone().serve(transport)).await.expect("initialize");
    (handler, client)
}

async fn tool_names<S: rmcp::Service<RoleClient>>(client: &RunningService<RoleClient, S>) -> Vec<String> {
    let tools = bounded("tools/list", client.list_all_tools()).await.expect("tools/list");
    tools.into_iter().map(|t| t.name.to_string()).collect()
}

async fn call_text<S: rmcp::Service<RoleClient>>(client: &RunningService<RoleClient, S>, name: &str) -> String {
    let result = bounded(name, client.call_tool(call_args(name, json!({})))).await;
    tool_text(&result.unwrap_or_else(|e| panic!("{name}: {e}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_and_auto_http_backends_list_call_report_progress_and_sample() {
    let (_fixture, url) = http_fixture(0).await;
    // The fixture speaks both eras: `typed` is held to a session, `auto` (all defaults) finds
    // the stateless revision and is called without one.
    let typed = json!({"type": "http", "url": url, "protocol": "legacy"});
    let config = mcp_config([("typed", typed), ("auto", json!({"url": url}))]);
    let daemon = Daemon::start(&config).await;
    daemon.wait_ready().await;
    let (handler, client) = sampling_client(&daemon).await;

    let names = tool_names(&client).await;
    for server in ["typed", "auto"] {
        let name = format!("{server}_1mcp_test_simple_text");
        assert!(names.contains(&name), "{name} missing from {names:?}");
        assert_eq!(call_text(&client, &name).await, "This is a simple text response for testing.");
    }

    // Progress from the backend's response stream reaches the client that asked for it.
    let params: rmcp::model::CallToolRequestParams = serde_json::from_value(
        json!({"name": "typed_1mcp_test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": "p-1"}}),
    )
    .expect("call params");
    bounded("progress tool", client.call_tool(params)).await.expect("progress tool");
    let deadline = Instant::now() + Duration::from_secs(5);
    while handler.progress.lock().unwrap_or_else(PoisonError::into_inner).len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(*handler.progress.lock().unwrap_or_else(PoisonError::into_inner), vec![0.0, 50.0, 100.0]);

    // A server-to-client request (sampling) crosses 1mcp both ways.
    for server in ["typed", "auto"] {
        let name = format!("{server}_1mcp_test_sampling");
        let result = bounded(&name, client.call_tool(call_args(&name, json!({"prompt": "2+2?"})))).await;
        assert_eq!(tool_text(&result.expect("sampling tool")), "LLM response: sampled 2+2?");
    }
    let _ = client.cancel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_loses_the_session_and_1mcp_initializes_again() {
    let (mut fixture, url) = http_fixture(0).await;
    // The fixture speaks both eras; sessions are what this is about.
    let config = mcp_config([("remote", json!({"type": "http", "url": url, "protocol": "legacy"}))]);
    let daemon = Daemon::start(&config).await;
    daemon.wait_ready().await;
    let (_handler, client) = sampling_client(&daemon).await;
    assert!(call_text(&client, "remote_1mcp_test_simple_text").await.contains("simple text"));

    let pid = fixture.id().expect("fixture pid");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).expect("pid"),
        rustix::process::Signal::KILL,
    )
    .expect("kill the fixture");
    bounded("the fixture's exit", fixture.wait()).await.expect("reap");
    let (_again, _) = http_fixture(port_of(&url)).await;

    // The new server knows nothing of the old session: 1mcp notices, restarts the backend
    // (which initializes afresh) and calls work again.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let result = bounded("call", client.call_tool(call_args("remote_1mcp_test_simple_text", json!({})))).await;
        match result {
            Ok(result) if tool_text(&result).contains("simple text") => break,
            Ok(result) => assert!(Instant::now() < deadline, "calls did not work again: {result:?}"),
            Err(e) => assert!(Instant::now() < deadline, "calls did not work again: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stderr = daemon.stderr();
    assert!(stderr.contains("the server lost the MCP session (HTTP 404)"), "{stderr}");
    let _ = client.cancel().await;
}

/// A minimal legacy HTTP+SSE (2024-11-05) MCP server on 127.0.0.1, in raw HTTP/1.1: `GET /sse`
/// opens the stream and names `/messages?sessionId=1`; each POST there is answered 202 and its
/// answer sent as a `message` event. It has one tool, `echo`. Anything else gets 405.
async fn legacy_sse_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::mpsc;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (events, mut queued) = mpsc::channel::<String>(64);
    let stream_slot = Arc::new(tokio::sync::Mutex::new(None::<tokio::net::TcpStream>));
    let slot = Arc::clone(&stream_slot);
    // One writer: every answer goes out on the (single) open stream, in order.
    tokio::spawn(async move {
        while let Some(data) = queued.recv().await {
            if let Some(stream) = slot.lock().await.as_mut() {
                let _ = stream.write_all(format!("event: message\ndata: {data}\n\n").as_bytes()).await;
            }
        }
    });
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let (events, slot) = (events.clone(), Arc::clone(&stream_slot));
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break end + 4;
                    }
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                if head.starts_with("get /sse ") {
                    let open = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\n";
                    let endpoint = "event: endpoint\ndata: /messages?sessionId=1\n\n";
                    if socket.write_all(format!("{open}{endpoint}").as_bytes()).await.is_ok() {
                        *slot.lock().await = Some(socket);
                    }
                    return;
                }
                if !head.starts_with("post /messages?sessionid=1 ") {
                    let _ = socket
                        .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                    return;
                }
                let _ =
                    socket.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                let message: Value = serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or_default();
                let result = match message["method"].as_str().unwrap_or_default() {
                    "initialize" => json!({"protocolVersion": "2024-11-05", "capabilities": {"tools": {}},
                        "serverInfo": {"name": "legacy-sse", "version": "1"}}),
                    "tools/list" => json!({"tools": [{"name": "echo", "description": "Echoes text",
                        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}}]}),
                    "tools/call" => json!({"content": [{"type": "text",
                        "text": format!("legacy: {}", message["params"]["arguments"]["text"].as_str().unwrap_or_default())}]}),
                    _ if message.get("id").is_none() => return,
                    _ => json!({}),
                };
                let _ = events.send(json!({"jsonrpc": "2.0", "id": message["id"], "result": result}).to_string()).await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/sse")
}

/// The spec's whole chain for a client of every era, with the server configured by its URL
/// alone: a stateless request (refused), then `initialize` (refused the same way), then the
/// legacy HTTP+SSE transport.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_sse_server_is_reached_through_the_auto_fallback() {
    let url = legacy_sse_server().await;
    let daemon = Daemon::start(&mcp_config([("legacy", json!({"url": url}))])).await;
    daemon.wait_ready().await;
    let (_handler, client) = sampling_client(&daemon).await;
    let names = tool_names(&client).await;
    assert_eq!(names, ["legacy_1mcp_echo"]);
    let result = bounded("echo", client.call_tool(call_args("legacy_1mcp_echo", json!({"text": "via sse"})))).await;
    assert_eq!(tool_text(&result.expect("echo")), "legacy: via sse");
    let stderr = daemon.stderr();
    let asked = stderr.find("opening a session with the server: it answered server/discover with");
    let fell_back = stderr.find("not a streamable-HTTP server; trying legacy HTTP+SSE");
    assert!(asked.zip(fell_back).is_some_and(|(asked, fell_back)| asked < fell_back), "{stderr}");
    let _ = client.cancel().await;
}

/// `tests/py/http_server.py` (a real Python SDK server, `mcp` 2.3) serving `transport`; killed
/// when dropped. `None` (the test skips loudly, or fails under `CI=true`) without the Python
/// tooling from `tests/js/setup.sh`.
struct PyServer {
    url: String,
    _child: tokio::process::Child,
}

impl PyServer {
    async fn start(test: &str, transport: &str) -> Option<PyServer> {
        let python = onemcp_tests::js::python_binary();
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("py/http_server.py");
        onemcp_tests::js::require_tool(test, &[&python, &script])?;
        let mut child = tokio::process::Command::new(python)
            .arg(&script)
            .arg(transport)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn http_server.py");
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let read = tokio::io::AsyncBufReadExt::read_line(&mut stdout, &mut line);
        bounded("http_server.py's `listening on` line", read).await.expect("read its stdout");
        let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected: {line:?}"));
        Some(PyServer { url: url.to_owned(), _child: child })
    }
}

/// 1mcp with the Python server at `url` as `py` (`extra` keys beside the URL), a client calling
/// its tool through 1mcp; 1mcp's log.
async fn py_echo_through_1mcp(url: &str, extra: Value) -> String {
    let mut entry = json!({"url": url});
    if let (Some(entry), Some(extra)) = (entry.as_object_mut(), extra.as_object()) {
        entry.extend(extra.clone());
    }
    let daemon = Daemon::start(&mcp_config([("py", entry)])).await;
    daemon.wait_ready().await;
    let (_handler, client) = sampling_client(&daemon).await;
    assert_eq!(tool_names(&client).await, ["py_1mcp_py_echo"]);
    let result = bounded("py_echo", client.call_tool(call_args("py_1mcp_py_echo", json!({"text": "hi"})))).await;
    assert_eq!(tool_text(&result.expect("py_echo")), "py: hi");
    let _ = client.cancel().await;
    daemon.stderr()
}

/// With nothing but its URL configured, each kind of real Python SDK server is reached the way
/// the spec's era detection finds: its streamable endpoint answers the stateless question (the
/// SDK speaks 2026-07-28 there), its legacy SSE endpoint refuses it and `initialize` alike and is
/// reached over HTTP+SSE; pinned to `legacy`, the streamable one gives each client a session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_python_sdk_servers_are_reached_in_the_era_they_speak() {
    let test = "real_python_sdk_servers_are_reached_in_the_era_they_speak";
    let Some(streamable) = PyServer::start(test, "streamable-http").await else { return };
    let Some(sse) = PyServer::start(test, "sse").await else { return };

    let log = py_echo_through_1mcp(&streamable.url, json!({})).await;
    assert!(log.contains("the server speaks the stateless revision"), "{log}");

    let log = py_echo_through_1mcp(&sse.url, json!({})).await;
    let asked = log.find("opening a session with the server: it answered server/discover with");
    let fell_back = log.find("not a streamable-HTTP server; trying legacy HTTP+SSE");
    assert!(asked.zip(fell_back).is_some_and(|(asked, fell_back)| asked < fell_back), "{log}");

    let log = py_echo_through_1mcp(&streamable.url, json!({"protocol": "legacy"})).await;
    assert!(!log.contains("server/discover"), "pinned: not asked: {log}");
    assert!(log.contains("starting a per-session instance"), "{log}");
}
