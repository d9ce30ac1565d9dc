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
use crate::backend::ListKind;
use crate::event::HttpRequest;
use crate::front::{self, ReplyMode};
use crate::ids::{ExchangeId, SessionId};
use crate::jsonrpc::{self, RequestId, code};
use crate::mcp_headers;
use crate::modern;
use crate::request_state;
use crate::session::{LogLevel, Session, Viewer};
use crate::time::Instant;
use crate::view::{ViewSpec, parse_view_query};
use serde_json::{Map, Value};

/// A modern request that passed the checks: who asks, and how to answer them.
pub(super) struct Modern {
    /// Where to answer.
    pub(super) exchange: ExchangeId,
    /// JSON or SSE.
    pub(super) mode: ReplyMode,
    /// The client accepts an event stream.
    pub(super) sse_ok: bool,
    /// The request's id.
    pub(super) id: RequestId,
    /// What the URL's query lets it see.
    pub(super) view: ViewSpec,
    /// Whose token it is, with authentication on.
    pub(super) principal: Option<Principal>,
    /// What its `_meta` declares the client can do.
    pub(super) capabilities: Map<String, Value>,
    /// The level of log messages its `_meta` asks for, if any.
    pub(super) log_level: Option<LogLevel>,
}

impl Hub {
    /// A modern request: refused where the spec says so, else answered statelessly.
    pub(super) fn handle_modern(
        &mut self,
        now: Instant,
        exchange: ExchangeId,
        mode: ReplyMode,
        req: &HttpRequest,
        principal: Option<Principal>,
        (id, method, body): (RequestId, &str, Map<String, Value>),
    ) {
        let checked = modern::check(&id, method, &body, req.protocol_version.as_deref())
            .and_then(|()| modern::log_level(&id, &body));
        let log_level = match checked {
            Ok(level) => level,
            Err(refusal) => return self.respond(exchange, refusal.status, &refusal.body, vec![]),
        };
        let params = jsonrpc::params(&body);
        let annotated = self.header_params(method, params);
        if let Err(refusal) = mcp_headers::check(&id, method, params, &req.mcp_headers, &annotated) {
            return self.respond(exchange, refusal.status, &refusal.body, vec![]);
        }
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
        let sse_ok = front::accepts_event_stream(req.accept.as_deref());
        let capabilities = modern::client_capabilities(&body);
        let request = Modern { exchange, mode, sse_ok, id, view, principal, capabilities, log_level };
        match method {
            "server/discover" | "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" => {
                self.answer_from_registry(&request, method, &body);
            }
            "subscriptions/listen" if !self.refuse_when_busy(&request) => self.listen(now, request, &body),
            "subscriptions/listen" => {}
            _ => self.serve_call(now, request, method, body),
        }
    }

    /// The parameters a called tool mirrors into `Mcp-Param-*` headers (`x-mcp-header` in its
    /// input schema as 1mcp lists it), which the request's headers must then agree with. A tool
    /// whose annotations are invalid mirrors nothing.
    fn header_params(&self, method: &str, params: Option<&Map<String, Value>>) -> Vec<mcp_headers::HeaderParam> {
        let Some(name) = params.and_then(|p| p.get("name")).and_then(Value::as_str).filter(|_| method == "tools/call")
        else {
            return Vec::new();
        };
        let tool = self
            .registry
            .items(ListKind::Tools)
            .iter()
            .find(|t| t.item.get("name").and_then(Value::as_str) == Some(name));
        let schema = tool.and_then(|t| t.item.get("inputSchema"));
        schema.and_then(|s| mcp_headers::header_params(s).ok()).unwrap_or_default()
    }

    /// Discovery and the lists, answered from the merged registry as the caller sees it.
    fn answer_from_registry(&mut self, request: &Modern, method: &str, body: &Map<String, Value>) {
        let viewer = Viewer { view: &request.view, principal: request.principal.as_ref() };
        let private = self.is_private(viewer);
        let answer = if method == "server/discover" {
            jsonrpc::result(&request.id, modern::discover(self.merged_instructions(Some(viewer)), private))
        } else {
            let mut answer = self.list_result(viewer, &request.id, method, body);
            let kind = ListKind::of_method(method).unwrap_or(ListKind::Templates);
            let (ttl, backend_private) = self.list_hint(viewer, kind);
            if let Some(Value::Object(mut result)) = answer.get_mut("result").map(Value::take) {
                result.insert("ttlMs".into(), ttl.into());
                answer["result"] = modern::cacheable(result, private || backend_private);
            }
            answer
        };
        self.reply(request.exchange, request.mode, &answer, vec![]);
    }

    /// A call (tools/call, prompts/get, resources/read, completion/complete): routed under a
    /// record of its own, or, for a retry with one of 1mcp's `requestState`s, resuming the
    /// parked call it refers to.
    fn serve_call(&mut self, now: Instant, request: Modern, method: &str, body: Map<String, Value>) {
        let params = jsonrpc::params(&body);
        let digest = request_state::digest(method, params);
        if let Some(state) = params.and_then(|p| p.get("requestState")).and_then(Value::as_str)
            && request_state::is_ours(state)
        {
            let responses = params.and_then(|p| p.get("inputResponses")).and_then(Value::as_object).cloned();
            let token = params.and_then(|p| p.get("_meta")).and_then(|m| m.get("progressToken"));
            let token = token.filter(|t| jsonrpc::is_valid_id(t)).cloned();
            return self.resume(now, request, (state, digest), (responses.as_ref(), token));
        }
        if self.refuse_when_busy(&request) {
            return;
        }
        self.stateless_served += 1;
        let session = SessionId::stateless(self.stateless_served);
        let Modern { exchange, mode, sse_ok, id, view, principal, capabilities, log_level } = request;
        let record = Session::stateless(session.clone(), capabilities, log_level, (view, principal), (now, digest));
        self.sessions.insert(session.clone(), record);
        self.stateless.insert(exchange, session.clone());
        let incoming = Incoming { exchange, mode, sse_ok, session, id, streaming: false };
        self.handle_client_request(now, incoming, method, body);
    }

    /// The caching hints of a merged list as `viewer` sees it: the shortest `ttlMs` of the
    /// backends that contribute to it (0 as soon as a session-based one does, since it gives no
    /// hint), and whether any of them said `private`.
    fn list_hint(&self, viewer: Viewer<'_>, kind: ListKind) -> (u64, bool) {
        self.backends
            .values()
            .filter(|b| b.state == crate::backend::BackendState::Ready && !b.key.is_instance())
            .filter(|b| b.has_capability(kind.capability()) && viewer.admits(&b.config.tags))
            .map(|b| b.list_hint(kind))
            .reduce(|(ttl, private), (t, p)| (ttl.min(t), private || p))
            .unwrap_or((0, false))
    }

    /// Refuse a stateless request that would need a record when the daemon holds all it may
    /// (records count with sessions against `max_sessions`) or is shutting down.
    /// A token's records count against its session quota too, so one token cannot hold them all.
    fn refuse_when_busy(&mut self, request: &Modern) -> bool {
        if self.shutting_down || self.sessions.len() >= self.config.max_sessions {
            let body = jsonrpc::error(Some(&request.id), code::INTERNAL_ERROR, "Service Unavailable: too busy");
            self.respond(request.exchange, 503, &body, vec![("Retry-After".into(), "1".into())]);
            return true;
        }
        self.refuse_session_beyond_quota(request.exchange, Some(&request.id), request.principal.as_ref())
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
