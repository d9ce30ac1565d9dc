//! rmcp's streamable-HTTP client pointed at the daemon, and builders for fixture configs.

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation, InitializeRequestParams,
    JsonObject, ProtocolVersion,
};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::{HarnessError, STEP_TIMEOUT};

/// An initialised MCP client session with the daemon.
pub type McpClient = RunningService<RoleClient, ClientConfig>;

/// Connects to `url` with rmcp's streamable-HTTP client and completes the `initialize`
/// handshake, offering protocol version 2025-11-25, without a token (a daemon started by the
/// harness wants one: use [`crate::Daemon::mcp_client`]).
pub async fn mcp_client(url: &str) -> Result<McpClient, HarnessError> {
    mcp_client_with_version(url, ProtocolVersion::V_2025_11_25).await
}

/// Like [`mcp_client`], offering `protocol_version`.
pub async fn mcp_client_with_version(url: &str, protocol_version: ProtocolVersion) -> Result<McpClient, HarnessError> {
    connect(url, protocol_version, None).await
}

/// Like [`mcp_client_with_version`], presenting `token` (`Authorization: Bearer`) if given.
pub async fn mcp_client_with_token(
    url: &str,
    protocol_version: ProtocolVersion,
    token: Option<&str>,
) -> Result<McpClient, HarnessError> {
    connect(url, protocol_version, token).await
}

pub(crate) async fn connect(
    url: &str,
    protocol_version: ProtocolVersion,
    token: Option<&str>,
) -> Result<McpClient, HarnessError> {
    // Loopback only: never route the tests through a proxy from the environment.
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| HarnessError::McpHandshake(format!("building the HTTP client: {e}")))?;
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    let transport = StreamableHttpClientTransport::with_client(http, config);
    let client_config: ClientConfig = InitializeRequestParams::new(
        ClientCapabilities::default(),
        Implementation::new("onemcp-tests", env!("CARGO_PKG_VERSION")),
    )
    .with_protocol_version(protocol_version);
    match tokio::time::timeout(STEP_TIMEOUT, client_config.serve(transport)).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(HarnessError::McpHandshake(format!("{url}: {e}"))),
        Err(_) => Err(HarnessError::Timeout { what: format!("MCP initialize with {url}"), after: STEP_TIMEOUT }),
    }
}

/// `tools/call` parameters for `name` with JSON object `arguments`.
pub fn call_args(name: &str, arguments: Value) -> CallToolRequestParams {
    let params = CallToolRequestParams::new(name.to_owned());
    match arguments {
        Value::Object(map) => params.with_arguments(map),
        _ => params.with_arguments(JsonObject::new()),
    }
}

/// The concatenated text content of a tool result.
pub fn tool_text(result: &CallToolResult) -> String {
    let value = serde_json::to_value(result).unwrap_or(Value::Null);
    value["content"]
        .as_array()
        .map(|blocks| blocks.iter().filter_map(|block| block["text"].as_str()).collect::<Vec<_>>().join(""))
        .unwrap_or_default()
}

/// An `mcpServers` entry running the fixture binary `bin` as `--name name`, tagged
/// `["fixture", name]`, with `extra_args` appended.
pub fn fixture_backend(bin: &str, name: &str, extra_args: &[&str]) -> Value {
    let mut args = vec!["--name", name];
    args.extend_from_slice(extra_args);
    json!({
        "command": bin,
        "args": args,
        "tags": ["fixture", name],
    })
}

/// A complete `mcp.json` document with these `(name, entry)` servers.
pub fn mcp_config<'a>(servers: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    let servers: serde_json::Map<String, Value> =
        servers.into_iter().map(|(name, entry)| (name.to_owned(), entry)).collect();
    json!({ "mcpServers": servers })
}

/// The JSON-RPC error a request ended with; panics if it succeeded or failed another way.
pub fn json_rpc_error<T: std::fmt::Debug>(what: &str, result: Result<T, rmcp::ServiceError>) -> rmcp::ErrorData {
    match result {
        Err(rmcp::ServiceError::McpError(error)) => error,
        Err(other) => panic!("{what}: expected a JSON-RPC error, got {other}"),
        Ok(value) => panic!("{what}: expected a JSON-RPC error, got success {value:?}"),
    }
}
