//! A session's own traffic besides requests: its notifications (initialized, roots changed,
//! cancellations), its exchanges closing, and its end, which releases everything it held.

use super::calls::cancelled;
use super::{Exchange, Hub};
use crate::backend::BackendState;
use crate::event::Output;
use crate::front::ReplyMode;
use crate::ids::{BackendKey, ExchangeId, SessionId};
use crate::jsonrpc;
use crate::time::Instant;
use serde_json::{Map, Value};

impl Hub {
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
        self.end_stateless(now, exchange, "the client disconnected");
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
        self.end_listen(&session);
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
        if session_id.is_stateless() {
            tracing::debug!(request = %session_id, "stateless request done: {reason}");
        } else {
            tracing::info!(session = %session_id, "session ended: {reason}");
        }
    }
}
