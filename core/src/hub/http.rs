//! HTTP routing: `/mcp` (POST, GET, DELETE) and `/health*`.

use super::clients::Incoming;
use super::{Exchange, Hub};
use crate::event::{HttpMethod, HttpRequest};
use crate::front::{self, Refusal, ReplyMode};
use crate::health;
use crate::ids::{ExchangeId, SessionId};
use crate::jsonrpc::{self, Message, code};
use crate::session::{self, Session};
use crate::time::Instant;
use crate::view::parse_view_query;
use serde_json::{Value, json};

/// Header carrying the session id.
pub const SESSION_HEADER: &str = "Mcp-Session-Id";

impl Hub {
    pub(super) fn handle_http(&mut self, now: Instant, exchange: ExchangeId, req: HttpRequest) {
        if let Err(refusal) = front::check_host_and_origin(
            &self.config.front,
            req.host.as_deref(),
            req.origin.as_deref(),
            req.peer.as_deref().is_some_and(front::is_loopback),
        ) {
            let message = match refusal {
                Refusal::ForbiddenHost => "Forbidden: Host header is not allowed",
                Refusal::ForbiddenOrigin => "Forbidden: Origin is not allowed",
            };
            tracing::warn!(peer = ?req.peer, path = %crate::text::for_log(&req.path), "refused request: {message}");
            return self.respond(exchange, 403, &jsonrpc::error(None, code::INVALID_REQUEST, message), vec![]);
        }
        let Ok(principal) = self.admit(now, exchange, &req) else { return };
        let method = req.method.unwrap_or(crate::event::HttpMethod::Other);
        match (req.path.as_str(), method) {
            ("/mcp", HttpMethod::Post) => self.handle_mcp_post(now, exchange, req, principal),
            ("/mcp", HttpMethod::Get) => self.handle_mcp_get(now, exchange, req),
            ("/mcp", HttpMethod::Delete) => self.handle_mcp_delete(now, exchange, req),
            ("/mcp", HttpMethod::Other) => {
                let body = jsonrpc::error(None, code::INVALID_REQUEST, "Method not allowed");
                self.respond(exchange, 405, &body, vec![("Allow".into(), "GET, POST, DELETE".into())])
            }
            ("/sse", HttpMethod::Get) => self.handle_sse_open(now, exchange, &req, principal),
            (path, HttpMethod::Get)
                if path == super::door::METADATA_PATH || path.starts_with("/.well-known/oauth-protected-resource/") =>
            {
                self.handle_resource_metadata(exchange, &req.path)
            }
            ("/messages", HttpMethod::Post) => self.handle_legacy_post(now, exchange, &req),
            ("/health", HttpMethod::Get) => {
                let (status, body) = health::overall(
                    now,
                    &self.config,
                    self.backends.values(),
                    self.registry.collisions(),
                    self.config_errors(),
                );
                let body = self.health_for(now, &req, body);
                self.respond(exchange, status, &body, vec![])
            }
            ("/health/live", HttpMethod::Get) => {
                let body = json!({"status": "alive", "timestamp": health::timestamp(&self.config, now)});
                self.respond(exchange, 200, &body, vec![])
            }
            ("/health/ready", HttpMethod::Get) => {
                let (status, body) = health::readiness(now, &self.config, self.backends.values());
                let body = self.health_for(now, &req, body);
                self.respond(exchange, status, &body, vec![])
            }
            _ => self.respond(exchange, 404, &json!({"error": "not found", "path": req.path}), vec![]),
        }
    }

    fn handle_mcp_post(
        &mut self,
        now: Instant,
        exchange: ExchangeId,
        req: HttpRequest,
        principal: Option<crate::auth::Principal>,
    ) {
        let Some(mode) = front::reply_mode(req.accept.as_deref()) else {
            let body = jsonrpc::error(
                None,
                code::INVALID_REQUEST,
                "Not Acceptable: accept application/json or text/event-stream",
            );
            return self.respond(exchange, 406, &body, vec![]);
        };
        if !front::is_json_content_type(req.content_type.as_deref()) {
            let body = jsonrpc::error(None, code::INVALID_REQUEST, "Unsupported Media Type: use application/json");
            return self.respond(exchange, 415, &body, vec![]);
        }
        let message = match jsonrpc::parse(&req.body) {
            Ok(m) => m,
            Err(e) => {
                let body = jsonrpc::error(e.id(), e.code(), e.to_string());
                return self.respond(exchange, 400, &body, vec![]);
            }
        };
        let message = match message {
            Message::Request { method, id, body }
                if req.session_id.is_none() && crate::modern::is_modern(&body, req.protocol_version.as_deref()) =>
            {
                return self.handle_modern(now, exchange, mode, &req, principal, (id, &method, body));
            }
            message => message,
        };
        if let Message::Request { method, id, body } = &message
            && method == "initialize"
        {
            return self.handle_initialize(now, exchange, mode, &req, id, body, principal);
        }
        let Some(session_id) = req.session_id.as_deref().map(SessionId::presented) else {
            let body = jsonrpc::error(
                message_id(&message),
                code::INVALID_REQUEST,
                "Bad Request: Mcp-Session-Id header is required (send initialize first)",
            );
            return self.respond(exchange, 400, &body, vec![]);
        };
        if !self.sessions.contains_key(&session_id) {
            return self.respond_session_not_found(exchange, message_id(&message));
        }
        if let Some(version) = &req.protocol_version
            && !session::is_supported_version(version)
        {
            let text = format!("Bad Request: unsupported MCP-Protocol-Version {version:?}");
            let body = jsonrpc::error(message_id(&message), code::INVALID_REQUEST, text);
            return self.respond(exchange, 400, &body, vec![]);
        }
        if let Some(session) = self.sessions.get_mut(&session_id) {
            session.last_active = now;
        }
        match message {
            Message::Request { id, method, body } => {
                let sse_ok = front::accepts_event_stream(req.accept.as_deref());
                let req = Incoming { exchange, mode, sse_ok, session: session_id, id, streaming: false };
                self.handle_client_request(now, req, &method, body)
            }
            Message::Notification { method, body } => {
                self.handle_client_notification(now, &session_id, &method, &body);
                self.respond_empty(exchange, 202, vec![]);
            }
            Message::Response { id, body } => {
                self.handle_client_response(now, &session_id, &id, body);
                self.respond_empty(exchange, 202, vec![]);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_initialize(
        &mut self,
        now: Instant,
        exchange: ExchangeId,
        mode: ReplyMode,
        req: &HttpRequest,
        id: &Value,
        body: &serde_json::Map<String, Value>,
        principal: Option<crate::auth::Principal>,
    ) {
        if let Some(existing) = req.session_id.as_deref() {
            if !self.sessions.contains_key(&SessionId::presented(existing)) {
                return self.respond_session_not_found(exchange, Some(id));
            }
            let body = jsonrpc::error(Some(id), code::INVALID_REQUEST, "Bad Request: session is already initialized");
            return self.respond(exchange, 400, &body, vec![]);
        }
        if self.shutting_down || self.sessions.len() >= self.config.max_sessions {
            let body = jsonrpc::error(Some(id), code::INTERNAL_ERROR, "Service Unavailable: too many sessions");
            return self.respond(exchange, 503, &body, vec![("Retry-After".into(), "1".into())]);
        }
        let view = match parse_view_query(&req.query, &self.presets) {
            Ok(view) => view,
            Err(e) => {
                let body = jsonrpc::error(Some(id), code::INVALID_REQUEST, e.to_string());
                return self.respond(exchange, 400, &body, vec![]);
            }
        };
        if self.refuse_view_beyond_scope(exchange, &req.path, principal.as_ref(), &view)
            || self.refuse_session_beyond_quota(exchange, Some(id), principal.as_ref())
        {
            return;
        }
        let params = jsonrpc::params(body);
        if let Some(why) = session::oversized_initialize(params) {
            tracing::warn!("refused an initialize: {why}");
            let body = jsonrpc::error(Some(id), code::INVALID_PARAMS, format!("initialize refused: {why}"));
            return self.respond(exchange, 400, &body, vec![]);
        }
        let requested = params.and_then(|p| p.get("protocolVersion")).and_then(Value::as_str);
        let version = session::negotiate_version(requested);
        let session_id = SessionId::from_random(self.random_bytes());
        let mut session = Session::new(session_id.clone(), params, now);
        session.view = view;
        session.principal = principal;
        let view = session.view.filter.as_ref().map(|f| crate::text::for_log(&f.to_string()).into_owned());
        tracing::info!(session = %session_id, client = %session.client_info, version, view = ?view, "session started");
        self.sessions.insert(session_id.clone(), session);
        self.schedule_session_sweep(now);
        let result = self.initialize_result(version);
        let header = vec![(SESSION_HEADER.into(), session_id.to_string())];
        self.reply(exchange, mode, &jsonrpc::result(id, result), header);
    }

    fn handle_mcp_get(&mut self, now: Instant, exchange: ExchangeId, req: HttpRequest) {
        if !front::accepts_event_stream(req.accept.as_deref()) {
            let body =
                jsonrpc::error(None, code::INVALID_REQUEST, "Not Acceptable: GET /mcp needs Accept: text/event-stream");
            return self.respond(exchange, 406, &body, vec![]);
        }
        let Some(session_id) = req.session_id.as_deref().map(SessionId::presented) else {
            let body = jsonrpc::error(None, code::INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required");
            return self.respond(exchange, 400, &body, vec![]);
        };
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return self.respond_session_not_found(exchange, None);
        };
        if session.stream.is_some() {
            let body = jsonrpc::error(None, code::INVALID_REQUEST, "Conflict: this session already has a GET stream");
            return self.respond(exchange, 409, &body, vec![]);
        }
        session.stream = Some(exchange);
        self.exchanges.insert(exchange, Exchange::Stream { session: session_id.clone() });
        self.outputs.push_back(crate::event::Output::OpenStream {
            exchange,
            headers: vec![(SESSION_HEADER.into(), session_id.to_string())],
        });
        // The session can be asked things now: its roots-holding instances can start.
        self.start_roots_instances(now, &session_id);
    }

    fn handle_mcp_delete(&mut self, now: Instant, exchange: ExchangeId, req: HttpRequest) {
        let Some(session_id) = req.session_id.as_deref().map(SessionId::presented) else {
            let body = jsonrpc::error(None, code::INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required");
            return self.respond(exchange, 400, &body, vec![]);
        };
        if !self.sessions.contains_key(&session_id) {
            return self.respond_session_not_found(exchange, None);
        }
        self.end_session(now, &session_id, "the session was deleted");
        self.respond_empty(exchange, 200, vec![]);
    }

    fn respond_session_not_found(&mut self, exchange: ExchangeId, id: Option<&Value>) {
        let body =
            jsonrpc::error(id, code::SESSION_NOT_FOUND, "Session not found: send initialize to start a new session");
        self.respond(exchange, 404, &body, vec![]);
    }
}

fn message_id(message: &Message) -> Option<&Value> {
    match message {
        Message::Request { id, .. } | Message::Response { id, .. } => Some(id),
        Message::Notification { .. } => None,
    }
}
