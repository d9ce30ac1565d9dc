//! Handles that name the parties the core talks to.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One HTTP request/response exchange held open by the driver until the core answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExchangeId(pub u64);

/// Incarnation number of a backend process; a line from an older generation is stale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Gen(pub u64);

impl fmt::Display for ExchangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "x{}", self.0)
    }
}

impl fmt::Display for Gen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "g{}", self.0)
    }
}

/// The id 1mcp gives a request it sends a backend (a forwarded call, a list page, a ping):
/// unique within that backend's incarnation, and the only id a backend's answer is matched by.
/// It doubles as the progress token the backend sees for a forwarded call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProxyId(pub(crate) u64);

impl ProxyId {
    /// The id a backend echoed back (a number, as 1mcp sent it); `None` for anything else.
    pub(crate) fn from_json(id: &serde_json::Value) -> Option<ProxyId> {
        id.as_u64().map(ProxyId)
    }

    /// The id as it goes on the wire.
    pub(crate) fn to_json(self) -> serde_json::Value {
        self.0.into()
    }
}

impl fmt::Display for ProxyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Whom a client request belongs to: a session a client opened (its `Mcp-Session-Id`), or a
/// stateless (2026-07-28) request's own record, which lives exactly as long as the request and
/// is never named to a client. The two never compare equal, so no header or query a client
/// sends can name a stateless request's record.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(Kind);

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    /// An `Mcp-Session-Id` (issued, or presented by a client).
    Session(String),
    /// The n-th stateless request.
    Stateless(u64),
}

impl SessionId {
    /// The id a client presented (an `Mcp-Session-Id` header, a `/messages?sessionId=`); it
    /// names a session only if the hub finds one under it.
    pub(crate) fn presented(id: &str) -> SessionId {
        SessionId(Kind::Session(id.to_owned()))
    }

    /// A new session's id, from 16 random bytes, shaped as 1MCP shapes them:
    /// `stream-<uuid v4>`.
    pub(crate) fn from_random(bytes: [u8; 16]) -> SessionId {
        let mut b = bytes;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        let text = format!("stream-{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]);
        SessionId(Kind::Session(text))
    }

    /// The record of the `n`-th stateless request.
    pub(crate) fn stateless(n: u64) -> SessionId {
        SessionId(Kind::Stateless(n))
    }

    /// Whether this is a stateless request's record rather than a session.
    pub(crate) fn is_stateless(&self) -> bool {
        matches!(self.0, Kind::Stateless(_))
    }

    /// A stateless request's record number.
    pub(crate) fn stateless_number(&self) -> Option<u64> {
        match self.0 {
            Kind::Stateless(n) => Some(n),
            Kind::Session(_) => None,
        }
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Session(id) => f.write_str(id),
            Kind::Stateless(n) => write!(f, "stateless#{n}"),
        }
    }
}

/// What joins a server's name and the number of one of its per-session instances in a
/// [`BackendKey`]'s label (`<server>_1mcp_session<n>`); no server name contains `_1mcp_`.
const INSTANCE_INFIX: &str = "_1mcp_session";

/// Which backend process (or remote connection) a message belongs to: a configured server,
/// or one of its per-session instances.
///
/// On the wire to the driver (inputs, outputs, recordings, logs) it is its label: the server's
/// name, or `<server>_1mcp_session<n>` for instance `n`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackendKey {
    server: String,
    instance: Option<u64>,
}

impl BackendKey {
    /// The shared backend of a configured server.
    pub fn server(name: impl Into<String>) -> BackendKey {
        BackendKey { server: name.into(), instance: None }
    }

    /// Instance `n` of `server`, run for one client session.
    pub(crate) fn instance(server: &str, n: u64) -> BackendKey {
        BackendKey { server: server.to_owned(), instance: Some(n) }
    }

    /// The configured server it runs.
    pub fn server_name(&self) -> &str {
        &self.server
    }

    /// The shared backend of the server this runs (itself, unless it is an instance).
    pub(crate) fn shared(&self) -> BackendKey {
        BackendKey::server(self.server.clone())
    }

    /// A per-session instance, not the server's shared backend.
    pub fn is_instance(&self) -> bool {
        self.instance.is_some()
    }

    /// Read a label back (see the type's documentation).
    pub fn parse(label: &str) -> BackendKey {
        match label.rsplit_once(INSTANCE_INFIX) {
            Some((server, n)) if !server.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => match n.parse() {
                Ok(n) => BackendKey::instance(server, n),
                Err(_) => BackendKey::server(label),
            },
            _ => BackendKey::server(label),
        }
    }
}

impl fmt::Display for BackendKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.instance {
            None => f.write_str(&self.server),
            Some(n) => write!(f, "{}{INSTANCE_INFIX}{n}", self.server),
        }
    }
}

impl Serialize for BackendKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BackendKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<BackendKey, D::Error> {
        let label = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(BackendKey::parse(&label))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_keys_round_trip_through_their_labels() {
        for key in [BackendKey::server("alpha"), BackendKey::instance("alpha", 12), BackendKey::server("a_session3")] {
            let label = key.to_string();
            assert_eq!(BackendKey::parse(&label), key, "{label}");
            let json = serde_json::to_string(&key).unwrap();
            assert_eq!(serde_json::from_str::<BackendKey>(&json).unwrap(), key);
        }
        assert_eq!(BackendKey::instance("fs", 3).to_string(), "fs_1mcp_session3");
        assert_eq!(BackendKey::instance("fs", 3).server_name(), "fs");
        assert!(!BackendKey::parse("fs_1mcp_sessionx").is_instance());
    }

    #[test]
    fn session_ids_look_like_1mcp_ones() {
        let id = SessionId::from_random([0xab; 16]);
        assert_eq!(id.to_string(), "stream-abababab-abab-4bab-abab-abababababab");
        assert!(id.to_string().chars().all(|c| c.is_ascii_graphic()));
    }

    #[test]
    fn no_presented_id_names_a_stateless_request() {
        let stateless = SessionId::stateless(7);
        assert!(stateless.is_stateless());
        assert_ne!(SessionId::presented(&stateless.to_string()), stateless, "its text is only for the log");
        assert!(!SessionId::presented("stateless#7").is_stateless());
        assert!(!SessionId::from_random([1; 16]).is_stateless());
    }
}
