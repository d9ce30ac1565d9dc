use super::legacy_sse::resolve_endpoint;
use super::*;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use onemcp_core::config::HttpFlavor;
use onemcp_core::http_link::{SESSION_LOST, STOPPED};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::timeout;

fn uri(text: &str) -> Uri {
    match text.parse() {
        Ok(uri) => uri,
        Err(e) => panic!("{text}: {e}"),
    }
}

#[test]
fn the_endpoint_event_resolves_against_the_stream_url() {
    let base = uri("http://127.0.0.1:8080/mcp/sse?key=1");
    let resolved = |endpoint: &str| resolve_endpoint(&base, endpoint).map(|u| u.to_string());
    assert_eq!(resolved("/messages?sessionId=abc").as_deref(), Ok("http://127.0.0.1:8080/messages?sessionId=abc"));
    assert_eq!(resolved("messages?sessionId=abc").as_deref(), Ok("http://127.0.0.1:8080/mcp/messages?sessionId=abc"));
    assert_eq!(resolved("./a/../b/./messages").as_deref(), Ok("http://127.0.0.1:8080/mcp/b/messages"));
    assert_eq!(resolved("../../../messages").as_deref(), Ok("http://127.0.0.1:8080/messages"));
    assert_eq!(resolved("?sessionId=1").as_deref(), Ok("http://127.0.0.1:8080/mcp/sse?sessionId=1"));
    assert_eq!(resolved("http://127.0.0.1:8080/m?s=1").as_deref(), Ok("http://127.0.0.1:8080/m?s=1"));
    assert_eq!(resolved("//127.0.0.1:8080/m").as_deref(), Ok("http://127.0.0.1:8080/m"));
    // Credentials go with every POST: another origin is refused.
    for elsewhere in ["http://evil.example/m", "//evil.example/m", "https://127.0.0.1:8080/m", "http://127.0.0.1:9/m"] {
        let refused = resolved(elsewhere);
        assert!(refused.as_ref().is_err_and(|e| e.contains("another origin")), "{elsewhere}: {refused:?}");
    }
    assert!(resolved("").is_err());
    // Messages name the stream without its query.
    assert!(resolved("").is_err_and(|e| e.contains("http://127.0.0.1:8080/mcp/sse") && !e.contains("key=1")));
}

// What a refused first POST means (the fallback to legacy SSE) is core's: http_link's tests.

#[test]
fn configured_headers_never_show_their_values() {
    let secret = "Bearer sk-very-secret";
    let headers = BTreeMap::from([
        ("Authorization".to_owned(), secret.to_owned()),
        ("X-Team".to_owned(), "blue".to_owned()),
        ("Accept".to_owned(), "text/html".to_owned()),
    ]);
    let parsed = ConfigHeaders::new(&headers);
    let shown = format!("{parsed:?}");
    assert_eq!(shown, r#"Ok(["authorization", "x-team"])"#, "reserved names are dropped, values never shown");
    assert!(parsed.is_ok_and(|h| h.0.iter().all(|(_, v)| v.is_sensitive())));
    let bad = BTreeMap::from([("Authorization".to_owned(), "Bearer sk-x\nInjected: 1".to_owned())]);
    let error = ConfigHeaders::new(&bad).err().unwrap_or_default();
    assert!(error.contains("\"Authorization\"") && !error.contains("sk-x"), "{error}");
    let bad_name = BTreeMap::from([("Bad Name".to_owned(), "v".to_owned())]);
    assert!(ConfigHeaders::new(&bad_name).is_err_and(|e| e.contains("Bad Name")));
}

#[test]
fn urls_in_messages_carry_no_credentials_or_query() {
    assert_eq!(shown_url(&uri("https://user:pw@api.example.com/mcp?token=abc")), "https://api.example.com/mcp");
    assert_eq!(shown_url(&uri("http://127.0.0.1:3000/mcp")), "http://127.0.0.1:3000/mcp");
    assert!(endpoint_uri("ftp://x/y").is_err_and(|e| e.contains("only http")));
    assert!(endpoint_uri("http:///nohost").is_err());
    assert!(endpoint_uri("not a url").is_err());
    assert!(endpoint_uri("https://example.com/mcp").is_ok());
}

/// What the fake server saw: (method, session header, protocol header, x-team header).
type Seen = Arc<Mutex<Vec<(String, Option<String>, Option<String>, Option<String>)>>>;

/// A streamable-HTTP server in a box: `initialize` creates session `s1`; `boom` gets an HTML
/// 500; `lost` gets the 404 of a forgotten session; everything else is echoed as a result.
async fn fake_server(seen: Seen) -> String {
    let app = axum::Router::new().route(
        "/mcp",
        post(move |headers: HeaderMap, body: String| {
            let seen = Arc::clone(&seen);
            async move {
                let message: Value = serde_json::from_str(&body).unwrap_or_default();
                let method = message["method"].as_str().unwrap_or_default().to_owned();
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
                seen.lock().unwrap_or_else(PoisonError::into_inner).push((
                    method.clone(),
                    header("mcp-session-id"),
                    header("mcp-protocol-version"),
                    header("x-team"),
                ));
                let json = |status: u16, body: Value, session: bool| {
                    let mut response = axum::response::Response::new(axum::body::Body::from(body.to_string()));
                    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                    response.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
                    if session {
                        response.headers_mut().insert("mcp-session-id", HeaderValue::from_static("s1"));
                    }
                    response
                };
                match method.as_str() {
                    "initialize" => json(
                        200,
                        json!({"jsonrpc": "2.0", "id": message["id"], "result": {"protocolVersion": "2025-06-18"}}),
                        true,
                    ),
                    "boom" => {
                        let mut response = json(500, json!(null), false);
                        *response.body_mut() = axum::body::Body::from("<html>\n\u{1b}[31mboom</html>");
                        response
                    }
                    "lost" => json(404, json!(null), false),
                    _ if message.get("id").is_none() => json(202, json!(null), false),
                    _ => json(200, json!({"jsonrpc": "2.0", "id": message["id"], "result": {"echo": method}}), false),
                }
            }
        }),
    );
    serve(app).await
}

/// Serves `app` on a free loopback port; its `/mcp` URL.
async fn serve(app: axum::Router) -> String {
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(listener) => listener,
        Err(e) => panic!("bind: {e}"),
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://127.0.0.1:{port}/mcp")
}

async fn next(rx: &mut mpsc::Receiver<Input>) -> Input {
    match timeout(Duration::from_secs(10), rx.recv()).await {
        Ok(Some(input)) => input,
        other => panic!("no backend event: {other:?}"),
    }
}

fn line_of(input: Input) -> Value {
    match input {
        Input::BackendLine { line, .. } => serde_json::from_str(&line).unwrap_or_default(),
        other => panic!("expected a line, got {other:?}"),
    }
}

fn config(url: &str) -> HttpConfig {
    HttpConfig {
        url: url.to_owned(),
        flavor: HttpFlavor::Streamable,
        headers: BTreeMap::from([("X-Team".to_owned(), "blue".to_owned())]),
        oauth: None,
    }
}

#[tokio::test]
async fn streamable_session_errors_and_a_lost_session() {
    let seen = Seen::default();
    let url = fake_server(Arc::clone(&seen)).await;
    let (tx, mut rx) = mpsc::channel(16);
    let handle = connect(&BackendKey::server("t"), Gen(1), &config(&url), None, 1024, tx);
    let Ok(handle) = handle else { panic!("connect failed") };
    assert!(matches!(next(&mut rx).await, Input::BackendSpawned { pid: None, .. }));
    let write = |line: Value| assert_eq!(handle.write(line.to_string()), Ok(()));
    write(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}));
    assert_eq!(line_of(next(&mut rx).await)["result"]["protocolVersion"], "2025-06-18");
    write(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    write(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    assert_eq!(line_of(next(&mut rx).await), json!({"jsonrpc": "2.0", "id": 1, "result": {"echo": "tools/list"}}));
    // An HTTP error becomes the request's error response, naming the status, body cleaned up.
    write(json!({"jsonrpc": "2.0", "id": "b", "method": "boom"}));
    let error = line_of(next(&mut rx).await);
    assert_eq!(error["id"], "b");
    assert_eq!(error["error"]["message"], "the server answered HTTP 500: <html>  [31mboom</html>");
    // 404 to a request carrying the session: the connection is over.
    write(json!({"jsonrpc": "2.0", "id": 2, "method": "lost"}));
    match next(&mut rx).await {
        Input::BackendExited { status, .. } => assert_eq!(status.reason.as_deref(), Some(SESSION_LOST)),
        other => panic!("expected the exit, got {other:?}"),
    }
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let s1 = |m: &str| (m.to_owned(), Some("s1".to_owned()), Some("2025-06-18".to_owned()), Some("blue".to_owned()));
    assert_eq!(seen[0], ("initialize".to_owned(), None, None, Some("blue".to_owned())));
    // Only notifications/initialized and later carry the session (the GET stream is not a POST).
    assert!(seen[1..].iter().all(|s| *s == s1(&s.0)), "{seen:?}");
    assert_eq!(seen.len(), 5, "{seen:?}");
}

#[tokio::test]
async fn an_unreachable_server_fails_the_start_naming_the_url_without_secrets() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
    let Ok(port) = port else { return };
    let (tx, mut rx) = mpsc::channel(16);
    let url = format!("http://127.0.0.1:{port}/mcp?api_key=hunter2");
    let Ok(handle) = connect(&BackendKey::server("t"), Gen(1), &config(&url), None, 1024, tx) else {
        panic!("connect failed")
    };
    assert!(matches!(next(&mut rx).await, Input::BackendSpawned { .. }));
    assert_eq!(handle.write(r#"{"jsonrpc":"2.0","id":0,"method":"initialize"}"#.into()), Ok(()));
    match next(&mut rx).await {
        Input::BackendSpawnFailed { error, .. } => {
            assert!(error.starts_with(&format!("cannot reach http://127.0.0.1:{port}/mcp: ")), "{error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
        other => panic!("expected a failed start, got {other:?}"),
    }
}

#[tokio::test]
async fn stop_reports_stopped_promptly() {
    let url = fake_server(Seen::default()).await;
    let (tx, mut rx) = mpsc::channel(16);
    let Ok(mut handle) = connect(&BackendKey::server("t"), Gen(1), &config(&url), None, 1024, tx) else {
        panic!("connect failed")
    };
    assert!(matches!(next(&mut rx).await, Input::BackendSpawned { .. }));
    handle.stop();
    match next(&mut rx).await {
        Input::BackendExited { status, .. } => assert_eq!(status.reason.as_deref(), Some(STOPPED)),
        other => panic!("expected the exit, got {other:?}"),
    }
}

/// What a stateless server saw of each POST: (method, MCP-Protocol-Version, Mcp-Method, Mcp-Name).
type SeenHeaders = Arc<Mutex<Vec<(String, Option<String>, Option<String>, Option<String>)>>>;

/// Set when the body of a listen stream is dropped: the client closed it.
struct Closed(Arc<std::sync::atomic::AtomicBool>);

impl Drop for Closed {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A stateless (2026-07-28) server in a box: no session; `subscriptions/listen` answers with an
/// event stream that stays open (its acknowledgement first) until the client closes it.
async fn stateless_server(seen: SeenHeaders, closed: Arc<std::sync::atomic::AtomicBool>) -> String {
    let app = axum::Router::new().route(
        "/mcp",
        post(move |headers: HeaderMap, body: String| {
            let (seen, closed) = (Arc::clone(&seen), Arc::clone(&closed));
            async move {
                let message: Value = serde_json::from_str(&body).unwrap_or_default();
                let method = message["method"].as_str().unwrap_or_default().to_owned();
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
                let entry = (method.clone(), header("mcp-protocol-version"), header("mcp-method"), header("mcp-name"));
                seen.lock().unwrap_or_else(PoisonError::into_inner).push(entry);
                if method == "subscriptions/listen" {
                    let ack = json!({"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
                        "params": {"notifications": {}}});
                    let guard = Closed(closed);
                    let first = futures_util::stream::once(async move {
                        Ok::<_, std::io::Error>(Bytes::from(format!("event: message\ndata: {ack}\n\n")))
                    });
                    let open = futures_util::StreamExt::map(
                        futures_util::stream::pending::<Result<Bytes, std::io::Error>>(),
                        move |b| {
                            let _keep = &guard;
                            b
                        },
                    );
                    let body = axum::body::Body::from_stream(futures_util::StreamExt::chain(first, open));
                    let mut response = axum::response::Response::new(body);
                    response.headers_mut().insert("content-type", HeaderValue::from_static("text/event-stream"));
                    return response;
                }
                let answer = match message.get("id") {
                    Some(id) => {
                        json!({"jsonrpc": "2.0", "id": id, "result": {"resultType": "complete", "echo": method}})
                    }
                    None => {
                        return axum::response::Response::builder()
                            .status(202)
                            .body(axum::body::Body::empty())
                            .unwrap_or_default();
                    }
                };
                let mut response = axum::response::Response::new(axum::body::Body::from(answer.to_string()));
                response.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
                response
            }
        }),
    );
    serve(app).await
}

#[tokio::test]
async fn stateless_requests_carry_their_revision_and_metadata_headers_and_a_cancelled_listen_is_closed() {
    let (seen, closed) = (SeenHeaders::default(), Arc::new(std::sync::atomic::AtomicBool::new(false)));
    let url = stateless_server(Arc::clone(&seen), Arc::clone(&closed)).await;
    let (tx, mut rx) = mpsc::channel(16);
    let Ok(handle) = connect(&BackendKey::server("t"), Gen(1), &config(&url), None, 1024, tx) else {
        panic!("connect failed")
    };
    assert!(matches!(next(&mut rx).await, Input::BackendSpawned { .. }));
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let write = |line: Value| assert_eq!(handle.write(line.to_string()), Ok(()));
    write(json!({"jsonrpc": "2.0", "id": 0, "method": "server/discover", "params": {"_meta": meta}}));
    assert_eq!(line_of(next(&mut rx).await)["result"]["echo"], "server/discover", "no initialize needed");
    write(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "_meta": meta}}));
    assert_eq!(line_of(next(&mut rx).await)["id"], 1);
    write(
        json!({"jsonrpc": "2.0", "id": 2, "method": "subscriptions/listen", "params": {"notifications": {}, "_meta": meta}}),
    );
    assert_eq!(line_of(next(&mut rx).await)["method"], "notifications/subscriptions/acknowledged");
    assert!(!closed.load(std::sync::atomic::Ordering::SeqCst), "the listen stream stays open");
    write(json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2}}));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !closed.load(std::sync::atomic::Ordering::SeqCst) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(closed.load(std::sync::atomic::Ordering::SeqCst), "cancelling the listen closes its stream");
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let revision = Some("2026-07-28".to_owned());
    assert_eq!(seen[0], ("server/discover".to_owned(), revision.clone(), Some("server/discover".to_owned()), None));
    assert_eq!(
        seen[1],
        ("tools/call".to_owned(), revision.clone(), Some("tools/call".to_owned()), Some("echo".to_owned()))
    );
    assert_eq!(seen[2].1, revision, "the listen too");
}

#[tokio::test]
async fn an_answer_stream_that_ends_early_is_resumed_with_last_event_id_after_the_servers_retry() {
    let gets = Arc::new(Mutex::new(Vec::<(Option<String>, std::time::Instant)>::new()));
    let ended = Arc::new(Mutex::new(None::<std::time::Instant>));
    let sse = |body: String| {
        let mut response = axum::response::Response::new(axum::body::Body::from(body));
        response.headers_mut().insert("content-type", HeaderValue::from_static("text/event-stream"));
        response
    };
    let (gets_seen, ended_at) = (Arc::clone(&gets), Arc::clone(&ended));
    let app = axum::Router::new().route(
        "/mcp",
        post(move |body: String| {
            let ended_at = Arc::clone(&ended_at);
            async move {
                let message: Value = serde_json::from_str(&body).unwrap_or_default();
                if message["method"] == "initialize" {
                    let result =
                        json!({"jsonrpc": "2.0", "id": message["id"], "result": {"protocolVersion": "2025-11-25"}});
                    let mut response = axum::response::Response::new(axum::body::Body::from(result.to_string()));
                    response.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
                    return response;
                }
                // A priming event (an id, a retry, no data), then the stream ends without the answer.
                *ended_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(std::time::Instant::now());
                sse("id: ev-1\nretry: 300\ndata:\n\n".to_owned())
            }
        })
        .get(move |headers: HeaderMap| {
            let gets_seen = Arc::clone(&gets_seen);
            async move {
                let last = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
                gets_seen
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((last.clone(), std::time::Instant::now()));
                match last {
                    Some(_) => sse(format!(
                        "id: ev-2\ndata: {}\n\n",
                        json!({"jsonrpc": "2.0", "id": 1, "result": {"resumed": true}})
                    )),
                    None => axum::response::Response::builder()
                        .status(405)
                        .body(axum::body::Body::empty())
                        .unwrap_or_default(),
                }
            }
        }),
    );
    let url = serve(app).await;
    let (tx, mut rx) = mpsc::channel(16);
    let config = HttpConfig { url, flavor: HttpFlavor::Streamable, headers: BTreeMap::new(), oauth: None };
    let Ok(handle) = connect(&BackendKey::server("t"), Gen(1), &config, None, 4096, tx) else {
        panic!("connect failed")
    };
    assert!(matches!(next(&mut rx).await, Input::BackendSpawned { .. }));
    assert_eq!(
        handle.write(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}).to_string()),
        Ok(())
    );
    assert_eq!(line_of(next(&mut rx).await)["id"], 0);
    assert_eq!(
        handle.write(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {}}).to_string()),
        Ok(())
    );
    assert_eq!(line_of(next(&mut rx).await), json!({"jsonrpc": "2.0", "id": 1, "result": {"resumed": true}}));
    let gets = gets.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let resumed: Vec<_> = gets.iter().filter(|(last, _)| last.is_some()).collect();
    assert_eq!(resumed.len(), 1, "{gets:?}");
    assert_eq!(resumed[0].0.as_deref(), Some("ev-1"));
    let ended = ended.lock().unwrap_or_else(PoisonError::into_inner).expect("the POST was answered");
    assert!(resumed[0].1.duration_since(ended) >= Duration::from_millis(300), "the server's retry is waited for");
}

/// A session server whose GET stream answers `get_delay` late (never, if `None`) and then stays
/// open; it notes when each POST arrived and when the GET was answered.
async fn slow_stream_server(get_delay: Option<Duration>, log: Arc<Mutex<Vec<(String, std::time::Instant)>>>) -> String {
    let note = |log: &Arc<Mutex<Vec<(String, std::time::Instant)>>>, what: String| {
        log.lock().unwrap_or_else(PoisonError::into_inner).push((what, std::time::Instant::now()));
    };
    let (posts, gets) = (Arc::clone(&log), log);
    let app = axum::Router::new().route(
        "/mcp",
        post(move |body: String| {
            let posts = Arc::clone(&posts);
            async move {
                let message: Value = serde_json::from_str(&body).unwrap_or_default();
                note(&posts, message["method"].as_str().unwrap_or_default().to_owned());
                let answer = match message.get("id") {
                    None => {
                        let accepted = axum::response::Response::builder().status(202);
                        return accepted.body(axum::body::Body::empty()).unwrap_or_default();
                    }
                    Some(id) => json!({"jsonrpc": "2.0", "id": id, "result": {"protocolVersion": "2025-11-25"}}),
                };
                axum::response::Response::builder()
                    .header("content-type", "application/json")
                    .header("mcp-session-id", "s1")
                    .body(axum::body::Body::from(answer.to_string()))
                    .unwrap_or_default()
            }
        })
        .get(move || {
            let gets = Arc::clone(&gets);
            async move {
                match get_delay {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => std::future::pending().await,
                }
                note(&gets, "GET answered".to_owned());
                let open = futures_util::stream::pending::<Result<Bytes, std::convert::Infallible>>();
                axum::response::Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(axum::body::Body::from_stream(open))
                    .unwrap_or_default()
            }
        }),
    );
    serve(app).await
}

/// Initializes a session with the server at `url`, then writes a `tools/call` at once; the
/// instant it was written.
async fn initialize_then_call(url: String) -> (BackendHandle, mpsc::Receiver<Input>, std::time::Instant) {
    let (tx, mut rx) = mpsc::channel(16);
    let config = HttpConfig { url, flavor: HttpFlavor::Streamable, headers: BTreeMap::new(), oauth: None };
    let Ok(handle) = connect(&BackendKey::server("t"), Gen(1), &config, None, 4096, tx) else {
        panic!("connect failed")
    };
    assert!(matches!(next(&mut rx).await, Input::BackendSpawned { .. }));
    let write = |line: Value| assert_eq!(handle.write(line.to_string()), Ok(()));
    write(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}));
    assert_eq!(line_of(next(&mut rx).await)["id"], 0);
    write(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    let written = std::time::Instant::now();
    write(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "ask"}}));
    (handle, rx, written)
}

/// When `what` happened, per the server's log.
fn seen_at(log: &Mutex<Vec<(String, std::time::Instant)>>, what: &str) -> Option<std::time::Instant> {
    log.lock().unwrap_or_else(PoisonError::into_inner).iter().find(|(w, _)| w == what).map(|(_, at)| *at)
}

#[tokio::test]
async fn a_sessions_first_requests_wait_until_its_stream_is_open() {
    // A server may send a request tied to no request of ours (an elicitation during a call) on
    // the session's stream only: the call must not reach it before that stream is open.
    let log = Arc::default();
    let url = slow_stream_server(Some(Duration::from_millis(400)), Arc::clone(&log)).await;
    let (handle, mut rx, _) = initialize_then_call(url).await;
    assert_eq!(line_of(next(&mut rx).await)["id"], 1);
    let answered = seen_at(&log, "GET answered").expect("the stream was opened");
    let called = seen_at(&log, "tools/call").expect("the call arrived");
    assert!(called >= answered, "the call went before the stream was open: {log:?}");
    drop(handle);
}

#[tokio::test]
async fn a_stream_that_never_answers_holds_requests_back_for_the_bounded_wait_only() {
    let log = Arc::default();
    let url = slow_stream_server(None, Arc::clone(&log)).await;
    let (handle, mut rx, written) = initialize_then_call(url).await;
    assert_eq!(line_of(next(&mut rx).await)["id"], 1);
    let called = seen_at(&log, "tools/call").expect("the call arrived");
    let waited = called.duration_since(written);
    assert!(waited >= onemcp_core::http_link::STREAM_WAIT, "{waited:?}");
    assert!(waited < CONNECT_TIMEOUT, "bounded by the wait, not by the GET's own deadline: {waited:?}");
    drop(handle);
}
