//! The life of a forwarded call: sent to its backend under a fresh id, answered (or failed,
//! timed out, abandoned) exactly once, its answer delivered to the exchange that waits for it.

use super::clients::Incoming;
use super::{DEFAULT_REQUEST_TIMEOUT, Exchange, Hub, Timer};
use crate::backend::{BackendState, ClientCall, Pending};
use crate::event::Output;
use crate::front::ReplyMode;
use crate::ids::{BackendKey, ExchangeId, ProxyId};
use crate::jsonrpc::{self, code};
use crate::session::LogLevel;
use crate::time::Instant;
use serde_json::{Map, Value, json};

/// Most forwarded requests one session may have waiting on backends at once.
pub const MAX_IN_FLIGHT_PER_SESSION: usize = 256;

impl Hub {
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
        if backend.is_stateless() {
            // Its revision wants the calling client's capabilities and log level per request.
            let client = self.sessions.get(&session);
            let capabilities = client.map(|s| s.client_capabilities.clone()).unwrap_or_default();
            // A session that set no level hears every message, as from a session-based server;
            // a stateless request only what its _meta asked for.
            let level = client.and_then(|s| s.log_level.or_else(|| (!s.id.is_stateless()).then_some(LogLevel::Debug)));
            crate::modern::for_stateless_backend(&mut body, &capabilities, level);
        } else {
            crate::modern::for_legacy_backend(&mut body);
        }
        let Some(backend) = self.backends.get_mut(backend_name) else { return };
        let id = backend.in_flight.next_id();
        body.insert("id".into(), id.to_json());
        let progress_token = swap_progress_token(&mut body, id);
        // A stateless backend may answer with questions for a session-based client, and then
        // wants the same request again with the answers.
        let resend = (backend.is_stateless() && !session.is_stateless()).then(|| Box::new(body.clone()));
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
                resend,
                relay: None,
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
        if call.resend.is_some()
            && message.get("result").and_then(|r| r.get("resultType")).and_then(Value::as_str) == Some("input_required")
        {
            // A session-based client cannot take an InputRequiredResult: its questions are put
            // to it as requests, and the backend asked again with the answers.
            let result = message.remove("result").unwrap_or_default();
            return self.relay_questions(now, backend, call, &result);
        }
        if call.session.is_stateless()
            && let Some(session) = self.sessions.get(&call.session)
            && let Some(Value::Object(result)) = message.remove("result")
        {
            // The stateless revision's shape: resultType, and caching hints where they belong.
            let private = self.is_private(session.viewer());
            message.insert("result".into(), crate::modern::result_for(&call.method, result, private));
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
        self.deliver_call_inner(now, backend, call, message);
        if self.shutting_down {
            self.check_drained(now);
        }
    }

    fn deliver_call_inner(&mut self, now: Instant, backend: &BackendKey, call: ClientCall, message: &Value) {
        self.timers.remove(call.timer);
        let Some(Exchange::Call { mode, id, streaming, .. }) = self.exchanges.remove(&call.exchange) else {
            if call.session.is_stateless() {
                // A parked call ended (its timeout, its backend's end) before the client retried:
                // nothing is left to resume, so the record goes and a retry is told so.
                self.end_session(now, &call.session, "its call ended while it waited for the client's retry");
            }
            return;
        };
        if let Some(s) = self.sessions.get_mut(&call.session) {
            s.in_flight.remove(&(backend.clone(), id));
        }
        let status = if call.session.is_stateless() { crate::modern::http_status(message) } else { 200 };
        if status != 200 && mode == ReplyMode::Json && !streaming {
            return self.respond(call.exchange, status, message, vec![]);
        }
        self.finish_exchange(call.exchange, mode, streaming, message);
    }

    /// Give a call's exchange its last message: on a legacy session's stream, at the end of the
    /// event stream it turned into, or as the whole reply.
    pub(super) fn finish_exchange(&mut self, exchange: ExchangeId, mode: ReplyMode, streaming: bool, message: &Value) {
        if let ReplyMode::Legacy { stream } = mode {
            self.push_event(stream, message);
        } else if streaming {
            // Progress or a server request went first: the result ends the stream.
            self.push_event(exchange, message);
            self.outputs.push_back(Output::CloseStream { exchange });
        } else {
            self.reply(exchange, mode, message, vec![]);
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

/// Replace `params._meta.progressToken` with `ours` (unique on the backend's side); returns the
/// client's token so progress can be mapped back to it.
fn swap_progress_token(body: &mut Map<String, Value>, ours: ProxyId) -> Option<Value> {
    let meta = body.get_mut("params")?.as_object_mut()?.get_mut("_meta")?.as_object_mut()?;
    let theirs = meta.get("progressToken").filter(|t| jsonrpc::is_valid_id(t))?.clone();
    meta.insert("progressToken".into(), ours.to_json());
    Some(theirs)
}

/// `notifications/cancelled` for a request 1mcp sent a backend.
pub(super) fn cancelled(id: ProxyId, reason: &str) -> Value {
    jsonrpc::notification("notifications/cancelled", Some(json!({"requestId": id.to_json(), "reason": reason})))
}
