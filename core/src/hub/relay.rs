//! Traffic that flows from backends to clients: server-to-client requests and the answers to
//! them, progress, log messages, resource updates and list changes.
//!
//! Everything here is attributed to exactly one session, or refused: a backend shared by
//! several sessions must never hand one client's traffic to another (DESIGN.md, rule 2).

use super::{Exchange, Hub, Timer};
use crate::backend::{BackendState, ListKind, Pending};
use crate::event::{Output, SseEvent};
use crate::front::ReplyMode;
use crate::ids::{BackendKey, ExchangeId, Gen, ProxyId, SessionId};
use crate::jsonrpc::{self, code};
use crate::server_requests::{Asked, Refused};
use crate::session::LogLevel;
use crate::time::Instant;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// Who a message from a backend belongs to.
#[derive(Debug, PartialEq, Eq)]
enum Owner {
    /// Exactly one session; `call` is its only request in flight on that backend, if it has one.
    Session { session: SessionId, call: Option<ExchangeId> },
    /// No session can see the backend.
    Nobody,
    /// Several sessions could own it: refuse rather than guess.
    Ambiguous(usize),
}

impl Hub {
    /// Push one message as an SSE event on an exchange; a forwarded call still waiting for its
    /// JSON answer is turned into a stream first. False if the exchange cannot carry it.
    pub(super) fn push(&mut self, exchange: ExchangeId, message: &Value) -> bool {
        match self.exchanges.get_mut(&exchange) {
            Some(Exchange::Call { mode: ReplyMode::Legacy { stream }, .. }) => {
                let stream = *stream;
                self.push_event(stream, message);
                return true;
            }
            Some(Exchange::Stream { .. }) => {}
            Some(Exchange::Call { streaming: true, .. }) => {}
            Some(Exchange::Call { sse_ok: true, streaming, .. }) => {
                *streaming = true;
                self.outputs.push_back(Output::OpenStream { exchange, headers: vec![] });
            }
            _ => return false,
        }
        self.push_event(exchange, message);
        true
    }

    /// Emit one `message` event on an exchange already streaming.
    pub(super) fn push_event(&mut self, exchange: ExchangeId, message: &Value) {
        let event = SseEvent { event: Some("message".into()), data: message.to_string() };
        self.outputs.push_back(Output::PushEvent { exchange, event });
    }

    /// Deliver to a session: on `call` if it can stream, else on the session's GET stream,
    /// else on any of its calls that can stream. False if the session has no open channel.
    pub(super) fn push_to_session(&mut self, session: &SessionId, call: Option<ExchangeId>, message: &Value) -> bool {
        if let Some(call) = call
            && self.push(call, message)
        {
            return true;
        }
        let Some(s) = self.sessions.get(session) else { return false };
        if let Some(stream) = s.stream {
            return self.push(stream, message);
        }
        let calls: Vec<ExchangeId> = self
            .exchanges
            .iter()
            .filter(|(_, e)| matches!(e, Exchange::Call { sse_ok: true, .. }))
            .filter(|(x, _)| self.exchange_session(**x) == Some(session))
            .map(|(x, _)| *x)
            .collect();
        if let Some(x) = calls.into_iter().next_back() {
            return self.push(x, message);
        }
        self.push_on_queued(session, message)
    }

    /// Deliver on a request of the session's still waiting for its instance to start (the
    /// instance's own questions, like roots, come before it serves): its answer turns into an
    /// event stream that this message opens. False if the session has none that can stream.
    fn push_on_queued(&mut self, session: &SessionId, message: &Value) -> bool {
        let waiting = self
            .queued
            .values_mut()
            .flatten()
            .map(|(req, _)| req)
            .rfind(|req| req.session == *session && req.sse_ok && !matches!(req.mode, ReplyMode::Legacy { .. }));
        let Some(req) = waiting else { return false };
        let exchange = req.exchange;
        if !std::mem::replace(&mut req.streaming, true) {
            self.outputs.push_back(Output::OpenStream { exchange, headers: vec![] });
        }
        self.push_event(exchange, message);
        true
    }

    fn exchange_session(&self, exchange: ExchangeId) -> Option<&SessionId> {
        let Some(Exchange::Call { backend, id, .. }) = self.exchanges.get(&exchange) else { return None };
        self.backends.get(backend)?.in_flight.client(*id).map(|call| &call.session)
    }

    /// Sessions whose view admits `backend` (for a per-session instance: its session).
    pub(super) fn viewers(&self, backend: &BackendKey) -> Vec<SessionId> {
        if let Some(owner) = self.backends.get(backend).and_then(|b| b.owner.as_ref()) {
            return self.sessions.contains_key(owner).then(|| owner.clone()).into_iter().collect();
        }
        // A stateless request hears only of its own call, never as a bystander.
        self.sessions.keys().filter(|s| !s.is_stateless() && self.sees(s, backend)).cloned().collect()
    }

    /// Whether a session's view admits a backend (by the backend's tags).
    pub(super) fn sees(&self, session: &SessionId, backend: &BackendKey) -> bool {
        self.backends.get(backend).is_some_and(|b| self.view_admits(session, &b.config.tags))
    }

    /// Whether a session's view admits something tagged `tags`.
    pub(super) fn view_admits(&self, session: &SessionId, tags: &[String]) -> bool {
        self.sessions.get(session).is_some_and(|s| s.viewer().admits(tags))
    }

    /// Attribute a message a backend sent on its own (not as an answer).
    fn owner(&self, backend: &BackendKey) -> Owner {
        let calls: Vec<(SessionId, ExchangeId)> = self
            .backends
            .get(backend)
            .into_iter()
            .flat_map(|b| b.in_flight.clients())
            .map(|(_, call)| (call.session.clone(), call.exchange))
            .collect();
        if let Some(owner) = self.backends.get(backend).and_then(|b| b.owner.clone()) {
            // A per-session instance speaks for its session only, whatever is in flight.
            let call = if calls.len() == 1 { Some(calls[0].1) } else { None };
            return Owner::Session { session: owner, call };
        }
        let sessions: BTreeSet<&SessionId> = calls.iter().map(|(s, _)| s).collect();
        match sessions.len() {
            1 => {
                let session = calls[0].0.clone();
                let call = if calls.len() == 1 { Some(calls[0].1) } else { None };
                Owner::Session { session, call }
            }
            0 => match self.viewers(backend).as_slice() {
                [] => Owner::Nobody,
                [only] => Owner::Session { session: only.clone(), call: None },
                many => Owner::Ambiguous(many.len()),
            },
            n => Owner::Ambiguous(n),
        }
    }

    /// A backend asks its client something (sampling, elicitation, roots, ...).
    pub(super) fn handle_server_request(
        &mut self,
        now: Instant,
        name: &BackendKey,
        generation: Gen,
        id: &Value,
        method: &str,
        body: Map<String, Value>,
    ) {
        if method == "ping" {
            // Liveness of the proxy itself: answered here, never bothers a client.
            return self.write(name, generation, &jsonrpc::result(id, json!({})));
        }
        if method == "roots/list" && !name.is_instance() {
            // A shared server holds nobody's roots (DESIGN.md rule 2): whatever it was told
            // would confine it for every client, now and after that client left. It gets the
            // answer of a client without roots; a session that has roots gets an instance of
            // its own, which asks it.
            self.learn_asks_for_roots(now, name);
            return self.write(name, generation, &jsonrpc::result(id, json!({"roots": []})));
        }
        let (session, call) = match self.owner(name) {
            Owner::Session { session, call } => (session, call),
            Owner::Nobody => {
                let e = jsonrpc::error(
                    Some(id),
                    code::INTERNAL_ERROR,
                    format!("no client is connected to answer {method}"),
                );
                return self.write(name, generation, &e);
            }
            Owner::Ambiguous(n) => {
                tracing::warn!(server = %name, method, sessions = n, "refusing a server request no single session owns");
                let text = format!(
                    "1mcp cannot tell which of {n} client sessions {method} is meant for; refusing rather than guessing \
                     (run this server per session to make requests attributable)"
                );
                return self.write(name, generation, &jsonrpc::error(Some(id), code::INTERNAL_ERROR, text));
            }
        };
        if session.is_stateless() {
            // The stateless revision has no server-to-client requests: the bridge asks instead.
            return self.ask_stateless(now, (name, generation), id, method, body, session);
        }
        if let Err(missing) = self.client_can_answer(&session, method, &body) {
            let text = format!("the client session does not support {missing}");
            return self.write(name, generation, &jsonrpc::error(Some(id), code::METHOD_NOT_FOUND, text));
        }
        let front_id = match self.server_requests.next_front_id(&session) {
            Ok(front_id) => front_id,
            Err(Refused::Full(held)) => {
                let text = format!("the client already has {held} unanswered requests");
                return self.write(name, generation, &jsonrpc::error(Some(id), code::INTERNAL_ERROR, text));
            }
        };
        let mut message = body;
        message.insert("id".into(), Value::String(front_id));
        if !self.push_to_session(&session, call, &Value::Object(message)) {
            let text = format!("the client session has no open stream to receive {method}");
            if self.backends.get(name).is_some_and(|b| b.awaiting_roots) {
                // Without its client's roots the instance would serve with the server's own
                // defaults; an instance of a roots-holding server fails closed instead.
                self.outputs.push_back(Output::StopBackend { backend: name.clone(), generation });
                self.fail_backend(now, name, format!("its client could not be asked for roots: {text}"));
            }
            return self.write(name, generation, &jsonrpc::error(Some(id), code::INTERNAL_ERROR, text));
        }
        self.server_requests.record(Asked {
            session,
            backend: name.clone(),
            generation,
            backend_id: id.clone(),
            method: method.to_owned(),
            for_retry: None,
        });
    }

    /// Whether the session declared what `method` needs; `Err` names what is missing.
    pub(super) fn client_can_answer(
        &self,
        session: &SessionId,
        method: &str,
        body: &Map<String, Value>,
    ) -> Result<(), String> {
        let caps = self.sessions.get(session).map(|s| &s.client_capabilities);
        let has = |path: &[&str]| {
            let mut node = caps.map(|c| c.get(path[0]));
            for key in &path[1..] {
                node = node.map(|n| n.and_then(|v| v.get(*key)));
            }
            node.flatten().is_some()
        };
        let needed: &[&str] = match method {
            "sampling/createMessage" => &["sampling"],
            "roots/list" => &["roots"],
            "elicitation/create" => match jsonrpc::params(body).and_then(|p| p.get("mode")).and_then(Value::as_str) {
                Some("url") => &["elicitation", "url"],
                _ => &["elicitation"],
            },
            _ => return Ok(()),
        };
        if has(needed) { Ok(()) } else { Err(needed.join(".")) }
    }

    /// A client answered a request we forwarded from a backend.
    pub(super) fn handle_client_response(
        &mut self,
        now: Instant,
        session: &SessionId,
        id: &Value,
        mut body: Map<String, Value>,
    ) {
        let Some(front_id) = id.as_str() else { return };
        let Some(request) = self.server_requests.answered(session, front_id) else {
            tracing::debug!(%session, id = %crate::text::for_log(&id.to_string()), "dropping a client response nobody awaits");
            return;
        };
        if let Some(question) = request.for_retry {
            // One of a stateless backend's questions: the answer waits for the others.
            return self.relay_answer(now, (&request.backend, request.generation), question, &body);
        }
        let Some(backend) = self.backends.get_mut(&request.backend).filter(|b| b.generation == request.generation)
        else {
            return;
        };
        let roots_given = request.method == "roots/list" && std::mem::take(&mut backend.awaiting_roots);
        body.insert("id".into(), request.backend_id);
        self.write(&request.backend, request.generation, &Value::Object(body));
        if roots_given {
            // Its client's roots are on their way: calls may reach it now, not before.
            self.mark_ready(now, &request.backend);
        }
    }

    /// A shared server asked for roots: from now on, sessions with roots get an instance of
    /// their own (those already connected at once).
    fn learn_asks_for_roots(&mut self, now: Instant, name: &BackendKey) {
        let Some(b) = self.backends.get_mut(name).filter(|b| !b.asks_for_roots) else { return };
        b.asks_for_roots = true;
        tracing::info!(
            server = %name,
            "server asks clients for roots: it gets none while shared; each session that has roots gets its own instance"
        );
        let sessions: Vec<SessionId> = self.sessions.keys().cloned().collect();
        for session in sessions {
            self.start_roots_instances(now, &session);
        }
    }

    /// Answer, with an error, every request a session still owes its backends.
    pub(super) fn drop_server_requests_of(&mut self, session: &SessionId, reason: &str) {
        for request in self.server_requests.withdraw_session(session) {
            if self.backends.get(&request.backend).is_some_and(|b| b.generation == request.generation) {
                let e = jsonrpc::error(Some(&request.backend_id), code::INTERNAL_ERROR, reason);
                self.write(&request.backend, request.generation, &e);
            }
        }
    }

    /// A backend went away: its questions to clients are withdrawn.
    pub(super) fn withdraw_server_requests_of(&mut self, name: &BackendKey, reason: &str) {
        for (front_id, asked) in self.server_requests.withdraw_backend(name) {
            self.cancel_on_client(&asked.session, &front_id, reason);
        }
    }

    /// Tell a client that a request it was sent is withdrawn. A stateless request was never
    /// sent a request (it was asked in a result, or not at all): the question just goes.
    fn cancel_on_client(&mut self, session: &SessionId, front_id: &str, reason: &str) {
        if let Some(s) = self.sessions.get_mut(session).filter(|s| s.id.is_stateless()) {
            s.bridge.asked.remove(front_id);
            return;
        }
        let cancel =
            jsonrpc::notification("notifications/cancelled", Some(json!({"requestId": front_id, "reason": reason})));
        self.push_to_session(session, None, &cancel);
    }

    /// A backend cancelled one of its own requests to a client.
    pub(super) fn handle_backend_cancelled(&mut self, name: &BackendKey, body: &Map<String, Value>) {
        let Some(request_id) = jsonrpc::params(body).and_then(|p| p.get("requestId")) else { return };
        let Some((session, front_id)) = self.server_requests.cancelled(name, request_id) else { return };
        if let Some(s) = self.sessions.get_mut(&session).filter(|s| s.id.is_stateless()) {
            // A question not asked yet, or asked in a result already given: it is simply withdrawn.
            s.bridge.asked.remove(&front_id);
            return;
        }
        let reason = jsonrpc::param_str(body, "reason").unwrap_or("cancelled by the server").to_owned();
        self.cancel_on_client(&session, &front_id, &reason);
    }

    /// `notifications/progress` from a backend: only ever to the request it belongs to.
    pub(super) fn handle_backend_progress(&mut self, now: Instant, name: &BackendKey, mut body: Map<String, Value>) {
        let token = jsonrpc::params(&body).and_then(|p| p.get("progressToken")).and_then(ProxyId::from_json);
        let Some((token, call)) = token.and_then(|t| Some((t, self.backends.get(name)?.in_flight.client(t)?))) else {
            tracing::debug!(server = %name, "dropping progress for no request in flight");
            return;
        };
        let (Some(theirs), exchange, session) = (call.progress_token.clone(), call.exchange, call.session.clone())
        else {
            return;
        };
        self.extend_deadline(now, name, token);
        if let Some(params) = body.get_mut("params").and_then(Value::as_object_mut) {
            params.insert("progressToken".into(), theirs);
        }
        self.push_to_session(&session, Some(exchange), &Value::Object(body));
    }

    /// A call that reports progress is alive: its timeout starts over, up to its hard deadline.
    fn extend_deadline(&mut self, now: Instant, name: &BackendKey, id: ProxyId) {
        let Some(b) = self.backends.get_mut(name) else { return };
        let timeout = b.config.request_timeout.unwrap_or(super::DEFAULT_REQUEST_TIMEOUT);
        let generation = b.generation;
        let Some(call) = b.in_flight.client_mut(id) else { return };
        let at = now.after(timeout).min(call.hard_deadline);
        self.timers.remove(call.timer);
        call.timer = self.timers.insert(at, Timer::Request { backend: name.clone(), generation, id });
    }

    /// `notifications/message` from a backend: to the one session it concerns, at that
    /// session's level. Legacy log messages name no request, so when several sessions could
    /// own one it is dropped rather than shown to a client it may not belong to.
    pub(super) fn handle_backend_log(&mut self, name: &BackendKey, body: Map<String, Value>) {
        let level = jsonrpc::param_str(&body, "level").and_then(LogLevel::parse).unwrap_or(LogLevel::Info);
        let (session, call) = match self.owner(name) {
            Owner::Session { session, call } => (session, call),
            Owner::Nobody => return,
            Owner::Ambiguous(n) => {
                tracing::debug!(server = %name, sessions = n, "dropping a log message several sessions could own");
                return;
            }
        };
        let wanted = self.sessions.get(&session).is_some_and(|s| s.wants_log(level));
        if wanted {
            self.push_to_session(&session, call, &Value::Object(body));
        }
    }

    /// `notifications/resources/updated`: to the sessions subscribed to that URI.
    pub(super) fn handle_resource_updated(&mut self, name: &BackendKey, body: Map<String, Value>) {
        let Some(uri) = jsonrpc::param_str(&body, "uri").map(str::to_owned) else { return };
        let Some(b) = self.backends.get(name) else { return };
        // Subscriptions are recorded per server; an instance's updates are its session's only.
        let key = (b.server().to_owned(), uri);
        let owner = b.owner.clone();
        let subscribed: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(id, s)| s.subscriptions.contains(&key) && owner.as_ref().is_none_or(|o| o == *id))
            .map(|(id, _)| id.clone())
            .collect();
        let message = Value::Object(body);
        for session in subscribed {
            if let Some(message) = self.for_listener(&session, message.clone()) {
                self.push_to_session(&session, None, &message);
            }
        }
    }

    /// Tell a session, on its GET stream, that these lists changed.
    pub(super) fn notify_list_changed(&mut self, session: &SessionId, kinds: &BTreeSet<ListKind>) {
        let methods: BTreeSet<&str> = kinds.iter().map(|kind| kind.changed_notification()).collect();
        let Some(stream) = self.sessions.get(session).and_then(|s| s.stream) else { return };
        for method in methods {
            if let Some(message) = self.for_listener(session, jsonrpc::notification(method, None)) {
                self.push(stream, &message);
            }
        }
    }

    /// A session set its log level: remember it and lower the backends' level if it needs more.
    pub(super) fn set_session_log_level(&mut self, now: Instant, session: &SessionId, level: LogLevel) {
        if let Some(s) = self.sessions.get_mut(session) {
            s.log_level = Some(level);
        }
        self.sync_backend_log_levels(now);
    }

    /// Each backend logs at the most verbose level any session asked for; sessions filter.
    pub(super) fn sync_backend_log_levels(&mut self, now: Instant) {
        let shared_level = self.sessions.values().filter_map(|s| s.log_level).min();
        // An instance logs at its own session's level; a shared backend at the most verbose asked.
        let wanted_by = |b: &crate::backend::Backend| match &b.owner {
            Some(owner) => self.sessions.get(owner).and_then(|s| s.log_level),
            None => shared_level,
        };
        let names: Vec<(BackendKey, LogLevel)> = self
            .backends
            .values()
            // A stateless backend is told the level per request, in its _meta.
            .filter(|b| b.state == BackendState::Ready && b.has_capability("logging") && !b.is_stateless())
            .filter_map(|b| wanted_by(b).filter(|w| b.log_level != Some(*w)).map(|w| (b.key.clone(), w)))
            .collect();
        for (name, wanted) in names {
            if let Some(b) = self.backends.get_mut(&name) {
                b.log_level = Some(wanted);
            }
            self.internal_request(now, &name, "logging/setLevel", json!({"level": wanted.name()}));
        }
    }

    /// Send a request of the proxy's own; its answer is only logged.
    pub(super) fn internal_request(&mut self, now: Instant, name: &BackendKey, method: &str, params: Value) {
        let timeout =
            self.backends.get(name).and_then(|b| b.config.request_timeout).unwrap_or(super::DEFAULT_REQUEST_TIMEOUT);
        let owned = method.to_owned();
        self.send_own(now, name, method, params, timeout, |timer| Pending::Internal { method: owned, timer });
    }

    /// Check that an idle backend still answers, within [`super::PING_TIMEOUT`].
    pub(super) fn ping(&mut self, now: Instant, name: &BackendKey) {
        // The stateless revision has no ping: discovery is the cheapest request it must answer.
        let stateless = self.backends.get(name).is_some_and(crate::backend::Backend::is_stateless);
        let method = if stateless { "server/discover" } else { "ping" };
        self.send_own(now, name, method, json!({}), super::PING_TIMEOUT, |timer| Pending::Ping { timer });
    }

    /// Listen for a stateless backend's list changes (its revision sends none otherwise). The
    /// acknowledgement and the changes arrive as notifications; the request stays open.
    pub(super) fn listen_to(&mut self, now: Instant, name: &BackendKey) {
        let Some(b) = self.backends.get_mut(name).filter(|b| b.is_stateless() && b.state == BackendState::Ready) else {
            return;
        };
        if name.is_instance() {
            return; // An instance serves calls; the shared backend lists.
        }
        let id = b.in_flight.next_id();
        b.in_flight.insert(id, Pending::Listen { since: now, uri: None });
        let generation = b.generation;
        let wanted = json!({"notifications": {"toolsListChanged": true, "promptsListChanged": true, "resourcesListChanged": true}});
        self.write_own(name, generation, jsonrpc::request(&id.to_json(), "subscriptions/listen", wanted));
    }

    /// Follow one resource of a stateless backend on a listen stream of its own (its revision
    /// has no `resources/subscribe`), so it can be dropped alone when its last subscriber goes.
    pub(super) fn listen_to_resource(&mut self, now: Instant, name: &BackendKey, uri: &str) {
        let Some(b) = self.backends.get_mut(name).filter(|b| b.is_stateless() && b.state == BackendState::Ready) else {
            return;
        };
        let id = b.in_flight.next_id();
        b.in_flight.insert(id, Pending::Listen { since: now, uri: Some(uri.to_owned()) });
        b.resource_listens.insert(uri.to_owned(), id);
        let generation = b.generation;
        let wanted = json!({"notifications": {"resourceSubscriptions": [uri]}});
        self.write_own(name, generation, jsonrpc::request(&id.to_json(), "subscriptions/listen", wanted));
    }

    /// Stop following a resource of a stateless backend: its listen stream is cancelled.
    pub(super) fn stop_listening_to_resource(&mut self, name: &BackendKey, uri: &str) {
        let Some(b) = self.backends.get_mut(name) else { return };
        let Some(id) = b.resource_listens.remove(uri) else { return };
        b.in_flight.take(id);
        let generation = b.generation;
        self.write(name, generation, &super::calls::cancelled(id, "no client follows this resource any more"));
    }

    /// Write a request of 1mcp's own: to a stateless backend with the `_meta` its revision
    /// requires (1mcp itself declares no client capabilities and wants no logs).
    pub(super) fn write_own(&mut self, name: &BackendKey, generation: Gen, mut request: Value) {
        // A server being asked its era is asked as a stateless one would be.
        if self.backends.get(name).is_some_and(|b| b.era != crate::backend::Era::Sessions)
            && let Some(body) = request.as_object_mut()
        {
            crate::modern::for_stateless_backend(body, &Map::new(), None);
        }
        self.write(name, generation, &request);
    }

    /// Send a request of the proxy's own to a ready backend, recorded as `pending(timer)`.
    fn send_own(
        &mut self,
        now: Instant,
        name: &BackendKey,
        method: &str,
        params: Value,
        timeout: std::time::Duration,
        pending: impl FnOnce(crate::timer::TimerKey) -> Pending,
    ) {
        let Some(b) = self.backends.get_mut(name).filter(|b| b.state == BackendState::Ready) else { return };
        let id = b.in_flight.next_id();
        let generation = b.generation;
        let timer = self.timers.insert(now.after(timeout), Timer::Request { backend: name.clone(), generation, id });
        if let Some(b) = self.backends.get_mut(name) {
            b.in_flight.insert(id, pending(timer));
        }
        self.write_own(name, generation, jsonrpc::request(&id.to_json(), method, params));
    }
}
