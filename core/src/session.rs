//! A legacy-era client session (streamable HTTP with `Mcp-Session-Id`).

use crate::ids::{BackendKey, ExchangeId, ProxyId, SessionId};
use crate::time::Instant;
use crate::view::ViewSpec;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Protocol revisions served with sessions, newest first.
pub const SUPPORTED_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// Pick the version to answer `initialize` with: the client's if we speak it, else our latest.
pub fn negotiate_version(requested: Option<&str>) -> &'static str {
    SUPPORTED_VERSIONS.iter().copied().find(|v| Some(*v) == requested).unwrap_or(SUPPORTED_VERSIONS[0])
}

/// True if `version` is a revision this proxy serves.
pub fn is_supported_version(version: &str) -> bool {
    SUPPORTED_VERSIONS.contains(&version)
}

/// Most bytes of `capabilities` (as JSON) a client may declare; a larger `initialize` is
/// refused. A session keeps its capabilities for its whole life (they are passed to its
/// per-session instances), and real clients declare well under 1 KiB.
pub const MAX_CAPABILITIES_BYTES: usize = 16 * 1024;

/// Longest `clientInfo` string kept (`name`, `version`, `title`); the rest of `clientInfo` is
/// not kept at all: it is self-reported and only ever shown in logs.
pub const MAX_CLIENT_INFO_CHARS: usize = 128;

/// Why an `initialize` asks a session to keep more than it may; `None` if it is within bounds.
pub fn oversized_initialize(params: Option<&Map<String, Value>>) -> Option<String> {
    let capabilities = params.and_then(|p| p.get("capabilities"))?;
    let len = serde_json::to_string(capabilities).map_or(0, |t| t.len());
    (len > MAX_CAPABILITIES_BYTES)
        .then(|| format!("capabilities is {len} bytes; a session may declare at most {MAX_CAPABILITIES_BYTES}"))
}

/// The bounded part of `clientInfo` a session keeps: its name, version and title, each cut to
/// [`MAX_CLIENT_INFO_CHARS`].
fn bounded_client_info(info: Option<&Value>) -> Value {
    let mut kept = Map::new();
    for key in ["name", "version", "title"] {
        if let Some(text) = info.and_then(|i| i.get(key)).and_then(Value::as_str) {
            kept.insert(key.into(), Value::String(crate::text::clip(text, MAX_CLIENT_INFO_CHARS).into_owned()));
        }
    }
    Value::Object(kept)
}

/// One client session.
#[derive(Debug)]
pub(crate) struct Session {
    /// The `Mcp-Session-Id`.
    pub(crate) id: SessionId,
    /// What the client declared it can do.
    pub(crate) client_capabilities: Map<String, Value>,
    /// `clientInfo`'s name, version and title, bounded (for logs only: self-reported, never trusted).
    pub(crate) client_info: Value,
    /// `notifications/initialized` seen.
    pub(crate) initialized: bool,
    /// The standalone `GET` stream, if open (for a legacy HTTP+SSE session: its `/sse` stream).
    pub(crate) stream: Option<ExchangeId>,
    /// A legacy HTTP+SSE (2024-11-05) session: it lives exactly as long as its stream.
    pub(crate) legacy: bool,
    /// What the session's URL query lets it see, and whether its lists are paginated.
    pub(crate) view: ViewSpec,
    /// Last time the client was heard from.
    pub(crate) last_active: Instant,
    /// Forwarded requests still awaiting a backend.
    pub(crate) in_flight: BTreeSet<(BackendKey, ProxyId)>,
    /// Level set with `logging/setLevel`; `None` until the client sets one.
    pub(crate) log_level: Option<LogLevel>,
    /// Resource subscriptions: (server, uri).
    pub(crate) subscriptions: BTreeSet<(String, String)>,
    /// The principal that created it (with authentication on): only it may use the session,
    /// and it sees no more than its token's tags.
    pub(crate) principal: Option<crate::auth::Principal>,
    /// A stateless request's questions to its client (the bridge); empty for a session.
    pub(crate) bridge: Bridge,
    /// Set for the record of a `subscriptions/listen` stream: what it asked to hear.
    pub(crate) listen: Option<Listen>,
}

/// What a `subscriptions/listen` stream asked for.
#[derive(Debug)]
pub(crate) struct Listen {
    /// The listen request's id: the subscription id every notification on it carries.
    pub(crate) id: Value,
    /// The merged lists whose changes it hears of.
    pub(crate) kinds: BTreeSet<crate::backend::ListKind>,
}

/// Where a stateless request stands with the questions its backend asked it: a legacy backend
/// asks mid-call (`elicitation/create`, ...), the client is answered with an
/// `InputRequiredResult`, and the call waits, parked, for the client's retry with the answers.
#[derive(Debug, Default)]
pub(crate) struct Bridge {
    /// The request's digest ([`crate::request_state::digest`]): a retry must repeat it.
    pub(crate) digest: u64,
    /// Rounds of questions so far: a `requestState` is good for the round it was issued in.
    pub(crate) round: u32,
    /// Set while the call waits for the client's retry. It waits no longer than the call's
    /// own timeout: a client that never retries has its call failed, and the record ends.
    pub(crate) parked: bool,
    /// The questions not answered yet, by the key the client answers under: `{method, params}`.
    pub(crate) asked: std::collections::BTreeMap<String, Value>,
}

/// Who is looking at the merged lists: a view (from the URL's query) and, with authentication
/// on, the principal whose token's tags bound it. A legacy session has one for its whole life;
/// a stateless (2026-07-28) request brings its own.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Viewer<'a> {
    /// What the query asked to see.
    pub(crate) view: &'a ViewSpec,
    /// Whose token it is, if any.
    pub(crate) principal: Option<&'a crate::auth::Principal>,
}

impl Viewer<'_> {
    /// Whether something tagged `tags` is in sight: the view admits it and so does the token.
    pub(crate) fn admits(&self, tags: &[String]) -> bool {
        self.view.filter.as_ref().is_none_or(|f| f.admits(tags)) && self.principal.is_none_or(|p| p.admits(tags))
    }
}

/// MCP log levels (RFC 5424 severities), least severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// debug
    Debug,
    /// info
    Info,
    /// notice
    Notice,
    /// warning
    Warning,
    /// error
    Error,
    /// critical
    Critical,
    /// alert
    Alert,
    /// emergency
    Emergency,
}

impl LogLevel {
    /// Parse a level name as the spec spells it.
    pub fn parse(name: &str) -> Option<LogLevel> {
        serde_json::from_value(Value::String(name.to_owned())).ok()
    }

    /// The spec's name for the level.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
            LogLevel::Alert => "alert",
            LogLevel::Emergency => "emergency",
        }
    }
}

impl Session {
    /// What the session sees.
    pub(crate) fn viewer(&self) -> Viewer<'_> {
        Viewer { view: &self.view, principal: self.principal.as_ref() }
    }

    /// The record of one stateless (2026-07-28) request: what its `_meta` declared, under the
    /// caller's view and principal. It lives exactly as long as the request.
    pub(crate) fn stateless(
        id: SessionId,
        client_capabilities: Map<String, Value>,
        log_level: Option<LogLevel>,
        viewer: (ViewSpec, Option<crate::auth::Principal>),
        (now, digest): (Instant, u64),
    ) -> Session {
        let (view, principal) = viewer;
        let bridge = Bridge { digest, ..Bridge::default() };
        Session {
            client_capabilities,
            log_level,
            view,
            principal,
            bridge,
            initialized: true,
            ..Session::new(id, None, now)
        }
    }

    /// Whether a log message at `level` is for this client: a session gets every level until it
    /// sets one; a stateless request only what its `_meta` asked for, and nothing if it asked
    /// for nothing (spec: no `notifications/message` without `logLevel`).
    pub(crate) fn wants_log(&self, level: LogLevel) -> bool {
        if self.id.is_stateless() {
            self.log_level.is_some_and(|min| level >= min)
        } else {
            self.log_level.is_none_or(|min| level >= min)
        }
    }

    /// Whether the client declared a capability (`roots`, `sampling`, ...) at `initialize`.
    pub(crate) fn declares(&self, capability: &str) -> bool {
        self.client_capabilities.contains_key(capability)
    }

    /// A session created by `initialize`.
    pub(crate) fn new(id: SessionId, params: Option<&Map<String, Value>>, now: Instant) -> Session {
        let field = |k: &str| params.and_then(|p| p.get(k)).cloned();
        Session {
            id,
            client_capabilities: field("capabilities").and_then(|v| v.as_object().cloned()).unwrap_or_default(),
            client_info: bounded_client_info(params.and_then(|p| p.get("clientInfo"))),
            initialized: false,
            stream: None,
            legacy: false,
            view: ViewSpec::default(),
            last_active: now,
            in_flight: BTreeSet::new(),
            log_level: None,
            subscriptions: BTreeSet::new(),
            principal: None,
            bridge: Bridge::default(),
            listen: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_echoes_known_versions_and_offers_the_latest_otherwise() {
        assert_eq!(negotiate_version(Some("2025-06-18")), "2025-06-18");
        assert_eq!(negotiate_version(Some("2024-11-05")), "2024-11-05");
        assert_eq!(negotiate_version(Some("1999-01-01")), "2025-11-25");
        assert_eq!(negotiate_version(None), "2025-11-25");
    }

    #[test]
    fn log_levels_parse_and_order_by_severity() {
        assert_eq!(LogLevel::parse("warning"), Some(LogLevel::Warning));
        assert_eq!(LogLevel::parse("WARNING"), None);
        assert_eq!(LogLevel::parse("verbose"), None);
        assert!(LogLevel::Debug < LogLevel::Info && LogLevel::Error < LogLevel::Emergency);
        assert_eq!(LogLevel::Notice.name(), "notice");
    }
}
