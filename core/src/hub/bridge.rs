//! The bridge between the eras, from a legacy backend to a stateless client: a backend that
//! asks its client something mid-call (`elicitation/create`, `sampling/createMessage`,
//! `roots/list`) cannot send a stateless client a request. The client is answered instead with
//! an `InputRequiredResult` carrying the questions and a sealed `requestState`, and the backend
//! call is parked: it stays in flight, its record kept, until the client retries with the
//! answers (`inputResponses`), which go to the backend as the answers to its requests, and the
//! call goes on under the retry's exchange, perhaps for another round.
//!
//! The state is only a reference (`request_state`): it must verify, name a parked record at its
//! current round, repeat the original request and come from the same principal; each is good
//! for one retry. A call parked longer than its own timeout fails like any other, and with it
//! the record, so a client that never retries leaves nothing behind.

use super::Exchange;
use super::Hub;
use super::clients::Incoming;
use super::stateless::Modern;
use crate::backend::{ClientCall, Pending, Relay};
use crate::ids::{BackendKey, Gen, ProxyId, SessionId};
use crate::jsonrpc::{self, code};
use crate::request_state::{self, Sealed};
use crate::server_requests::{Asked, Refused};
use crate::time::Instant;
use serde_json::{Map, Value, json};

impl Hub {
    /// A backend's question to the stateless request that owns its call: asked in an
    /// `InputRequiredResult`, if the request declared what answering it takes.
    pub(super) fn ask_stateless(
        &mut self,
        now: Instant,
        (name, generation): (&BackendKey, Gen),
        id: &Value,
        method: &str,
        body: Map<String, Value>,
        record: SessionId,
    ) {
        if self.sessions.get(&record).is_none_or(|s| s.in_flight.is_empty()) {
            // Its call is not with this backend yet (it waits for its instance to start): a
            // stateless client can be asked only in the answer to a call.
            let text = format!("the stateless client can be asked {method} only while its call is in flight");
            return self.write(name, generation, &jsonrpc::error(Some(id), code::INTERNAL_ERROR, text));
        }
        if let Err(missing) = self.client_can_answer(&record, method, &body) {
            let text = format!("the client did not declare {missing} in this request");
            self.write(name, generation, &jsonrpc::error(Some(id), code::METHOD_NOT_FOUND, text));
            return self.fail_for_missing_capability(now, &record, &missing);
        }
        let key = match self.server_requests.next_front_id(&record) {
            Ok(key) => key,
            Err(Refused::Full(held)) => {
                let text = format!("the client already has {held} unanswered requests");
                return self.write(name, generation, &jsonrpc::error(Some(id), code::INTERNAL_ERROR, text));
            }
        };
        let params = body.get("params").cloned().unwrap_or_else(|| json!({}));
        let question = json!({"method": method, "params": params});
        self.server_requests.record(Asked {
            session: record.clone(),
            backend: name.clone(),
            generation,
            backend_id: id.clone(),
            method: method.to_owned(),
            for_retry: None,
        });
        let Some(session) = self.sessions.get_mut(&record) else { return };
        session.bridge.asked.insert(key, question);
        self.park(&record);
    }

    /// The call needs what its request did not declare: it cannot go on (spec: the server
    /// MUST NOT rely on undeclared capabilities). It is cancelled on its backend and its client
    /// is told which capability it lacks (-32021, HTTP 400 unless its answer is already
    /// streaming). A parked call has no exchange to tell: it just ends, and a retry hears so.
    fn fail_for_missing_capability(&mut self, now: Instant, record: &SessionId, missing: &str) {
        let call = self.sessions.get(record).and_then(|s| s.in_flight.iter().next().cloned());
        let Some((backend, proxy_id)) = call else { return };
        let Some(call) = self.backends.get(&backend).and_then(|b| b.in_flight.client(proxy_id)) else { return };
        let client_id = call.client_id.clone();
        let how = match self.exchanges.get(&call.exchange) {
            Some(Exchange::Call { mode, streaming, .. }) => Some((*mode, *streaming)),
            _ => None,
        };
        let reason = format!("the client did not declare {missing}");
        let Some(exchange) = self.abandon_call(&backend, proxy_id, &reason) else { return };
        let Some((mode, streaming)) = how else {
            return self.end_session(now, record, &reason);
        };
        let mut required = json!({});
        let mut node = &mut required;
        for part in missing.split('.') {
            node[part] = json!({});
            node = &mut node[part];
        }
        let message = format!("Missing required client capability: {missing}");
        // Which server needed it, as every error 1mcp relays says (DESIGN.md rule 1).
        let data = json!({"requiredCapabilities": required, "server": backend.server_name()});
        let error =
            jsonrpc::error_with_data(Some(&client_id), code::MISSING_REQUIRED_CLIENT_CAPABILITY, message, Some(data));
        if streaming {
            self.finish_exchange(exchange, mode, streaming, &error);
        } else {
            self.respond(exchange, 400, &error, vec![]);
        }
    }

    /// Answer the record's live exchange with its open questions and park its call. A call
    /// already parked keeps its new question for the client's retry.
    fn park(&mut self, record: &SessionId) {
        let Some(session) = self.sessions.get(record) else { return };
        if session.bridge.parked {
            return;
        }
        let Some((backend, proxy_id)) = session.in_flight.iter().next().cloned() else { return };
        let Some(call) = self.backends.get(&backend).and_then(|b| b.in_flight.client(proxy_id)) else { return };
        let (exchange, client_id) = (call.exchange, call.client_id.clone());
        let Some(Exchange::Call { mode, streaming, .. }) = self.exchanges.remove(&exchange) else { return };
        self.stateless.remove(&exchange);
        let Some(session) = self.sessions.get_mut(record) else { return };
        session.bridge.parked = true;
        session.bridge.round += 1;
        let sealed = Sealed {
            record: record.stateless_number().unwrap_or_default(),
            round: session.bridge.round,
            digest: session.bridge.digest,
        };
        let mut result = Map::new();
        result.insert("resultType".into(), "input_required".into());
        result.insert("inputRequests".into(), Value::Object(session.bridge.asked.clone().into_iter().collect()));
        result.insert("requestState".into(), request_state::seal(&self.state_key, sealed).into());
        let result = crate::modern::result_for("", result, true);
        tracing::debug!(request = %record, questions = session.bridge.asked.len(), "call parked for the client's answers");
        self.finish_exchange(exchange, mode, streaming, &jsonrpc::result(&client_id, result));
    }

    /// A stateless retry carrying one of 1mcp's `requestState`s (`state`, for the request of
    /// `digest`): if it may resume the parked call it refers to ([`Hub::parked_record`]), the
    /// answers go to the call's backend and the call goes on under the retry's exchange.
    pub(super) fn resume(
        &mut self,
        now: Instant,
        request: Modern,
        (state, digest): (&str, u64),
        (responses, progress_token): (Option<&Map<String, Value>>, Option<Value>),
    ) {
        let record = match self.parked_record(state, digest, request.principal.as_ref()) {
            Ok(record) => record,
            Err(why) => {
                let message = format!("Invalid params: requestState {why}");
                let body = jsonrpc::error(Some(&request.id), code::INVALID_PARAMS, message);
                return self.reply(request.exchange, request.mode, &body, vec![]);
            }
        };
        if let Some(session) = self.sessions.get_mut(&record) {
            // The retry's own _meta applies to what it receives.
            session.client_capabilities = request.capabilities;
            session.log_level = request.log_level;
        }
        let req = Incoming {
            exchange: request.exchange,
            mode: request.mode,
            sse_ok: request.sse_ok,
            session: record,
            id: request.id,
            streaming: false,
        };
        let record = req.session.clone();
        for (key, response) in responses.into_iter().flatten() {
            let asked = self.sessions.get_mut(&record).and_then(|s| s.bridge.asked.remove(key));
            if asked.is_none() {
                continue; // Not asked (or answered already): ignored, as the spec asks.
            }
            let body = match response {
                Value::Object(_) => json!({"jsonrpc": "2.0", "result": response}),
                _ => {
                    let message = "the client's response is not an object";
                    json!({"jsonrpc": "2.0", "error": {"code": code::INVALID_PARAMS, "message": message}})
                }
            };
            let Value::Object(body) = body else { continue };
            self.handle_client_response(now, &record, &json!(key), body);
        }
        let Some(session) = self.sessions.get_mut(&record) else { return };
        session.bridge.parked = false;
        let Some((backend, proxy_id)) = session.in_flight.iter().next().cloned() else { return };
        let Some(call) = self.backends.get_mut(&backend).and_then(|b| b.in_flight.client_mut(proxy_id)) else {
            return;
        };
        call.exchange = req.exchange;
        call.client_id = req.id.clone();
        // Progress from now on is the retry's: under its token (a client may give each request
        // its own), and none if it asked for none.
        call.progress_token = progress_token;
        let exchange = Exchange::Call { backend, id: proxy_id, mode: req.mode, sse_ok: req.sse_ok, streaming: false };
        self.exchanges.insert(req.exchange, exchange);
        self.stateless.insert(req.exchange, record.clone());
        if self.sessions.get(&record).is_some_and(|s| !s.bridge.asked.is_empty()) {
            // Questions left unanswered are asked again rather than failed (spec: SHOULD).
            self.park(&record);
        }
    }

    /// The parked record a retry's `requestState` refers to, if the retry may resume it: the
    /// state verifies, the record is parked at the state's round, the retry repeats the
    /// original request (its `digest`) and comes from the same principal. Else why not.
    pub(super) fn parked_record(
        &self,
        state: &str,
        digest: u64,
        principal: Option<&crate::auth::Principal>,
    ) -> Result<SessionId, &'static str> {
        let sealed = request_state::open(&self.state_key, state).map_err(|_| "failed verification")?;
        let record = SessionId::stateless(sealed.record);
        let session = self.sessions.get(&record).filter(|s| s.bridge.parked && s.bridge.round == sealed.round);
        let Some(session) = session else { return Err("is expired or was used already") };
        if sealed.digest != session.bridge.digest || digest != session.bridge.digest {
            return Err("belongs to another request");
        }
        if session.principal.as_ref().map(|p| &p.id) != principal.map(|p| &p.id) {
            return Err("belongs to another client");
        }
        Ok(record)
    }
}

/// The other direction: a stateless backend's `InputRequiredResult` to a session-based client.
/// The client cannot take the result, but it can answer requests: each of the backend's
/// questions is put to it (on its call's stream, to it only), and once every answer is in the
/// backend is sent the same request again with the answers and its `requestState`, untouched.
impl Hub {
    /// Put a stateless backend's questions to the session whose call they came back on.
    pub(super) fn relay_questions(&mut self, now: Instant, backend: &BackendKey, mut call: ClientCall, result: &Value) {
        let questions = result.get("inputRequests").and_then(Value::as_object).cloned().unwrap_or_default();
        if questions.is_empty() {
            return self.fail_client_call(now, backend, call, "the server asked for input without a question".into());
        }
        for question in questions.values() {
            let method = question.get("method").and_then(Value::as_str).unwrap_or_default();
            let body = json!({"params": question.get("params").cloned().unwrap_or_else(|| json!({}))});
            let Value::Object(body) = body else { continue };
            if let Err(missing) = self.client_can_answer(&call.session, method, &body) {
                let why = format!("the server needs {missing}, which the client session did not declare");
                return self.fail_client_call(now, backend, call, why);
            }
        }
        let Some(b) = self.backends.get_mut(backend) else { return };
        let generation = b.generation;
        let id = b.in_flight.next_id();
        let (exchange, session) = (call.exchange, call.session.clone());
        let mut asked = Vec::new();
        for (key, question) in &questions {
            let method = question.get("method").and_then(Value::as_str).unwrap_or_default().to_owned();
            let Ok(front_id) = self.server_requests.next_front_id(&session) else { break };
            let message = json!({"jsonrpc": "2.0", "id": front_id, "method": method,
                "params": question.get("params").cloned().unwrap_or_else(|| json!({}))});
            if !self.push_to_session(&session, Some(exchange), &message) {
                break;
            }
            asked.push(self.server_requests.record(Asked {
                session: session.clone(),
                backend: backend.clone(),
                generation,
                backend_id: json!(format!("1mcp-input:{id}:{key}")),
                method,
                for_retry: Some((id, key.clone())),
            }));
        }
        if asked.len() < questions.len() {
            for front_id in asked {
                self.server_requests.answered(&session, &front_id);
            }
            let why = "the client session has no open stream to receive the server's questions".to_owned();
            return self.fail_client_call(now, backend, call, why);
        }
        // The call waits under a new id (the next request's) for the client's answers.
        let state = result.get("requestState").cloned();
        call.relay = Some(Relay { state, waiting: questions.keys().cloned().collect(), answers: Map::new() });
        self.rekey_call(now, backend, call, id);
    }

    /// A session-based client answered one of a stateless backend's questions: kept with the
    /// others; with the last one in, the backend is asked again.
    pub(super) fn relay_answer(
        &mut self,
        now: Instant,
        (backend, generation): (&BackendKey, Gen),
        (id, key): (ProxyId, String),
        body: &Map<String, Value>,
    ) {
        let Some(b) = self.backends.get_mut(backend).filter(|b| b.generation == generation) else { return };
        let Some(relay) = b.in_flight.client_mut(id).and_then(|call| call.relay.as_mut()) else { return };
        let Some(result) = body.get("result") else {
            let Some(call) = b.in_flight.take_client(id) else { return };
            let error = body.get("error").map_or_else(|| "no result".to_owned(), ToString::to_string);
            let why = format!("the client could not answer the server's question: {}", crate::text::clip(&error, 200));
            return self.fail_client_call(now, backend, call, why);
        };
        relay.waiting.remove(&key);
        relay.answers.insert(key, result.clone());
        if !relay.waiting.is_empty() {
            return;
        }
        let Some(mut call) = b.in_flight.take_client(id) else { return };
        let relay = call.relay.take().unwrap_or_default();
        let mut request = call.resend.as_deref().cloned().unwrap_or_default();
        let next = b.in_flight.next_id();
        request.insert("id".into(), next.to_json());
        if let Some(params) = request.get_mut("params").and_then(Value::as_object_mut) {
            params.insert("inputResponses".into(), Value::Object(relay.answers));
            match relay.state {
                Some(state) => params.insert("requestState".into(), state),
                None => params.remove("requestState"),
            };
            if call.progress_token.is_some()
                && let Some(meta) = params.get_mut("_meta").and_then(Value::as_object_mut)
            {
                meta.insert("progressToken".into(), next.to_json());
            }
        }
        self.rekey_call(now, backend, call, next);
        self.write(backend, generation, &Value::Object(request));
    }

    /// Record `call` under `id` with a fresh timeout (never past its hard deadline), and point
    /// its exchange and session at it.
    fn rekey_call(&mut self, now: Instant, backend: &BackendKey, mut call: ClientCall, id: ProxyId) {
        let Some(b) = self.backends.get(backend) else { return };
        let (generation, timeout) = (b.generation, b.config.request_timeout.unwrap_or(super::DEFAULT_REQUEST_TIMEOUT));
        self.timers.remove(call.timer);
        let due = now.after(timeout).min(call.hard_deadline);
        call.timer = self.timers.insert(due, super::Timer::Request { backend: backend.clone(), generation, id });
        if let Some(Exchange::Call { id: at, .. }) = self.exchanges.get_mut(&call.exchange) {
            let old = std::mem::replace(at, id);
            if let Some(s) = self.sessions.get_mut(&call.session) {
                s.in_flight.remove(&(backend.clone(), old));
                s.in_flight.insert((backend.clone(), id));
            }
        }
        if let Some(b) = self.backends.get_mut(backend) {
            b.in_flight.insert(id, Pending::Client(call));
        }
    }
}
