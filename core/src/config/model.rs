//! The validated, fully resolved configuration the hub runs on.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// A whole `mcp.json`, after `serverDefaults` merging, substitution and validation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct McpConfig {
    /// Servers by name, in name order.
    pub servers: BTreeMap<String, ServerConfig>,
}

/// One entry of `mcpServers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerConfig {
    /// How to reach it.
    pub transport: TransportConfig,
    /// Tags for filtering (lower-cased).
    pub tags: Vec<String>,
    /// `disabled: true`: configured but not started.
    pub disabled: bool,
    /// Time allowed to start and initialize (`connectionTimeout`, else `timeout`).
    pub connection_timeout: Option<Duration>,
    /// Time allowed per request (`requestTimeout`, else `timeout`); progress restarts it.
    pub request_timeout: Option<Duration>,
    /// Hard limit on one request however much progress it reports (`maxTotalTimeout`,
    /// default ten request timeouts).
    pub max_total_timeout: Option<Duration>,
    /// Tools hidden from lists and refused when called (original names).
    pub disabled_tools: Vec<String>,
    /// Replacement tool descriptions by original tool name.
    pub tool_description_overrides: BTreeMap<String, String>,
    /// Replacement for the backend's `instructions` (`Some("")` suppresses them).
    pub instruction_override: Option<String>,
    /// Expose tool and prompt names as `<server>_1mcp_<name>` (default) or unchanged.
    pub prefix_names: bool,
    /// Restart policy for stdio servers.
    pub restart: RestartConfig,
    /// Run one instance per client session instead of one shared by all (`perSession`; the
    /// default for HTTP servers, where an instance is just an MCP session).
    pub per_session: Option<PerSessionConfig>,
    /// Which era of the protocol to speak to it (`protocol`). Recordings made before it
    /// existed load as sessions, which is what was spoken then.
    #[serde(default)]
    pub protocol: Protocol,
}

/// The era of the protocol 1mcp speaks to a server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    /// A session: `initialize`, then requests under the negotiated revision (2025-11-25 and
    /// older). The default of a configuration built in code; a config file's stdio server asks.
    #[default]
    Sessions,
    /// The stateless 2026-07-28 revision: `server/discover`, then every request carries its
    /// own `_meta` (revision, the calling client's capabilities and log level).
    Stateless,
    /// Ask: `server/discover` first, as the spec tells a dual-era client to; a server that
    /// answers with this revision is spoken to statelessly, any other answer (or none in time)
    /// means a session. The default of a config file's stdio servers.
    Auto,
}

impl Protocol {
    /// The value of `protocol` that selects it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Sessions => "legacy",
            Protocol::Stateless => "2026-07-28",
            Protocol::Auto => "auto",
        }
    }
}

/// Limits for per-session instances.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerSessionConfig {
    /// Most instances at once; sessions beyond it are refused for this server.
    pub max_instances: u32,
    /// An instance unused this long is stopped (the next request starts a new one).
    pub idle_timeout: Duration,
    /// Instances only while the server speaks sessions: the default of an HTTP server, where an
    /// instance is one more MCP session, so a server that turns out to speak the stateless
    /// revision (no sessions to keep apart) is shared. `perSession` in the config means always.
    pub only_with_sessions: bool,
}

impl Default for PerSessionConfig {
    fn default() -> Self {
        PerSessionConfig { max_instances: 32, idle_timeout: Duration::from_secs(300), only_with_sessions: false }
    }
}

impl ServerConfig {
    /// A stdio server running `command`, with every other setting at its default.
    pub fn stdio(command: &str) -> ServerConfig {
        ServerConfig {
            transport: TransportConfig::Stdio(LaunchSpec { command: command.to_owned(), ..LaunchSpec::default() }),
            tags: Vec::new(),
            disabled: false,
            connection_timeout: None,
            request_timeout: None,
            max_total_timeout: None,
            disabled_tools: Vec::new(),
            tool_description_overrides: BTreeMap::new(),
            instruction_override: None,
            prefix_names: true,
            restart: RestartConfig::default(),
            per_session: None,
            // Built in code (tests, the simulator): a session unless asked; a config file's
            // entries ask first (`protocol` defaults to "auto" there).
            protocol: Protocol::Sessions,
        }
    }
}

/// Transport of a server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TransportConfig {
    /// A child process speaking newline-delimited JSON-RPC on stdin/stdout.
    Stdio(LaunchSpec),
    /// A remote server over HTTP.
    Http(HttpConfig),
}

/// Exactly what to run for a stdio server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchSpec {
    /// Program to execute (looked up in `PATH` of the child's environment).
    pub command: String,
    /// Arguments.
    pub args: Vec<String>,
    /// The child's complete environment (nothing else is inherited).
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub cwd: Option<String>,
}

/// A remote server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpConfig {
    /// Endpoint URL.
    pub url: String,
    /// Which HTTP transport to speak.
    pub flavor: HttpFlavor,
    /// Extra request headers.
    pub headers: BTreeMap<String, String>,
    /// OAuth toward the server when it asks for it (1MCP's `oauth` block); `None`: defaults.
    #[serde(default)]
    pub oauth: Option<OAuthConfig>,
}

/// OAuth toward a protected HTTP server (1MCP's `oauth` block). Everything is optional: by
/// default 1mcp registers itself with the server's authorization server and asks for the
/// scopes the server names.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthConfig {
    /// A client registered beforehand with the authorization server (skips registration).
    pub client_id: Option<String>,
    /// Its secret, for a confidential client. Never shown.
    pub client_secret: Option<String>,
    /// Scopes to ask for instead of the ones the server names.
    pub scopes: Vec<String>,
    /// Whether 1mcp may register itself (1MCP's `autoRegister`).
    pub auto_register: bool,
    /// Where the authorization server sends the user back, instead of the daemon's own
    /// `/oauth/callback/<server>` (behind a proxy, say).
    pub redirect_url: Option<String>,
    /// The `https://` URL of a Client ID Metadata Document naming 1mcp, used as its client id
    /// where the authorization server accepts them (instead of registering). Default: the
    /// daemon's own document when its external URL is `https://`.
    pub client_metadata_url: Option<String>,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        OAuthConfig {
            client_id: None,
            client_secret: None,
            scopes: Vec::new(),
            auto_register: true,
            redirect_url: None,
            client_metadata_url: None,
        }
    }
}

impl std::fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<set>"))
            .field("scopes", &self.scopes)
            .field("auto_register", &self.auto_register)
            .field("redirect_url", &self.redirect_url)
            .field("client_metadata_url", &self.client_metadata_url)
            .finish()
    }
}

/// HTTP transport variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpFlavor {
    /// Streamable HTTP, falling back to legacy SSE per the spec's probe.
    Auto,
    /// Streamable HTTP only (`type: "http"` / `"streamableHttp"`).
    Streamable,
    /// Legacy HTTP+SSE only (`type: "sse"`).
    Sse,
}

/// Supervision settings (1MCP's `restartOnExit`, `maxRestarts`, `restartDelay`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartConfig {
    /// Restart a stdio server when it exits.
    pub restart_on_exit: bool,
    /// Restarts before giving up; 0 means unlimited.
    pub max_restarts: u32,
    /// First delay; later ones back off exponentially.
    pub restart_delay: Duration,
}

impl Default for RestartConfig {
    fn default() -> Self {
        RestartConfig { restart_on_exit: true, max_restarts: 5, restart_delay: Duration::from_millis(1000) }
    }
}
