//! The contract between the core and its driver: inputs are facts, outputs are imperatives.
//!
//! Both are serde types so a run can be recorded as JSON lines and replayed through the core.

use crate::config::{McpConfig, TransportConfig};
use crate::ids::{BackendKey, ExchangeId, Gen};
use serde::{Deserialize, Serialize};

/// Something that happened in the outside world.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Input {
    /// An HTTP request arrived; answer it with outputs naming `exchange`.
    HttpRequest {
        /// Handle the driver keeps until the core responds.
        exchange: ExchangeId,
        /// The request, body already read (and bounded) by the driver.
        request: HttpRequest,
    },
    /// The client behind an exchange went away (connection closed, stream dropped).
    ExchangeClosed {
        /// Which exchange.
        exchange: ExchangeId,
    },
    /// A backend process was started.
    BackendSpawned {
        /// Server name from the config.
        backend: BackendKey,
        /// Incarnation that started.
        generation: Gen,
        /// OS process id, when known.
        pid: Option<u32>,
    },
    /// A backend could not be started at all (missing command, permission, ...).
    BackendSpawnFailed {
        /// Server name.
        backend: BackendKey,
        /// Incarnation that failed.
        generation: Gen,
        /// What the operating system said.
        error: String,
    },
    /// One newline-delimited line from a backend's stdout.
    BackendLine {
        /// Server name.
        backend: BackendKey,
        /// Incarnation that wrote it.
        generation: Gen,
        /// The line, without its terminator.
        line: String,
    },
    /// A backend wrote a stdout line longer than the driver's limit; it was discarded.
    BackendLineTooLong {
        /// Server name.
        backend: BackendKey,
        /// Incarnation that wrote it.
        generation: Gen,
        /// Bytes discarded.
        len: usize,
    },
    /// A backend process ended (or its stdout closed for good).
    BackendExited {
        /// Server name.
        backend: BackendKey,
        /// Incarnation that ended.
        generation: Gen,
        /// How it ended.
        status: ExitInfo,
    },
    /// The configuration file changed and is valid: apply the difference (hot reload).
    ConfigChanged {
        /// The new configuration, parsed and resolved.
        config: McpConfig,
    },
    /// The configuration file changed but is invalid: keep running as is, and say why.
    ConfigInvalid {
        /// One line per problem (file, line, server, field).
        errors: Vec<String>,
    },
    /// `presets.json` changed (hot reload): requests and sessions from now on use these
    /// presets; a session keeps the view it opened with.
    PresetsChanged {
        /// The file's new text.
        presets: crate::hub::PresetsFile,
    },
    /// Tokens were revoked (by `1mcp token revoke`, RFC 7009 revocation, or a refresh token
    /// presented twice): the sessions their principals opened end now, streams included.
    CredentialsRevoked {
        /// Principal ids (a token's id, `oauth:<grant>` for the authorization server's).
        principals: Vec<String>,
    },
    /// An HTTP backend's server refused 1mcp, and only the user can authorize it (OAuth): this
    /// incarnation is over, and the server waits, without restarts, for
    /// [`Input::BackendAuthorized`].
    BackendNeedsAuthorization {
        /// Server (or instance) name.
        backend: BackendKey,
        /// Incarnation that was refused.
        generation: Gen,
        /// What the server or the authorization step said (no secrets).
        why: String,
    },
    /// 1mcp holds tokens for `server` now (the user authorized it): what awaited them starts.
    BackendAuthorized {
        /// The server's name in the config.
        server: String,
    },
    /// The daemon is stopping: stop backends, answer what is pending.
    Shutdown,
}

/// How a backend connection ended: a process's exit, or an HTTP session that was lost.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// Exit code, if it exited normally.
    pub code: Option<i32>,
    /// Signal number, if it was killed by one.
    pub signal: Option<i32>,
    /// What happened, when it was not a process exit (e.g. "the server lost the session").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(reason) = &self.reason {
            return f.write_str(reason);
        }
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exited with code {code}"),
            (None, Some(sig)) => write!(f, "killed by signal {sig}"),
            (None, None) => write!(f, "exited"),
        }
    }
}

/// HTTP methods the core distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET
    Get,
    /// POST
    Post,
    /// DELETE
    Delete,
    /// Anything else (answered 405 where a route exists).
    Other,
}

/// An HTTP request as the core sees it: the few headers it decides on, and the raw body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// Request method.
    pub method: Option<HttpMethod>,
    /// Path without the query string, e.g. `/mcp`.
    pub path: String,
    /// Raw query string without `?` (percent-encoded), empty if none.
    pub query: String,
    /// `Host` header.
    pub host: Option<String>,
    /// `Origin` header.
    pub origin: Option<String>,
    /// `Accept` header.
    pub accept: Option<String>,
    /// `Content-Type` header.
    pub content_type: Option<String>,
    /// `Mcp-Session-Id` header.
    pub session_id: Option<String>,
    /// `MCP-Protocol-Version` header.
    pub protocol_version: Option<String>,
    /// The peer's IP address, as text (`127.0.0.1`, `::1`), if known: for the log, and on a
    /// wildcard bind loopback `Host` names are admitted only from a loopback peer (from
    /// elsewhere they would let anyone past the Host check).
    #[serde(default)]
    pub peer: Option<String>,
    /// What the request presented as a credential, as io found it.
    #[serde(default)]
    pub credential: crate::auth::Credential,
    /// The `Mcp-Method`, `Mcp-Name` and `Mcp-Param-*` headers (2026-07-28), bounded; left out
    /// of a recording when there are none, so older recordings load.
    #[serde(default, skip_serializing_if = "crate::mcp_headers::McpHeaders::is_empty")]
    pub mcp_headers: crate::mcp_headers::McpHeaders,
    /// Request body bytes (UTF-8 expected; anything else is a parse error).
    #[serde(with = "body_text")]
    pub body: Vec<u8>,
}

/// A complete HTTP response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, if there is a body.
    pub content_type: Option<String>,
    /// Extra headers (e.g. `Mcp-Session-Id`).
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

/// One server-sent event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SseEvent {
    /// `event:` field, omitted when `None` (the default `message`).
    pub event: Option<String>,
    /// `data:` payload (one JSON-RPC message).
    pub data: String,
}

/// Something the driver must do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Output {
    /// Answer an exchange with a complete response; the exchange is then over.
    Respond {
        /// Which exchange.
        exchange: ExchangeId,
        /// The response.
        response: HttpResponse,
    },
    /// Answer an exchange with a `text/event-stream` response that stays open.
    OpenStream {
        /// Which exchange.
        exchange: ExchangeId,
        /// Extra headers (e.g. `Mcp-Session-Id`).
        headers: Vec<(String, String)>,
    },
    /// Send one event on an open stream.
    PushEvent {
        /// Which exchange.
        exchange: ExchangeId,
        /// The event.
        event: SseEvent,
    },
    /// End an open stream; the exchange is then over.
    CloseStream {
        /// Which exchange.
        exchange: ExchangeId,
    },
    /// Connect a backend: start its process (stdio) or open its HTTP connection. Either way
    /// its messages then flow as `WriteBackend` / `BackendLine`.
    SpawnBackend {
        /// Server name.
        backend: BackendKey,
        /// Incarnation to tag its events with.
        generation: Gen,
        /// What to run or where to connect.
        transport: TransportConfig,
    },
    /// Write one line (a JSON-RPC message, newline added by the driver) to a backend's stdin.
    WriteBackend {
        /// Server name.
        backend: BackendKey,
        /// Incarnation it is meant for; drop it if that one is gone.
        generation: Gen,
        /// The message.
        line: String,
    },
    /// Stop a backend: close stdin, then terminate and kill its process group.
    StopBackend {
        /// Server name.
        backend: BackendKey,
        /// Incarnation to stop.
        generation: Gen,
    },
}

/// Bodies are recorded as text when they are UTF-8, as a byte array otherwise.
mod body_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        Bytes(Vec<u8>),
    }

    pub fn serialize<S: Serializer>(body: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(body) {
            Ok(text) => Repr::Text(text.to_owned()).serialize(s),
            Err(_) => Repr::Bytes(body.to_vec()).serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(match Repr::deserialize(d)? {
            Repr::Text(text) => text.into_bytes(),
            Repr::Bytes(bytes) => bytes,
        })
    }
}
