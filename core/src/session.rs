//! A legacy-era client session (streamable HTTP with `Mcp-Session-Id`).

use crate::ids::ExchangeId;
use crate::time::Instant;
use crate::view::ViewSpec;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Protocol revisions served with sessions, newest first.
pub const SUPPORTED_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// The revision assumed when an HTTP client sends no `MCP-Protocol-Version` (spec: 2025-03-26).
pub const DEFAULT_HTTP_VERSION: &str = "2025-03-26";

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
pub struct Session {
    /// The `Mcp-Session-Id`.
    pub id: String,
    /// Negotiated protocol version.
    pub protocol_version: &'static str,
    /// What the client declared it can do.
    pub client_capabilities: Map<String, Value>,
    /// `clientInfo`'s name, version and title, bounded (for logs only: self-reported, never trusted).
    pub client_info: Value,
    /// `notifications/initialized` seen.
    pub initialized: bool,
    /// The standalone `GET` stream, if open (for a legacy HTTP+SSE session: its `/sse` stream).
    pub stream: Option<ExchangeId>,
    /// A legacy HTTP+SSE (2024-11-05) session: it lives exactly as long as its stream.
    pub legacy: bool,
    /// What the session's URL query lets it see, and whether its lists are paginated.
    pub view: ViewSpec,
    /// Last time the client was heard from.
    pub last_active: Instant,
    /// Forwarded requests still awaiting a backend: (server, backend-side id).
    pub in_flight: BTreeSet<(String, u64)>,
    /// Level set with `logging/setLevel`; `None` until the client sets one.
    pub log_level: Option<LogLevel>,
    /// Resource subscriptions: (server, uri).
    pub subscriptions: BTreeSet<(String, String)>,
    /// Server-to-client requests forwarded to this client and not yet answered, by the id the
    /// client sees.
    pub server_requests: BTreeMap<String, ServerRequest>,
    /// The principal that created it (with authentication on): only it may use the session,
    /// and it sees no more than its token's tags.
    pub(crate) principal: Option<crate::auth::Principal>,
}

/// A backend's request forwarded to a client: how to route the client's answer back.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerRequest {
    /// The server that asked.
    pub backend: String,
    /// Its incarnation (an answer for a dead one is dropped).
    pub generation: crate::ids::Gen,
    /// The id the backend used.
    pub backend_id: Value,
    /// What it asked (`roots/list`, `sampling/createMessage`, ...).
    pub(crate) method: String,
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
    /// Whether the client declared a capability (`roots`, `sampling`, ...) at `initialize`.
    pub fn declares(&self, capability: &str) -> bool {
        self.client_capabilities.contains_key(capability)
    }

    /// A session created by `initialize`.
    pub fn new(
        id: String,
        protocol_version: &'static str,
        params: Option<&Map<String, Value>>,
        now: Instant,
    ) -> Session {
        let field = |k: &str| params.and_then(|p| p.get(k)).cloned();
        Session {
            id,
            protocol_version,
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
            server_requests: BTreeMap::new(),
            principal: None,
        }
    }
}

/// Format 16 random bytes as 1MCP does: `stream-<uuid v4>`.
pub fn format_session_id(bytes: [u8; 16]) -> String {
    let mut b = bytes;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("stream-{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
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

    #[test]
    fn session_ids_look_like_1mcp_ones() {
        let id = format_session_id([0xab; 16]);
        assert_eq!(id, "stream-abababab-abab-4bab-abab-abababababab");
        assert!(id.chars().all(|c| c.is_ascii_graphic()));
    }
}
