//! MCP requests from client sessions: answered from the merged lists, or routed by name or URI
//! to the backend that owns them (the forwarding itself is in `calls`).

use super::Hub;
use crate::backend::{BackendState, ListKind};
use crate::cursor::{self, CursorError, CursorPayload};
use crate::event::Output;
use crate::front::ReplyMode;
use crate::ids::{BackendKey, ExchangeId, SessionId};
use crate::jsonrpc::{self, RequestId, code};
use crate::registry::{Kind, SEPARATOR};
use crate::session::{LogLevel, Viewer};
use crate::time::Instant;
use serde_json::{Map, Value, json};

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
        if let Some(instructions) = self.merged_instructions(None) {
            result["instructions"] = Value::String(instructions);
        }
        result
    }

    /// 1MCP-style instructions: a header, then each ready server's text in `<name>` tags (the
    /// servers `viewer` sees, if one is given; a per-session instance is its server's, not
    /// another server).
    pub(super) fn merged_instructions(&self, viewer: Option<Viewer<'_>>) -> Option<String> {
        let parts: Vec<String> = self
            .backends
            .values()
            .filter(|b| b.state == BackendState::Ready && !b.key.is_instance())
            .filter(|b| viewer.is_none_or(|v| v.admits(&b.config.tags)))
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
                match self.sessions.get(&req.session) {
                    Some(session) => self.list_result(session.viewer(), id, method, &body),
                    None => jsonrpc::error(Some(id), code::INTERNAL_ERROR, "the session ended"),
                }
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
    pub(super) fn list_result(
        &self,
        viewer: Viewer<'_>,
        id: &RequestId,
        method: &str,
        body: &Map<String, Value>,
    ) -> Value {
        let list = ListKind::of_method(method).unwrap_or(ListKind::Templates);
        let visible = super::visible(viewer, &self.registry, list);
        let cursor = jsonrpc::params(body).and_then(|p| p.get("cursor")).filter(|c| !c.is_null());
        let paginate = viewer.view.paginate;
        let fingerprint =
            cursor::fingerprint(viewer.view.filter.as_ref().map(ToString::to_string).unwrap_or_default().as_bytes());
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

    /// The registry's answer, or the only resource-capable backend for unlisted URIs. A URI
    /// that a server which is down listed is that server's: it is not handed to another.
    pub(super) fn resource_owner(&self, session: &SessionId, uri: &str) -> Option<BackendKey> {
        if let Some(owner) = self.registry.resource_owner(uri).map(BackendKey::server).filter(|b| self.sees(session, b))
        {
            return Some(owner);
        }
        if self.down_resource_owner(session, uri).is_some() {
            return None;
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
