//! Stateless (2026-07-28) requests: refused where the spec says so, lists and discovery served
//! without a session, and calls routed under a record that ends with the request, attributed
//! exactly as a session's calls are.

use super::*;
use crate::jsonrpc::code;

/// The `_meta` a modern request carries: the revision, the client's capabilities and, if
/// given, the level of log messages it wants.
fn modern_meta(capabilities: Value, log_level: Option<&str>) -> Value {
    let mut meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": capabilities});
    if let Some(level) = log_level {
        meta["io.modelcontextprotocol/logLevel"] = json!(level);
    }
    meta
}

/// Send a modern request (the right header, no session) and return its exchange.
fn send_modern(h: &mut Harness, id: Value, method: &str, mut params: Value, meta: Value) -> ExchangeId {
    params["_meta"] = meta;
    let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let request = h.modern_request(Some("2026-07-28"), &message);
    h.send(request)
}

/// A POST to `/mcp?query` without a session, carrying `version` in the MCP-Protocol-Version header.
fn stateless_post_at(h: &mut Harness, query: &str, version: Option<&str>, message: Value) -> (u16, Value) {
    let request = HttpRequest { query: query.into(), ..h.modern_request(version, &message) };
    let exchange = h.send(request);
    h.json_response(exchange)
}

/// [`stateless_post_at`] with no query.
fn stateless_post(h: &mut Harness, version: Option<&str>, message: Value) -> (u16, Value) {
    stateless_post_at(h, "", version, message)
}

#[test]
fn modern_requests_the_spec_refuses_are_refused_beside_legacy_sessions() {
    let mut h = Harness::new(&[("alpha", server(true))]);
    h.bring_up("alpha", &["echo"]);
    let legacy = h.initialize();
    let meta = |version: &str| json!({"io.modelcontextprotocol/protocolVersion": version, "io.modelcontextprotocol/clientCapabilities": {}});
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"_meta": meta("2026-07-28")}});
    let (status, body) = stateless_post(&mut h, Some("2026-07-28"), ping);
    assert_eq!((status, &body["error"]["code"]), (404, &json!(code::METHOD_NOT_FOUND)), "{body}");
    let init = json!({"jsonrpc": "2.0", "id": 2, "method": "initialize", "params": {"_meta": meta("2026-07-28")}});
    let (status, _) = stateless_post(&mut h, Some("2026-07-28"), init);
    assert_eq!(status, 404, "a modern initialize is a removed method, not a new session");
    assert_eq!(h.hub.stats().sessions, 1);
    let list = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"_meta": meta("2031-01-01")}});
    let (status, body) = stateless_post(&mut h, Some("2031-01-01"), list);
    assert_eq!((status, &body["error"]["code"]), (400, &json!(code::UNSUPPORTED_PROTOCOL_VERSION)));
    assert_eq!(body["error"]["data"]["supported"], json!(["2026-07-28"]));
    let list = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {"_meta": meta("2026-07-28")}});
    let (status, body) = stateless_post(&mut h, Some("2025-11-25"), list);
    assert_eq!((status, &body["error"]["code"]), (400, &json!(code::HEADER_MISMATCH)));
    // The legacy session goes on as before.
    let x = h.post(Some(&legacy), json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}));
    assert_eq!(h.json_response(x).1["result"]["tools"][0]["name"], "alpha_1mcp_echo");
}

#[test]
fn modern_lists_and_discovery_are_served_without_a_session() {
    let mut tagged = server(true);
    tagged.tags = vec!["web".into()];
    let mut h = Harness::new(&[("alpha", server(true)), ("beta", tagged)]);
    h.bring_up("alpha", &["echo"]);
    h.bring_up("beta", &["fetch"]);
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}});
    let (status, body) = stateless_post(&mut h, Some("2026-07-28"), list.clone());
    assert_eq!(status, 200, "{body}");
    let result = &body["result"];
    let names: Vec<&str> = result["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["alpha_1mcp_echo", "beta_1mcp_fetch"]);
    assert_eq!(
        (&result["resultType"], &result["ttlMs"], &result["cacheScope"]),
        (&json!("complete"), &json!(0), &json!("public"))
    );
    assert_eq!(result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "1mcp");
    assert_eq!(h.hub.stats().sessions, 0, "no session was made for it");
    // A view narrows it, and makes it private to whoever asked with that view.
    let (_, body) = stateless_post_at(&mut h, "tags=web", Some("2026-07-28"), list);
    assert_eq!(body["result"]["tools"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["result"]["tools"][0]["name"], "beta_1mcp_fetch");
    assert_eq!(body["result"]["cacheScope"], "private");
    let discover = json!({"jsonrpc": "2.0", "id": 2, "method": "server/discover", "params": {"_meta": meta}});
    let (status, body) = stateless_post(&mut h, Some("2026-07-28"), discover);
    assert_eq!(status, 200, "{body}");
    let result = &body["result"];
    assert_eq!(result["supportedVersions"], json!(["2026-07-28"]));
    assert_eq!(result["capabilities"]["tools"], json!({"listChanged": true}));
    let instructions = result["instructions"].as_str().unwrap_or_default();
    assert!(
        instructions.contains("<alpha>\nuse alpha wisely\n</alpha>") && instructions.contains("<beta>"),
        "{instructions}"
    );
    assert_eq!((&result["resultType"], &result["ttlMs"]), (&json!("complete"), &json!(0)));
}

#[test]
fn a_modern_call_is_routed_like_a_sessions_and_leaves_nothing_behind() {
    let mut h = two_backends();
    let meta = modern_meta(json!({}), None);
    let x =
        send_modern(&mut h, json!(7), "tools/call", json!({"name": "alpha_1mcp_echo", "arguments": {"t": 1}}), meta);
    let sent = h.backend_writes("alpha");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["params"]["name"], "echo", "the backend's own name");
    assert_eq!(sent[0]["params"].get("_meta"), None, "a legacy backend is not sent the modern _meta");
    assert_eq!(h.hub.stats().sessions, 1, "the request's record, while it is in flight");
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": sent[0]["id"], "result": {"content": []}}));
    let (status, body) = h.json_response(x);
    assert_eq!((status, &body["id"]), (200, &json!(7)), "{body}");
    assert_eq!(body["result"]["resultType"], "complete");
    assert_eq!(body["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "1mcp");
    let stats = h.hub.stats();
    assert_eq!((stats.sessions, stats.open_exchanges, stats.pending_backend_requests), (0, 0, 0));
    // An answer that needs no backend ends the record as well.
    let meta = modern_meta(json!({}), None);
    let x = send_modern(&mut h, json!(8), "tools/call", json!({"name": "nope"}), meta);
    assert_eq!(h.json_response(x).1["error"]["code"], code::INVALID_PARAMS);
    assert_eq!(h.hub.stats().sessions, 0);
}

#[test]
fn a_modern_read_carries_the_caching_hints() {
    let mut h = Harness::new(&[("alpha", server(true))]);
    h.bring_up_with("alpha", &["echo"], json!({"tools": {}, "resources": {}}));
    let meta = modern_meta(json!({}), None);
    let x = send_modern(&mut h, json!(1), "resources/read", json!({"uri": "mem://alpha/a"}), meta);
    let sent = h.backend_writes("alpha");
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": sent[0]["id"], "result": {"contents": []}}));
    let result = h.json_response(x).1["result"].clone();
    assert_eq!(
        (&result["ttlMs"], &result["cacheScope"], &result["resultType"]),
        (&json!(0), &json!("public"), &json!("complete"))
    );
}

#[test]
fn a_modern_call_hears_its_own_progress_and_only_the_logs_it_asked_for() {
    let mut h = Harness::new(&[("alpha", server(true))]);
    h.bring_up_with("alpha", &["echo"], json!({"tools": {}, "logging": {}}));
    let log = |level: &str| json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": level, "data": level}});
    // Without a logLevel in its _meta a request gets no log messages at all.
    let quiet =
        send_modern(&mut h, json!(1), "tools/call", json!({"name": "alpha_1mcp_echo"}), modern_meta(json!({}), None));
    let sent = h.backend_writes("alpha");
    h.backend_says("alpha", log("emergency"));
    assert!(h.events(quiet).0.is_empty(), "no logLevel, no notifications/message");
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": sent[0]["id"], "result": {}}));
    assert_eq!(h.json_response(quiet).0, 200);
    // With one, only what is at or above it, on the request's own stream, after its progress.
    let params = json!({"name": "alpha_1mcp_echo", "_meta": {"progressToken": "p"}});
    let mut meta = modern_meta(json!({}), Some("warning"));
    meta["progressToken"] = json!("p");
    let loud = send_modern(&mut h, json!(2), "tools/call", params, meta);
    let sent: Vec<Value> = h.backend_writes("alpha").into_iter().filter(|m| m["method"] == "tools/call").collect();
    let token = sent[0]["params"]["_meta"]["progressToken"].clone();
    assert_ne!(token, json!("p"), "the backend sees 1mcp's token");
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": token, "progress": 1}}));
    h.backend_says("alpha", log("info"));
    h.backend_says("alpha", log("error"));
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": sent[0]["id"], "result": {}}));
    let (events, closed) = h.events(loud);
    assert!(closed);
    let methods: Vec<&str> = events.iter().map(|e| e["method"].as_str().unwrap_or("(result)")).collect();
    assert_eq!(methods, ["notifications/progress", "notifications/message", "(result)"], "{events:?}");
    assert_eq!(events[0]["params"]["progressToken"], "p");
    assert_eq!(events[1]["params"]["data"], "error");
    assert_eq!(events[2]["result"]["resultType"], "complete");
    // An invalid level is refused before anything is routed.
    let x = send_modern(
        &mut h,
        json!(3),
        "tools/call",
        json!({"name": "alpha_1mcp_echo"}),
        modern_meta(json!({}), Some("loud")),
    );
    let (status, body) = h.json_response(x);
    assert_eq!((status, &body["error"]["code"]), (400, &json!(code::INVALID_PARAMS)));
    assert!(h.backend_writes("alpha").iter().all(|m| m["method"] != "tools/call"));
}

#[test]
fn a_modern_client_that_goes_away_cancels_its_call_and_leaves_nothing() {
    let mut h = two_backends();
    let x =
        send_modern(&mut h, json!(1), "tools/call", json!({"name": "alpha_1mcp_echo"}), modern_meta(json!({}), None));
    let sent = h.backend_writes("alpha");
    h.feed(Input::ExchangeClosed { exchange: x });
    let cancel = h.backend_writes("alpha");
    assert_eq!(cancel[0]["method"], "notifications/cancelled");
    assert_eq!(cancel[0]["params"]["requestId"], sent[0]["id"]);
    let stats = h.hub.stats();
    assert_eq!((stats.sessions, stats.open_exchanges, stats.pending_backend_requests), (0, 0, 0));
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": sent[0]["id"], "result": {}}));
    assert_eq!(h.hub.stats().open_exchanges, 0, "a late answer finds nobody");
}

#[test]
fn a_modern_call_is_never_a_bystander_to_a_sessions_traffic() {
    let mut h = Harness::new(&[("alpha", server(true))]);
    h.bring_up_with("alpha", &["echo"], json!({"tools": {}, "logging": {}}));
    let legacy = h.initialize_with(client_features());
    let stream = h.open_stream(&legacy);
    let capabilities = json!({"elicitation": {}, "sampling": {}});
    let x = send_modern(
        &mut h,
        json!(1),
        "tools/call",
        json!({"name": "alpha_1mcp_echo"}),
        modern_meta(capabilities, Some("debug")),
    );
    let sent = h.backend_writes("alpha");
    assert_eq!(sent.len(), 1);
    // A list change is the sessions' news; the stateless request does not hear of it.
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}));
    let relist = h.backend_writes("alpha");
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": relist[0]["id"], "result": {"tools": []}}));
    assert_eq!(h.events(stream).0[0]["method"], "notifications/tools/list_changed");
    assert!(h.events(x).0.is_empty());
    // With only the modern call in flight, the backend's question is the modern call's: it is
    // not put to the legacy session, and not sent as a request on the modern stream.
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": "s1", "method": "sampling/createMessage", "params": {}}));
    assert!(h.backend_writes("alpha").is_empty(), "asked, not refused");
    assert!(h.events(stream).0.is_empty());
    let (status, answer) = h.json_response(x);
    assert_eq!((status, &answer["result"]["resultType"]), (200, &json!("input_required")), "{answer}");
    let question = answer["result"]["inputRequests"].as_object().and_then(|q| q.values().next().cloned());
    assert_eq!(question.map(|q| q["method"].clone()), Some(json!("sampling/createMessage")));
}

#[test]
fn a_modern_call_to_a_per_session_server_gets_an_instance_that_ends_with_it() {
    let mut h = Harness::new(&[("solo", per_session(4, 60_000))]);
    h.bring_up("solo", &["echo"]);
    let x =
        send_modern(&mut h, json!(1), "tools/call", json!({"name": "solo_1mcp_echo"}), modern_meta(json!({}), None));
    let instances = h.spawned_instances("solo");
    assert_eq!(instances.len(), 1, "the request's own instance");
    h.bring_up_instance(&instances[0]);
    let sent: Vec<Value> =
        h.backend_writes(&instances[0]).into_iter().filter(|m| m["method"] == "tools/call").collect();
    h.backend_says(&instances[0], json!({"jsonrpc": "2.0", "id": sent[0]["id"], "result": {}}));
    assert_eq!(h.json_response(x).0, 200);
    assert!(!h.hub.backends.contains_key(&bk(&instances[0])), "the instance goes with the request");
    assert_eq!(h.hub.stats().sessions, 0);
}

/// A modern call to alpha's echo from a client that can answer elicitations, and the
/// backend's elicitation in the middle of it: the call's backend-side id, and what the client
/// was answered.
fn elicited(h: &mut Harness, args: Value) -> (Value, Value) {
    let capabilities = json!({"elicitation": {}});
    let params = json!({"name": "alpha_1mcp_echo", "arguments": args});
    let x = send_modern(h, json!(1), "tools/call", params, modern_meta(capabilities, None));
    let call = h.backend_writes("alpha").pop().expect("the call reaches the backend");
    let question = json!({"message": "Your name?", "requestedSchema": {"type": "object"}});
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": "e1", "method": "elicitation/create", "params": question}));
    let (status, answer) = h.json_response(x);
    assert_eq!(status, 200, "{answer}");
    (call["id"].clone(), answer)
}

/// The retry a modern client sends with its answers.
fn retry(h: &mut Harness, id: u64, args: Value, answers: Value, state: &Value) -> ExchangeId {
    let capabilities = json!({"elicitation": {}});
    let params =
        json!({"name": "alpha_1mcp_echo", "arguments": args, "inputResponses": answers, "requestState": state});
    send_modern(h, json!(id), "tools/call", params, modern_meta(capabilities, None))
}

#[test]
fn a_legacy_backends_question_to_a_modern_client_is_an_input_required_result_and_the_retry_resumes_the_call() {
    let mut h = two_backends();
    let (call_id, answer) = elicited(&mut h, json!({"t": 1}));
    let result = &answer["result"];
    assert_eq!(result["resultType"], "input_required", "{answer}");
    let questions = result["inputRequests"].as_object().expect("inputRequests");
    assert_eq!(questions.len(), 1);
    let (key, question) = questions.iter().next().expect("one question");
    assert_eq!(question["method"], "elicitation/create");
    assert_eq!(question["params"]["message"], "Your name?");
    let state = result["requestState"].clone();
    assert!(state.as_str().is_some_and(|s| s.starts_with("1mcp.")), "{state}");
    assert_eq!(h.hub.stats().sessions, 1, "the call is parked, its record kept");
    assert_eq!(h.hub.stats().open_exchanges, 0, "the first exchange is over");
    // The retry's answer is the answer to the backend's own request, and the call goes on.
    let response = json!({"action": "accept", "content": {"name": "Ada"}});
    let y = retry(&mut h, 2, json!({"t": 1}), json!({key: response, "unasked": {}}), &state);
    let to_backend = h.backend_writes("alpha");
    assert_eq!(to_backend, vec![json!({"jsonrpc": "2.0", "id": "e1", "result": response})]);
    assert!(h.response(y).is_none(), "the retry waits for the call");
    h.backend_says(
        "alpha",
        json!({"jsonrpc": "2.0", "id": call_id, "result": {"content": [{"type": "text", "text": "hi Ada"}]}}),
    );
    let (status, done) = h.json_response(y);
    assert_eq!((status, &done["id"], &done["result"]["resultType"]), (200, &json!(2), &json!("complete")), "{done}");
    let stats = h.hub.stats();
    assert_eq!((stats.sessions, stats.open_exchanges, stats.pending_backend_requests), (0, 0, 0));
}

#[test]
fn a_request_state_resumes_only_its_own_request_and_only_once() {
    let mut h = two_backends();
    let (call_id, answer) = elicited(&mut h, json!({"t": 1}));
    let state = answer["result"]["requestState"].clone();
    let key = answer["result"]["inputRequests"].as_object().and_then(|q| q.keys().next().cloned()).unwrap_or_default();
    let refused = |h: &mut Harness, x: ExchangeId| {
        let (_, body) = h.json_response(x);
        assert_eq!(body["error"]["code"], code::INVALID_PARAMS, "{body}");
        body["error"]["message"].as_str().unwrap_or_default().to_owned()
    };
    let tampered = json!(format!("{}-TAMPERED", state.as_str().unwrap_or_default()));
    let x = retry(&mut h, 2, json!({"t": 1}), json!({&key: {"action": "decline"}}), &tampered);
    assert!(refused(&mut h, x).contains("failed verification"));
    let x = retry(&mut h, 3, json!({"t": 2}), json!({&key: {"action": "decline"}}), &state);
    assert!(refused(&mut h, x).contains("another request"), "other arguments are another request");
    assert!(h.backend_writes("alpha").is_empty(), "nothing refused reached the backend");
    // The real retry, without the answer: the question is asked again under a new state.
    let x = retry(&mut h, 4, json!({"t": 1}), json!({}), &state);
    let again = h.json_response(x).1;
    assert_eq!(again["result"]["resultType"], "input_required");
    assert_eq!(again["result"]["inputRequests"][&key]["method"], "elicitation/create");
    let fresh = again["result"]["requestState"].clone();
    assert_ne!(fresh, state);
    let x = retry(&mut h, 5, json!({"t": 1}), json!({&key: {"action": "decline"}}), &state);
    assert!(refused(&mut h, x).contains("used already"), "a state is good for one retry");
    let y = retry(&mut h, 6, json!({"t": 1}), json!({&key: {"action": "decline"}}), &fresh);
    assert_eq!(h.backend_writes("alpha")[0]["result"]["action"], "decline");
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": call_id, "result": {}}));
    assert_eq!(h.json_response(y).1["id"], 6);
}

#[test]
fn a_request_state_belongs_to_the_principal_that_was_asked() {
    let mut h = Harness::new(&[("alpha", server(true))]);
    h.hub.config.auth_enabled = true;
    h.hub.config.wall_epoch_ms = 1_000_000;
    h.bring_up("alpha", &["echo"]);
    h.credential = token("ada", None);
    let (_, answer) = elicited(&mut h, json!({}));
    let state = answer["result"]["requestState"].clone();
    assert_eq!(answer["result"]["cacheScope"], json!(null), "an input-required result is not cacheable");
    h.credential = token("eve", None);
    let x = retry(&mut h, 2, json!({}), json!({"1mcp-1": {"action": "accept"}}), &state);
    let body = h.json_response(x).1;
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("another client")), "{body}");
    assert!(h.backend_writes("alpha").is_empty());
}

#[test]
fn a_client_that_never_retries_has_its_parked_call_failed_at_its_timeout_and_nothing_left() {
    let mut h = two_backends();
    let (call_id, answer) = elicited(&mut h, json!({}));
    let state = answer["result"]["requestState"].clone();
    h.advance(DEFAULT_REQUEST_TIMEOUT);
    let writes = h.backend_writes("alpha");
    assert!(writes.iter().any(|m| m["method"] == "notifications/cancelled" && m["params"]["requestId"] == call_id));
    assert!(writes.iter().any(|m| m["id"] == "e1" && m.get("error").is_some()), "its question is answered: {writes:?}");
    let stats = h.hub.stats();
    assert_eq!((stats.sessions, stats.open_exchanges, stats.pending_backend_requests), (0, 0, 0));
    let x = retry(&mut h, 2, json!({}), json!({"1mcp-1": {"action": "accept"}}), &state);
    assert!(h.json_response(x).1["error"]["message"].as_str().is_some_and(|m| m.contains("expired")));
    // The same when the backend goes away while the call is parked.
    let (_, answer) = elicited(&mut h, json!({}));
    let generation = h.generation("alpha");
    h.feed(Input::BackendExited {
        backend: bk("alpha"),
        generation,
        status: ExitInfo { code: Some(1), ..ExitInfo::default() },
    });
    assert_eq!(h.hub.stats().sessions, 0);
    let x = retry(&mut h, 3, json!({}), json!({}), &answer["result"]["requestState"]);
    assert!(h.json_response(x).1["error"]["message"].as_str().is_some_and(|m| m.contains("expired")));
}

#[test]
fn a_question_the_modern_request_did_not_declare_fails_the_call_naming_the_capability() {
    let mut h = two_backends();
    let params = json!({"name": "alpha_1mcp_echo"});
    let x = send_modern(&mut h, json!(1), "tools/call", params, modern_meta(json!({"sampling": {}}), None));
    let call = h.backend_writes("alpha").pop().expect("sent");
    let question = json!({"message": "?", "mode": "url", "url": "https://example.com"});
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": "e1", "method": "elicitation/create", "params": question}));
    let writes = h.backend_writes("alpha");
    assert_eq!((&writes[0]["id"], &writes[0]["error"]["code"]), (&json!("e1"), &json!(code::METHOD_NOT_FOUND)));
    assert_eq!(
        (&writes[1]["method"], &writes[1]["params"]["requestId"]),
        (&json!("notifications/cancelled"), &call["id"])
    );
    let (status, body) = h.json_response(x);
    assert_eq!((status, &body["error"]["code"]), (400, &json!(code::MISSING_REQUIRED_CLIENT_CAPABILITY)), "{body}");
    assert_eq!(body["error"]["data"]["requiredCapabilities"], json!({"elicitation": {"url": {}}}));
    let stats = h.hub.stats();
    assert_eq!((stats.sessions, stats.open_exchanges, stats.pending_backend_requests), (0, 0, 0));
}

/// Open a listen stream asking for `notifications`; its exchange.
fn listen(h: &mut Harness, id: Value, notifications: Value) -> ExchangeId {
    send_modern(h, id, "subscriptions/listen", json!({"notifications": notifications}), modern_meta(json!({}), None))
}

#[test]
fn a_listen_stream_is_acknowledged_first_and_hears_only_what_it_asked_for_tagged() {
    let mut h = Harness::new(&[("alpha", server(true))]);
    h.bring_up_with("alpha", &["echo"], json!({"tools": {"listChanged": true}, "logging": {}}));
    let tools = listen(&mut h, json!("t"), json!({"toolsListChanged": true, "bogus": true}));
    let prompts = listen(&mut h, json!(9), json!({"promptsListChanged": true}));
    let (events, closed) = h.events(tools);
    assert!(!closed);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(events[0]["params"]["notifications"], json!({"toolsListChanged": true}), "only what is honoured");
    assert_eq!(events[0]["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "t");
    assert_eq!(h.events(prompts).0[0]["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 9);
    assert_eq!(h.hub.stats().sessions, 2, "each stream has its record");
    // The tool list changes: the tools listener hears of it, tagged; the prompts listener not.
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}));
    let relist = h.backend_writes("alpha");
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": relist[0]["id"], "result": {"tools": []}}));
    let (events, _) = h.events(tools);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["method"], "notifications/tools/list_changed");
    assert_eq!(events[0]["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "t");
    assert!(h.events(prompts).0.is_empty(), "it did not ask for tool changes");
    // A log message with nobody's call in flight is nobody's: never on a listen stream.
    h.backend_says(
        "alpha",
        json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "error", "data": "x"}}),
    );
    assert!(h.events(tools).0.is_empty() && h.events(prompts).0.is_empty());
    // The client closes a stream: its record goes; the daemon ending closes the other with a result.
    h.feed(Input::ExchangeClosed { exchange: tools });
    assert_eq!(h.hub.stats().sessions, 1);
    h.feed(Input::Shutdown);
    let (events, closed) = h.events(prompts);
    assert!(closed, "{events:?}");
    assert_eq!(
        events.last().map(|e| (e["id"].clone(), e["result"]["resultType"].clone())),
        Some((json!(9), json!("complete")))
    );
}

#[test]
fn a_listen_stream_subscribes_its_resources_once_per_backend_and_releases_them_when_it_closes() {
    let mut h = Harness::new(&[("alpha", server(true)), ("beta", server(true))]);
    h.bring_up_with("alpha", &["echo"], json!({"tools": {}, "resources": {"subscribe": true}}));
    h.bring_up_with("beta", &["echo"], json!({"tools": {}, "resources": {}}));
    let uri = "mem://alpha/a";
    let asked = json!({"resourceSubscriptions": [uri, "mem://nowhere/x", "mem://beta/a"]});
    let first = listen(&mut h, json!(1), asked);
    let ack = h.events(first).0;
    // Nobody owns the unknown URI, and beta cannot subscribe: only alpha's is acknowledged.
    assert_eq!(ack[0]["params"]["notifications"], json!({"resourceSubscriptions": [uri]}));
    let subscribe = h.backend_writes("alpha");
    assert_eq!((subscribe.len(), &subscribe[0]["method"]), (1, &json!("resources/subscribe")));
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": subscribe[0]["id"], "result": {}}));
    let second = listen(&mut h, json!(2), json!({"resourceSubscriptions": [uri]}));
    h.events(second);
    assert!(h.backend_writes("alpha").is_empty(), "the backend is subscribed once");
    h.backend_says(
        "alpha",
        json!({"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": uri}}),
    );
    for (stream, id) in [(first, 1), (second, 2)] {
        let events = h.events(stream).0;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["params"]["uri"], uri);
        assert_eq!(events[0]["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], id);
    }
    h.feed(Input::ExchangeClosed { exchange: first });
    assert!(h.backend_writes("alpha").is_empty(), "one listener is left");
    h.feed(Input::ExchangeClosed { exchange: second });
    let release = h.backend_writes("alpha");
    assert_eq!((&release[0]["method"], &release[0]["params"]["uri"]), (&json!("resources/unsubscribe"), &json!(uri)));
    assert_eq!(h.hub.stats().sessions, 0);
}

#[test]
fn the_request_metadata_headers_must_say_what_the_body_says() {
    let mut h = Harness::new(&[("alpha", server(true))]);
    let annotated = json!({"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}});
    h.bring_up("alpha", &["echo"]);
    let tools = &mut h.hub.backends.get_mut(&bk("alpha")).expect("alpha").catalog.tools;
    tools.push(json!({"name": "where", "inputSchema": annotated}).as_object().cloned().unwrap_or_default());
    h.hub.rebuild_registry();
    h.drain();
    let meta = modern_meta(json!({}), None);
    let call = |name: &str, args: Value| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": name, "arguments": args, "_meta": meta}})
    };
    // Mcp-Name naming another tool than the body.
    let message = call("alpha_1mcp_echo", json!({}));
    let mut request = h.modern_request(Some("2026-07-28"), &message);
    request.mcp_headers =
        crate::mcp_headers::McpHeaders::from_headers([("Mcp-Method", "tools/call"), ("Mcp-Name", "alpha_1mcp_where")]);
    let x = h.send(request);
    let (status, body) = h.json_response(x);
    assert_eq!((status, &body["error"]["code"]), (400, &json!(code::HEADER_MISMATCH)), "{body}");
    // No Mcp-Method at all.
    let mut request = h.modern_request(Some("2026-07-28"), &message);
    request.mcp_headers = crate::mcp_headers::McpHeaders::default();
    let x = h.send(request);
    assert_eq!(h.json_response(x).1["error"]["code"], code::HEADER_MISMATCH);
    // A tool that mirrors a parameter into a header: the value must be in it.
    let message = call("alpha_1mcp_where", json!({"region": "eu"}));
    let x = h.send(h.modern_request(Some("2026-07-28"), &message));
    let body = h.json_response(x).1;
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("Region")), "{body}");
    assert!(h.backend_writes("alpha").is_empty(), "nothing refused reached the backend");
    let mut request = h.modern_request(Some("2026-07-28"), &message);
    request.mcp_headers = crate::mcp_headers::McpHeaders::from_headers([
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "alpha_1mcp_where"),
        ("Mcp-Param-Region", "eu"),
    ]);
    h.send(request);
    assert_eq!(h.backend_writes("alpha")[0]["params"]["name"], "where", "agreeing headers pass");
}
