//! Backends that speak the stateless revision (`protocol: "2026-07-28"`): discovered instead of
//! initialized, every request carrying the `_meta` of the client it is for, list changes heard
//! on a listen stream, and their questions (`InputRequiredResult`) passed to stateless clients
//! as they are and put to session-based clients as requests.

use super::*;
use crate::config::Protocol;
use crate::jsonrpc::code;

const VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

fn stateless_server() -> ServerConfig {
    ServerConfig { protocol: Protocol::Stateless, ..server(true) }
}

impl Harness {
    /// Discover and list a stateless backend with `tools`; the requests it was sent on the way.
    fn bring_up_stateless(&mut self, name: &str, tools: &[&str]) -> Vec<Value> {
        self.bring_up_stateless_with(name, tools, json!({"tools": {"listChanged": true}, "logging": {}}))
    }

    /// Like `bring_up_stateless`, declaring `capabilities`; a resource server lists `mem://<name>/a`.
    fn bring_up_stateless_with(&mut self, name: &str, tools: &[&str], capabilities: Value) -> Vec<Value> {
        let generation = self.generation(name);
        self.feed(Input::BackendSpawned { backend: bk(name), generation, pid: Some(1) });
        let discover = self.backend_writes(name).pop().expect("discovery sent");
        assert_eq!(discover["method"], "server/discover");
        let result = json!({"supportedVersions": ["2026-07-28"], "capabilities": capabilities,
            "instructions": "modern", "resultType": "complete", "ttlMs": 0, "cacheScope": "public",
            "_meta": {"io.modelcontextprotocol/serverInfo": {"name": name, "version": "2"}}});
        self.backend_says(name, json!({"jsonrpc": "2.0", "id": discover["id"], "result": result}));
        let mut sent = vec![discover];
        let tools: Vec<Value> = tools.iter().map(|t| json!({"name": t, "inputSchema": {"type": "object"}})).collect();
        for list in self.backend_writes(name) {
            let result = match list["method"].as_str() {
                Some("tools/list") => json!({"tools": tools}),
                Some("resources/list") => json!({"resources": [{"uri": format!("mem://{name}/a"), "name": "a"}]}),
                Some("resources/templates/list") => json!({"resourceTemplates": []}),
                _ => json!({"prompts": []}),
            };
            self.backend_says(name, json!({"jsonrpc": "2.0", "id": list["id"], "result": result}));
            sent.push(list);
        }
        sent.extend(self.backend_writes(name));
        assert_eq!(self.hub.backends[&bk(name)].state, BackendState::Ready);
        sent
    }
}

/// A modern request from a client declaring `capabilities`.
fn modern(h: &mut Harness, id: u64, method: &str, mut params: Value, capabilities: Value) -> ExchangeId {
    params["_meta"] = json!({VERSION: "2026-07-28", CAPABILITIES: capabilities});
    let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let request = h.modern_request(Some("2026-07-28"), &message);
    h.send(request)
}

#[test]
fn a_stateless_backend_is_discovered_listed_and_listened_to_and_every_request_says_its_revision() {
    let mut h = Harness::new(&[("modern", stateless_server())]);
    let sent = h.bring_up_stateless("modern", &["echo"]);
    let methods: Vec<&str> = sent.iter().filter_map(|m| m["method"].as_str()).collect();
    assert_eq!(methods, ["server/discover", "tools/list", "subscriptions/listen"], "no initialize, no initialized");
    for request in &sent {
        assert_eq!(request["params"]["_meta"][VERSION], "2026-07-28", "{request}");
        assert_eq!(request["params"]["_meta"][CAPABILITIES], json!({}), "1mcp asks nothing of its own");
    }
    assert_eq!(
        sent[2]["params"]["notifications"],
        json!({"toolsListChanged": true, "promptsListChanged": true, "resourcesListChanged": true})
    );
    let health = crate::health::overall(Instant(0), &h.hub.config, h.hub.backends.values(), &[], None).1;
    assert_eq!(health["servers"]["details"][0]["protocol"], "2026-07-28");
    // A list change arrives on the listen stream, tagged; the list is fetched again.
    let change = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed",
        "params": {"_meta": {"io.modelcontextprotocol/subscriptionId": sent[2]["id"]}}});
    h.backend_says("modern", change);
    let relist = h.backend_writes("modern");
    assert_eq!((relist.len(), &relist[0]["method"]), (1, &json!("tools/list")));
    assert_eq!(relist[0]["params"]["_meta"][VERSION], "2026-07-28");
    // Its liveness check is discovery: the revision has no ping.
    h.hub.ping(Instant(0), &bk("modern"));
    h.drain();
    assert_eq!(h.backend_writes("modern")[0]["method"], "server/discover");
}

#[test]
fn a_backend_that_does_not_speak_the_revision_is_failed_with_the_reason() {
    let mut h = Harness::new(&[("old", stateless_server())]);
    let generation = h.generation("old");
    h.feed(Input::BackendSpawned { backend: bk("old"), generation, pid: Some(1) });
    let discover = h.backend_writes("old").pop().expect("discovery sent");
    h.backend_says(
        "old",
        json!({"jsonrpc": "2.0", "id": discover["id"], "result": {"supportedVersions": ["2027-01-01"]}}),
    );
    let state = h.hub.backends[&bk("old")].state.clone();
    assert!(state.reason().is_some_and(|r| r.contains("does not speak 2026-07-28")), "{state:?}");
}

#[test]
fn calls_to_a_stateless_backend_carry_their_clients_capabilities_and_log_level() {
    let mut h = Harness::new(&[("modern", stateless_server())]);
    h.bring_up_stateless("modern", &["echo"]);
    let session = h.initialize_with(json!({"elicitation": {}}));
    let set = h.post(
        Some(&session),
        json!({"jsonrpc": "2.0", "id": 2, "method": "logging/setLevel", "params": {"level": "error"}}),
    );
    assert_eq!(h.json_response(set).0, 200);
    assert!(h.backend_writes("modern").is_empty(), "the revision has no logging/setLevel: the level goes per request");
    let x = h.call(&session, json!(3), "modern_1mcp_echo", json!({}));
    let call = h.backend_writes("modern").pop().expect("call sent");
    assert_eq!(call["params"]["_meta"][CAPABILITIES], json!({"elicitation": {}}));
    assert_eq!(call["params"]["_meta"]["io.modelcontextprotocol/logLevel"], "error");
    h.backend_says(
        "modern",
        json!({"jsonrpc": "2.0", "id": call["id"], "result": {"content": [], "resultType": "complete"}}),
    );
    assert_eq!(h.json_response(x).1["id"], 3);
    let y = modern(&mut h, 4, "tools/call", json!({"name": "modern_1mcp_echo"}), json!({"sampling": {}}));
    let call = h.backend_writes("modern").pop().expect("call sent");
    assert_eq!(call["params"]["_meta"][CAPABILITIES], json!({"sampling": {}}));
    assert_eq!(call["params"]["_meta"].get("io.modelcontextprotocol/logLevel"), None);
    h.backend_says(
        "modern",
        json!({"jsonrpc": "2.0", "id": call["id"], "result": {"content": [], "resultType": "complete"}}),
    );
    assert_eq!(h.json_response(y).1["result"]["resultType"], "complete");
}

#[test]
fn a_stateless_backends_questions_pass_through_to_a_stateless_client_and_its_retry_reaches_it_untouched() {
    let mut h = Harness::new(&[("modern", stateless_server())]);
    h.bring_up_stateless("modern", &["ask"]);
    let x = modern(&mut h, 1, "tools/call", json!({"name": "modern_1mcp_ask"}), json!({"elicitation": {}}));
    let call = h.backend_writes("modern").pop().expect("call sent");
    let asks = json!({"resultType": "input_required", "requestState": "backend-secret",
        "inputRequests": {"user_name": {"method": "elicitation/create", "params": {"message": "name?"}}}});
    h.backend_says("modern", json!({"jsonrpc": "2.0", "id": call["id"], "result": asks}));
    let answer = h.json_response(x).1;
    assert_eq!(answer["result"]["inputRequests"], asks["inputRequests"], "the backend's own keys");
    assert_eq!(answer["result"]["requestState"], "backend-secret");
    assert_eq!(h.hub.stats().sessions, 0, "nothing parked in 1mcp: the state is the backend's");
    let answers = json!({"user_name": {"action": "accept", "content": {"name": "Ada"}}});
    let params = json!({"name": "modern_1mcp_ask", "inputResponses": answers, "requestState": "backend-secret"});
    let y = modern(&mut h, 2, "tools/call", params, json!({"elicitation": {}}));
    let retry = h.backend_writes("modern").pop().expect("retry sent");
    assert_eq!((&retry["params"]["name"], &retry["params"]["inputResponses"]), (&json!("ask"), &answers));
    assert_eq!(retry["params"]["requestState"], "backend-secret");
    h.backend_says(
        "modern",
        json!({"jsonrpc": "2.0", "id": retry["id"], "result": {"content": [], "resultType": "complete"}}),
    );
    assert_eq!(h.json_response(y).1["id"], 2);
}

#[test]
fn a_stateless_backends_questions_to_a_session_are_asked_as_requests_and_the_backend_asked_again() {
    let mut h = Harness::new(&[("modern", stateless_server())]);
    h.bring_up_stateless("modern", &["ask"]);
    let session = h.initialize_with(json!({"elicitation": {}, "sampling": {}}));
    let params = json!({"name": "modern_1mcp_ask", "arguments": {"a": 1}, "_meta": {"progressToken": "p"}});
    let x = h.post(Some(&session), json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": params}));
    let call = h.backend_writes("modern").pop().expect("call sent");
    let asks = json!({"resultType": "input_required", "requestState": "s1", "inputRequests": {
        "name": {"method": "elicitation/create", "params": {"message": "name?"}},
        "poem": {"method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 5}}}});
    h.backend_says("modern", json!({"jsonrpc": "2.0", "id": call["id"], "result": asks}));
    let (events, closed) = h.events(x);
    assert!(!closed);
    let methods: Vec<&str> = events.iter().filter_map(|e| e["method"].as_str()).collect();
    assert_eq!(methods, ["elicitation/create", "sampling/createMessage"], "asked on the call's own stream");
    for (event, answer) in
        events.iter().zip([json!({"action": "accept", "content": {"n": "Ada"}}), json!({"role": "assistant"})])
    {
        let reply = json!({"jsonrpc": "2.0", "id": event["id"], "result": answer});
        let answered = h.post(Some(&session), reply);
        assert_eq!(h.json_response(answered).0, 202);
    }
    let retry = h.backend_writes("modern").pop().expect("the backend is asked again");
    assert_ne!(retry["id"], call["id"], "a retry is a new request");
    assert_eq!(retry["params"]["arguments"], json!({"a": 1}));
    assert_eq!(retry["params"]["requestState"], "s1", "echoed exactly");
    assert_eq!(
        retry["params"]["inputResponses"],
        json!({"name": {"action": "accept", "content": {"n": "Ada"}}, "poem": {"role": "assistant"}})
    );
    assert_eq!(retry["params"]["_meta"]["progressToken"], retry["id"], "progress of the retry reaches the same call");
    h.backend_says("modern", json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": retry["id"], "progress": 1}}));
    h.backend_says("modern", json!({"jsonrpc": "2.0", "id": retry["id"], "result": {"content": [{"type": "text", "text": "done"}], "resultType": "complete"}}));
    let (events, closed) = h.events(x);
    assert!(closed);
    assert_eq!(events[0]["params"]["progressToken"], "p");
    assert_eq!((&events[1]["id"], &events[1]["result"]["content"][0]["text"]), (&json!(5), &json!("done")));
    let stats = h.hub.stats();
    assert_eq!((stats.open_exchanges, stats.pending_backend_requests), (0, 1), "only the listen stream is left");
}

#[test]
fn a_question_a_session_cannot_answer_fails_its_call() {
    let mut h = Harness::new(&[("modern", stateless_server())]);
    h.bring_up_stateless("modern", &["ask"]);
    let session = h.initialize_with(json!({}));
    let x = h.call(&session, json!(1), "modern_1mcp_ask", json!({}));
    let call = h.backend_writes("modern").pop().expect("call sent");
    let asks = json!({"resultType": "input_required", "inputRequests": {"k": {"method": "roots/list", "params": {}}}});
    h.backend_says("modern", json!({"jsonrpc": "2.0", "id": call["id"], "result": asks}));
    let body = h.json_response(x).1;
    assert_eq!(body["error"]["code"], code::INTERNAL_ERROR);
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("roots")), "{body}");
}

#[test]
fn a_stateless_backends_missing_capability_error_reaches_a_stateless_client_as_a_400() {
    let mut h = Harness::new(&[("modern", stateless_server())]);
    h.bring_up_stateless("modern", &["needs"]);
    let x = modern(&mut h, 1, "tools/call", json!({"name": "modern_1mcp_needs"}), json!({}));
    let call = h.backend_writes("modern").pop().expect("call sent");
    let error = json!({"code": code::MISSING_REQUIRED_CLIENT_CAPABILITY, "message": "Missing required client capability",
        "data": {"requiredCapabilities": {"sampling": {}}}});
    h.backend_says("modern", json!({"jsonrpc": "2.0", "id": call["id"], "error": error}));
    let (status, body) = h.json_response(x);
    assert_eq!((status, &body["error"]["code"]), (400, &json!(code::MISSING_REQUIRED_CLIENT_CAPABILITY)));
    assert_eq!(body["error"]["data"]["requiredCapabilities"], json!({"sampling": {}}));
    // Any other error is an answer like a result: 200.
    let x = modern(&mut h, 2, "tools/call", json!({"name": "modern_1mcp_needs"}), json!({}));
    let call = h.backend_writes("modern").pop().expect("call sent");
    h.backend_says(
        "modern",
        json!({"jsonrpc": "2.0", "id": call["id"], "error": {"code": code::INVALID_PARAMS, "message": "no"}}),
    );
    assert_eq!(h.json_response(x).0, 200);
}

fn auto_server() -> ServerConfig {
    ServerConfig { protocol: Protocol::Auto, ..server(true) }
}

/// Spawn the current incarnation of `name`; the first line it is sent.
fn spawn(h: &mut Harness, name: &str) -> Value {
    let generation = h.generation(name);
    h.feed(Input::BackendSpawned { backend: bk(name), generation, pid: Some(1) });
    h.backend_writes(name).pop().expect("a first request")
}

/// Let `name`'s incarnation exit, and the next one start.
fn restart(h: &mut Harness, name: &str) {
    let generation = h.generation(name);
    h.feed(Input::BackendExited {
        backend: bk(name),
        generation,
        status: ExitInfo { code: Some(1), ..ExitInfo::default() },
    });
    h.advance(Duration::from_secs(60));
}

#[test]
fn asking_finds_a_stateless_server_and_does_not_ask_again() {
    let mut h = Harness::new(&[("auto", auto_server())]);
    let probe = spawn(&mut h, "auto");
    assert_eq!(
        (&probe["method"], &probe["params"]["_meta"][VERSION]),
        (&json!("server/discover"), &json!("2026-07-28"))
    );
    let result = json!({"supportedVersions": ["2026-07-28"], "capabilities": {}, "resultType": "complete", "ttlMs": 0, "cacheScope": "public"});
    h.backend_says("auto", json!({"jsonrpc": "2.0", "id": probe["id"], "result": result}));
    assert_eq!(h.hub.backends[&bk("auto")].state, BackendState::Ready, "discovered, nothing to list");
    let sent = h.backend_writes("auto");
    assert!(sent.iter().all(|m| m["method"] != "initialize"), "{sent:?}");
    restart(&mut h, "auto");
    let first = spawn(&mut h, "auto");
    assert_eq!(first["method"], "server/discover");
    // Not a question this time: an error is the handshake failing, not a reason to open a session.
    h.backend_says(
        "auto",
        json!({"jsonrpc": "2.0", "id": first["id"], "error": {"code": -32603, "message": "broken"}}),
    );
    assert!(h.backend_writes("auto").iter().all(|m| m["method"] != "initialize"));
    assert!(h.hub.backends[&bk("auto")].state.reason().is_some_and(|r| r.contains("server/discover failed")));
}

#[test]
fn asking_a_session_based_server_opens_a_session_at_once_and_only_once() {
    let mut h = Harness::new(&[("auto", auto_server())]);
    let probe = spawn(&mut h, "auto");
    h.backend_says(
        "auto",
        json!({"jsonrpc": "2.0", "id": probe["id"], "error": {"code": -32601, "message": "Method not found"}}),
    );
    let init = h.backend_writes("auto").pop().expect("initialize on the same process");
    assert_eq!(init["method"], "initialize");
    let result =
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "old", "version": "1"}});
    h.backend_says("auto", json!({"jsonrpc": "2.0", "id": init["id"], "result": result}));
    assert_eq!(h.hub.backends[&bk("auto")].state, BackendState::Ready);
    let health = crate::health::overall(Instant(0), &h.hub.config, h.hub.backends.values(), &[], None).1;
    assert_eq!(health["servers"]["details"][0]["protocol"], "2025-11-25");
    restart(&mut h, "auto");
    assert_eq!(spawn(&mut h, "auto")["method"], "initialize", "what was learned holds for the next incarnation");
}

#[test]
fn a_server_that_does_not_answer_the_question_in_time_gets_a_session_and_is_asked_again_next_time() {
    let mut h = Harness::new(&[("auto", auto_server())]);
    let probe = spawn(&mut h, "auto");
    h.advance(crate::hub::backends::PROBE_TIMEOUT);
    let init = h.backend_writes("auto").pop().expect("initialize after the silence");
    assert_eq!(init["method"], "initialize");
    // A late answer to the question changes nothing.
    h.backend_says(
        "auto",
        json!({"jsonrpc": "2.0", "id": probe["id"], "result": {"supportedVersions": ["2026-07-28"]}}),
    );
    assert_eq!(h.hub.backends[&bk("auto")].era, crate::backend::Era::Sessions);
    restart(&mut h, "auto");
    assert_eq!(spawn(&mut h, "auto")["method"], "server/discover", "silence may have been a slow start: ask again");
}

#[test]
fn a_server_that_dies_of_the_question_is_not_asked_again_and_one_that_speaks_another_stateless_revision_fails() {
    let mut h = Harness::new(&[("auto", auto_server())]);
    spawn(&mut h, "auto");
    restart(&mut h, "auto");
    assert_eq!(spawn(&mut h, "auto")["method"], "initialize");
    let mut h = Harness::new(&[("future", auto_server())]);
    let probe = spawn(&mut h, "future");
    let error = json!({"code": code::UNSUPPORTED_PROTOCOL_VERSION, "message": "Unsupported protocol version",
        "data": {"supported": ["2027-03-01"], "requested": "2026-07-28"}});
    h.backend_says("future", json!({"jsonrpc": "2.0", "id": probe["id"], "error": error}));
    assert!(h.backend_writes("future").iter().all(|m| m["method"] != "initialize"), "the spec: do not fall back");
    let state = h.hub.backends[&bk("future")].state.clone();
    assert!(state.reason().is_some_and(|r| r.contains("2027-03-01")), "{state:?}");
}

#[test]
fn sessions_follow_a_stateless_backends_resource_on_one_listen_stream_per_resource() {
    let mut h = Harness::new(&[("modern", stateless_server())]);
    h.bring_up_stateless_with("modern", &["echo"], json!({"tools": {}, "resources": {"subscribe": true}}));
    let uri = "mem://modern/a";
    let (a, b) = (h.initialize(), h.initialize());
    let (stream_a, stream_b) = (h.open_stream(&a), h.open_stream(&b));
    let subscribe = |h: &mut Harness, s: &str, method: &str| {
        let x = h.post(Some(s), json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": {"uri": uri}}));
        assert_eq!(h.json_response(x).1["result"], json!({}), "{method}");
    };
    subscribe(&mut h, &a, "resources/subscribe");
    let listen = h.backend_writes("modern").pop().expect("a listen stream for the resource");
    assert_eq!(listen["method"], "subscriptions/listen", "the revision has no resources/subscribe");
    assert_eq!(listen["params"]["notifications"], json!({"resourceSubscriptions": [uri]}));
    subscribe(&mut h, &b, "resources/subscribe");
    assert!(h.backend_writes("modern").is_empty(), "one stream per resource, however many follow it");
    let update = json!({"jsonrpc": "2.0", "method": "notifications/resources/updated",
        "params": {"uri": uri, "_meta": {"io.modelcontextprotocol/subscriptionId": listen["id"]}}});
    h.backend_says("modern", update);
    for stream in [stream_a, stream_b] {
        assert_eq!(h.events(stream).0[0]["params"]["uri"], uri);
    }
    subscribe(&mut h, &a, "resources/unsubscribe");
    assert!(h.backend_writes("modern").is_empty(), "b still follows it");
    let d = h.http(HttpMethod::Delete, Some(&b), "");
    assert_eq!(h.json_response(d).0, 200);
    let cancel = h.backend_writes("modern").pop().expect("the stream is ended");
    assert_eq!((&cancel["method"], &cancel["params"]["requestId"]), (&json!("notifications/cancelled"), &listen["id"]));
    assert!(h.hub.backends[&bk("modern")].resource_listens.is_empty());
}

/// Discover `name` (tools only) and answer its tool list with `hints` (`ttlMs`, `cacheScope`).
fn bring_up_with_hints(h: &mut Harness, name: &str, hints: Value) {
    let probe = spawn(h, name);
    let result = json!({"supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}}});
    h.backend_says(name, json!({"jsonrpc": "2.0", "id": probe["id"], "result": result}));
    let list = h.backend_writes(name).pop().expect("tools listed");
    let mut result = json!({"tools": [{"name": "t", "inputSchema": {"type": "object"}}], "resultType": "complete"});
    if let (Some(result), Some(hints)) = (result.as_object_mut(), hints.as_object()) {
        result.extend(hints.clone());
    }
    h.backend_says(name, json!({"jsonrpc": "2.0", "id": list["id"], "result": result}));
    assert_eq!(h.hub.backends[&bk(name)].state, BackendState::Ready);
}

#[test]
fn a_merged_lists_caching_hints_are_the_strictest_of_the_backends_that_make_it() {
    let mut h = Harness::new(&[("a", stateless_server()), ("b", stateless_server()), ("old", server(true))]);
    bring_up_with_hints(&mut h, "a", json!({"ttlMs": 60_000, "cacheScope": "public"}));
    bring_up_with_hints(&mut h, "b", json!({"ttlMs": 30_000, "cacheScope": "public"}));
    let list = |h: &mut Harness| {
        let x = modern(h, 1, "tools/list", json!({}), json!({}));
        h.json_response(x).1["result"].clone()
    };
    let result = list(&mut h);
    assert_eq!((&result["ttlMs"], &result["cacheScope"]), (&json!(30_000), &json!("public")), "{result}");
    // A session-based server joins the list: it gives no hint, so nothing may be reused.
    h.bring_up("old", &["echo"]);
    assert_eq!(list(&mut h)["ttlMs"], 0);
    // A private part makes the whole list private.
    let mut h = Harness::new(&[("a", stateless_server()), ("p", stateless_server())]);
    bring_up_with_hints(&mut h, "a", json!({"ttlMs": 60_000, "cacheScope": "public"}));
    bring_up_with_hints(&mut h, "p", json!({"ttlMs": 90_000, "cacheScope": "private"}));
    let result = list(&mut h);
    assert_eq!((&result["ttlMs"], &result["cacheScope"]), (&json!(60_000), &json!("private")), "{result}");
}

/// An HTTP server as the config file makes it by default: asked its era, with an instance per
/// client session while it speaks sessions (`only_with_sessions`).
fn http_default_server(only_with_sessions: bool) -> ServerConfig {
    let limits = crate::config::PerSessionConfig { only_with_sessions, ..crate::config::PerSessionConfig::default() };
    ServerConfig { per_session: Some(limits), ..auto_server() }
}

#[test]
fn a_server_with_instances_only_while_it_speaks_sessions_is_shared_once_it_turns_out_stateless() {
    let mut h = Harness::new(&[("web", http_default_server(true))]);
    h.bring_up_stateless("web", &["echo"]);
    let session = h.initialize_with(client_features());
    let x = h.call(&session, json!(1), "web_1mcp_echo", json!({"text": "a"}));
    assert!(h.spawned_instances("web").is_empty(), "no sessions to keep apart: no instance");
    let call = h.backend_writes("web").into_iter().find(|m| m["method"] == "tools/call").expect("sent to the server");
    assert_eq!(call["params"]["_meta"][VERSION], "2026-07-28");
    h.backend_says(
        "web",
        json!({"jsonrpc": "2.0", "id": call["id"], "result": {"content": [], "resultType": "complete"}}),
    );
    let (status, body) = h.json_response(x);
    assert_eq!((status, body["id"].clone()), (200, json!(1)), "{body}");
    assert!(body["result"]["content"].is_array(), "{body}");
    let health = crate::health::overall(Instant(0), &h.hub.config, h.hub.backends.values(), &[], None).1;
    assert!(health["servers"]["details"][0].get("sessionInstances").is_none(), "{health}");

    // Asked for in the config, instances are kept whatever the server speaks.
    let mut h = Harness::new(&[("web", http_default_server(false))]);
    h.bring_up_stateless("web", &["echo"]);
    let session = h.initialize_with(client_features());
    h.call(&session, json!(1), "web_1mcp_echo", json!({"text": "a"}));
    assert_eq!(h.spawned_instances("web").len(), 1);
}

#[test]
fn a_server_with_instances_only_while_it_speaks_sessions_gets_them_when_it_turns_out_session_based() {
    let mut h = Harness::new(&[("web", http_default_server(true))]);
    let probe = spawn(&mut h, "web");
    let refusal = json!({"code": -32000, "message": "Bad Request: Mcp-Session-Id header is required"});
    h.backend_says("web", json!({"jsonrpc": "2.0", "id": probe["id"], "error": refusal}));
    let init = h.backend_writes("web").pop().expect("a session instead");
    assert_eq!(init["method"], "initialize");
    let result = json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}}, "serverInfo": {"name": "old", "version": "1"}});
    h.backend_says("web", json!({"jsonrpc": "2.0", "id": init["id"], "result": result}));
    let list = h.backend_writes("web").into_iter().find(|m| m["method"] == "tools/list").expect("listed");
    let tools = json!({"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]});
    h.backend_says("web", json!({"jsonrpc": "2.0", "id": list["id"], "result": tools}));
    let session = h.initialize_with(client_features());
    h.call(&session, json!(1), "web_1mcp_echo", json!({}));
    let instances = h.spawned_instances("web");
    assert_eq!(instances.len(), 1, "one instance (one MCP session) per client session");
    h.feed(Input::BackendSpawned { backend: bk(&instances[0]), generation: h.generation(&instances[0]), pid: None });
    let first = h.backend_writes(&instances[0]).pop().expect("the instance's first request");
    assert_eq!(first["method"], "initialize", "what the shared one learned holds: not asked again");
}
