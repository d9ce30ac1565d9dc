//! Stateless (2026-07-28) requests at the front door: no `initialize`, no session; every
//! request carries who is asking in its `_meta` (revision, client capabilities, log level).
//!
//! Discovery and the lists are answered from the merged registry. The rest (tools/call,
//! prompts/get, resources/read, completion/complete) is routed exactly as a session's request
//! is, under a record of its own that lives exactly as long as the request's exchange: the
//! record carries the request's capabilities, log level, view and principal, so every rule that
//! attributes a backend's traffic to one client (DESIGN.md rules 1-2) holds for it unchanged,
//! and nothing of it outlives the answer. Any daemon sharing the configuration can serve any
//! stateless request: nothing a request needs was left behind by an earlier one.

use super::Hub;
use super::clients::Incoming;
use crate::auth::Principal;
use crate::event::HttpRequest;
use crate::front::{self, ReplyMode};
use crate::ids::{ExchangeId, SessionId};
use crate::jsonrpc::{self, RequestId, code};
use crate::modern;
use crate::request_state;
use crate::session::{Session, Viewer};
use crate::time::Instant;
use crate::view::parse_view_query;
use serde_json::{Map, Value};

impl Hub {
    /// A modern request: refused where the spec says so, else answered statelessly.
    pub(super) fn handle_modern(
        &mut self,
        now: Instant,
        exchange: ExchangeId,
        mode: ReplyMode,
        req: &HttpRequest,
        principal: Option<Principal>,
        (id, method, mut body): (RequestId, &str, Map<String, Value>),
    ) {
        let checked = modern::check(&id, method, &body, req.protocol_version.as_deref())
            .and_then(|()| modern::log_level(&id, &body));
        let log_level = match checked {
            Ok(level) => level,
            Err(refusal) => return self.respond(exchange, refusal.status, &refusal.body, vec![]),
        };
        let view = match parse_view_query(&req.query, &self.presets) {
            Ok(view) => view,
            Err(e) => {
                let body = jsonrpc::error(Some(&id), code::INVALID_REQUEST, e.to_string());
                return self.respond(exchange, 400, &body, vec![]);
            }
        };
        if self.refuse_view_beyond_scope(exchange, &req.path, principal.as_ref(), &view) {
            return;
        }
        let viewer = Viewer { view: &view, principal: principal.as_ref() };
        let private = self.is_private(viewer);
        match method {
            "server/discover" => {
                let result = modern::discover(self.merged_instructions(Some(viewer)), private);
                self.reply(exchange, mode, &jsonrpc::result(&id, result), vec![]);
            }
            "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" => {
                let mut answer = self.list_result(viewer, &id, method, &body);
                if let Some(Value::Object(result)) = answer.get_mut("result").map(Value::take) {
                    answer["result"] = modern::cacheable(result, private);
                }
                self.reply(exchange, mode, &answer, vec![]);
            }
            _ => {
                if self.shutting_down || self.sessions.len() >= self.config.max_sessions {
                    let body = jsonrpc::error(Some(&id), code::INTERNAL_ERROR, "Service Unavailable: too busy");
                    return self.respond(exchange, 503, &body, vec![("Retry-After".into(), "1".into())]);
                }
                let capabilities = modern::client_capabilities(&body);
                let params = jsonrpc::params(&body);
                let digest = request_state::digest(method, params);
                let sse_ok = front::accepts_event_stream(req.accept.as_deref());
                if let Some(state) = params.and_then(|p| p.get("requestState")).and_then(Value::as_str)
                    && request_state::is_ours(state)
                {
                    // A retry with the answers to a parked call's questions.
                    let record = match self.parked_record(state, digest, principal.as_ref()) {
                        Ok(record) => record,
                        Err(why) => {
                            let message = format!("Invalid params: requestState {why}");
                            let body = jsonrpc::error(Some(&id), code::INVALID_PARAMS, message);
                            return self.reply(exchange, mode, &body, vec![]);
                        }
                    };
                    if let Some(session) = self.sessions.get_mut(&record) {
                        // This request's own _meta applies to what it receives.
                        (session.client_capabilities, session.log_level) = (capabilities, log_level);
                    }
                    let responses = params.and_then(|p| p.get("inputResponses")).and_then(Value::as_object).cloned();
                    let incoming = Incoming { exchange, mode, sse_ok, session: record, id, streaming: false };
                    return self.resume(now, incoming, responses.as_ref());
                }
                // Every backend speaks a session-based revision: the request goes to it as one.
                modern::for_legacy_backend(&mut body);
                self.stateless_served += 1;
                let session = SessionId::stateless(self.stateless_served);
                let viewer = (view, principal);
                let record = Session::stateless(session.clone(), capabilities, log_level, viewer, (now, digest));
                self.sessions.insert(session.clone(), record);
                self.stateless.insert(exchange, session.clone());
                let incoming = Incoming { exchange, mode, sse_ok, session, id, streaming: false };
                self.handle_client_request(now, incoming, method, body);
            }
        }
    }

    /// Whether what `viewer` sees depends on who asks: with authentication on (the token's
    /// tags bound it) or a view that filters. Such results are `cacheScope: private`.
    pub(super) fn is_private(&self, viewer: Viewer<'_>) -> bool {
        self.config.auth_enabled || viewer.view.filter.is_some()
    }

    /// End the records of the stateless requests whose exchange got its final answer among
    /// the outputs from `from` on (or was closed): a stateless request leaves nothing behind.
    pub(super) fn end_answered_stateless(&mut self, now: Instant, from: usize) {
        if self.stateless.is_empty() {
            return;
        }
        let answered: Vec<ExchangeId> = self
            .outputs
            .iter()
            .skip(from)
            .filter_map(|output| match output {
                crate::event::Output::Respond { exchange, .. } | crate::event::Output::CloseStream { exchange } => {
                    Some(*exchange)
                }
                _ => None,
            })
            .filter(|exchange| self.stateless.contains_key(exchange))
            .collect();
        for exchange in answered {
            self.end_stateless(now, exchange, "it was answered");
        }
    }

    /// End the record of the stateless request carried by `exchange`, if there is one.
    pub(super) fn end_stateless(&mut self, now: Instant, exchange: ExchangeId, reason: &str) {
        if let Some(session) = self.stateless.remove(&exchange) {
            self.end_session(now, &session, reason);
        }
    }
}
