use super::*;
use serde_json::json;
use tokio::io::AsyncReadExt;

fn ev(data: &str) -> Result<SseEvent, TransportError> {
    Ok(SseEvent { event: Some("message".into()), data: data.into() })
}

/// A daemon in a box: answers like the hub, records every request.
#[derive(Clone, Default)]
struct Fake {
    log: Arc<Mutex<Vec<BridgeRequest>>>,
}

impl Fake {
    fn requests(&self) -> Vec<BridgeRequest> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Transport for Fake {
    fn send(&self, request: BridgeRequest) -> impl Future<Output = Result<Reply, TransportError>> + Send + 'static {
        self.log.lock().unwrap_or_else(PoisonError::into_inner).push(request.clone());
        let complete = |status, body: &str| Reply {
            status,
            session_id: None,
            body: ReplyBody::Complete(body.as_bytes().to_vec()),
        };
        let reply = match request.verb {
            Verb::Get => Ok(Reply {
                status: 200,
                session_id: request.session_id.clone(),
                // One server notification, then a stream that stays open.
                body: ReplyBody::Events(Box::pin(
                    futures_util::stream::iter([ev(
                        r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#,
                    )])
                    .chain(futures_util::stream::pending()),
                )),
            }),
            Verb::Delete => Ok(complete(200, "")),
            Verb::Post => {
                let envelope = Envelope::read(&request.body);
                match (envelope.method.as_deref(), envelope.id) {
                    (Some("initialize"), Some(id)) => Ok(Reply {
                        session_id: Some("s-1".into()),
                        ..complete(
                            200,
                            &json!({"jsonrpc":"2.0","id":id,"result":{"protocolVersion":"2025-06-18"}}).to_string(),
                        )
                    }),
                    (Some("tools/call"), Some(id)) => Ok(Reply {
                        status: 200,
                        session_id: None,
                        body: ReplyBody::Events(Box::pin(futures_util::stream::iter([
                            ev(r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}"#),
                            ev(&json!({"jsonrpc":"2.0","id":id,"result":{"content":[]}}).to_string()),
                        ]))),
                    }),
                    (Some("boom"), Some(_)) => Err(TransportError::Unreachable("connection refused".into())),
                    (Some("subscriptions/listen"), Some(id)) => Ok(Reply {
                        status: 200,
                        session_id: None,
                        // The acknowledgement, then a stream that stays open until it is closed.
                        body: ReplyBody::Events(Box::pin(
                            futures_util::stream::iter([ev(&json!({"jsonrpc":"2.0",
                                "method":"notifications/subscriptions/acknowledged",
                                "params":{"notifications":{},"_meta":{"io.modelcontextprotocol/subscriptionId":id}}})
                            .to_string())])
                            .chain(futures_util::stream::pending()),
                        )),
                    }),
                    (Some(_), None) => Ok(complete(202, "")),
                    (Some(_), Some(id)) => Ok(complete(200, &json!({"jsonrpc":"2.0","id":id,"result":{}}).to_string())),
                    (None, _) => Ok(complete(
                        400,
                        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#,
                    )),
                }
            }
        };
        async move { reply }
    }
}

async fn bridge(fake: Fake, input: &str) -> (Result<Ended, DaemonGone>, Vec<Value>) {
    let config =
        BridgeConfig { query: "tags=a&pagination=true".into(), max_line_bytes: 1024, drain: Duration::from_secs(2) };
    let (writer, mut reader) = tokio::io::duplex(1 << 16);
    let input = std::io::Cursor::new(input.as_bytes().to_vec());
    let outcome =
        tokio::time::timeout(Duration::from_secs(10), run(fake, config, input, writer, std::future::pending::<()>()))
            .await
            .unwrap_or(Err(DaemonGone("bridge did not finish".into())));
    let mut text = String::new();
    let _ = reader.read_to_string(&mut text).await;
    let lines = text.lines().map(|l| serde_json::from_str(l).unwrap_or(Value::String(l.into()))).collect();
    (outcome, lines)
}

#[tokio::test]
async fn a_session_round_trip() {
    let fake = Fake::default();
    let input = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        "",
        r#"{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"x"}}"#,
        "{not json",
    ]
    .join("\n");
    let (outcome, lines) = bridge(fake.clone(), &input).await;
    assert_eq!(outcome, Ok(Ended::InputClosed));
    assert_eq!(lines[0]["id"], 1, "initialize answered first: {lines:?}");
    let position = |pred: &dyn Fn(&Value) -> bool| lines.iter().position(pred);
    let progress = position(&|l| l["method"] == "notifications/progress");
    let call = position(&|l| l["id"] == "c");
    assert!(progress.is_some() && progress < call, "progress before its response: {lines:?}");
    assert!(position(&|l| l["error"]["code"] == -32700).is_some(), "parse error forwarded: {lines:?}");
    assert!(position(&|l| l["method"] == "notifications/tools/list_changed").is_some(), "server stream: {lines:?}");
    assert_eq!(lines.len(), 5, "{lines:?}");

    let requests = fake.requests();
    let init = &requests[0];
    assert_eq!((init.verb, init.session_id.as_deref(), init.protocol_version.as_deref()), (Verb::Post, None, None));
    assert!(requests.iter().all(|r| r.query == "tags=a&pagination=true"));
    let later: Vec<&BridgeRequest> = requests[1..].iter().collect();
    assert!(
        later
            .iter()
            .all(|r| r.session_id.as_deref() == Some("s-1") && r.protocol_version.as_deref() == Some("2025-06-18")),
        "session headers after initialize"
    );
    assert_eq!(later.iter().filter(|r| r.verb == Verb::Get).count(), 1, "one server stream");
    assert_eq!(requests.last().map(|r| r.verb), Some(Verb::Delete), "session ended at EOF");
}

#[tokio::test]
async fn an_unreachable_daemon_answers_the_request_and_fails_the_run() {
    let (outcome, lines) = bridge(Fake::default(), "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"boom\"}\n").await;
    assert_eq!(outcome, Err(DaemonGone("connection refused".into())));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!((&lines[0]["id"], &lines[0]["error"]["code"]), (&json!(7), &json!(INTERNAL_ERROR)));
    assert!(lines[0]["error"]["message"].as_str().is_some_and(|m| m.contains("unreachable")));
}

#[tokio::test]
async fn stateless_requests_go_without_a_session_and_a_cancelled_listen_is_closed_not_posted() {
    let fake = Fake::default();
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let input = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta}}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "x", "_meta": meta}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "subscriptions/listen", "params": {"notifications": {}, "_meta": meta}}),
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}}),
    ]
    .map(|m| m.to_string())
    .join("\n");
    let (outcome, lines) = bridge(fake.clone(), &input).await;
    assert_eq!(outcome, Ok(Ended::InputClosed));
    assert!(lines.iter().any(|l| l["id"] == 1) && lines.iter().any(|l| l["id"] == 2), "{lines:?}");
    // Had the cancellation not closed the listen, it would still be open at the end of input
    // and be abandoned with an error for id 3.
    assert!(lines.iter().all(|l| l["id"] != 3), "an ended listen gets no error: {lines:?}");
    let requests = fake.requests();
    assert_eq!(
        requests.len(),
        3,
        "the cancellation closes the listen, it is not POSTed: {:?}",
        requests.iter().map(|r| String::from_utf8_lossy(&r.body).into_owned()).collect::<Vec<_>>()
    );
    for request in &requests {
        assert_eq!((request.verb, request.session_id.as_deref()), (Verb::Post, None), "no session, no GET, no DELETE");
        assert_eq!(request.protocol_version.as_deref(), Some("2026-07-28"));
    }
    let call = &requests[1].mcp_headers;
    assert!(
        call.contains(&("Mcp-Method".into(), "tools/call".into())) && call.contains(&("Mcp-Name".into(), "x".into())),
        "{call:?}"
    );
}
