//! The front door: with authentication on, every MCP endpoint (`/mcp`, `/sse`, `/messages`)
//! admits a request only with a live bearer token; a session belongs to the principal that
//! created it; and the token's tags bound what its sessions may see (DESIGN.md rule 4).
//! Refusals follow RFC 6750 and RFC 9728: 401 with a challenge pointing at this server's
//! protected resource metadata, 403 `insufficient_scope` naming the scopes a view lacks.

use super::Hub;
use crate::auth::{self, Denial, Principal};
use crate::event::HttpRequest;
use crate::front;
use crate::ids::ExchangeId;
use crate::ids::SessionId;
use crate::jsonrpc::{self, code};
use crate::time::Instant;
use crate::view::ViewSpec;
use serde_json::{Value, json};

/// Where the protected resource metadata lives (RFC 9728), before the path-inserted suffix.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The paths that speak MCP and need a token.
fn is_mcp_path(path: &str) -> bool {
    matches!(path, "/mcp" | "/sse" | "/messages")
}

impl Hub {
    /// Admit an MCP request: `Ok(None)` with authentication off, `Ok(Some(principal))` for a
    /// live token whose principal owns the session it names, `Err(())` once refused (answered).
    pub(super) fn admit(
        &mut self,
        now: Instant,
        exchange: ExchangeId,
        req: &HttpRequest,
    ) -> Result<Option<Principal>, ()> {
        if !self.config.auth_enabled || !is_mcp_path(&req.path) {
            return Ok(None);
        }
        if auth::token_in_query(&req.query) {
            tracing::warn!(peer = ?req.peer, path = %crate::text::for_log(&req.path), "refused a token in the query string");
            let body = jsonrpc::error(
                None,
                code::INVALID_REQUEST,
                "Bad Request: send the token in the Authorization header, never in the URL",
            );
            self.respond(exchange, 400, &body, vec![]);
            return Err(());
        }
        let principal = match auth::admit(&req.credential, self.wall_ms(now), |aud| self.is_our_resource(aud)) {
            Ok(principal) => principal,
            Err(denial) => {
                if let Denial::Invalid(why) = &denial {
                    tracing::warn!(peer = ?req.peer, path = %crate::text::for_log(&req.path), "refused a request: {why}");
                }
                // Name the scopes the request's view needs, so a client asks for them (RFC 6750).
                let needed = crate::view::parse_view_query(&req.query, &self.presets)
                    .ok()
                    .and_then(|view| view.filter)
                    .map(|f| f.referenced_tags().into_iter().map(|t| format!("tag:{t}")).collect::<Vec<_>>().join(" "))
                    .filter(|scopes| !scopes.is_empty());
                let challenge = self.challenge(&req.path, denial.error_code(), needed.as_deref());
                let body = jsonrpc::error(None, code::INVALID_REQUEST, denial.message());
                self.respond(exchange, 401, &body, vec![("WWW-Authenticate".into(), challenge)]);
                return Err(());
            }
        };
        let claimed = req.session_id.clone().or_else(|| {
            (req.path == "/messages").then(|| front::query_param(&req.query, "sessionId").map(str::to_owned)).flatten()
        });
        let session = claimed.and_then(|id| self.sessions.get_mut(&SessionId::presented(&id)));
        let foreign = session.as_ref().is_some_and(|s| s.principal.as_ref().map(|p| &p.id) != Some(&principal.id));
        if let Some(session) = session
            && !foreign
        {
            // The same grant with a fresher token (a refresh): its expiry and tags now apply.
            session.principal = Some(principal.clone());
        }
        if foreign {
            // Another principal's session does not exist, as far as this one can tell.
            tracing::warn!(peer = ?req.peer, token = %principal.name, "refused a request for another principal's session");
            let body = jsonrpc::error(
                None,
                code::SESSION_NOT_FOUND,
                "Session not found: send initialize to start a new session",
            );
            self.respond(exchange, 404, &body, vec![]);
            return Err(());
        }
        Ok(Some(principal))
    }

    /// Tokens were revoked: end the sessions their principals opened (streams close, calls in
    /// flight are cancelled), as the next request with the token would be refused anyway.
    pub(super) fn handle_credentials_revoked(&mut self, now: Instant, principals: &[String]) {
        let ended: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|s| s.principal.as_ref().is_some_and(|p| principals.contains(&p.id)))
            .map(|s| s.id.clone())
            .collect();
        for session in ended {
            self.end_session(now, &session, "its token was revoked");
        }
    }

    /// Close the event streams of sessions whose token has expired (checked by the session
    /// sweep): a stream is not a way to keep listening past a token's life. The session
    /// stays; the client reopens its stream with a fresh token.
    pub(super) fn close_streams_of_expired_tokens(&mut self, now: Instant) {
        let now_ms = self.wall_ms(now);
        let expired: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|s| {
                s.stream.is_some() && s.principal.as_ref().and_then(|p| p.expires_at_ms).is_some_and(|at| now_ms >= at)
            })
            .map(|s| s.id.clone())
            .collect();
        for id in expired {
            let Some(stream) = self.sessions.get_mut(&id).and_then(|s| s.stream.take()) else { continue };
            self.exchanges.remove(&stream);
            self.outputs.push_back(crate::event::Output::CloseStream { exchange: stream });
            tracing::info!(session = %id, "closed an event stream: its token expired");
        }
    }

    /// Refuse a new session to a principal that holds its quota already (429); true when
    /// refused (answered). Logged once per principal until it is under its quota again.
    pub(super) fn refuse_session_beyond_quota(
        &mut self,
        exchange: ExchangeId,
        id: Option<&Value>,
        principal: Option<&Principal>,
    ) -> bool {
        let Some(principal) = principal else { return false };
        let held =
            self.sessions.values().filter(|s| s.principal.as_ref().is_some_and(|p| p.id == principal.id)).count();
        if held < self.config.max_sessions_per_principal {
            self.quota_logged.remove(&principal.id);
            return false;
        }
        if self.quota_logged.len() >= 1024 {
            self.quota_logged.clear();
        }
        if self.quota_logged.insert(principal.id.clone()) {
            tracing::warn!(token = %principal.name, limit = self.config.max_sessions_per_principal, "refused a session: the token holds its quota of sessions");
        }
        let text = format!(
            "Too Many Requests: this token already holds {held} sessions; end some (DELETE /mcp) or let idle ones expire"
        );
        self.respond(
            exchange,
            429,
            &jsonrpc::error(id, code::INTERNAL_ERROR, text),
            vec![("Retry-After".into(), "5".into())],
        );
        true
    }

    /// Refuse a view that reaches past the principal's tags (403 `insufficient_scope`); true
    /// when refused (answered).
    pub(super) fn refuse_view_beyond_scope(
        &mut self,
        exchange: ExchangeId,
        path: &str,
        principal: Option<&Principal>,
        view: &ViewSpec,
    ) -> bool {
        let missing = principal.map(|p| p.missing_scopes(view)).unwrap_or_default();
        if missing.is_empty() {
            return false;
        }
        let scopes = missing.join(" ");
        tracing::warn!(token = %principal.map_or("", |p| p.name.as_str()), scopes = %scopes, "refused a view beyond the token's tags");
        let challenge = self.challenge(path, Some("insufficient_scope"), Some(&scopes));
        let text = format!("Forbidden: the token does not cover {scopes}");
        self.respond(
            exchange,
            403,
            &jsonrpc::error(None, code::INVALID_REQUEST, text),
            vec![("WWW-Authenticate".into(), challenge)],
        );
        true
    }

    /// A health document as the caller may see it: whole with authentication off or a live
    /// token; otherwise cut to `--health-info-level` (by default only its status and time:
    /// server names, commands, URLs and errors are for those who may use the servers). The
    /// HTTP status stays, for load balancers.
    pub(super) fn health_for(&self, now: Instant, req: &HttpRequest, body: Value) -> Value {
        let admitted = || auth::admit(&req.credential, self.wall_ms(now), |aud| self.is_our_resource(aud)).is_ok();
        if !self.config.auth_enabled || admitted() {
            return body;
        }
        self.config.health_info_level.apply(body)
    }

    /// `GET /.well-known/oauth-protected-resource[/mcp|/sse|/messages]` (RFC 9728): the
    /// resource is the URL the metadata was asked for (the path after the well-known prefix,
    /// or the base URL at the root), unless an audience is configured.
    pub(super) fn handle_resource_metadata(&mut self, exchange: ExchangeId, path: &str) {
        let suffix = path.strip_prefix(METADATA_PATH).unwrap_or_default();
        if !(suffix.is_empty() || is_mcp_path(suffix)) {
            return self.respond(exchange, 404, &json!({"error": "not found", "path": path}), vec![]);
        }
        let base = self.public_base();
        let resource = self.config.auth_audience.clone().unwrap_or_else(|| format!("{base}{suffix}"));
        let issuer = self.config.auth_issuer.clone().unwrap_or(base);
        let body = json!({
            "resource": resource,
            "resource_name": super::SERVER_NAME,
            "authorization_servers": [issuer],
            "bearer_methods_supported": ["header"],
            "scopes_supported": self.scopes_supported(),
        });
        self.respond(exchange, 200, &body, vec![]);
    }

    /// The scopes this server knows: `tag:<name>` for every tag of a configured server.
    fn scopes_supported(&self) -> Vec<String> {
        let scopes: std::collections::BTreeSet<String> =
            self.config.mcp.servers.values().flat_map(|s| s.tags.iter().map(|t| format!("tag:{t}"))).collect();
        scopes.into_iter().collect()
    }

    /// Whether `audience` names this server (RFC 8707): the configured audience, else its base
    /// URL or one of its MCP endpoints (a trailing slash aside).
    fn is_our_resource(&self, audience: &str) -> bool {
        let audience = audience.trim_end_matches('/');
        if let Some(configured) = &self.config.auth_audience {
            return audience == configured.trim_end_matches('/');
        }
        let base = self.public_base();
        audience.strip_prefix(base.as_str()).is_some_and(|path| path.is_empty() || is_mcp_path(path))
    }

    /// The `WWW-Authenticate` value for a refusal of a request to `path`.
    fn challenge(&self, path: &str, error: Option<&str>, scope: Option<&str>) -> String {
        let suffix = if is_mcp_path(path) { path } else { "/mcp" };
        let mut value = format!("Bearer resource_metadata=\"{}{METADATA_PATH}{suffix}\"", self.public_base());
        if let Some(scope) = scope {
            value.push_str(&format!(", scope=\"{scope}\""));
        }
        if let Some(error) = error {
            value.push_str(&format!(", error=\"{error}\""));
        }
        value
    }

    /// This server's base URL as clients reach it.
    pub fn public_base(&self) -> String {
        self.config.front.public_base()
    }

    /// Unix time in ms at `now`.
    fn wall_ms(&self, now: Instant) -> u64 {
        self.config.wall_epoch_ms + now.0 / 1_000_000
    }
}
