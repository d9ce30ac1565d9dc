//! Hub behaviour driven through its public inputs and outputs, with scripted backends.

use super::*;
use crate::config::{LaunchSpec, RestartConfig, ServerConfig, TransportConfig};
use crate::event::{ExitInfo, HttpMethod, HttpRequest};
use serde_json::json;

/// The backend of a configured server, or an instance by its label.
fn bk(label: &str) -> BackendKey {
    BackendKey::parse(label)
}

fn server(prefix: bool) -> ServerConfig {
    ServerConfig { request_timeout: Some(Duration::from_secs(5)), prefix_names: prefix, ..ServerConfig::stdio("srv") }
}

/// A hub plus the bookkeeping a test needs to play clients and backends.
struct Harness {
    hub: Hub,
    now: Instant,
    next_exchange: u64,
    /// Outputs not yet claimed by an assertion.
    outputs: Vec<Output>,
    /// What every request presents as its credential.
    credential: crate::auth::Credential,
}

impl Harness {
    fn new(servers: &[(&str, ServerConfig)]) -> Harness {
        Harness::with_config(servers, HubConfig::default())
    }

    fn with_config(servers: &[(&str, ServerConfig)], config: HubConfig) -> Harness {
        let mut mcp = McpConfig::default();
        for (name, s) in servers {
            mcp.servers.insert((*name).to_owned(), s.clone());
        }
        let hub = Hub::new(Instant(0), HubConfig { mcp, ..config }, [7; 32]);
        let mut h = Harness { hub, now: Instant(0), next_exchange: 0, outputs: vec![], credential: Default::default() };
        h.drain();
        h
    }

    fn drain(&mut self) {
        while let Some(o) = self.hub.poll_output() {
            self.outputs.push(o);
        }
    }

    fn feed(&mut self, input: Input) {
        self.hub.handle(self.now, input);
        self.drain();
    }

    fn advance(&mut self, d: Duration) {
        self.now = self.now.after(d);
        self.hub.handle_timeout(self.now);
        self.drain();
    }

    /// Take every line written to a backend so far, parsed.
    fn backend_writes(&mut self, name: &str) -> Vec<Value> {
        let mut taken = vec![];
        self.outputs.retain(|o| match o {
            Output::WriteBackend { backend, line, .. } if *backend == bk(name) => {
                taken.push(serde_json::from_str(line).expect("hub writes JSON"));
                false
            }
            _ => true,
        });
        taken
    }

    fn generation(&self, name: &str) -> Gen {
        self.hub.backends[&bk(name)].generation
    }

    fn backend_says(&mut self, name: &str, message: Value) {
        let generation = self.generation(name);
        self.feed(Input::BackendLine { backend: bk(name), generation, line: message.to_string() });
    }

    /// Walk a backend through spawn, initialize and `tools/list`.
    fn bring_up(&mut self, name: &str, tools: &[&str]) {
        self.bring_up_with(name, tools, json!({"tools": {}}));
    }

    /// Like `bring_up`, declaring `capabilities` (which must include `tools`); other lists come back empty.
    fn bring_up_with(&mut self, name: &str, tools: &[&str], capabilities: Value) {
        let generation = self.generation(name);
        self.feed(Input::BackendSpawned { backend: bk(name), generation, pid: Some(1) });
        let init = self.backend_writes(name).pop().expect("initialize sent");
        assert_eq!(init["method"], "initialize");
        let result = json!({"protocolVersion": "2025-11-25", "capabilities": capabilities,
            "serverInfo": {"name": name, "version": "1"}, "instructions": format!("use {name} wisely")});
        self.backend_says(name, json!({"jsonrpc": "2.0", "id": init["id"], "result": result}));
        let writes = self.backend_writes(name);
        assert_eq!(writes[0]["method"], "notifications/initialized");
        assert_eq!(writes[1]["method"], "tools/list");
        let tools: Vec<Value> = tools.iter().map(|t| json!({"name": t, "inputSchema": {"type": "object"}})).collect();
        for list in &writes[1..] {
            let result = match list["method"].as_str() {
                Some("tools/list") => json!({"tools": tools}),
                Some("resources/list") => json!({"resources": [{"uri": format!("mem://{name}/a"), "name": "a"}]}),
                _ => json!({"prompts": [], "resourceTemplates": []}),
            };
            self.backend_says(name, json!({"jsonrpc": "2.0", "id": list["id"], "result": result}));
        }
        assert_eq!(self.hub.backends[&bk(name)].state, BackendState::Ready);
    }

    fn http(&mut self, method: HttpMethod, session: Option<&str>, body: &str) -> ExchangeId {
        self.http_at(method, "/mcp", "", session, body)
    }

    fn http_at(
        &mut self,
        method: HttpMethod,
        path: &str,
        query: &str,
        session: Option<&str>,
        body: &str,
    ) -> ExchangeId {
        let request = HttpRequest {
            method: Some(method),
            path: path.into(),
            query: query.into(),
            session_id: session.map(str::to_owned),
            body: body.as_bytes().to_vec(),
            ..self.request()
        };
        self.send(request)
    }

    /// A request as the tests' client sends it: a local Host, JSON or an event stream
    /// accepted, the harness's credential; nothing else.
    fn request(&self) -> HttpRequest {
        HttpRequest {
            host: Some("127.0.0.1:3050".into()),
            accept: Some("application/json, text/event-stream".into()),
            credential: self.credential.clone(),
            ..HttpRequest::default()
        }
    }

    /// `message` POSTed as a stateless (2026-07-28) client sends it: no session, the revision in
    /// `MCP-Protocol-Version` (`version`), and the `Mcp-Method` / `Mcp-Name` headers its body
    /// implies.
    fn modern_request(&self, version: Option<&str>, message: &Value) -> HttpRequest {
        let method = message["method"].as_str().unwrap_or_default();
        let headers = crate::mcp_headers::backend_headers(method, message["params"].as_object(), &[], None);
        HttpRequest {
            method: Some(HttpMethod::Post),
            path: "/mcp".into(),
            protocol_version: version.map(str::to_owned),
            mcp_headers: crate::mcp_headers::McpHeaders::from_headers(headers),
            body: message.to_string().into_bytes(),
            ..self.request()
        }
    }

    /// Send `request` on a fresh exchange.
    fn send(&mut self, request: HttpRequest) -> ExchangeId {
        self.next_exchange += 1;
        let exchange = ExchangeId(self.next_exchange);
        self.feed(Input::HttpRequest { exchange, request });
        exchange
    }

    fn post(&mut self, session: Option<&str>, message: Value) -> ExchangeId {
        self.http(HttpMethod::Post, session, &message.to_string())
    }

    /// The complete response to an exchange, if it was given.
    fn response(&mut self, exchange: ExchangeId) -> Option<HttpResponse> {
        let at =
            self.outputs.iter().position(|o| matches!(o, Output::Respond { exchange: e, .. } if *e == exchange))?;
        match self.outputs.remove(at) {
            Output::Respond { response, .. } => Some(response),
            _ => None,
        }
    }

    fn json_response(&mut self, exchange: ExchangeId) -> (u16, Value) {
        let r = self.response(exchange).expect("exchange answered");
        let body = if r.body.is_empty() { Value::Null } else { serde_json::from_str(&r.body).expect("JSON body") };
        (r.status, body)
    }

    fn initialize(&mut self) -> String {
        self.initialize_with(json!({}))
    }

    fn initialize_with(&mut self, capabilities: Value) -> String {
        let x = self.post(None, json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": capabilities, "clientInfo": {"name": "t", "version": "1"}}}));
        let r = self.response(x).expect("initialize answered");
        assert_eq!(r.status, 200);
        let body: Value = serde_json::from_str(&r.body).expect("json");
        assert_eq!(body["result"]["protocolVersion"], "2025-06-18");
        r.headers.iter().find(|(k, _)| k == "Mcp-Session-Id").map(|(_, v)| v.clone()).expect("session header")
    }

    /// Open the session's GET stream.
    fn open_stream(&mut self, session: &str) -> ExchangeId {
        let x = self.http(HttpMethod::Get, Some(session), "");
        assert!(self.outputs.iter().any(|o| matches!(o, Output::OpenStream { exchange, .. } if *exchange == x)));
        x
    }

    /// Every event pushed on an exchange so far, parsed, and whether it was closed.
    fn events(&mut self, exchange: ExchangeId) -> (Vec<Value>, bool) {
        let mut events = vec![];
        let mut closed = false;
        self.outputs.retain(|o| match o {
            Output::PushEvent { exchange: x, event } if *x == exchange => {
                events.push(serde_json::from_str(&event.data).expect("JSON event"));
                false
            }
            Output::CloseStream { exchange: x } if *x == exchange => {
                closed = true;
                false
            }
            Output::OpenStream { exchange: x, .. } if *x == exchange => false,
            _ => true,
        });
        (events, closed)
    }

    fn call(&mut self, session: &str, id: Value, tool: &str, args: Value) -> ExchangeId {
        self.post(
            Some(session),
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}}),
        )
    }
}

fn two_backends() -> Harness {
    let mut h = Harness::new(&[("alpha", server(true)), ("beta", server(true))]);
    h.bring_up("alpha", &["echo", "add"]);
    h.bring_up("beta", &["echo"]);
    h
}

#[test]
fn spawns_every_enabled_backend_with_its_exact_spec() {
    let mut disabled = server(true);
    disabled.disabled = true;
    let h = Harness::new(&[("alpha", server(true)), ("off", disabled)]);
    let spawned: Vec<String> = h
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::SpawnBackend { backend, transport: TransportConfig::Stdio(spec), .. } => {
                Some((backend.to_string(), spec.command.as_str()))
            }
            _ => None,
        })
        .map(|(b, c)| {
            assert_eq!(c, "srv");
            b
        })
        .collect();
    assert_eq!(spawned, ["alpha"]);
    assert_eq!(h.hub.backends[&bk("off")].state, BackendState::Disabled);
}

#[test]
fn merges_tool_lists_in_server_order_with_prefixed_names() {
    let mut h = two_backends();
    let s = h.initialize();
    let x = h.post(Some(&s), json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    let (status, body) = h.json_response(x);
    assert_eq!(status, 200);
    let names: Vec<&str> =
        body["result"]["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["alpha_1mcp_echo", "alpha_1mcp_add", "beta_1mcp_echo"]);
}

#[test]
fn initialize_merges_backend_instructions() {
    let mut h = two_backends();
    let x = h.post(
        None,
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}),
    );
    let (_, body) = h.json_response(x);
    let text = body["result"]["instructions"].as_str().expect("instructions");
    assert!(text.contains("<alpha>\nuse alpha wisely\n</alpha>"), "{text}");
    assert!(text.contains("<beta>\nuse beta wisely\n</beta>"), "{text}");
    assert_eq!(body["result"]["serverInfo"]["name"], "1mcp");
}

#[test]
fn calls_are_remapped_to_backend_ids_and_answered_under_the_client_id() {
    let mut h = two_backends();
    let s = h.initialize();
    let x = h.call(&s, json!("client-7"), "beta_1mcp_echo", json!({"text": "hi"}));
    let sent = h.backend_writes("beta");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["params"]["name"], "echo", "original name restored");
    assert_eq!(sent[0]["params"]["arguments"], json!({"text": "hi"}));
    assert!(sent[0]["id"].is_u64(), "backend-side id is the proxy's own");
    assert!(h.response(x).is_none(), "nothing before the backend answers");
    h.backend_says("beta", json!({"jsonrpc": "2.0", "id": sent[0]["id"], "result": {"content": [{"type": "text", "text": "hi"}], "x-extra": 1}}));
    let (status, body) = h.json_response(x);
    assert_eq!(status, 200);
    assert_eq!(body["id"], "client-7");
    assert_eq!(body["result"]["x-extra"], 1, "unknown fields pass through");
    assert_eq!(h.hub.stats().pending_backend_requests, 0);
    assert_eq!(h.hub.stats().timers, 0);
}

#[test]
fn two_sessions_using_the_same_client_id_never_see_each_others_results() {
    let mut h = two_backends();
    let (s1, s2) = (h.initialize(), h.initialize());
    assert_ne!(s1, s2);
    let x1 = h.call(&s1, json!(1), "alpha_1mcp_echo", json!({"text": "one"}));
    let x2 = h.call(&s2, json!(1), "alpha_1mcp_echo", json!({"text": "two"}));
    let sent = h.backend_writes("alpha");
    assert_ne!(sent[0]["id"], sent[1]["id"]);
    // Answer out of order.
    h.backend_says(
        "alpha",
        json!({"jsonrpc": "2.0", "id": sent[1]["id"], "result": {"echo": sent[1]["params"]["arguments"]["text"]}}),
    );
    h.backend_says(
        "alpha",
        json!({"jsonrpc": "2.0", "id": sent[0]["id"], "result": {"echo": sent[0]["params"]["arguments"]["text"]}}),
    );
    assert_eq!(h.json_response(x1).1["result"]["echo"], "one");
    assert_eq!(h.json_response(x2).1["result"]["echo"], "two");
}

#[test]
fn unknown_and_disabled_tools_are_invalid_params_naming_the_tool() {
    let mut cfg = server(true);
    cfg.disabled_tools = vec!["add".into()];
    let mut h = Harness::new(&[("alpha", cfg)]);
    h.bring_up("alpha", &["echo", "add"]);
    let s = h.initialize();
    let x = h.call(&s, json!(1), "alpha_1mcp_nope", json!({}));
    let (_, body) = h.json_response(x);
    assert_eq!(body["error"]["code"], -32602);
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("alpha_1mcp_nope")));
    let x = h.call(&s, json!(2), "alpha_1mcp_add", json!({}));
    let (_, body) = h.json_response(x);
    assert_eq!(body["error"]["code"], -32602);
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("disabled")));
    assert!(h.backend_writes("alpha").is_empty(), "nothing reached the backend");
}

#[test]
fn backend_errors_pass_through_as_they_were_with_the_server_added_to_their_data() {
    let mut h = two_backends();
    let s = h.initialize();
    let answer = |h: &mut Harness, id: u64, error: Value| {
        let x = h.call(&s, json!(id), "alpha_1mcp_add", json!({}));
        let sent = h.backend_writes("alpha");
        h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": sent[0]["id"], "error": error}));
        let (_, body) = h.json_response(x);
        assert_eq!(body["id"], id);
        body["error"].clone()
    };
    let error = answer(&mut h, 3, json!({"code": -32602, "message": "a is required", "data": {"k": 1}}));
    assert_eq!(error, json!({"code": -32602, "message": "a is required", "data": {"k": 1, "server": "alpha"}}));
    let error = answer(&mut h, 4, json!({"code": -32000, "message": "boom"}));
    assert_eq!(error, json!({"code": -32000, "message": "boom", "data": {"server": "alpha"}}));
    let error = answer(&mut h, 5, json!({"code": -32001, "message": "m", "data": null}));
    assert_eq!(error["data"], json!({"server": "alpha"}));
    let error = answer(&mut h, 6, json!({"code": -32002, "message": "m", "data": "text of its own"}));
    assert_eq!(error["data"], "text of its own", "data that is not an object is left as the server sent it");
    let error = answer(&mut h, 7, json!({"code": -32003, "message": "m", "data": {"server": "upstream-x"}}));
    assert_eq!(error["data"], json!({"server": "upstream-x"}), "the server's own member wins");
}

#[test]
fn a_backend_exit_fails_its_calls_at_once_and_spares_the_others() {
    let mut h = two_backends();
    let s = h.initialize();
    let xa = h.call(&s, json!(1), "alpha_1mcp_echo", json!({}));
    let xb = h.call(&s, json!(2), "beta_1mcp_echo", json!({}));
    let generation = h.generation("alpha");
    h.feed(Input::BackendExited {
        backend: bk("alpha"),
        generation,
        status: ExitInfo { code: Some(9), signal: None, reason: None },
    });
    let (_, body) = h.json_response(xa);
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("alpha") && message.contains("code 9"), "{message}");
    assert!(h.response(xb).is_none(), "beta's call is untouched");
    let sent = h.backend_writes("beta");
    h.backend_says("beta", json!({"jsonrpc": "2.0", "id": sent[0]["id"], "result": {}}));
    assert_eq!(h.json_response(xb).1["id"], 2);
    let x = h.post(Some(&s), json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}));
    let tools = h.json_response(x).1["result"]["tools"].as_array().map(Vec::len);
    assert_eq!(tools, Some(1), "alpha's tools are withdrawn");
}

#[test]
fn lines_from_a_stale_generation_are_ignored() {
    let mut h = two_backends();
    let s = h.initialize();
    let x = h.call(&s, json!(1), "alpha_1mcp_echo", json!({}));
    let sent = h.backend_writes("alpha");
    let stale = Gen(h.generation("alpha").0 + 100);
    let line = json!({"jsonrpc": "2.0", "id": sent[0]["id"], "result": {}}).to_string();
    h.feed(Input::BackendLine { backend: bk("alpha"), generation: stale, line });
    assert!(h.response(x).is_none());
}

#[test]
fn request_timeout_answers_the_client_and_cancels_on_the_backend() {
    let mut h = two_backends();
    let s = h.initialize();
    let x = h.call(&s, json!(1), "alpha_1mcp_echo", json!({}));
    let sent = h.backend_writes("alpha");
    h.advance(Duration::from_secs(4));
    assert!(h.response(x).is_none());
    h.advance(Duration::from_secs(2));
    let (_, body) = h.json_response(x);
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("did not answer tools/call within 5000 ms")));
    let cancel = h.backend_writes("alpha");
    assert_eq!(cancel[0]["method"], "notifications/cancelled");
    assert_eq!(cancel[0]["params"]["requestId"], sent[0]["id"]);
    // A late answer is dropped, not delivered twice.
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": sent[0]["id"], "result": {}}));
    assert!(h.response(x).is_none());
    assert_eq!(h.hub.stats(), HubStats { sessions: 1, ready_backends: 2, ..HubStats::default() });
}

#[test]
fn a_client_that_goes_away_cancels_its_backend_request() {
    let mut h = two_backends();
    let s = h.initialize();
    let x = h.call(&s, json!(1), "alpha_1mcp_echo", json!({}));
    let sent = h.backend_writes("alpha");
    h.feed(Input::ExchangeClosed { exchange: x });
    let cancel = h.backend_writes("alpha");
    assert_eq!(cancel[0]["params"]["requestId"], sent[0]["id"]);
    assert_eq!(h.hub.stats().pending_backend_requests, 0);
    assert_eq!(h.hub.stats().timers, 0);
}

#[test]
fn client_cancellation_is_translated_to_the_backend_id() {
    let mut h = two_backends();
    let s = h.initialize();
    let x = h.call(&s, json!("c1"), "alpha_1mcp_echo", json!({}));
    let sent = h.backend_writes("alpha");
    let n =
        h.post(Some(&s), json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "c1"}}));
    assert_eq!(h.json_response(n).0, 202);
    let cancel = h.backend_writes("alpha");
    assert_eq!(cancel[0]["params"]["requestId"], sent[0]["id"]);
    assert_eq!(h.response(x).map(|r| r.status), Some(204), "the exchange is released at once");
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": sent[0]["id"], "result": {}}));
    assert!(h.response(x).is_none(), "a cancelled call's result is not delivered");
}

#[test]
fn http_admission_errors() {
    let mut h = two_backends();
    let x = h.http(HttpMethod::Post, None, "{oops");
    let (status, body) = h.json_response(x);
    assert_eq!((status, body["error"]["code"].as_i64()), (400, Some(-32700)));
    assert!(body.get("id").is_none());
    let x = h.post(None, json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    assert_eq!(h.json_response(x).0, 400);
    let x = h.post(Some("stream-nope"), json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    assert_eq!(h.json_response(x).0, 404);
    let s = h.initialize();
    let x = h.post(Some(&s), json!({"jsonrpc": "2.0", "id": 1, "method": "no/such"}));
    let (status, body) = h.json_response(x);
    assert_eq!((status, body["error"]["code"].as_i64()), (200, Some(-32601)));
    let x = h.http(HttpMethod::Delete, Some(&s), "");
    assert_eq!(h.json_response(x).0, 200);
    let x = h.post(Some(&s), json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(h.json_response(x).0, 404);
}

#[test]
fn garbage_and_banners_on_stdout_do_not_stop_a_backend() {
    let mut h = Harness::new(&[("alpha", server(true))]);
    let generation = h.generation("alpha");
    h.feed(Input::BackendLine { backend: bk("alpha"), generation, line: "Starting server...".into() });
    h.bring_up("alpha", &["echo"]);
    assert_eq!(h.hub.backends[&bk("alpha")].garbage_lines, 1);
}

#[test]
fn a_backend_that_never_initializes_is_failed_and_stopped_at_its_deadline() {
    let mut cfg = server(true);
    cfg.connection_timeout = Some(Duration::from_millis(500));
    let mut h = Harness::new(&[("slow", cfg)]);
    let generation = h.generation("slow");
    h.feed(Input::BackendSpawned { backend: bk("slow"), generation, pid: None });
    h.advance(Duration::from_millis(499));
    assert!(h.hub.backends[&bk("slow")].state.is_starting());
    h.advance(Duration::from_millis(1));
    let state = &h.hub.backends[&bk("slow")].state;
    assert!(state.reason().is_some_and(|r| r.contains("500 ms")), "{state:?}");
    assert_eq!(state.label(), "restarting", "supervised by default");
    assert!(h.outputs.iter().any(|o| matches!(o, Output::StopBackend { backend, .. } if *backend == bk("slow"))));
}

#[test]
fn shutdown_lets_calls_in_flight_finish_then_stops_every_backend() {
    let mut h = two_backends();
    let s = h.initialize();
    let x = h.call(&s, json!(1), "alpha_1mcp_echo", json!({}));
    let sent = h.backend_writes("alpha");
    h.feed(Input::Shutdown);
    assert!(h.response(x).is_none(), "the call in flight is not cut short");
    assert!(!h.outputs.iter().any(|o| matches!(o, Output::StopBackend { .. })), "backends run until it is answered");
    let late = h.call(&s, json!(2), "beta_1mcp_echo", json!({}));
    assert!(h.json_response(late).1["error"]["message"].as_str().is_some_and(|m| m.contains("shutting down")));
    h.advance(Duration::from_millis(500));
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": sent[0]["id"], "result": {"finished": true}}));
    assert_eq!(h.json_response(x).1["result"]["finished"], true, "answered for real");
    let stopped = h.outputs.iter().filter(|o| matches!(o, Output::StopBackend { .. })).count();
    assert_eq!(stopped, 2, "and then everything stops at once");
    assert_eq!(h.hub.stats(), HubStats::default());
}

#[test]
fn a_shutdown_drain_is_bounded_by_its_grace() {
    let mut h = two_backends();
    let s = h.initialize();
    let x = h.call(&s, json!(1), "alpha_1mcp_echo", json!({}));
    h.feed(Input::Shutdown);
    h.advance(Duration::from_millis(2_999));
    assert!(h.response(x).is_none());
    h.advance(Duration::from_millis(1));
    assert!(h.json_response(x).1["error"]["message"].as_str().is_some_and(|m| m.contains("shutting down")));
    assert_eq!(h.hub.stats(), HubStats::default());
}

#[test]
fn a_relist_that_is_never_answered_times_out_and_keeps_the_previous_list() {
    let mut h = two_backends();
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}));
    let relist = h.backend_writes("alpha");
    assert_eq!(relist[0]["method"], "tools/list");
    assert_eq!(h.hub.stats().timers, 1, "the re-list has a deadline");
    h.advance(Duration::from_secs(6));
    assert_eq!(h.hub.stats().pending_backend_requests, 0);
    assert_eq!(h.hub.stats().timers, 0);
    let s = h.initialize();
    let x = h.post(Some(&s), json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    assert_eq!(h.json_response(x).1["result"]["tools"].as_array().map(Vec::len), Some(3), "nothing was wiped");
}

#[test]
fn overlapping_list_changes_fetch_one_list_at_a_time_and_end_with_the_newest() {
    let mut h = two_backends();
    let changed = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
    h.backend_says("alpha", changed.clone());
    h.backend_says("alpha", changed);
    let first = h.backend_writes("alpha");
    assert_eq!(first.len(), 1, "no second fetch while one is running");
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": first[0]["id"], "result": {"tools": [{"name": "old"}]}}));
    let second = h.backend_writes("alpha");
    assert_eq!(second.len(), 1, "the change announced mid-fetch is fetched afterwards");
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": second[0]["id"], "result": {"tools": [{"name": "new"}]}}));
    let s = h.initialize();
    let x = h.post(Some(&s), json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    let (_, body) = h.json_response(x);
    assert_eq!(body["result"]["tools"][0]["name"], "alpha_1mcp_new");
    assert!(h.backend_writes("alpha").is_empty());
}

#[test]
fn a_cancelled_call_ends_its_http_exchange_without_a_json_rpc_response() {
    let mut h = two_backends();
    let s = h.initialize();
    let x = h.call(&s, json!(9), "beta_1mcp_echo", json!({}));
    h.backend_writes("beta");
    h.post(Some(&s), json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}));
    let r = h.response(x).expect("the exchange is released");
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    assert_eq!(h.hub.stats().open_exchanges, 0);
}

#[test]
fn a_cancelled_call_whose_stream_is_open_is_closed_not_answered_again() {
    let mut h = two_backends();
    let s = h.initialize_with(client_features());
    let x = h.call(&s, json!(9), "beta_1mcp_echo", json!({}));
    h.backend_writes("beta");
    // The server asks something on the call's stream first: the exchange is now an SSE stream.
    h.backend_says("beta", json!({"jsonrpc": "2.0", "id": "q", "method": "sampling/createMessage", "params": {}}));
    assert_eq!(h.events(x).0.len(), 1);
    h.post(Some(&s), json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}));
    assert!(h.response(x).is_none(), "no plain response on an exchange already streaming");
    assert_eq!(h.events(x), (vec![], true), "its stream is closed");
    assert_eq!(h.hub.stats().open_exchanges, 0);
}

#[test]
fn a_request_cancelled_while_it_waits_for_its_instance_is_never_sent() {
    let mut h = Harness::new(&[("solo", per_session(4, 60_000))]);
    h.bring_up("solo", &["echo"]);
    let s = h.initialize();
    let x = h.call(&s, json!(4), "solo_1mcp_echo", json!({}));
    let key = h.spawned_instances("solo").remove(0);
    h.post(Some(&s), json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 4}}));
    assert_eq!(h.response(x).map(|r| r.status), Some(204));
    h.bring_up_instance(&key);
    let sent = h.backend_writes(&key);
    assert!(sent.iter().all(|m| m["method"] != "tools/call"), "{sent:?}");
}

const ALL_CLIENT_FEATURES: &str = r#"{"sampling": {}, "elicitation": {}, "roots": {"listChanged": true}}"#;

fn client_features() -> Value {
    serde_json::from_str(ALL_CLIENT_FEATURES).expect("valid JSON")
}

#[test]
fn a_server_request_during_a_call_goes_to_that_call_and_the_answer_goes_back() {
    let mut h = two_backends();
    let s = h.initialize_with(client_features());
    let x = h.call(&s, json!("c1"), "alpha_1mcp_echo", json!({}));
    let call = h.backend_writes("alpha").remove(0);
    h.backend_says(
        "alpha",
        json!({"jsonrpc": "2.0", "id": "srv-9", "method": "sampling/createMessage", "params": {"maxTokens": 5}}),
    );
    let (events, closed) = h.events(x);
    assert!(!closed);
    assert_eq!(events.len(), 1, "the request rides the call's stream: {events:?}");
    assert_eq!(events[0]["method"], "sampling/createMessage");
    assert_eq!(events[0]["params"]["maxTokens"], 5);
    let front_id = events[0]["id"].clone();
    assert_ne!(front_id, json!("srv-9"), "the client sees the proxy's id");
    let a = h.post(
        Some(&s),
        json!({"jsonrpc": "2.0", "id": front_id, "result": {"content": {"type": "text", "text": "A"}}}),
    );
    assert_eq!(h.json_response(a).0, 202);
    let answer = h.backend_writes("alpha");
    assert_eq!(answer[0]["id"], "srv-9", "the backend gets its own id back");
    assert_eq!(answer[0]["result"]["content"]["text"], "A");
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": call["id"], "result": {"done": true}}));
    let (events, closed) = h.events(x);
    assert!(closed, "the result ends the stream");
    assert_eq!((events[0]["id"].clone(), events[0]["result"]["done"].clone()), (json!("c1"), json!(true)));
    assert!(h.response(x).is_none(), "no second, plain response");
}

#[test]
fn a_server_request_the_client_cannot_answer_is_refused_to_the_backend() {
    let mut h = two_backends();
    let s = h.initialize();
    let x = h.call(&s, json!(1), "alpha_1mcp_echo", json!({}));
    h.backend_writes("alpha");
    h.backend_says(
        "alpha",
        json!({"jsonrpc": "2.0", "id": 4, "method": "elicitation/create", "params": {"message": "?"}}),
    );
    let reply = h.backend_writes("alpha");
    assert_eq!((reply[0]["id"].clone(), reply[0]["error"]["code"].clone()), (json!(4), json!(-32601)));
    assert!(reply[0]["error"]["message"].as_str().is_some_and(|m| m.contains("elicitation")));
    assert_eq!(h.events(x).0.len(), 0);
}

#[test]
fn a_server_request_two_sessions_could_own_is_refused_not_guessed() {
    let mut h = two_backends();
    let (a, b) = (h.initialize_with(client_features()), h.initialize_with(client_features()));
    let xa = h.call(&a, json!(1), "alpha_1mcp_echo", json!({}));
    let xb = h.call(&b, json!(1), "alpha_1mcp_echo", json!({}));
    h.backend_writes("alpha");
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": 7, "method": "sampling/createMessage", "params": {}}));
    let reply = h.backend_writes("alpha");
    assert_eq!(reply[0]["id"], 7);
    assert!(reply[0]["error"]["message"].as_str().is_some_and(|m| m.contains("refusing rather than guessing")));
    assert!(h.events(xa).0.is_empty() && h.events(xb).0.is_empty(), "neither client saw it");
}

#[test]
fn progress_is_remapped_per_request_and_arrives_before_the_result() {
    let mut h = two_backends();
    let (a, b) = (h.initialize(), h.initialize());
    let call = |h: &mut Harness, s: &str| {
        h.post(
            Some(s),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "alpha_1mcp_echo", "_meta": {"progressToken": "tok"}}}),
        )
    };
    let (xa, xb) = (call(&mut h, &a), call(&mut h, &b));
    let sent = h.backend_writes("alpha");
    let (ta, tb) =
        (sent[0]["params"]["_meta"]["progressToken"].clone(), sent[1]["params"]["_meta"]["progressToken"].clone());
    assert_ne!(ta, tb, "the backend sees distinct tokens for the two requests");
    h.backend_says(
        "alpha",
        json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": tb, "progress": 1}}),
    );
    assert!(h.events(xa).0.is_empty(), "a's request gets nothing of b's progress");
    let (b_events, _) = h.events(xb);
    assert_eq!(b_events[0]["params"], json!({"progressToken": "tok", "progress": 1}));
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": sent[1]["id"], "result": {}}));
    let (b_events, closed) = h.events(xb);
    assert!(closed && b_events[0]["id"] == json!(1));
}

#[test]
fn log_messages_reach_only_the_owning_session_at_its_level() {
    let mut h = Harness::new(&[("alpha", server(true))]);
    h.bring_up_with("alpha", &["echo"], json!({"tools": {}, "logging": {}}));
    let (a, b) = (h.initialize(), h.initialize());
    let set = h.post(
        Some(&a),
        json!({"jsonrpc": "2.0", "id": 2, "method": "logging/setLevel", "params": {"level": "warning"}}),
    );
    assert_eq!(h.json_response(set).1["result"], json!({}));
    let set_level = h.backend_writes("alpha");
    assert_eq!(
        (set_level[0]["method"].clone(), set_level[0]["params"]["level"].clone()),
        (json!("logging/setLevel"), json!("warning"))
    );
    let bad =
        h.post(Some(&a), json!({"jsonrpc": "2.0", "id": 3, "method": "logging/setLevel", "params": {"level": "loud"}}));
    assert_eq!(h.json_response(bad).1["error"]["code"], -32602);
    let stream_b = h.open_stream(&b);
    let x = h.call(&a, json!(1), "alpha_1mcp_echo", json!({}));
    h.backend_writes("alpha");
    let log = |level: &str| json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": level, "data": level}});
    h.backend_says("alpha", log("info"));
    h.backend_says("alpha", log("error"));
    let (events, _) = h.events(x);
    assert_eq!(events.len(), 1, "below a's level is filtered: {events:?}");
    assert_eq!(events[0]["params"]["data"], "error");
    assert!(h.events(stream_b).0.is_empty(), "b never sees a's call traffic");
}

#[test]
fn subscriptions_are_shared_per_backend_and_updates_reach_only_subscribers() {
    let mut h = Harness::new(&[("alpha", server(true))]);
    h.bring_up_with("alpha", &["echo"], json!({"tools": {}, "resources": {"subscribe": true}}));
    let (a, b, c) = (h.initialize(), h.initialize(), h.initialize());
    let streams: Vec<ExchangeId> = [&a, &b, &c].iter().map(|s| h.open_stream(s)).collect();
    let sub = |h: &mut Harness, s: &str, method: &str| {
        h.post(Some(s), json!({"jsonrpc": "2.0", "id": 5, "method": method, "params": {"uri": "mem://alpha/a"}}))
    };
    let xa = sub(&mut h, &a, "resources/subscribe");
    let forwarded = h.backend_writes("alpha");
    assert_eq!(forwarded.len(), 1);
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": forwarded[0]["id"], "result": {}}));
    assert_eq!(h.json_response(xa).1["id"], 5);
    let xb = sub(&mut h, &b, "resources/subscribe");
    assert_eq!(h.json_response(xb).1["result"], json!({}));
    assert!(h.backend_writes("alpha").is_empty(), "the second subscriber does not re-subscribe the backend");
    h.backend_says(
        "alpha",
        json!({"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": "mem://alpha/a"}}),
    );
    let got: Vec<usize> = streams.iter().map(|x| h.events(*x).0.len()).collect();
    assert_eq!(got, [1, 1, 0], "only subscribers hear of the update");
    let ua = sub(&mut h, &a, "resources/unsubscribe");
    assert_eq!(h.json_response(ua).1["result"], json!({}));
    assert!(h.backend_writes("alpha").is_empty(), "b still needs it");
    let ub = sub(&mut h, &b, "resources/unsubscribe");
    let last = h.backend_writes("alpha");
    assert_eq!(last[0]["method"], "resources/unsubscribe");
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": last[0]["id"], "result": {}}));
    assert_eq!(h.json_response(ub).1["id"], 5);
}

#[test]
fn a_changed_tool_list_is_announced_to_sessions() {
    let mut h = two_backends();
    let s = h.initialize();
    let stream = h.open_stream(&s);
    h.backend_says("beta", json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}));
    let relist = h.backend_writes("beta");
    h.backend_says("beta", json!({"jsonrpc": "2.0", "id": relist[0]["id"], "result": {"tools": [{"name": "echo"}]}}));
    assert!(h.events(stream).0.is_empty(), "an identical list is not a change");
    h.backend_says("beta", json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}));
    let relist = h.backend_writes("beta");
    h.backend_says(
        "beta",
        json!({"jsonrpc": "2.0", "id": relist[0]["id"], "result": {"tools": [{"name": "echo"}, {"name": "new"}]}}),
    );
    let (events, _) = h.events(stream);
    assert_eq!(events, [json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})]);
}

#[test]
fn server_requests_are_withdrawn_and_answered_when_either_side_goes_away() {
    let mut h = two_backends();
    let s = h.initialize_with(client_features());
    let stream = h.open_stream(&s);
    h.backend_says(
        "alpha",
        json!({"jsonrpc": "2.0", "id": 1, "method": "elicitation/create", "params": {"message": "?"}}),
    );
    let (events, _) = h.events(stream);
    let front_id = events[0]["id"].clone();
    h.backend_says(
        "alpha",
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1, "reason": "bored"}}),
    );
    let (events, _) = h.events(stream);
    assert_eq!(events[0]["params"], json!({"requestId": front_id, "reason": "bored"}));
    h.backend_says(
        "alpha",
        json!({"jsonrpc": "2.0", "id": 2, "method": "elicitation/create", "params": {"message": "?"}}),
    );
    h.events(stream);
    let d = h.http(HttpMethod::Delete, Some(&s), "");
    assert_eq!(h.json_response(d).0, 200);
    let reply = h.backend_writes("alpha");
    assert_eq!((reply[0]["id"].clone(), reply[0]["error"]["code"].clone()), (json!(2), json!(-32603)));
    assert_eq!(h.hub.stats(), HubStats { ready_backends: 2, ..HubStats::default() });
}

#[test]
fn legacy_sse_sessions_answer_on_their_stream_and_end_with_it() {
    let mut h = two_backends();
    let sse = h.http_at(HttpMethod::Get, "/sse", "", None, "");
    let endpoint = h
        .outputs
        .iter()
        .find_map(|o| match o {
            Output::PushEvent { exchange, event } if *exchange == sse && event.event.as_deref() == Some("endpoint") => {
                Some(event.data.clone())
            }
            _ => None,
        })
        .expect("endpoint event");
    let session = endpoint.strip_prefix("/messages?sessionId=").expect("endpoint names the session").to_owned();
    h.outputs.retain(|o| !matches!(o, Output::PushEvent { exchange, .. } if *exchange == sse));
    let post = |h: &mut Harness, message: Value| {
        h.http_at(HttpMethod::Post, "/messages", &format!("sessionId={session}"), None, &message.to_string())
    };
    let x = post(
        &mut h,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2024-11-05"}}),
    );
    assert_eq!(h.json_response(x).0, 202);
    let (events, _) = h.events(sse);
    assert_eq!(events[0]["result"]["protocolVersion"], "2024-11-05");
    let x =
        post(&mut h, json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "beta_1mcp_echo"}}));
    assert_eq!(h.json_response(x).0, 202, "accepted at once");
    let sent = h.backend_writes("beta");
    h.backend_says("beta", json!({"jsonrpc": "2.0", "id": sent[0]["id"], "result": {"ok": 1}}));
    let (events, closed) = h.events(sse);
    assert_eq!((events[0]["id"].clone(), events[0]["result"]["ok"].clone(), closed), (json!(2), json!(1), false));
    assert!(h.response(x).is_none(), "nothing more on the POST");
    let x = h.http_at(HttpMethod::Post, "/messages", "sessionId=nope", None, "{}");
    assert_eq!(h.json_response(x).0, 404);
    let x = h.http_at(HttpMethod::Post, "/messages", "", None, "{}");
    assert_eq!(h.json_response(x).0, 400);
    h.feed(Input::ExchangeClosed { exchange: sse });
    assert_eq!(h.hub.stats().sessions, 0, "a legacy session ends with its stream");
}

fn tagged(tags: &[&str]) -> ServerConfig {
    ServerConfig { tags: tags.iter().map(|t| t.to_string()).collect(), ..server(true) }
}

impl Harness {
    /// `initialize` with a URL query; the session id, or the HTTP status and body of a refusal.
    fn initialize_at(&mut self, query: &str) -> Result<String, (u16, Value)> {
        let body =
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}});
        let x = self.http_at(HttpMethod::Post, "/mcp", query, None, &body.to_string());
        let r = self.response(x).expect("initialize answered");
        match r.headers.iter().find(|(k, _)| k == "Mcp-Session-Id") {
            Some((_, id)) => Ok(id.clone()),
            None => Err((r.status, serde_json::from_str(&r.body).unwrap_or(Value::Null))),
        }
    }

    fn list(&mut self, session: &str, method: &str, cursor: Option<&Value>) -> Value {
        let params = cursor.map_or(json!({}), |c| json!({"cursor": c}));
        let x = self.post(Some(session), json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}));
        self.json_response(x).1
    }
}

fn tool_names(reply: &Value) -> Vec<String> {
    reply["result"]["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

fn views() -> Harness {
    let presets = crate::hub::PresetsFile {
        source: "presets.json".into(),
        text: r#"{"presets": {"dbonly": {"name": "dbonly", "strategy": "or", "tagQuery": {"tag": "db"}}}}"#.into(),
    };
    let config = HubConfig { presets: Some(presets), page_size: 2, ..HubConfig::default() };
    let mut h = Harness::with_config(
        &[("alpha", tagged(&["web"])), ("beta", tagged(&["db", "web"])), ("gamma", tagged(&["db"]))],
        config,
    );
    h.bring_up("alpha", &["a1", "a2", "a3"]);
    h.bring_up("beta", &["b1"]);
    h.bring_up("gamma", &["g1"]);
    h
}

#[test]
fn a_session_sees_and_calls_only_what_its_view_admits() {
    let mut h = views();
    let web = h.initialize_at("tags=web").expect("tags=web");
    let names = tool_names(&h.list(&web, "tools/list", None));
    assert_eq!(names, ["alpha_1mcp_a1", "alpha_1mcp_a2", "alpha_1mcp_a3", "beta_1mcp_b1"]);
    let x = h.call(&web, json!(1), "gamma_1mcp_g1", json!({}));
    let (_, body) = h.json_response(x);
    assert_eq!(body["error"]["code"], -32602, "outside the view is as unknown as a missing tool: {body}");
    assert!(h.backend_writes("gamma").is_empty());
    let expr = h.initialize_at("tag-filter=db%20and%20not%20web").expect("tag-filter");
    assert_eq!(tool_names(&h.list(&expr, "tools/list", None)), ["gamma_1mcp_g1"]);
    let preset = h.initialize_at("preset=dbonly").expect("preset");
    assert_eq!(tool_names(&h.list(&preset, "tools/list", None)), ["beta_1mcp_b1", "gamma_1mcp_g1"]);
    let everyone = h.initialize_at("").expect("no filter");
    assert_eq!(tool_names(&h.list(&everyone, "tools/list", None)).len(), 5);
}

#[test]
fn reloaded_presets_apply_to_new_sessions_and_an_open_one_keeps_its_view() {
    let mut h = views();
    let before = h.initialize_at("preset=dbonly").expect("preset");
    let text = r#"{"presets": {"dbonly": {"name": "dbonly", "strategy": "advanced",
        "tagQuery": {"$and": [{"tag": "db"}, {"$not": {"tag": "web"}}]}},
        "webonly": {"name": "webonly", "strategy": "or", "tagQuery": {"tag": "web"}}}}"#;
    h.feed(Input::PresetsChanged {
        presets: crate::hub::PresetsFile { source: "presets.json".into(), text: text.into() },
    });
    let after = h.initialize_at("preset=dbonly").expect("the changed preset");
    assert_eq!(tool_names(&h.list(&after, "tools/list", None)), ["gamma_1mcp_g1"]);
    let added = h.initialize_at("preset=webonly").expect("a preset added by the reload");
    assert_eq!(tool_names(&h.list(&added, "tools/list", None)).len(), 4);
    assert_eq!(
        tool_names(&h.list(&before, "tools/list", None)),
        ["beta_1mcp_b1", "gamma_1mcp_g1"],
        "an open session keeps the view it opened with"
    );
}

#[test]
fn bad_view_queries_are_refused_with_the_reason() {
    let mut h = views();
    let (status, body) = h.initialize_at("tag-filter=web%20and%20(db").expect_err("unbalanced");
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("Invalid tag-filter")), "{body}");
    let (status, body) = h.initialize_at("preset=nope").expect_err("unknown preset");
    assert_eq!((status, body["error"]["message"].as_str()), (400, Some("Preset 'nope' not found")));
    let (status, _) = h.initialize_at("tags=a&preset=dbonly").expect_err("two selectors");
    assert_eq!(status, 400);
    assert_eq!(h.hub.stats().sessions, 0);
}

#[test]
fn paginated_lists_come_in_pages_with_signed_cursors() {
    let mut h = views();
    let s = h.initialize_at("pagination=true").expect("session");
    let first = h.list(&s, "tools/list", None);
    assert_eq!(tool_names(&first), ["alpha_1mcp_a1", "alpha_1mcp_a2"]);
    let cursor = first["result"]["nextCursor"].clone();
    let second = h.list(&s, "tools/list", Some(&cursor));
    assert_eq!(tool_names(&second), ["alpha_1mcp_a3", "beta_1mcp_b1"]);
    let third = h.list(&s, "tools/list", Some(&second["result"]["nextCursor"]));
    assert_eq!(tool_names(&third), ["gamma_1mcp_g1"]);
    assert!(third["result"].get("nextCursor").is_none(), "the last page has no cursor");

    let mut forged = cursor.as_str().unwrap_or_default().to_owned();
    forged.replace_range(4..5, if &forged[4..5] == "A" { "B" } else { "A" });
    let refused = h.list(&s, "tools/list", Some(&json!(forged)));
    assert_eq!(
        (refused["error"]["code"].clone(), refused["error"]["data"]["reason"].clone()),
        (json!(-32602), json!("tampered"))
    );
    let wrong_list = h.list(&s, "prompts/list", Some(&cursor));
    assert_eq!(wrong_list["error"]["data"]["reason"], "capability_kind_mismatch");
    let other = h.initialize_at("pagination=true&tags=db").expect("other view");
    assert_eq!(h.list(&other, "tools/list", Some(&cursor))["error"]["data"]["reason"], "filter_mismatch");

    h.backend_says("gamma", json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}));
    let relist = h.backend_writes("gamma");
    h.backend_says("gamma", json!({"jsonrpc": "2.0", "id": relist[0]["id"], "result": {"tools": [{"name": "g2"}]}}));
    assert_eq!(h.list(&s, "tools/list", Some(&cursor))["error"]["data"]["reason"], "stale_generation");

    let plain = h.initialize_at("").expect("unpaginated");
    assert_eq!(h.list(&plain, "tools/list", Some(&cursor))["error"]["data"]["reason"], "malformed");
}

#[test]
fn notifications_reach_only_sessions_whose_view_includes_the_backend() {
    let mut h = views();
    let web = h.initialize_at("tags=web").expect("web");
    let db = h.initialize_at("tag-filter=db%20and%20not%20web").expect("db");
    let (sw, sd) = (h.open_stream(&web), h.open_stream(&db));
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}));
    let relist = h.backend_writes("alpha");
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": relist[0]["id"], "result": {"tools": [{"name": "a9"}]}}));
    assert_eq!(h.events(sw).0.len(), 1);
    assert!(h.events(sd).0.is_empty(), "gamma-only session does not hear about alpha");
}

fn spawned(h: &Harness, name: &str) -> Vec<Gen> {
    h.outputs
        .iter()
        .filter_map(|o| match o {
            Output::SpawnBackend { backend, generation, .. } if *backend == bk(name) => Some(*generation),
            _ => None,
        })
        .collect()
}

fn exit(h: &mut Harness, name: &str) {
    let generation = h.generation(name);
    h.feed(Input::BackendExited {
        backend: bk(name),
        generation,
        status: ExitInfo { code: Some(1), signal: None, reason: None },
    });
}

#[test]
fn a_crashed_backend_is_restarted_with_backoff_and_its_tools_return() {
    let mut h = two_backends();
    let s = h.initialize();
    let stream = h.open_stream(&s);
    h.outputs.clear();
    exit(&mut h, "alpha");
    assert_eq!(h.hub.backends[&bk("alpha")].state.label(), "restarting");
    assert_eq!(h.events(stream).0.len(), 1, "tools/list_changed: alpha's tools are gone");
    h.advance(Duration::from_millis(799));
    assert!(spawned(&h, "alpha").is_empty(), "not before the (jittered) first delay of 1 s");
    h.advance(Duration::from_millis(402));
    let generations = spawned(&h, "alpha");
    assert_eq!(generations.len(), 1, "restarted once");
    h.bring_up("alpha", &["echo", "add"]);
    assert_eq!(h.events(stream).0, [json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})]);
    let x = h.call(&s, json!(1), "alpha_1mcp_echo", json!({}));
    assert_eq!(h.backend_writes("alpha").len(), 1, "calls reach the new incarnation");
    assert!(h.response(x).is_none());
    assert_eq!(h.hub.backends[&bk("alpha")].restarts, 1);
}

#[test]
fn a_backend_that_keeps_dying_ends_in_a_crash_loop_with_nothing_left_scheduled() {
    let cfg = ServerConfig {
        restart: RestartConfig { restart_on_exit: true, max_restarts: 2, restart_delay: Duration::from_millis(100) },
        ..server(true)
    };
    let mut h = Harness::new(&[("flaky", cfg)]);
    let mut delays = vec![];
    for _ in 0..2 {
        exit(&mut h, "flaky");
        let before = h.now;
        h.outputs.clear();
        while spawned(&h, "flaky").is_empty() {
            h.advance(Duration::from_millis(10));
            assert!(h.now.since(before) < Duration::from_secs(1), "restart never came");
        }
        delays.push(h.now.since(before).as_millis());
    }
    assert!(delays[0] >= 80 && delays[0] <= 130 && delays[1] >= 160 && delays[1] <= 250, "backoff doubles: {delays:?}");
    exit(&mut h, "flaky");
    let state = &h.hub.backends[&bk("flaky")].state;
    assert_eq!(state.label(), "crash-loop");
    assert!(state.reason().is_some_and(|r| r.contains("gave up after 2 restarts")), "{state:?}");
    assert_eq!(h.hub.stats().timers, 0);
    assert_eq!(h.hub.poll_timeout(), None);
}

#[test]
fn unsupervised_backends_stay_failed_and_shutdown_cancels_pending_restarts() {
    let off =
        ServerConfig { restart: RestartConfig { restart_on_exit: false, ..RestartConfig::default() }, ..server(true) };
    let mut h = Harness::new(&[("off", off), ("on", server(true))]);
    exit(&mut h, "off");
    exit(&mut h, "on");
    assert_eq!(h.hub.backends[&bk("off")].state.label(), "failed");
    assert_eq!(h.hub.backends[&bk("on")].state.label(), "restarting");
    h.outputs.clear();
    h.feed(Input::Shutdown);
    h.advance(Duration::from_secs(60));
    assert!(spawned(&h, "on").is_empty(), "no restart during shutdown");
    assert_eq!(h.hub.stats().timers, 0);
}

fn roots(path: &str) -> Value {
    json!({"roots": [{"uri": format!("file://{path}"), "name": path}]})
}

/// Walk a per-session instance through spawn and initialize; returns its `initialize` params.
fn initialize_instance(h: &mut Harness, key: &str) -> Value {
    let generation = h.generation(key);
    h.feed(Input::BackendSpawned { backend: bk(key), generation, pid: Some(3) });
    let init = h.backend_writes(key).pop().expect("initialize sent");
    let result = json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}}, "serverInfo": {"name": "x", "version": "1"}});
    h.backend_says(key, json!({"jsonrpc": "2.0", "id": init["id"], "result": result}));
    init["params"].clone()
}

#[test]
fn a_shared_server_holds_nobodys_roots_and_a_session_with_roots_gets_its_own_instance() {
    let mut h = two_backends();
    // At start, with no client connected, the shared server asks: it gets the answer of a
    // client without roots (not an error it would log as a failure).
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": 1, "method": "roots/list"}));
    assert_eq!(h.backend_writes("alpha"), [json!({"jsonrpc": "2.0", "id": 1, "result": {"roots": []}})]);
    let a = h.initialize_with(client_features());
    let c = h.initialize();
    let (stream_a, stream_c) = (h.open_stream(&a), h.open_stream(&c));
    let instances = h.spawned_instances("alpha");
    assert_eq!(instances.len(), 1, "a (with roots) gets an instance once it can be asked; c does not");
    assert!(h.spawned_instances("beta").is_empty(), "beta never asked for roots");
    let mine = instances[0].clone();
    let params = initialize_instance(&mut h, &mine);
    assert_eq!(params["capabilities"], client_features(), "told exactly what a declared");
    assert_eq!(h.backend_writes(&mine), [json!({"jsonrpc": "2.0", "method": "notifications/initialized"})]);
    assert!(h.hub.backends[&bk(&mine)].state.is_starting(), "not serving before it has a's roots");
    let xa = h.call(&a, json!(1), "alpha_1mcp_echo", json!({}));
    assert!(h.backend_writes(&mine).is_empty(), "a's call waits for the roots");
    h.backend_says(&mine, json!({"jsonrpc": "2.0", "id": "r1", "method": "roots/list"}));
    let (asked, _) = h.events(stream_a);
    assert_eq!(asked.len(), 1, "a is asked on its stream: {asked:?}");
    assert!(h.events(stream_c).0.is_empty(), "c is never asked for a's instance");
    let answer = h.post(Some(&a), json!({"jsonrpc": "2.0", "id": asked[0]["id"], "result": roots("/ws/shell")}));
    assert_eq!(h.json_response(answer).0, 202);
    let sent = h.backend_writes(&mine);
    assert_eq!(sent[0], json!({"jsonrpc": "2.0", "id": "r1", "result": roots("/ws/shell")}));
    assert_eq!(sent[1]["method"], "tools/call", "the call follows the roots: {sent:?}");
    assert_eq!(sent.len(), 2);
    // c's calls go to the shared server, which still has no roots, whoever asks.
    h.call(&c, json!(1), "alpha_1mcp_echo", json!({}));
    assert_eq!(h.backend_writes("alpha")[0]["method"], "tools/call");
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": 2, "method": "roots/list"}));
    assert_eq!(h.backend_writes("alpha"), [json!({"jsonrpc": "2.0", "id": 2, "result": {"roots": []}})]);
    assert!(h.events(stream_a).0.is_empty() && h.events(stream_c).0.is_empty());
    // a's roots change: only a's instance is told.
    h.post(Some(&a), json!({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}));
    assert_eq!(h.backend_writes(&mine), [json!({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"})]);
    assert!(h.backend_writes("alpha").is_empty() && h.backend_writes("beta").is_empty());
    h.backend_says(&mine, json!({"jsonrpc": "2.0", "id": sent[1]["id"], "result": {"from": "mine"}}));
    assert_eq!(h.json_response(xa).1["result"]["from"], "mine");
    // a leaves: its instance goes, and nothing of a's stays with the shared server.
    let d = h.http(HttpMethod::Delete, Some(&a), "");
    assert_eq!(h.json_response(d).0, 200);
    assert!(!h.hub.backends.contains_key(&bk(&mine)));
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": 3, "method": "roots/list"}));
    assert_eq!(h.backend_writes("alpha")[0]["result"], json!({"roots": []}));
}

#[test]
fn an_instance_that_must_have_roots_asks_on_a_waiting_call_or_fails_closed() {
    let mut h = two_backends();
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": 1, "method": "roots/list"}));
    h.backend_writes("alpha");
    // No GET stream: the first call starts the instance, and the roots question rides on it.
    let a = h.initialize_with(client_features());
    let x = h.call(&a, json!(1), "alpha_1mcp_echo", json!({}));
    let mine = h.spawned_instances("alpha").remove(0);
    initialize_instance(&mut h, &mine);
    h.backend_writes(&mine);
    h.backend_says(&mine, json!({"jsonrpc": "2.0", "id": 9, "method": "roots/list"}));
    let (asked, closed) = h.events(x);
    assert_eq!((asked.len(), closed), (1, false), "asked on the waiting call's stream");
    h.post(Some(&a), json!({"jsonrpc": "2.0", "id": asked[0]["id"], "result": roots("/ws")}));
    let sent = h.backend_writes(&mine);
    assert_eq!((sent[0]["id"].clone(), sent[1]["method"].clone()), (json!(9), json!("tools/call")));
    h.backend_says(&mine, json!({"jsonrpc": "2.0", "id": sent[1]["id"], "result": {"ok": 1}}));
    let (answer, closed) = h.events(x);
    assert_eq!((answer[0]["result"]["ok"].clone(), closed), (json!(1), true), "the answer ends that stream");
    // A client that can take no stream at all cannot be asked: its instance fails closed
    // instead of serving with the server's defaults.
    let b = h.initialize_with(client_features());
    h.next_exchange += 1;
    let xb = ExchangeId(h.next_exchange);
    let request = HttpRequest {
        method: Some(HttpMethod::Post),
        path: "/mcp".into(),
        host: Some("127.0.0.1:3050".into()),
        accept: Some("application/json".into()),
        session_id: Some(b.clone()),
        body: json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "alpha_1mcp_echo"}})
            .to_string()
            .into_bytes(),
        ..HttpRequest::default()
    };
    h.feed(Input::HttpRequest { exchange: xb, request });
    let theirs = h.spawned_instances("alpha").into_iter().find(|k| *k != mine).expect("b's instance");
    initialize_instance(&mut h, &theirs);
    h.backend_says(&theirs, json!({"jsonrpc": "2.0", "id": 1, "method": "roots/list"}));
    assert!(
        h.outputs.iter().any(|o| matches!(o, Output::StopBackend { backend, .. } if backend.to_string() == theirs))
    );
    let (_, body) = h.json_response(xb);
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("could not be asked for roots"), "{body}");
    assert_eq!(body["error"]["data"]["server"], "alpha");
}

#[test]
fn instances_of_per_session_servers_are_told_exactly_what_their_client_declared() {
    let mut h = Harness::new(&[("solo", per_session(4, 60_000))]);
    let shared_init = {
        let generation = h.generation("solo");
        h.feed(Input::BackendSpawned { backend: bk("solo"), generation, pid: Some(1) });
        h.backend_writes("solo").pop().expect("initialize")
    };
    assert_eq!(
        shared_init["params"]["capabilities"],
        json!({"roots": {}, "sampling": {}, "elicitation": {"form": {}, "url": {}}}),
        "a shared server may ask for sampling and elicitation (routed to the calling client) and gets no roots"
    );
    let mut h = Harness::new(&[("solo", per_session(4, 60_000))]);
    h.bring_up("solo", &["echo"]);
    let plain = h.initialize_with(json!({"sampling": {}}));
    h.call(&plain, json!(1), "solo_1mcp_echo", json!({}));
    let key = h.spawned_instances("solo").remove(0);
    assert_eq!(initialize_instance(&mut h, &key)["capabilities"], json!({"sampling": {}}));
    assert_eq!(h.hub.backends[&bk(&key)].state, BackendState::Ready, "the server never asked for roots: no wait");
}

fn per_session(max: u32, idle_ms: u64) -> ServerConfig {
    ServerConfig {
        per_session: Some(crate::config::PerSessionConfig {
            max_instances: max,
            idle_timeout: Duration::from_millis(idle_ms),
            only_with_sessions: false,
        }),
        ..server(true)
    }
}

impl Harness {
    /// The per-session instances spawned so far (names), in order.
    fn spawned_instances(&self, server: &str) -> Vec<String> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::SpawnBackend { backend, .. } if backend.is_instance() && backend.server_name() == server => {
                    Some(backend.to_string())
                }
                _ => None,
            })
            .collect()
    }

    /// Spawn and initialize an instance: no lists, it goes straight to ready.
    fn bring_up_instance(&mut self, key: &str) {
        let generation = self.generation(key);
        self.feed(Input::BackendSpawned { backend: bk(key), generation, pid: Some(2) });
        let init = self.backend_writes(key).pop().expect("initialize sent");
        let result = json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}}, "serverInfo": {"name": "x", "version": "1"}});
        self.backend_says(key, json!({"jsonrpc": "2.0", "id": init["id"], "result": result}));
    }
}

#[test]
fn per_session_servers_give_each_session_its_own_instance() {
    let mut h = Harness::new(&[("solo", per_session(4, 60_000))]);
    h.bring_up("solo", &["echo"]);
    let (a, b) = (h.initialize_with(client_features()), h.initialize_with(client_features()));
    let xa = h.call(&a, json!(1), "solo_1mcp_echo", json!({"text": "a"}));
    let xb = h.call(&b, json!(1), "solo_1mcp_echo", json!({"text": "b"}));
    let instances = h.spawned_instances("solo");
    assert_eq!(instances.len(), 2, "one instance per session");
    assert!(h.backend_writes("solo").is_empty(), "the shared instance only lists");
    h.bring_up_instance(&instances[0]);
    let sent = h.backend_writes(&instances[0]);
    let calls: Vec<&Value> = sent.iter().filter(|m| m["method"] == "tools/call").collect();
    assert_eq!(calls.len(), 1, "the queued call is sent once the instance is ready: {sent:?}");
    assert_eq!(calls[0]["params"]["arguments"]["text"], "a");
    assert!(h.response(xb).is_none(), "b still waits for its own instance");
    // Sampling from a's instance goes to a, even with b's call in flight elsewhere.
    h.backend_says(
        &instances[0],
        json!({"jsonrpc": "2.0", "id": "s1", "method": "sampling/createMessage", "params": {}}),
    );
    let (events, _) = h.events(xa);
    assert_eq!(events.len(), 1, "attributed to a by construction");
    h.backend_says(&instances[0], json!({"jsonrpc": "2.0", "id": calls[0]["id"], "result": {"who": "a"}}));
    assert_eq!(h.events(xa).0[0]["result"]["who"], "a");
    assert_eq!(h.hub.stats().ready_backends, 2, "shared + a's instance");
    let d = h.http(HttpMethod::Delete, Some(&a), "");
    assert_eq!(h.json_response(d).0, 200);
    assert!(
        h.outputs
            .iter()
            .any(|o| matches!(o, Output::StopBackend { backend, .. } if backend.to_string() == instances[0]))
    );
    assert!(!h.hub.backends.contains_key(&bk(&instances[0])), "the instance goes with its session");
}

#[test]
fn instances_are_bounded_stopped_when_idle_and_replaced_when_dead() {
    let mut h = Harness::new(&[("solo", per_session(1, 1_000))]);
    h.bring_up("solo", &["echo"]);
    let (a, b) = (h.initialize(), h.initialize());
    h.call(&a, json!(1), "solo_1mcp_echo", json!({}));
    let first = h.spawned_instances("solo").remove(0);
    h.bring_up_instance(&first);
    let sent = h.backend_writes(&first);
    let call = sent.iter().find(|m| m["method"] == "tools/call").cloned().expect("call");
    let xb = h.call(&b, json!(1), "solo_1mcp_echo", json!({}));
    let (_, body) = h.json_response(xb);
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("maxInstances")), "{body}");
    h.advance(Duration::from_millis(1_500));
    assert!(h.hub.backends.contains_key(&bk(&first)), "busy with a call: not idle");
    h.backend_says(&first, json!({"jsonrpc": "2.0", "id": call["id"], "result": {}}));
    h.advance(Duration::from_millis(1_100));
    assert!(!h.hub.backends.contains_key(&bk(&first)), "idle instances are stopped");
    h.outputs.clear();
    let xa = h.call(&a, json!(2), "solo_1mcp_echo", json!({}));
    let second = h.spawned_instances("solo").remove(0);
    assert_ne!(second, first, "a fresh instance");
    let generation = h.generation(&second);
    h.feed(Input::BackendSpawnFailed { backend: bk(&second), generation, error: "no such file".into() });
    let (_, body) = h.json_response(xa);
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("could not start")), "{body}");
    let d = h.http(HttpMethod::Delete, Some(&a), "");
    h.json_response(d);
    let d = h.http(HttpMethod::Delete, Some(&b), "");
    h.json_response(d);
    assert_eq!(h.hub.stats(), HubStats { ready_backends: 1, ..HubStats::default() }, "nothing left behind");
}

fn reload(h: &mut Harness, servers: &[(&str, ServerConfig)]) {
    let mut mcp = McpConfig::default();
    for (name, s) in servers {
        mcp.servers.insert((*name).to_owned(), s.clone());
    }
    h.feed(Input::ConfigChanged { config: mcp });
}

#[test]
fn a_reload_restarts_only_what_changed_and_keeps_calls_to_the_rest() {
    let mut h = two_backends();
    let s = h.initialize();
    let stream = h.open_stream(&s);
    let x_beta = h.call(&s, json!(1), "beta_1mcp_echo", json!({}));
    let beta_call = h.backend_writes("beta").remove(0);
    let x_alpha = h.call(&s, json!(2), "alpha_1mcp_echo", json!({}));
    h.backend_writes("alpha");
    h.outputs.retain(|o| !matches!(o, Output::SpawnBackend { .. }));
    let beta_gen = h.generation("beta");
    let mut alpha = server(true);
    alpha.transport = TransportConfig::Stdio(LaunchSpec { command: "srv2".into(), ..LaunchSpec::default() });
    let mut beta = server(true);
    beta.tags = vec!["new".into()];
    reload(&mut h, &[("alpha", alpha), ("beta", beta), ("gamma", server(true))]);
    let mut spawned: Vec<String> = h
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::SpawnBackend { backend, .. } => Some(backend.to_string()),
            _ => None,
        })
        .collect();
    spawned.sort();
    assert_eq!(spawned, ["alpha", "gamma"], "the changed command and the new server start; beta does not");
    assert!(h.outputs.iter().any(|o| matches!(o, Output::StopBackend { backend, .. } if *backend == bk("alpha"))));
    let (_, body) = h.json_response(x_alpha);
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("configuration changed")), "{body}");
    assert_eq!(h.generation("beta"), beta_gen, "beta keeps its process");
    h.backend_says("beta", json!({"jsonrpc": "2.0", "id": beta_call["id"], "result": {"kept": true}}));
    assert_eq!(h.json_response(x_beta).1["result"]["kept"], true, "beta's call in flight survives the reload");
    assert!(!h.events(stream).0.is_empty(), "sessions hear that alpha's tools went away");
    assert_eq!(h.hub.backends[&bk("beta")].config.tags, ["new"], "metadata is updated in place");
}

#[test]
fn removing_a_server_stops_it_and_an_invalid_file_changes_nothing() {
    let mut h = two_backends();
    let s = h.initialize();
    h.feed(Input::ConfigInvalid { errors: vec!["/x/mcp.json:3:1: invalid JSON".into()] });
    assert_eq!(h.hub.backends.len(), 2, "nothing stopped");
    let x = h.http_at(HttpMethod::Get, "/health", "", None, "");
    let (_, health) = h.json_response(x);
    assert_eq!(health["configuration"]["reloadErrors"][0], "/x/mcp.json:3:1: invalid JSON");
    assert_eq!(health["status"], "degraded", "{health}");
    reload(&mut h, &[("alpha", server(true))]);
    assert!(!h.hub.backends.contains_key(&bk("beta")));
    assert!(h.outputs.iter().any(|o| matches!(o, Output::StopBackend { backend, .. } if *backend == bk("beta"))));
    let x = h.call(&s, json!(1), "beta_1mcp_echo", json!({}));
    assert_eq!(h.json_response(x).1["error"]["code"], -32602, "beta's tools are gone");
    let x = h.http_at(HttpMethod::Get, "/health", "", None, "");
    let (_, health) = h.json_response(x);
    assert!(health["configuration"].get("reloadErrors").is_none(), "a valid file clears the error");
    assert_eq!(h.hub.stats().timers, 0);
}

#[test]
fn one_session_cannot_hold_more_than_its_share_of_requests() {
    let mut h = two_backends();
    let s = h.initialize();
    for i in 0..super::calls::MAX_IN_FLIGHT_PER_SESSION {
        h.call(&s, json!(i), "alpha_1mcp_echo", json!({}));
    }
    let x = h.call(&s, json!("one-too-many"), "alpha_1mcp_echo", json!({}));
    let (_, body) = h.json_response(x);
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("too many requests in flight")), "{body}");
    let other = h.initialize();
    h.backend_writes("alpha");
    h.call(&other, json!(1), "alpha_1mcp_echo", json!({}));
    assert_eq!(h.backend_writes("alpha").len(), 1, "another session is not affected");
}

#[test]
fn progress_keeps_a_long_call_alive_until_its_hard_maximum() {
    let cfg = ServerConfig { max_total_timeout: Some(Duration::from_secs(14)), ..server(true) };
    let mut h = Harness::new(&[("alpha", cfg)]);
    h.bring_up("alpha", &["slow"]);
    let s = h.initialize();
    let x = h.post(
        Some(&s),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "alpha_1mcp_slow", "_meta": {"progressToken": "p"}}}),
    );
    let token = h.backend_writes("alpha")[0]["params"]["_meta"]["progressToken"].clone();
    let progress = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": token, "progress": 1}});
    for _ in 0..2 {
        h.advance(Duration::from_secs(4));
        h.backend_says("alpha", progress.clone());
    }
    h.advance(Duration::from_secs(4));
    let (events, closed) = h.events(x);
    assert_eq!((events.len(), closed), (2, false), "12 s in, well past the 5 s request timeout, still alive");
    h.backend_says("alpha", progress);
    h.advance(Duration::from_millis(1_999));
    assert!(!h.events(x).1, "progress at 12 s extends it to the 14 s maximum, not to 17 s");
    h.advance(Duration::from_millis(1));
    let (events, closed) = h.events(x);
    assert!(closed, "the hard maximum ends it even with progress");
    let last = events.last().cloned().unwrap_or_default();
    assert!(last["error"]["message"].as_str().is_some_and(|m| m.contains("maxTotalTimeout")), "{last}");
}

#[test]
fn repeated_timeouts_open_a_circuit_that_fails_fast_until_the_server_answers() {
    let mut h = two_backends();
    let s = h.initialize();
    for i in 0..3 {
        let x = h.call(&s, json!(i), "alpha_1mcp_echo", json!({}));
        h.advance(Duration::from_secs(6));
        assert!(h.json_response(x).1["error"]["message"].as_str().is_some_and(|m| m.contains("did not answer")));
    }
    h.backend_writes("alpha");
    let x = h.call(&s, json!(9), "alpha_1mcp_echo", json!({}));
    let (_, body) = h.json_response(x);
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("failing fast")), "{body}");
    assert!(h.backend_writes("alpha").is_empty(), "nothing sent to a stuck server");
    let b = h.call(&s, json!(10), "beta_1mcp_echo", json!({}));
    assert_eq!(h.backend_writes("beta").len(), 1, "other servers are unaffected");
    let _ = b;
    h.advance(Duration::from_secs(31));
    let x = h.call(&s, json!(11), "alpha_1mcp_echo", json!({}));
    let sent = h.backend_writes("alpha");
    assert_eq!(sent.len(), 1, "after the cool-down a request goes through again");
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": sent[0]["id"], "result": {}}));
    assert_eq!(h.json_response(x).1["id"], 11);
    assert_eq!(
        h.hub.backends[&bk("alpha")].circuit,
        crate::backend::Circuit::default(),
        "an answer closes the circuit"
    );
}

#[test]
fn an_idle_backend_that_stops_answering_pings_is_restarted() {
    let config = HubConfig { ping_interval: Some(Duration::from_secs(30)), ..HubConfig::default() };
    let mut h = Harness::with_config(&[("alpha", server(true))], config);
    h.bring_up("alpha", &["echo"]);
    h.advance(Duration::from_secs(30));
    let ping = h.backend_writes("alpha");
    assert_eq!(ping[0]["method"], "ping");
    h.backend_says("alpha", json!({"jsonrpc": "2.0", "id": ping[0]["id"], "result": {}}));
    h.advance(Duration::from_secs(30));
    let ping = h.backend_writes("alpha");
    assert_eq!(ping.len(), 1, "pinged again a period later");
    h.advance(Duration::from_secs(10));
    assert!(h.outputs.iter().any(|o| matches!(o, Output::StopBackend { backend, .. } if *backend == bk("alpha"))));
    let state = &h.hub.backends[&bk("alpha")].state;
    assert_eq!(state.label(), "restarting");
    assert!(state.reason().is_some_and(|r| r.contains("ping")), "{state:?}");
}

#[test]
fn a_busy_backend_is_not_pinged() {
    let config = HubConfig { ping_interval: Some(Duration::from_secs(30)), ..HubConfig::default() };
    let mut h = Harness::with_config(
        &[("alpha", ServerConfig { request_timeout: Some(Duration::from_secs(120)), ..server(true) })],
        config,
    );
    h.bring_up("alpha", &["echo"]);
    let s = h.initialize();
    h.call(&s, json!(1), "alpha_1mcp_echo", json!({}));
    h.backend_writes("alpha");
    h.advance(Duration::from_secs(30));
    assert!(h.backend_writes("alpha").is_empty(), "requests in flight are the liveness check");
}

#[test]
fn sessions_nobody_uses_are_ended_but_connected_ones_are_kept() {
    let config = HubConfig { session_idle_timeout: Some(Duration::from_secs(60)), ..HubConfig::default() };
    let mut h = Harness::with_config(&[("alpha", server(true))], config);
    h.bring_up("alpha", &["echo"]);
    let (idle, listening, busy) = (h.initialize(), h.initialize(), h.initialize());
    h.open_stream(&listening);
    h.advance(Duration::from_secs(30));
    let x = h.call(&busy, json!(1), "alpha_1mcp_echo", json!({}));
    h.advance(Duration::from_secs(45));
    let alive: Vec<bool> =
        [&idle, &listening, &busy].iter().map(|s| h.hub.sessions.contains_key(&SessionId::presented(s))).collect();
    assert_eq!(alive, [false, true, true], "only the unused session without a stream is ended");
    let x2 = h.post(Some(&idle), json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    assert_eq!(h.json_response(x2).0, 404, "an ended session is gone");
    let _ = x;
}

#[test]
fn the_session_count_is_bounded() {
    let mut h = Harness::with_config(&[("alpha", server(true))], HubConfig { max_sessions: 2, ..HubConfig::default() });
    let (a, _b) = (h.initialize(), h.initialize());
    let x = h.post(None, json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}));
    let (status, body) = h.json_response(x);
    assert_eq!(status, 503, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("too many sessions")));
    let d = h.http(HttpMethod::Delete, Some(&a), "");
    h.json_response(d);
    h.initialize();
}

impl Harness {
    fn get(&mut self, path: &str) -> (u16, Value) {
        let x = self.http_at(HttpMethod::Get, path, "", None, "");
        self.json_response(x)
    }
}

#[test]
fn ready_once_every_server_is_up_or_has_failed_its_first_attempt() {
    let mut h = Harness::new(&[("good", server(true)), ("broken", server(true)), ("slow", server(true))]);
    let (status, body) = h.get("/health/ready");
    assert_eq!((status, body["waitingFor"].clone()), (503, json!(["broken", "good", "slow"])));
    h.bring_up("good", &["echo"]);
    let generation = h.generation("broken");
    h.feed(Input::BackendSpawnFailed { backend: bk("broken"), generation, error: "no such file".into() });
    assert_eq!(h.hub.backends[&bk("broken")].state.label(), "restarting");
    let (status, body) = h.get("/health/ready");
    assert_eq!((status, body["waitingFor"].clone()), (503, json!(["slow"])), "only a first attempt holds it back");
    h.bring_up("slow", &["nap"]);
    let (status, body) = h.get("/health/ready");
    assert_eq!(status, 200, "a restarting server does not hold readiness back: {body}");
    assert_eq!(body["servers"]["restarting"], 1);
    // Its restarts come and go; readiness stays.
    h.advance(Duration::from_millis(1_300));
    assert_eq!(h.hub.backends[&bk("broken")].state.label(), "starting");
    assert_eq!(h.get("/health/ready").0, 200);
}

#[test]
fn a_call_to_a_server_that_is_not_serving_says_which_server_and_why() {
    let unprefixed = ServerConfig { prefix_names: false, ..server(false) };
    let mut h = Harness::new(&[("alpha", server(true)), ("plain", unprefixed), ("slow", server(true))]);
    h.bring_up("alpha", &["echo"]);
    h.bring_up("plain", &["lookup"]);
    let s = h.initialize();
    let call = |h: &mut Harness, id: u64, tool: &str| {
        let x = h.call(&s, json!(id), tool, json!({}));
        h.json_response(x).1["error"].clone()
    };
    let error = call(&mut h, 1, "slow_1mcp_anything");
    assert_eq!(error["code"], -32603);
    assert!(error["message"].as_str().is_some_and(|m| m.starts_with("server 'slow' is starting")), "{error}");
    assert_eq!((error["data"]["server"].clone(), error["data"]["state"].clone()), (json!("slow"), json!("starting")));
    assert_eq!(error["data"]["tool"], "slow_1mcp_anything");
    exit(&mut h, "alpha");
    exit(&mut h, "plain");
    h.advance(Duration::from_millis(100));
    let error = call(&mut h, 2, "alpha_1mcp_echo");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("server 'alpha' is restarting (attempt 1, next start in"), "{error}");
    assert_eq!(error["data"]["state"], "restarting");
    let retry = error["data"]["retryInMs"].as_u64().expect("retryInMs");
    assert!((600..=1_100).contains(&retry), "the jittered first delay less the 100 ms waited: {retry}");
    assert!(error["data"]["since"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(error["data"]["sinceMs"], 100);
    let error = call(&mut h, 3, "lookup");
    assert_eq!(
        (error["data"]["server"].clone(), error["data"]["state"].clone()),
        (json!("plain"), json!("restarting"))
    );
    let error = call(&mut h, 4, "alpha_typo");
    assert_eq!((error["code"].clone(), error["message"].clone()), (json!(-32602), json!("Unknown tool: alpha_typo")));
    assert!(h.backend_writes("alpha").is_empty() && h.backend_writes("plain").is_empty());
}

#[test]
fn a_crash_looping_server_says_so_to_its_callers_but_not_to_sessions_that_cannot_see_it() {
    let cfg = ServerConfig {
        restart: RestartConfig { restart_on_exit: true, max_restarts: 1, restart_delay: Duration::from_millis(10) },
        tags: vec!["db".into()],
        ..server(true)
    };
    let mut h = Harness::new(&[("flaky", cfg)]);
    exit(&mut h, "flaky");
    h.advance(Duration::from_millis(50));
    exit(&mut h, "flaky");
    assert_eq!(h.hub.backends[&bk("flaky")].state.label(), "crash-loop");
    let s = h.initialize();
    let x = h.call(&s, json!(1), "flaky_1mcp_q", json!({}));
    let error = h.json_response(x).1["error"].clone();
    assert!(error["message"].as_str().is_some_and(|m| m.contains("crash loop")), "{error}");
    assert_eq!((error["data"]["state"].clone(), error["data"]["restarts"].clone()), (json!("crash-loop"), json!(1)));
    let web = h.initialize_at("tags=web").expect("web view");
    let x = h.call(&web, json!(1), "flaky_1mcp_q", json!({}));
    let error = h.json_response(x).1["error"].clone();
    assert_eq!(error["message"], "Unknown tool: flaky_1mcp_q", "a view does not learn of servers outside it");
}

#[test]
fn an_initialize_that_asks_a_session_to_keep_too_much_is_refused_and_client_info_is_bounded() {
    let mut h = two_backends();
    let big = "x".repeat(crate::session::MAX_CAPABILITIES_BYTES);
    let x = h.post(None, json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {"experimental": {"blob": big}}, "clientInfo": {"name": "t", "version": "1"}}}));
    let (status, body) = h.json_response(x);
    assert_eq!((status, body["error"]["code"].clone()), (400, json!(-32602)));
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("capabilities is")), "{body}");
    assert_eq!(h.hub.stats().sessions, 0, "nothing kept");
    let name = "n".repeat(3_000_000);
    let x = h.post(
        None,
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": name, "version": "1", "extra": "y".repeat(100_000)}}}),
    );
    assert_eq!(h.json_response(x).0, 200);
    let session = h.hub.sessions.values().next().expect("a session");
    let kept = session.client_info.to_string();
    assert!(kept.len() < 400, "clientInfo is kept bounded: {} bytes", kept.len());
    assert!(session.client_info.get("extra").is_none());
}

#[test]
fn a_legacy_post_that_is_not_json_is_refused_like_one_to_mcp() {
    let mut h = two_backends();
    h.http_at(HttpMethod::Get, "/sse", "", None, "");
    let session = h.hub.sessions.keys().next().cloned().expect("legacy session");
    h.next_exchange += 1;
    let x = ExchangeId(h.next_exchange);
    let request = HttpRequest {
        method: Some(HttpMethod::Post),
        path: "/messages".into(),
        query: format!("sessionId={session}"),
        host: Some("127.0.0.1:3050".into()),
        content_type: Some("text/plain".into()),
        body: br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.to_vec(),
        ..HttpRequest::default()
    };
    h.feed(Input::HttpRequest { exchange: x, request });
    assert_eq!(h.json_response(x).0, 415);
}

fn token(id: &str, tags: Option<&[&str]>) -> crate::auth::Credential {
    crate::auth::Credential::Token(Box::new(crate::auth::TokenGrant {
        id: id.into(),
        name: format!("{id}-name"),
        tags: tags.map(|t| t.iter().map(|s| (*s).to_owned()).collect()),
        expires_at_ms: Some(2_000_000),
        revoked: false,
        audience: None,
    }))
}

fn guarded_views() -> Harness {
    let mut h = views();
    h.hub.config.auth_enabled = true;
    h.hub.config.wall_epoch_ms = 1_000_000;
    h
}

fn challenge(r: &HttpResponse) -> String {
    r.headers.iter().find(|(k, _)| k == "WWW-Authenticate").map(|(_, v)| v.clone()).unwrap_or_default()
}

#[test]
fn with_auth_on_mcp_endpoints_need_a_live_token_and_say_where_to_learn_more() {
    let mut h = guarded_views();
    for (path, method) in [("/mcp", HttpMethod::Post), ("/sse", HttpMethod::Get), ("/messages", HttpMethod::Post)] {
        let x = h.http_at(method, path, "", None, "{}");
        let r = h.response(x).expect("answered");
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(
            challenge(&r),
            format!("Bearer resource_metadata=\"http://127.0.0.1:3050/.well-known/oauth-protected-resource{path}\"")
        );
    }
    for (suffix, resource) in [("/mcp", "http://127.0.0.1:3050/mcp"), ("", "http://127.0.0.1:3050")] {
        let x = h.http_at(HttpMethod::Get, &format!("/.well-known/oauth-protected-resource{suffix}"), "", None, "");
        let (status, metadata) = h.json_response(x);
        assert_eq!((status, metadata["resource"].clone()), (200, json!(resource)));
        assert_eq!(metadata["scopes_supported"], json!(["tag:db", "tag:web"]));
        assert_eq!(metadata["authorization_servers"], json!(["http://127.0.0.1:3050"]), "the embedded server");
    }
    let x = h.http_at(HttpMethod::Post, "/mcp", "tag-filter=web%20and%20not%20prod", None, "{}");
    assert!(
        challenge(&h.response(x).expect("answered")).contains("scope=\"tag:prod tag:web\""),
        "a 401 names the scopes the view needs"
    );
    let x = h.http_at(HttpMethod::Get, "/.well-known/oauth-protected-resource/health", "", None, "");
    assert_eq!(h.response(x).map(|r| r.status), Some(404), "metadata only for MCP endpoints");
    let mut foreign = token("elsewhere", None);
    if let crate::auth::Credential::Token(grant) = &mut foreign {
        grant.audience = Some("https://other.example/mcp".into());
    }
    for (credential, why) in [
        (crate::auth::Credential::Malformed, "not a bearer token"),
        (crate::auth::Credential::Unknown, "unknown token"),
        (foreign, "another resource"),
        (token("late", None), "expired"),
    ] {
        h.credential = credential;
        if why == "expired" {
            h.hub.config.wall_epoch_ms = 2_000_000;
        }
        let x = h.post(None, json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}));
        let r = h.response(x).expect("answered");
        assert_eq!(r.status, 401, "{why}");
        assert!(challenge(&r).ends_with(", error=\"invalid_token\""), "{why}: {}", challenge(&r));
        assert!(r.body.contains(why), "{why}: {}", r.body);
    }
    h.hub.config.wall_epoch_ms = 1_000_000;
    h.credential = token("ok", None);
    let x = h.http_at(HttpMethod::Post, "/mcp", "access_token=abc", None, "{}");
    assert_eq!(h.response(x).map(|r| r.status), Some(400), "never a token in the URL");
    let x = h.http_at(HttpMethod::Get, "/health", "", None, "");
    assert_eq!(h.response(x).map(|r| r.status), Some(200), "health needs no token");
    assert!(h.initialize_at("").is_ok(), "a live token gets in");
    if let crate::auth::Credential::Token(grant) = &mut h.credential {
        grant.audience = Some("http://127.0.0.1:3050/mcp/".into());
    }
    assert!(h.initialize_at("").is_ok(), "a token issued for this server's /mcp gets in");
}

#[test]
fn an_external_issuer_and_audience_are_what_the_metadata_names_and_tokens_must_carry() {
    let mut h = guarded_views();
    h.hub.config.auth_issuer = Some("https://idp.example.com/realms/a".into());
    h.hub.config.auth_audience = Some("https://mcp.example.com".into());
    let x = h.http_at(HttpMethod::Get, "/.well-known/oauth-protected-resource/mcp", "", None, "");
    let (_, metadata) = h.json_response(x);
    assert_eq!(metadata["authorization_servers"], json!(["https://idp.example.com/realms/a"]));
    assert_eq!(metadata["resource"], json!("https://mcp.example.com"));
    h.credential = token("ours", None);
    for (audience, admitted) in [("https://mcp.example.com", true), ("http://127.0.0.1:3050/mcp", false)] {
        if let crate::auth::Credential::Token(grant) = &mut h.credential {
            grant.audience = Some(audience.into());
        }
        assert_eq!(h.initialize_at("").is_ok(), admitted, "{audience}");
    }
}

#[test]
fn a_tokens_tags_bound_its_sessions_and_a_view_past_them_is_403() {
    let mut h = guarded_views();
    h.credential = token("web-only", Some(&["web"]));
    let (status, body) = h.initialize_at("tags=db").expect_err("db is beyond the token");
    assert_eq!(status, 403, "{body}");
    let x = h.http_at(
        HttpMethod::Post,
        "/mcp",
        "tag-filter=web%20and%20not%20prod",
        None,
        &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}).to_string(),
    );
    let r = h.response(x).expect("answered");
    assert_eq!(r.status, 403);
    assert!(
        challenge(&r).contains("error=\"insufficient_scope\"") && challenge(&r).contains("scope=\"tag:prod\""),
        "{}",
        challenge(&r)
    );
    let s = h.initialize_at("").expect("no view: the token's tags");
    assert_eq!(
        tool_names(&h.list(&s, "tools/list", None)),
        ["alpha_1mcp_a1", "alpha_1mcp_a2", "alpha_1mcp_a3", "beta_1mcp_b1"]
    );
    let x = h.call(&s, json!(1), "gamma_1mcp_g1", json!({}));
    assert_eq!(
        h.json_response(x).1["error"]["message"],
        "Unknown tool: gamma_1mcp_g1",
        "gamma (db only) is not the token's"
    );
    assert!(h.backend_writes("gamma").is_empty());
}

#[test]
fn a_session_belongs_to_the_principal_that_opened_it() {
    let mut h = guarded_views();
    h.credential = token("a", None);
    let s = h.initialize_at("").expect("a's session");
    h.credential = token("b", None);
    let x = h.call(&s, json!(1), "alpha_1mcp_a1", json!({}));
    let (status, body) = h.json_response(x);
    assert_eq!((status, body["error"]["code"].clone()), (404, json!(-32001)), "b never sees a's session");
    let d = h.http(HttpMethod::Delete, Some(&s), "");
    assert_eq!(h.json_response(d).0, 404, "nor ends it");
    assert!(h.backend_writes("alpha").is_empty());
    h.credential = token("a", None);
    h.call(&s, json!(2), "alpha_1mcp_a1", json!({}));
    assert_eq!(h.backend_writes("alpha").len(), 1, "a still can");
    // Legacy sessions too: /messages?sessionId= of another principal is not found.
    let sse = h.http_at(HttpMethod::Get, "/sse", "", None, "");
    let legacy = h.hub.sessions.iter().find(|(_, v)| v.stream == Some(sse)).map(|(k, _)| k.clone()).expect("legacy");
    h.credential = token("b", None);
    let x = h.http_at(HttpMethod::Post, "/messages", &format!("sessionId={legacy}"), None, "{}");
    assert_eq!(h.response(x).map(|r| r.status), Some(404));
}

#[test]
fn with_auth_on_health_tells_strangers_only_its_status() {
    let mut h = guarded_views();
    for path in ["/health", "/health/ready"] {
        let x = h.http_at(HttpMethod::Get, path, "", None, "");
        let (status, body) = h.json_response(x);
        assert_eq!(status, 200, "{path}: the status code stays for load balancers");
        let keys: Vec<&String> = body.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        assert_eq!(keys, ["status", "timestamp"], "{path}: {body}");
    }
    h.hub.config.health_info_level = crate::health::InfoLevel::Basic;
    let x = h.http_at(HttpMethod::Get, "/health", "", None, "");
    let (_, body) = h.json_response(x);
    assert_eq!(body["servers"]["total"], 3, "basic: counts: {body}");
    assert_eq!(body["servers"]["details"][0].as_object().map(|o| o.len()), Some(2), "basic: name and state: {body}");
    assert!(!body.to_string().contains("tags") && body.get("configuration").is_none(), "{body}");
    h.hub.config.health_info_level = crate::health::InfoLevel::Full;
    let x = h.http_at(HttpMethod::Get, "/health", "", None, "");
    assert!(h.json_response(x).1["servers"]["details"][0]["tags"].is_array(), "full: everything");
    h.hub.config.health_info_level = crate::health::InfoLevel::Minimal;
    h.credential = token("ops", None);
    let x = h.http_at(HttpMethod::Get, "/health", "", None, "");
    let (_, body) = h.json_response(x);
    assert_eq!(body["servers"]["total"], 3, "a live token sees the details: {body}");
    h.hub.config.auth_enabled = false;
    h.credential = crate::auth::Credential::None;
    let x = h.http_at(HttpMethod::Get, "/health", "", None, "");
    assert_eq!(h.json_response(x).1["servers"]["total"], 3, "with auth off, the whole document as before");
}

#[test]
fn a_revoked_token_ends_its_sessions_and_no_others() {
    let mut h = guarded_views();
    h.credential = token("a", None);
    let a = h.initialize_at("").expect("a's session");
    let a_stream = h.open_stream(&a);
    h.credential = token("b", None);
    let b = h.initialize_at("").expect("b's session");
    let b_stream = h.open_stream(&b);
    h.feed(Input::CredentialsRevoked { principals: vec!["a".into()] });
    assert!(h.events(a_stream).1, "a's stream closes at once");
    assert!(!h.events(b_stream).1, "b's stays open");
    assert!(
        !h.hub.sessions.contains_key(&SessionId::presented(&a))
            && h.hub.sessions.contains_key(&SessionId::presented(&b))
    );
}

#[test]
fn a_stream_does_not_outlive_its_token_and_a_refreshed_token_carries_on() {
    let mut h = guarded_views();
    h.hub.config.session_idle_timeout = Some(Duration::from_secs(3600));
    // Expires 1 000 s after the wall epoch (token() expires at 2 000 000 ms; epoch 1 000 000).
    h.credential = token("grant", Some(&["web", "db"]));
    let s = h.initialize_at("").expect("session");
    let stream = h.open_stream(&s);
    h.advance(Duration::from_secs(900));
    assert!(!h.events(stream).1, "still valid");
    // The client refreshes: the same grant, a later expiry, narrower tags.
    if let crate::auth::Credential::Token(grant) = &mut h.credential {
        grant.expires_at_ms = Some(4_000_000);
        grant.tags = Some(vec!["web".into()]);
    }
    assert_eq!(
        tool_names(&h.list(&s, "tools/list", None)),
        ["alpha_1mcp_a1", "alpha_1mcp_a2", "alpha_1mcp_a3", "beta_1mcp_b1"],
        "the refreshed token's tags apply to the session"
    );
    h.advance(Duration::from_secs(200));
    assert!(!h.events(stream).1, "past the first token's expiry, the refreshed one holds the stream");
    h.advance(Duration::from_secs(3000));
    assert!(h.events(stream).1, "closed once the refreshed token expired too");
    assert!(h.hub.sessions.contains_key(&SessionId::presented(&s)), "the session stays for a fresh token");
}

#[test]
fn one_token_cannot_take_every_session() {
    let mut h = guarded_views();
    h.hub.config.max_sessions_per_principal = 2;
    h.credential = token("greedy", None);
    let first = h.initialize_at("").expect("first");
    h.initialize_at("").expect("second");
    let (status, body) = h.initialize_at("").expect_err("over its quota");
    assert_eq!(status, 429, "{body}");
    let x = h.http_at(HttpMethod::Get, "/sse", "", None, "");
    assert_eq!(h.response(x).map(|r| r.status), Some(429), "legacy sessions count too");
    h.credential = token("other", None);
    assert!(h.initialize_at("").is_ok(), "another token is not affected");
    h.credential = token("greedy", None);
    let d = h.http(HttpMethod::Delete, Some(&first), "");
    assert_eq!(h.response(d).map(|r| r.status), Some(200));
    assert!(h.initialize_at("").is_ok(), "under its quota again");
}

mod answers;
mod authorization;
mod stateless;
mod stateless_backends;
