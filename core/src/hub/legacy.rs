//! The legacy HTTP+SSE transport (2024-11-05), still spoken by many clients: `GET /sse` opens
//! a session's event stream and names its endpoint; `POST /messages?sessionId=` carries the
//! client's messages, each accepted with 202 while every answer travels on the stream.

use super::clients::Incoming;
use super::{Exchange, Hub};
use crate::event::{HttpRequest, Output, SseEvent};
use crate::front::{self, ReplyMode};
use crate::ids::{ExchangeId, SessionId};
use crate::jsonrpc::{self, Message, code};
use crate::session::{self, Session};
use crate::time::Instant;
use crate::view::parse_view_query;

impl Hub {
    pub(super) fn handle_sse_open(
        &mut self,
        now: Instant,
        exchange: ExchangeId,
        req: &HttpRequest,
        principal: Option<crate::auth::Principal>,
    ) {
        if req.accept.is_some() && !front::accepts_event_stream(req.accept.as_deref()) {
            let body = jsonrpc::error(None, code::INVALID_REQUEST, "Not Acceptable: GET /sse needs text/event-stream");
            return self.respond(exchange, 406, &body, vec![]);
        }
        if self.shutting_down || self.sessions.len() >= self.config.max_sessions {
            let body = jsonrpc::error(None, code::INTERNAL_ERROR, "Service Unavailable: too many sessions");
            return self.respond(exchange, 503, &body, vec![("Retry-After".into(), "1".into())]);
        }
        let view = match parse_view_query(&req.query, &self.presets) {
            Ok(view) => view,
            Err(e) => {
                let body = jsonrpc::error(None, code::INVALID_REQUEST, e.to_string());
                return self.respond(exchange, 400, &body, vec![]);
            }
        };
        if self.refuse_view_beyond_scope(exchange, &req.path, principal.as_ref(), &view)
            || self.refuse_session_beyond_quota(exchange, None, principal.as_ref())
        {
            return;
        }
        let session_id = SessionId::from_random(self.random_bytes());
        let mut session = Session::new(session_id.clone(), None, now);
        session.legacy = true;
        session.view = view;
        session.principal = principal;
        session.stream = Some(exchange);
        tracing::info!(session = %session_id, "legacy SSE session started");
        self.sessions.insert(session_id.clone(), session);
        self.exchanges.insert(exchange, Exchange::Stream { session: session_id.clone() });
        self.outputs.push_back(Output::OpenStream { exchange, headers: vec![] });
        let endpoint = SseEvent { event: Some("endpoint".into()), data: format!("/messages?sessionId={session_id}") };
        self.outputs.push_back(Output::PushEvent { exchange, event: endpoint });
    }

    pub(super) fn handle_legacy_post(&mut self, now: Instant, exchange: ExchangeId, req: &HttpRequest) {
        let Some(session_id) = front::query_param(&req.query, "sessionId").filter(|s| !s.is_empty()) else {
            let body =
                jsonrpc::error(None, code::INVALID_REQUEST, "Bad Request: sessionId query parameter is required");
            return self.respond(exchange, 400, &body, vec![]);
        };
        let session_id = SessionId::presented(session_id);
        let stream = self.sessions.get(&session_id).filter(|s| s.legacy).and_then(|s| s.stream);
        let Some(stream) = stream else {
            let body = jsonrpc::error(None, code::SESSION_NOT_FOUND, "Session not found: open /sse first");
            return self.respond(exchange, 404, &body, vec![]);
        };
        if !front::is_json_content_type(req.content_type.as_deref()) {
            let body = jsonrpc::error(None, code::INVALID_REQUEST, "Unsupported Media Type: use application/json");
            return self.respond(exchange, 415, &body, vec![]);
        }
        let message = match jsonrpc::parse(&req.body) {
            Ok(m) => m,
            Err(e) => return self.respond(exchange, 400, &jsonrpc::error(e.id(), e.code(), e.to_string()), vec![]),
        };
        self.respond_empty(exchange, 202, vec![]);
        if let Some(s) = self.sessions.get_mut(&session_id) {
            s.last_active = now;
        }
        match message {
            Message::Request { id, method, body } if method == "initialize" => {
                let params = jsonrpc::params(&body);
                if let Some(why) = session::oversized_initialize(params) {
                    tracing::warn!("refused an initialize: {why}");
                    let e = jsonrpc::error(Some(&id), code::INVALID_PARAMS, format!("initialize refused: {why}"));
                    return self.push_event(stream, &e);
                }
                let requested = params.and_then(|p| p.get("protocolVersion")).and_then(|v| v.as_str());
                let version = session::negotiate_version(requested);
                if let Some(s) = self.sessions.get_mut(&session_id) {
                    *s = Session {
                        legacy: true,
                        stream: Some(stream),
                        view: std::mem::take(&mut s.view),
                        principal: s.principal.take(),
                        ..Session::new(session_id.clone(), params, now)
                    };
                }
                let result = self.initialize_result(version);
                self.push_event(stream, &jsonrpc::result(&id, result));
            }
            Message::Request { id, method, body } => {
                let req = Incoming {
                    exchange,
                    mode: ReplyMode::Legacy { stream },
                    sse_ok: true,
                    session: session_id,
                    id,
                    streaming: false,
                };
                self.handle_client_request(now, req, &method, body);
            }
            Message::Notification { method, body } => self.handle_client_notification(now, &session_id, &method, &body),
            Message::Response { id, body } => self.handle_client_response(now, &session_id, &id, body),
        }
    }
}
