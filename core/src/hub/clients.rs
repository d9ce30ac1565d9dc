//! MCP requests from client sessions: answered from the registry or forwarded to a backend.

use super::{DEFAULT_REQUEST_TIMEOUT, Exchange, Hub, Timer};
use crate::backend::{BackendState, ClientCall, ListKind, Pending};
use crate::cursor::{self, CursorError, CursorPayload};
use crate::event::Output;
use crate::front::ReplyMode;
use crate::ids::{BackendKey, ExchangeId, ProxyId, SessionId};
use crate::jsonrpc::{self, RequestId, code};
use crate::registry::{Kind, SEPARATOR};
use crate::session::LogLevel;
use crate::time::Instant;
use serde_json::{Map, Value, json};

/// Most forwarded requests one session may have waiting on backends at once.
pub const MAX_IN_FLIGHT_PER_SESSION: usize = 256;

/// Name and version the proxy reports as its `serverInfo`.
pub const SERVER_NAME: &str = "1mcp";
/// This build's version.
pub const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where in a forwarded request's params the routed name lives, so it can be rewritten.
enum NameSlot {
    /// `params.name` (tools/call, prompts/get).
    Name,
    /// `params.ref.name` (completion/complete for a prompt).
    RefName,
}

/// A client request being handled: where to answer and under which id.
#[derive(Debug)]
pub(super) struct Incoming {
    /// The HTTP exchange to answer on.
    pub exchange: ExchangeId,
    /// JSON or SSE.
    pub mode: ReplyMode,
    /// The client accepts an event stream, so progress and server requests can precede the answer.
    pub sse_ok: bool,
    /// The session it belongs to.
    pub session: SessionId,
    /// The client's request id.
    pub id: RequestId,
    /// The answer's event stream is already open (something reached the client on it while
    /// the request waited for its instance), so the answer ends that stream.
    pub streaming: bool,
}

impl Hub {
    pub(super) fn initialize_result(&self, version: &str) -> Value {
        let mut result = json!({
            "protocolVersion": version,
            "capabilities": {
                "tools": {"listChanged": true},
                "prompts": {"listChanged": true},
                "resources": {"subscribe": true, "listChanged": true},
                "completions": {},
                "logging": {},
            },
            "serverInfo": {"name": SERVER_NAME, "version": SERVER_VERSION},
        });
        if let Some(instructions) = self.merged_instructions() {
            result["instructions"] = Value::String(instructions);
        }
        result
    }

    /// 1MCP-style instructions: a header, then each ready backend's text in `<name>` tags.
    fn merged_instructions(&self) -> Option<String> {
        let parts: Vec<String> = self
            .backends
            .values()
            .filter(|b| b.state == BackendState::Ready)
            .filter_map(|b| {
                b.effective_instructions().map(|text| format!("<{0}>\n{1}\n</{0}>", b.server(), text.trim()))
            })
            .collect();
        if parts.is_empty() {
            return None;
        }
        Some(format!(
            "1mcp aggregates several MCP servers into one. Tools and prompts are named \
             `<server>{SEPARATOR}<name>`. Instructions from each server follow.\n\n{}",
            parts.join("\n\n")
        ))
    }

    pub(super) fn handle_client_request(
        &mut self,
        now: Instant,
        req: Incoming,
        method: &str,
        body: Map<String, Value>,
    ) {
        let id = &req.id;
        let message = match method {
            "ping" => jsonrpc::result(id, json!({})),
            "logging/setLevel" => match jsonrpc::param_str(&body, "level").and_then(LogLevel::parse) {
                Some(level) => {
                    self.set_session_log_level(now, &req.session, level);
                    jsonrpc::result(id, json!({}))
                }
                None => jsonrpc::error(
                    Some(id),
                    code::INVALID_PARAMS,
                    "level must be one of debug, info, notice, warning, error, critical, alert, emergency",
                ),
            },
            "resources/subscribe" => return self.subscribe(now, req, body),
            "resources/unsubscribe" => return self.unsubscribe(now, req, body),
            "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" => {
                self.list_result(&req.session, id, method, &body)
            }
            "tools/call" => return self.route_named(now, req, body, Kind::Tool, NameSlot::Name),
            "prompts/get" => return self.route_named(now, req, body, Kind::Prompt, NameSlot::Name),
            "resources/read" => return self.route_resource(now, req, body),
            "completion/complete" => return self.route_completion(now, req, body),
            "initialize" => jsonrpc::error(Some(id), code::INVALID_REQUEST, "session is already initialized"),
            _ => jsonrpc::error(Some(id), code::METHOD_NOT_FOUND, format!("Method not found: {method}")),
        };
        self.answer(&req, &message);
    }

    pub(super) fn answer(&mut self, req: &Incoming, message: &Value) {
        if req.streaming && !matches!(req.mode, ReplyMode::Legacy { .. }) {
            self.push_event(req.exchange, message);
            self.outputs.push_back(Output::CloseStream { exchange: req.exchange });
        } else {
            self.reply(req.exchange, req.mode, message, vec![]);
        }
    }

    /// A merged list as this session's view shows it: whole, or one page with a signed cursor
    /// to the next when the session asked for `pagination=true`.
    fn list_result(&self, session: &SessionId, id: &RequestId, method: &str, body: &Map<String, Value>) -> Value {
        let list = ListKind::of_method(method).unwrap_or(ListKind::Templates);
        let visible = self.visible(session, &self.registry, list);
        let cursor = jsonrpc::params(body).and_then(|p| p.get("cursor")).filter(|c| !c.is_null());
        let view = self.sessions.get(session).map(|s| &s.view);
        let paginate = view.is_some_and(|v| v.paginate);
        let fingerprint = cursor::fingerprint(
            view.and_then(|v| v.filter.as_ref()).map(ToString::to_string).unwrap_or_default().as_bytes(),
        );
        let offset = match cursor {
            None => 0,
            Some(Value::String(text)) if paginate => {
                match cursor::decode(&self.cursor_key, text, method, fingerprint) {
                    Ok(payload) if payload.generation == self.list_generation => payload.offset,
                    Ok(_) => return invalid_cursor(id, CursorError::Stale),
                    Err(e) => return invalid_cursor(id, e),
                }
            }
            // Without pagination we never hand out cursors, so none can be ours.
            Some(_) => return invalid_cursor(id, CursorError::Malformed),
        };
        let page_size = if paginate { self.config.page_size.max(1) } else { usize::MAX };
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(visible.len());
        let end = start.saturating_add(page_size).min(visible.len());
        let items: Vec<Value> = visible[start..end].iter().map(|l| Value::Object(l.item.clone())).collect();
        let mut result = json!({ list.result_key(): items });
        if end < visible.len() {
            let next = CursorPayload {
                list: method.to_owned(),
                offset: end as u64,
                generation: self.list_generation,
                view: fingerprint,
            };
            result["nextCursor"] = Value::String(cursor::encode(&self.cursor_key, &next));
        }
        jsonrpc::result(id, result)
    }

    fn route_named(&mut self, now: Instant, req: Incoming, body: Map<String, Value>, kind: Kind, slot: NameSlot) {
        let name = match slot {
            NameSlot::RefName => jsonrpc::params(&body).and_then(|p| p.get("ref")).and_then(|r| r.get("name")),
            _ => jsonrpc::params(&body).and_then(|p| p.get("name")),
        }
        .and_then(Value::as_str)
        .map(str::to_owned);
        let what = if kind == Kind::Tool { "tool" } else { "prompt" };
        let Some(name) = name else {
            let e = jsonrpc::error(Some(&req.id), code::INVALID_PARAMS, format!("missing {what} name"));
            return self.answer(&req, &e);
        };
        let route =
            self.registry.route(kind, &name).map(|r| (BackendKey::server(r.backend.as_str()), r.original.clone()));
        let route = route.filter(|(backend, _)| self.sees(&req.session, backend));
        let Some(route) = route else {
            let disabled = self
                .registry
                .disabled_tool_owner(&name)
                .filter(|s| kind == Kind::Tool && self.sees(&req.session, &BackendKey::server(*s)));
            if let Some(server) = disabled {
                let message = format!("Tool {name} is disabled by the configuration of server '{server}'");
                let e =
                    jsonrpc::error_with_data(Some(&req.id), code::INVALID_PARAMS, message, Some(json!({ what: name })));
                return self.answer(&req, &e);
            }
            if let Some(server) = self.down_owner(&req.session, kind, &name).cloned() {
                // Its server is starting or down: say so, rather than pretend the name is a typo.
                let (message, mut data) = self.unavailable(now, &server);
                data[what] = Value::String(name);
                let e = jsonrpc::error_with_data(Some(&req.id), code::INTERNAL_ERROR, message, Some(data));
                return self.answer(&req, &e);
            }
            let message = format!("Unknown {what}: {name}");
            let e = jsonrpc::error_with_data(Some(&req.id), code::INVALID_PARAMS, message, Some(json!({ what: name })));
            return self.answer(&req, &e);
        };
        let (backend, original) = route;
        let mut body = body;
        let params = body.get_mut("params").and_then(Value::as_object_mut);
        match (slot, params) {
            (NameSlot::Name, Some(p)) => {
                p.insert("name".into(), Value::String(original));
            }
            (NameSlot::RefName, Some(p)) => {
                if let Some(r) = p.get_mut("ref").and_then(Value::as_object_mut) {
                    r.insert("name".into(), Value::String(original));
                }
            }
            _ => {}
        }
        self.forward(now, req, &backend, body);
    }

    fn route_resource(&mut self, now: Instant, req: Incoming, body: Map<String, Value>) {
        let Some(uri) = jsonrpc::param_str(&body, "uri").map(str::to_owned) else {
            let e = jsonrpc::error(Some(&req.id), code::INVALID_PARAMS, "missing resource uri");
            return self.answer(&req, &e);
        };
        match self.resource_owner(&req.session, &uri) {
            Some(backend) => self.forward(now, req, &backend, body),
            None if let Some(server) = self.down_resource_owner(&req.session, &uri).cloned() => {
                let (message, mut data) = self.unavailable(now, &server);
                data["uri"] = Value::String(uri);
                let e = jsonrpc::error_with_data(Some(&req.id), code::INTERNAL_ERROR, message, Some(data));
                self.answer(&req, &e)
            }
            None => {
                let e = jsonrpc::error_with_data(
                    Some(&req.id),
                    code::INVALID_PARAMS,
                    format!("Resource not found: {uri}"),
                    Some(json!({"uri": uri})),
                );
                self.answer(&req, &e)
            }
        }
    }

    /// The registry's answer, or the only resource-capable backend for unlisted URIs.
    fn resource_owner(&self, session: &SessionId, uri: &str) -> Option<BackendKey> {
        if let Some(owner) = self.registry.resource_owner(uri).map(BackendKey::server).filter(|b| self.sees(session, b))
        {
            return Some(owner);
        }
        let mut capable = self
            .backends
            .values()
            .filter(|b| b.state == BackendState::Ready && b.has_capability("resources") && self.sees(session, &b.key));
        match (capable.next(), capable.next()) {
            (Some(only), None) => Some(only.key.clone()),
            _ => None,
        }
    }

    fn route_completion(&mut self, now: Instant, req: Incoming, body: Map<String, Value>) {
        let reference = jsonrpc::params(&body).and_then(|p| p.get("ref"));
        match reference.and_then(|r| r.get("type")).and_then(Value::as_str) {
            Some("ref/prompt") => self.route_named(now, req, body, Kind::Prompt, NameSlot::RefName),
            Some("ref/resource") => {
                let uri = reference.and_then(|r| r.get("uri")).and_then(Value::as_str).map(str::to_owned);
                match uri.and_then(|u| self.resource_owner(&req.session, &u)) {
                    Some(backend) => self.forward(now, req, &backend, body),
                    None => {
                        let e = jsonrpc::error(
                            Some(&req.id),
                            code::INVALID_PARAMS,
                            "completion reference names no known resource",
                        );
                        self.answer(&req, &e)
                    }
                }
            }
            _ => {
                let e = jsonrpc::error(
                    Some(&req.id),
                    code::INVALID_PARAMS,
                    "completion ref must be ref/prompt or ref/resource",
                );
                self.answer(&req, &e)
            }
        }
    }

    pub(super) fn forward(&mut self, now: Instant, req: Incoming, server: &BackendKey, body: Map<String, Value>) {
        if self.shutting_down {
            let e = jsonrpc::error(Some(&req.id), code::INTERNAL_ERROR, "1mcp is shutting down; not taking new calls");
            return self.answer(&req, &e);
        }
        let in_flight = self.sessions.get(&req.session).map_or(0, |s| s.in_flight.len());
        if in_flight >= MAX_IN_FLIGHT_PER_SESSION {
            // One client must not be able to fill every backend's table.
            let why = format!("too many requests in flight for this session ({in_flight}); wait for some to finish");
            return self.answer(&req, &jsonrpc::error(Some(&req.id), code::INTERNAL_ERROR, why));
        }
        let target = match self.instance_for(now, &req.session, server) {
            Ok(target) => target,
            Err(why) => return self.answer(&req, &jsonrpc::error(Some(&req.id), code::INTERNAL_ERROR, why)),
        };
        if target != *server && self.backends.get(&target).is_some_and(|b| b.state.is_starting()) {
            return self.queue_for_instance(&target, req, body);
        }
        self.send_to_backend(now, req, &target, body);
    }

    /// Send a client request to one backend (or instance) under a fresh backend-side id.
    fn send_to_backend(
        &mut self,
        now: Instant,
        req: Incoming,
        backend_name: &BackendKey,
        mut body: Map<String, Value>,
    ) {
        if let Some(until) = self.backends.get(backend_name).and_then(|b| b.circuit.open_until(now)) {
            let why = format!(
                "server '{backend_name}' stopped answering ({} timeouts in a row); failing fast for {} ms more",
                crate::backend::CIRCUIT_THRESHOLD,
                until.since(now).as_millis()
            );
            let data = json!({"server": backend_name, "state": "circuit-open", "retryInMs": until.since(now).as_millis() as u64});
            let e = jsonrpc::error_with_data(Some(&req.id), code::INTERNAL_ERROR, why, Some(data));
            return self.answer(&req, &e);
        }
        if self.backends.get(backend_name).is_none_or(|b| b.state != BackendState::Ready) {
            let (message, data) = self.unavailable(now, backend_name);
            let e = jsonrpc::error_with_data(Some(&req.id), code::INTERNAL_ERROR, message, Some(data));
            return self.answer(&req, &e);
        }
        let Some(backend) = self.backends.get_mut(backend_name) else { return };
        let Incoming { exchange, mode, sse_ok, session, id: client_id, streaming } = req;
        let method = body.get("method").and_then(Value::as_str).unwrap_or_default().to_owned();
        let id = backend.in_flight.next_id();
        body.insert("id".into(), id.to_json());
        let progress_token = swap_progress_token(&mut body, id);
        let timeout = backend.config.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        let hard_deadline = now.after(backend.config.max_total_timeout.unwrap_or(timeout * 10));
        let generation = backend.generation;
        let timer =
            self.timers.insert(now.after(timeout), Timer::Request { backend: backend_name.clone(), generation, id });
        backend.in_flight.insert(
            id,
            Pending::Client(ClientCall {
                exchange,
                session: session.clone(),
                client_id,
                method,
                timer,
                progress_token,
                hard_deadline,
            }),
        );
        self.outputs.push_back(Output::WriteBackend {
            backend: backend_name.clone(),
            generation,
            line: Value::Object(body).to_string(),
        });
        self.exchanges.insert(exchange, Exchange::Call { backend: backend_name.clone(), id, mode, sse_ok, streaming });
        if let Some(s) = self.sessions.get_mut(&session) {
            s.in_flight.insert((backend_name.clone(), id));
        }
    }

    pub(super) fn handle_client_notification(
        &mut self,
        now: Instant,
        session: &SessionId,
        method: &str,
        body: &Map<String, Value>,
    ) {
        match method {
            "notifications/initialized" => {
                if let Some(s) = self.sessions.get_mut(session) {
                    s.initialized = true;
                }
                self.start_roots_instances(now, session);
            }
            "notifications/roots/list_changed" => {
                // Roots belong to the client: only its own instances hold them (a shared server
                // holds nobody's), so only they are told to ask again.
                let message = jsonrpc::notification(method, None);
                let targets: Vec<(BackendKey, crate::ids::Gen)> = self
                    .backends
                    .values()
                    .filter(|b| b.state == BackendState::Ready && b.owner.as_ref() == Some(session))
                    .map(|b| (b.key.clone(), b.generation))
                    .collect();
                for (name, generation) in targets {
                    self.write(&name, generation, &message);
                }
            }
            "notifications/cancelled" => {
                let Some(request_id) = jsonrpc::params(body).and_then(|p| p.get("requestId")).cloned() else { return };
                let found = self.sessions.get(session).and_then(|s| {
                    s.in_flight.iter().find(|(backend, id)| {
                        self.backends
                            .get(backend)
                            .and_then(|b| b.in_flight.client(*id))
                            .is_some_and(|call| call.client_id == request_id)
                    })
                });
                if let Some((backend, id)) = found.cloned() {
                    let how = self.exchanges.values().find_map(|e| match e {
                        Exchange::Call { backend: b, id: i, mode, streaming, .. } if *b == backend && *i == id => {
                            Some((*mode, *streaming))
                        }
                        _ => None,
                    });
                    if let (Some(exchange), Some((mode, streaming))) =
                        (self.abandon_call(&backend, id, "cancelled by the client"), how)
                    {
                        self.end_cancelled(exchange, mode, streaming);
                    }
                    return;
                }
                // Still waiting for its instance to start: it is simply never sent.
                let mut cancelled = None;
                for waiting in self.queued.values_mut() {
                    if let Some(at) = waiting.iter().position(|(r, _)| r.session == *session && r.id == request_id) {
                        cancelled = Some(waiting.remove(at).0);
                        break;
                    }
                }
                if let Some(req) = cancelled {
                    self.end_cancelled(req.exchange, req.mode, req.streaming);
                }
            }
            _ => tracing::debug!(%session, method = %crate::text::for_log(method), "ignoring client notification"),
        }
    }

    /// End the HTTP side of a request the client cancelled: it gets no JSON-RPC response (spec),
    /// but its HTTP request must still end, or the client's connection waits forever. A stream
    /// already open for it (progress or a server request went first) is closed; a legacy
    /// session's POST was answered when it arrived.
    fn end_cancelled(&mut self, exchange: ExchangeId, mode: ReplyMode, streaming: bool) {
        match mode {
            ReplyMode::Legacy { .. } => {}
            _ if streaming => self.outputs.push_back(Output::CloseStream { exchange }),
            _ => self.respond_empty(exchange, 204, vec![]),
        }
    }

    /// A backend answered a forwarded request: deliver it to its client under the client's id,
    /// with error messages prefixed by the server name so the client knows who said it.
    pub(super) fn complete_client_call(
        &mut self,
        now: Instant,
        backend: &BackendKey,
        call: ClientCall,
        mut message: Map<String, Value>,
    ) {
        if let Some(b) = self.backends.get_mut(backend) {
            b.circuit.answered();
        }
        message.insert("id".into(), call.client_id.clone());
        if let Some(error) = message.get_mut("error").and_then(Value::as_object_mut) {
            attribute_error(error, backend.server_name());
        }
        self.deliver_call(now, backend, call, &Value::Object(message));
    }

    /// Answer a forwarded request with an error of the proxy's own.
    pub(super) fn fail_client_call(&mut self, now: Instant, backend: &BackendKey, call: ClientCall, message: String) {
        let error = jsonrpc::error_with_data(
            Some(&call.client_id),
            code::INTERNAL_ERROR,
            message,
            Some(json!({"server": backend.to_string()})),
        );
        self.deliver_call(now, backend, call, &error);
    }

    fn deliver_call(&mut self, now: Instant, backend: &BackendKey, call: ClientCall, message: &Value) {
        self.deliver_call_inner(backend, call, message);
        if self.shutting_down {
            self.check_drained(now);
        }
    }

    fn deliver_call_inner(&mut self, backend: &BackendKey, call: ClientCall, message: &Value) {
        self.timers.remove(call.timer);
        let Some(Exchange::Call { mode, id, streaming, .. }) = self.exchanges.remove(&call.exchange) else { return };
        if let Some(s) = self.sessions.get_mut(&call.session) {
            s.in_flight.remove(&(backend.clone(), id));
        }
        if let ReplyMode::Legacy { stream } = mode {
            self.push_event(stream, message);
        } else if streaming {
            // Progress or a server request went first: the result ends the stream.
            self.push_event(call.exchange, message);
            self.outputs.push_back(Output::CloseStream { exchange: call.exchange });
        } else {
            self.reply(call.exchange, mode, message, vec![]);
        }
    }

    /// Stop waiting for a forwarded request; tell the backend to stop too. Returns the
    /// exchange that was waiting for it.
    pub(super) fn abandon_call(&mut self, backend: &BackendKey, id: ProxyId, reason: &str) -> Option<ExchangeId> {
        let b = self.backends.get_mut(backend)?;
        let call = b.in_flight.take_client(id)?;
        let generation = b.generation;
        self.timers.remove(call.timer);
        self.exchanges.remove(&call.exchange);
        if let Some(s) = self.sessions.get_mut(&call.session) {
            s.in_flight.remove(&(backend.clone(), id));
        }
        self.write(backend, generation, &cancelled(id, reason));
        Some(call.exchange)
    }

    pub(super) fn handle_exchange_closed(&mut self, now: Instant, exchange: ExchangeId) {
        // A request still waiting for its instance to start is simply forgotten.
        for waiting in self.queued.values_mut() {
            waiting.retain(|(req, _)| req.exchange != exchange);
        }
        match self.exchanges.get(&exchange).cloned() {
            Some(Exchange::Call { backend, id, .. }) => {
                self.abandon_call(&backend, id, "client disconnected");
            }
            Some(Exchange::Stream { session }) if self.sessions.get(&session).is_some_and(|s| s.legacy) => {
                // A legacy session has no other way back to its client.
                self.exchanges.remove(&exchange);
                if let Some(s) = self.sessions.get_mut(&session) {
                    s.stream = None;
                }
                self.end_session(now, &session, "its SSE stream closed");
            }
            Some(Exchange::Stream { session }) => {
                self.exchanges.remove(&exchange);
                if let Some(s) = self.sessions.get_mut(&session) {
                    s.stream = None;
                }
            }
            None => {}
        }
    }

    /// Remove a session: close its stream, cancel what it still has in flight, answer what
    /// backends asked it, and drop its subscriptions.
    pub(super) fn end_session(&mut self, now: Instant, session_id: &SessionId, reason: &str) {
        self.drop_server_requests_of(session_id, &format!("the client session ended: {reason}"));
        let subscriptions = self.sessions.get(session_id).map(|s| s.subscriptions.clone()).unwrap_or_default();
        for (server, uri) in subscriptions {
            self.release_subscription(now, session_id, &BackendKey::server(server), &uri);
        }
        self.remove_instances_of(now, session_id);
        let Some(session) = self.sessions.remove(session_id) else { return };
        if let Some(stream) = session.stream {
            self.exchanges.remove(&stream);
            self.outputs.push_back(Output::CloseStream { exchange: stream });
        }
        for (backend, id) in session.in_flight {
            let call = self.backends.get_mut(&backend).and_then(|b| Some((b.in_flight.take_client(id)?, b.generation)));
            if let Some((call, generation)) = call {
                self.write(&backend, generation, &cancelled(id, reason));
                self.fail_client_call(now, &backend, call, format!("request abandoned: {reason}"));
            }
        }
        tracing::info!(session = %session_id, "session ended: {reason}");
    }
}

/// A backend's JSON-RPC error passes through as it was (code, message, data); which server
/// said it is added to `data` without disturbing what the server put there: into an object
/// (unless it has a `server` member of its own), as the whole of an absent or null `data`.
/// Any other `data` (a string, a list) is left exactly as the server sent it.
fn attribute_error(error: &mut Map<String, Value>, server: &str) {
    match error.get_mut("data") {
        None | Some(Value::Null) => {
            error.insert("data".into(), json!({"server": server}));
        }
        Some(Value::Object(data)) => {
            data.entry("server").or_insert_with(|| Value::String(server.to_owned()));
        }
        Some(_) => {}
    }
}

/// 1MCP's answer to a cursor it cannot honour, with the reason in `data`.
fn invalid_cursor(id: &RequestId, error: CursorError) -> Value {
    jsonrpc::error_with_data(
        Some(id),
        code::INVALID_PARAMS,
        "Invalid capability pagination cursor",
        Some(json!({"reason": error.reason()})),
    )
}

/// Replace `params._meta.progressToken` with `ours` (unique on the backend's side); returns the
/// client's token so progress can be mapped back to it.
fn swap_progress_token(body: &mut Map<String, Value>, ours: ProxyId) -> Option<Value> {
    let meta = body.get_mut("params")?.as_object_mut()?.get_mut("_meta")?.as_object_mut()?;
    let theirs = meta.get("progressToken").filter(|t| jsonrpc::is_valid_id(t))?.clone();
    meta.insert("progressToken".into(), ours.to_json());
    Some(theirs)
}

/// `notifications/cancelled` for a request 1mcp sent a backend.
fn cancelled(id: ProxyId, reason: &str) -> Value {
    jsonrpc::notification("notifications/cancelled", Some(json!({"requestId": id.to_json(), "reason": reason})))
}

impl Hub {
    /// `resources/subscribe`: reference-counted per backend and URI, so the backend is asked
    /// once however many sessions subscribe, and each session is told only of its own URIs.
    fn subscribe(&mut self, now: Instant, req: Incoming, body: Map<String, Value>) {
        let Some(uri) = jsonrpc::param_str(&body, "uri").map(str::to_owned) else {
            return self.answer(&req, &jsonrpc::error(Some(&req.id), code::INVALID_PARAMS, "missing resource uri"));
        };
        let Some(backend) = self.resource_owner(&req.session, &uri) else {
            let e = jsonrpc::error_with_data(
                Some(&req.id),
                code::INVALID_PARAMS,
                format!("Resource not found: {uri}"),
                Some(json!({"uri": uri})),
            );
            return self.answer(&req, &e);
        };
        let supports = self.backends.get(&backend).and_then(|b| b.info.as_ref()).is_some_and(|i| {
            i.capabilities.get("resources").and_then(|r| r.get("subscribe")).and_then(Value::as_bool) == Some(true)
        });
        if !supports {
            let text = format!("server '{backend}' does not support resource subscriptions");
            return self.answer(&req, &jsonrpc::error(Some(&req.id), code::METHOD_NOT_FOUND, text));
        }
        let key = (backend.server_name().to_owned(), uri.clone());
        let fresh = self.sessions.get_mut(&req.session).is_some_and(|s| s.subscriptions.insert(key));
        if self.backends.get(&backend).is_some_and(|b| b.config.per_session.is_some()) {
            // Each session's own instance holds its own subscriptions: nothing to share.
            return self.forward(now, req, &backend, body);
        }
        let first = fresh && self.backends.get_mut(&backend).is_some_and(|b| b.subscribers.add(&uri));
        if first {
            self.forward(now, req, &backend, body);
        } else {
            self.answer(&req, &jsonrpc::result(&req.id, json!({})));
        }
    }

    /// `resources/unsubscribe`: the backend is told only when the last subscriber leaves.
    fn unsubscribe(&mut self, now: Instant, req: Incoming, body: Map<String, Value>) {
        let uri = jsonrpc::param_str(&body, "uri").map(str::to_owned).unwrap_or_default();
        let owned =
            self.sessions.get(&req.session).and_then(|s| s.subscriptions.iter().find(|(_, u)| *u == uri).cloned());
        let Some((server, uri)) = owned else {
            // Unsubscribing from something never subscribed is harmless.
            return self.answer(&req, &jsonrpc::result(&req.id, json!({})));
        };
        if let Some(s) = self.sessions.get_mut(&req.session) {
            s.subscriptions.remove(&(server.clone(), uri.clone()));
        }
        let backend = BackendKey::server(server);
        let per_session = self.backends.get(&backend).is_some_and(|b| b.config.per_session.is_some());
        if per_session || self.decrement_subscribers(&backend, &uri) {
            self.forward(now, req, &backend, body);
        } else {
            self.answer(&req, &jsonrpc::result(&req.id, json!({})));
        }
    }

    /// A session leaves without unsubscribing: drop its share, and the backend's subscription
    /// with the last one.
    fn release_subscription(&mut self, now: Instant, session: &SessionId, backend: &BackendKey, uri: &str) {
        if let Some(s) = self.sessions.get_mut(session) {
            s.subscriptions.remove(&(backend.server_name().to_owned(), uri.to_owned()));
        }
        if self.decrement_subscribers(backend, uri) {
            self.internal_request(now, backend, "resources/unsubscribe", json!({"uri": uri}));
        }
    }

    /// One subscriber fewer; true when it was the last.
    fn decrement_subscribers(&mut self, backend: &BackendKey, uri: &str) -> bool {
        self.backends.get_mut(backend).is_some_and(|b| b.subscribers.remove(uri))
    }
}
