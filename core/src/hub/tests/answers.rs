//! The answers a client gets when a request cannot be routed as asked, and what the hub does
//! with backends that misbehave in ways the routing tests do not reach: each case is asserted
//! on the JSON-RPC answer (code, message, data) or on the backend's fate.

use super::*;
use crate::jsonrpc::code;

/// Two resource servers, alpha (subscriptions) and beta (none), and one initialized session.
fn resource_servers() -> (Harness, String) {
    let mut h = Harness::new(&[("alpha", server(true)), ("beta", server(true))]);
    h.bring_up_with("alpha", &["echo"], json!({"tools": {}, "resources": {"subscribe": true}}));
    h.bring_up_with("beta", &["echo"], json!({"tools": {}, "resources": {}}));
    let session = h.initialize();
    (h, session)
}

/// Send a request on `session` and return its answer.
fn ask(h: &mut Harness, session: &str, method: &str, params: Value) -> Value {
    let x = h.post(Some(session), json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": params}));
    let (status, body) = h.json_response(x);
    assert_eq!(status, 200, "{body}");
    body
}

/// An answer's error: code, message and data.
fn error_of(body: &Value) -> (i64, String, Value) {
    let e = &body["error"];
    (
        e["code"].as_i64().expect("an error code"),
        e["message"].as_str().unwrap_or_default().to_owned(),
        e["data"].clone(),
    )
}

/// A server that is not restarted when it fails.
fn once() -> ServerConfig {
    ServerConfig { restart: RestartConfig { restart_on_exit: false, ..RestartConfig::default() }, ..server(true) }
}

#[test]
fn a_resource_read_says_what_is_wrong_with_it() {
    let (mut h, s) = resource_servers();
    let (code, message, _) = error_of(&ask(&mut h, &s, "resources/read", json!({})));
    assert_eq!((code, message.as_str()), (code::INVALID_PARAMS, "missing resource uri"));
    let (code, message, data) = error_of(&ask(&mut h, &s, "resources/read", json!({"uri": "mem://nowhere"})));
    assert_eq!(code, code::INVALID_PARAMS);
    assert_eq!(message, "Resource not found: mem://nowhere", "two servers could hold it: no guess");
    assert_eq!(data, json!({"uri": "mem://nowhere"}));
    assert!(h.backend_writes("alpha").is_empty() && h.backend_writes("beta").is_empty());
}

#[test]
fn an_unlisted_uri_goes_to_the_only_server_that_has_resources() {
    let mut h = Harness::new(&[("alpha", server(true)), ("beta", server(true))]);
    h.bring_up_with("alpha", &["echo"], json!({"tools": {}, "resources": {}}));
    h.bring_up("beta", &["echo"]);
    let s = h.initialize();
    let read = json!({"jsonrpc": "2.0", "id": 4, "method": "resources/read", "params": {"uri": "mem://unlisted"}});
    let x = h.post(Some(&s), read);
    let sent = h.backend_writes("alpha");
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0]["method"].as_str(), sent[0]["params"]["uri"].as_str()),
        (Some("resources/read"), Some("mem://unlisted"))
    );
    assert!(h.backend_writes("beta").is_empty());
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": sent[0]["id"], "result": {"contents": []}}));
    assert_eq!(h.json_response(x).1, json!({"jsonrpc": "2.0", "id": 4, "result": {"contents": []}}));
}

#[test]
fn a_resource_of_a_server_that_is_down_is_unavailable_not_unknown() {
    let (mut h, s) = resource_servers();
    let generation = h.generation("beta");
    let status = ExitInfo { code: Some(1), ..ExitInfo::default() };
    h.feed(Input::BackendExited { backend: bk("beta"), generation, status });
    let (code, message, data) = error_of(&ask(&mut h, &s, "resources/read", json!({"uri": "mem://beta/a"})));
    assert_eq!(code, code::INTERNAL_ERROR);
    assert!(message.starts_with("server 'beta' is restarting"), "{message}");
    assert_eq!((data["server"].as_str(), data["uri"].as_str()), (Some("beta"), Some("mem://beta/a")));
}

#[test]
fn completions_route_by_their_reference_or_say_why_not() {
    let (mut h, s) = resource_servers();
    let params =
        json!({"ref": {"type": "ref/resource", "uri": "mem://beta/a"}, "argument": {"name": "x", "value": ""}});
    let x = h.post(Some(&s), json!({"jsonrpc": "2.0", "id": 5, "method": "completion/complete", "params": params}));
    let sent = h.backend_writes("beta");
    assert_eq!(sent[0]["method"], "completion/complete", "a resource reference goes to the resource's server");
    assert!(h.backend_writes("alpha").is_empty());
    h.backend_says("beta", json!({"jsonrpc": "2.0", "id": sent[0]["id"], "result": {"completion": {"values": []}}}));
    assert_eq!(h.json_response(x).1["result"], json!({"completion": {"values": []}}));
    let unknown = json!({"ref": {"type": "ref/resource", "uri": "mem://gone"}});
    let (code, message, _) = error_of(&ask(&mut h, &s, "completion/complete", unknown));
    assert_eq!((code, message.as_str()), (code::INVALID_PARAMS, "completion reference names no known resource"));
    let (code, message, _) = error_of(&ask(&mut h, &s, "completion/complete", json!({"ref": {"type": "ref/tool"}})));
    assert_eq!((code, message.as_str()), (code::INVALID_PARAMS, "completion ref must be ref/prompt or ref/resource"));
}

#[test]
fn a_call_without_a_name_is_refused_before_routing() {
    let (mut h, s) = resource_servers();
    let (code, message, _) = error_of(&ask(&mut h, &s, "tools/call", json!({"arguments": {}})));
    assert_eq!((code, message.as_str()), (code::INVALID_PARAMS, "missing tool name"));
    let (code, message, _) = error_of(&ask(&mut h, &s, "prompts/get", json!({"name": 7})));
    assert_eq!((code, message.as_str()), (code::INVALID_PARAMS, "missing prompt name"));
    assert!(h.backend_writes("alpha").is_empty() && h.backend_writes("beta").is_empty());
}

#[test]
fn subscriptions_are_refused_with_the_reason() {
    let (mut h, s) = resource_servers();
    let (code, message, _) = error_of(&ask(&mut h, &s, "resources/subscribe", json!({})));
    assert_eq!((code, message.as_str()), (code::INVALID_PARAMS, "missing resource uri"));
    let (code, message, data) = error_of(&ask(&mut h, &s, "resources/subscribe", json!({"uri": "mem://nowhere"})));
    assert_eq!((code, message.as_str()), (code::INVALID_PARAMS, "Resource not found: mem://nowhere"));
    assert_eq!(data, json!({"uri": "mem://nowhere"}));
    let (code, message, _) = error_of(&ask(&mut h, &s, "resources/subscribe", json!({"uri": "mem://beta/a"})));
    assert_eq!(code, code::METHOD_NOT_FOUND);
    assert_eq!(message, "server 'beta' does not support resource subscriptions");
    assert!(h.backend_writes("beta").is_empty(), "nothing reaches a server that cannot subscribe");
    let answer = ask(&mut h, &s, "resources/unsubscribe", json!({"uri": "mem://never"}));
    assert_eq!(answer["result"], json!({}), "unsubscribing from what was never subscribed is harmless");
}

#[test]
fn a_disabled_or_failed_server_is_named_with_its_state() {
    let mut off = server(true);
    off.disabled = true;
    let mut h = Harness::new(&[("alpha", server(true)), ("broken", once()), ("off", off)]);
    h.bring_up("alpha", &["echo"]);
    let generation = h.generation("broken");
    h.feed(Input::BackendSpawnFailed { backend: bk("broken"), generation, error: "no such file".into() });
    let s = h.initialize();
    let x = h.call(&s, json!(1), "off_1mcp_echo", json!({}));
    let (code, message, data) = error_of(&h.json_response(x).1);
    assert_eq!(code, code::INTERNAL_ERROR);
    assert_eq!(message, "server 'off' is disabled in the configuration");
    assert_eq!((data["state"].as_str(), data["tool"].as_str()), (Some("disabled"), Some("off_1mcp_echo")));
    let x = h.call(&s, json!(2), "broken_1mcp_echo", json!({}));
    let (_, message, data) = error_of(&h.json_response(x).1);
    assert!(message.starts_with("server 'broken' is unavailable (down for "), "{message}");
    assert!(message.ends_with("could not start: no such file"), "{message}");
    assert_eq!(data["state"], "failed");
}

#[test]
fn a_server_request_nobody_can_answer_is_refused_to_the_server() {
    let mut h = Harness::new(&[("alpha", server(true))]);
    h.bring_up("alpha", &["echo"]);
    let question =
        json!({"jsonrpc": "2.0", "id": "s1", "method": "sampling/createMessage", "params": {"messages": []}});
    h.backend_says("alpha", question);
    let answer = h.backend_writes("alpha").pop().expect("the server is answered");
    assert_eq!(answer["id"], "s1");
    assert_eq!(answer["error"]["code"], code::INTERNAL_ERROR);
    assert_eq!(answer["error"]["message"], "no client is connected to answer sampling/createMessage");
}

#[test]
fn a_session_holds_a_bounded_number_of_server_requests() {
    let mut h = Harness::new(&[("alpha", server(true))]);
    h.bring_up("alpha", &["echo"]);
    let s = h.initialize_with(json!({"sampling": {}}));
    let stream = h.open_stream(&s);
    let max = crate::server_requests::MAX_PER_SESSION;
    for n in 0..=max {
        let question =
            json!({"jsonrpc": "2.0", "id": n, "method": "sampling/createMessage", "params": {"messages": []}});
        h.backend_says("alpha", question);
    }
    let (events, _) = h.events(stream);
    assert_eq!(events.len(), max, "the session gets {max} requests, no more");
    let refused = h.backend_writes("alpha");
    assert_eq!(refused.len(), 1, "only the one over the bound is refused");
    assert_eq!(refused[0]["id"], max);
    assert_eq!(refused[0]["error"]["message"], format!("the client already has {max} unanswered requests"));
    // An answer makes room again.
    let first = events[0]["id"].clone();
    h.post(Some(&s), json!({"jsonrpc": "2.0", "id": first, "result": {"content": {"type": "text", "text": "hi"}}}));
    assert_eq!(h.backend_writes("alpha")[0]["id"], 0, "the answer reaches the server under its own id");
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": "again", "method": "sampling/createMessage", "params": {}}));
    assert!(h.backend_writes("alpha").is_empty(), "room for one more: it goes to the client, not back refused");
    assert_eq!(h.events(stream).0.len(), 1);
}

#[test]
fn a_request_of_its_own_that_times_out_is_only_logged() {
    let mut h = Harness::new(&[("alpha", server(true))]);
    h.bring_up_with("alpha", &["echo"], json!({"tools": {}, "logging": {}}));
    let s = h.initialize();
    let set = json!({"jsonrpc": "2.0", "id": 3, "method": "logging/setLevel", "params": {"level": "debug"}});
    let x = h.post(Some(&s), set);
    assert_eq!(h.json_response(x).1["result"], json!({}));
    assert_eq!(h.backend_writes("alpha")[0]["method"], "logging/setLevel");
    h.advance(Duration::from_secs(6));
    assert_eq!(h.hub.backends[&bk("alpha")].state, BackendState::Ready, "a silent setLevel does not fail the server");
    assert_eq!(h.hub.stats().pending_backend_requests, 0);
    assert!(h.backend_writes("alpha").is_empty(), "nothing to cancel: it is forgotten");
}

#[test]
fn a_failed_initialize_or_another_1mcp_fails_the_server() {
    let mut h = Harness::new(&[("bad", once()), ("loop", once())]);
    let refusal = json!({"error": {"code": -32603, "message": "no config"}});
    let itself = json!({"result": {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "1mcp", "version": "0.1.0"}}});
    for (name, answer) in [("bad", refusal), ("loop", itself)] {
        let generation = h.generation(name);
        h.feed(Input::BackendSpawned { backend: bk(name), generation, pid: Some(1) });
        let init = h.backend_writes(name).pop().expect("initialize sent");
        let mut reply = json!({"jsonrpc": "2.0", "id": init["id"]});
        if let (Some(reply), Value::Object(answer)) = (reply.as_object_mut(), answer) {
            reply.extend(answer);
        }
        h.backend_says(name, reply);
        let stopped =
            h.outputs.iter().any(|o| matches!(o, Output::StopBackend { backend, .. } if *backend == bk(name)));
        assert!(stopped, "{name} is stopped");
    }
    assert_eq!(h.hub.backends[&bk("bad")].state, BackendState::Failed("initialize failed: no config".into()));
    let looped = BackendState::Failed("refusing to aggregate another 1mcp (loop protection)".into());
    assert_eq!(h.hub.backends[&bk("loop")].state, looped);
}

#[test]
fn a_list_that_pages_forever_is_cut_off_and_the_server_still_serves() {
    let mut h = Harness::new(&[("alpha", server(true))]);
    let generation = h.generation("alpha");
    h.feed(Input::BackendSpawned { backend: bk("alpha"), generation, pid: Some(1) });
    let init = h.backend_writes("alpha").pop().expect("initialize sent");
    let result = json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}}, "serverInfo": {"name": "x", "version": "1"}});
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": init["id"], "result": result}));
    let mut pages = 0;
    while let Some(list) = h.backend_writes("alpha").into_iter().find(|w| w["method"] == "tools/list") {
        pages += 1;
        assert!(pages <= 1000, "a backend must not keep 1mcp paging past its bound");
        let tool = json!({"name": format!("t{pages}"), "inputSchema": {"type": "object"}});
        let page = json!({"tools": [tool], "nextCursor": "more"});
        h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": list["id"], "result": page}));
    }
    assert_eq!(pages, 1000);
    assert_eq!(h.hub.backends[&bk("alpha")].state, BackendState::Ready);
    assert_eq!(h.hub.backends[&bk("alpha")].catalog.tools.len(), 1000, "what was fetched is kept");
}
