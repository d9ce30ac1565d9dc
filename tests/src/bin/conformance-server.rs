//! The MCP server the official conformance suite (`@modelcontextprotocol/conformance`) expects,
//! built with the official Rust SDK (rmcp). It exposes exactly the tools, resources, prompts and
//! behaviours the suite's server scenarios look for by name (the suite's reference
//! "everything-server"), so the suite can be run against it directly and through `1mcp`.
//!
//! It is dual-era: a legacy client (revisions up to 2025-11-25) opens a session with
//! `initialize`; a modern one (2026-07-28) sends requests carrying their own `_meta` and is
//! served statelessly, with `server/discover`, `subscriptions/listen` and, instead of
//! server-to-client requests, `InputRequiredResult` (MRTR). Both on one endpoint, and both on
//! stdio, where the first line decides.
//!
//! Modes: stdio (the default; how `1mcp` runs it as a backend) and `--http PORT` (streamable HTTP
//! on 127.0.0.1; port 0 picks a free port). In HTTP mode the first line on stdout is
//! `listening on http://127.0.0.1:PORT/mcp`.

// Sampling, elicitation, logging and resources/subscribe are deprecated by SEP-2577 but are part
// of the legacy protocol revisions (2025-11-25 and earlier) the suite scores.
#![allow(deprecated)]

#[macro_use]
#[path = "conformance_server/wire.rs"]
mod wire;

#[path = "conformance_server/catalog.rs"]
mod catalog;
#[path = "conformance_server/client_input.rs"]
mod client_input;
#[path = "conformance_server/dialogues.rs"]
mod dialogues;
#[path = "conformance_server/era.rs"]
mod era;
#[path = "conformance_server/fixed_content.rs"]
mod fixed_content;
#[path = "conformance_server/listen_streams.rs"]
mod listen_streams;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult, CompletionInfo,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel, PaginatedRequestParams,
    ProgressNotificationParam, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, ServerCapabilities,
    ServerConfig, SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter, Tool, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};

use client_input::{Origin, Outcome, Retry, StateSeal, converse};
use dialogues::Dialogue;
use era::{Era, log};
use listen_streams::{ListChange, ListenStreams};

/// Values offered for `test_prompt_with_arguments`'s `arg1` completion.
const ARG1_VALUES: [&str; 3] = ["paris", "park", "party"];

/// Pause between the notifications of the logging and progress tools (the suite's ~50 ms).
const STEP_PAUSE: Duration = Duration::from_millis(50);

/// A complete `tools/call` result from wire JSON.
fn tool_result(value: Value) -> Result<CallToolResponse, McpError> {
    Ok(complete!(CallToolResult, value)?.into())
}

/// One per process: every request (each stateless HTTP request gets its own handler value)
/// shares the listen streams and the key that seals `requestState`.
#[derive(Debug, Clone)]
struct ConformanceServer {
    listeners: Arc<ListenStreams>,
    seal: Arc<StateSeal>,
}

impl ConformanceServer {
    fn new() -> std::io::Result<ConformanceServer> {
        Ok(ConformanceServer { listeners: Arc::default(), seal: Arc::new(StateSeal::with_random_key()?) })
    }

    async fn logging_tool(&self, context: &RequestContext<RoleServer>) -> Result<CallToolResponse, McpError> {
        log(context, LoggingLevel::Info, "Tool execution started").await;
        tokio::time::sleep(STEP_PAUSE).await;
        log(context, LoggingLevel::Info, "Tool processing data").await;
        tokio::time::sleep(STEP_PAUSE).await;
        log(context, LoggingLevel::Info, "Tool execution completed").await;
        tool_result(fixed_content::text("Tool with logging executed successfully"))
    }

    async fn progress_tool(&self, context: &RequestContext<RoleServer>) -> Result<CallToolResponse, McpError> {
        let token = context.meta.get_progress_token();
        for (step, progress) in [0.0, 50.0, 100.0].into_iter().enumerate() {
            if step > 0 {
                tokio::time::sleep(STEP_PAUSE).await;
            }
            if let Some(token) = &token {
                let param = ProgressNotificationParam::new(token.clone(), progress)
                    .with_total(100.0)
                    .with_message(format!("Completed step {progress} of 100"));
                let _ = context.peer.notify_progress(param).await;
            }
        }
        let echoed = token.map(|t| serde_json::to_value(&t).unwrap_or(Value::Null)).unwrap_or(json!(0));
        tool_result(fixed_content::text(match echoed {
            Value::String(s) => s,
            other => other.to_string(),
        }))
    }

    /// Announces a list change to the open listen streams and, on a legacy session, to the
    /// session itself (the lists do not actually change).
    async fn trigger(
        &self,
        change: ListChange,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let streams = self.listeners.announce(change).await;
        if Era::of(context) == Era::Legacy {
            let _ = match change {
                ListChange::Tools => context.peer.notify_tool_list_changed().await,
                ListChange::Prompts => context.peer.notify_prompt_list_changed().await,
            };
        }
        tool_result(fixed_content::text(format!("{change:?} list change announced to {streams} listen stream(s)")))
    }

    /// Runs a tool's dialogue with the client (see `client_input`).
    async fn converse_tool(
        &self,
        dialogue: Dialogue,
        origin: &Origin<'_>,
        retry: Retry,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        match converse(&self.seal, context, origin, retry, |turn| dialogue.step(turn)).await? {
            Outcome::Done(result) => tool_result(result),
            Outcome::InputRequired(result) => Ok(result.into()),
            Outcome::ClientFailed { capability, error } => tool_result(fixed_content::tool_error(format!(
                "{} not supported or error: {error}",
                capability.label()
            ))),
        }
    }
}

impl ServerHandler for ConformanceServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_prompts()
                .enable_prompts_list_changed()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_resources_list_changed()
                .enable_completions()
                .enable_logging()
                .build(),
        )
        .with_server_info(Implementation::new("mcp-conformance-test-server", env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(catalog::tools()))
    }

    /// The tool's schema, so rmcp checks `Mcp-Param-*` headers against its `x-mcp-header`s.
    fn get_tool(&self, name: &str) -> Option<Tool> {
        catalog::tools().into_iter().find(|tool| tool.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let arguments = request.arguments.unwrap_or_default();
        let name = request.name.as_ref();
        if let Some(result) = fixed_content::tool_result(name, &arguments) {
            return tool_result(result);
        }
        match name {
            "test_tool_with_logging" | "test_logging_tool" => return self.logging_tool(&context).await,
            "test_tool_with_progress" => return self.progress_tool(&context).await,
            "test_trigger_tool_change" => return self.trigger(ListChange::Tools, &context).await,
            "test_trigger_prompt_change" => return self.trigger(ListChange::Prompts, &context).await,
            _ => {}
        }
        let Some(dialogue) = Dialogue::for_tool(name, &arguments)? else {
            return Err(McpError::invalid_params(format!("unknown tool {name:?}"), None));
        };
        let origin = Origin { method: "tools/call", name, arguments: &arguments };
        let retry = Retry { input_responses: request.input_responses, request_state: request.request_state };
        self.converse_tool(dialogue, &origin, retry, &context).await
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(catalog::prompts()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let arguments = request.arguments.unwrap_or_default();
        if let Some(result) = fixed_content::prompt_result(&request.name, &arguments)? {
            return Ok(complete!(GetPromptResult, result)?.into());
        }
        let Some(dialogue) = Dialogue::for_prompt(&request.name) else {
            return Err(McpError::invalid_params(format!("unknown prompt {:?}", request.name), None));
        };
        let origin = Origin { method: "prompts/get", name: &request.name, arguments: &arguments };
        let retry = Retry { input_responses: request.input_responses, request_state: request.request_state };
        match converse(&self.seal, &context, &origin, retry, |turn| dialogue.step(turn)).await? {
            Outcome::Done(result) => Ok(complete!(GetPromptResult, result)?.into()),
            Outcome::InputRequired(result) => Ok(result.into()),
            Outcome::ClientFailed { capability, error } => {
                Err(McpError::internal_error(format!("{} request failed: {error}", capability.label()), None))
            }
        }
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult::with_all_items(catalog::resources()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![catalog::resource_template()]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let contents = fixed_content::resource_contents(&request.uri)?;
        Ok(complete!(ReadResourceResult, contents)?.into())
    }

    /// Every kind of notification the capabilities advertise (rmcp narrows the request to those).
    fn accepted_subscription_filter(&self, requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        Some(requested.clone())
    }

    async fn listen(&self, subscription: SubscriptionContext) -> Result<(), McpError> {
        self.listeners.serve(subscription).await;
        Ok(())
    }

    async fn subscribe(
        &self,
        _request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        Ok(())
    }

    async fn unsubscribe(
        &self,
        _request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        Ok(())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let values = match (request.r#ref.as_prompt_name(), request.argument.name.as_str()) {
            (Some("test_prompt_with_arguments"), "arg1") => ARG1_VALUES
                .iter()
                .filter(|candidate| candidate.starts_with(&request.argument.value))
                .map(|candidate| (*candidate).to_owned())
                .collect(),
            _ => Vec::new(),
        };
        let completion =
            CompletionInfo::with_all_values(values).map_err(|e| McpError::internal_error(e.to_string(), None))?;
        Ok(CompleteResult::new(completion))
    }

    async fn set_level(
        &self,
        _request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        Ok(())
    }
}

async fn serve_stdio(server: ConformanceServer) -> ExitCode {
    let running = match server.serve(rmcp::transport::stdio()).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!("conformance-server: initialization failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    match running.waiting().await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_http(server: ConformanceServer, port: u16) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("conformance-server: cannot bind 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    // Loopback only: Host is checked (rmcp's default allow-list) and so is Origin, which the
    // suite's DNS-rebinding scenario sends alongside a foreign Host.
    let config = StreamableHttpServerConfig::default().with_allowed_origins([
        "http://localhost:*",
        "http://127.0.0.1:*",
        "http://[::1]:*",
    ]);
    let service: StreamableHttpService<ConformanceServer, LocalSessionManager> =
        StreamableHttpService::new(move || Ok(server.clone()), Arc::default(), config);
    let mut router = axum::Router::new().nest_service("/mcp", service);
    // For tests of what a proxy forwards: one line per request, naming its Authorization.
    if let Some(path) = std::env::var_os("CONFORMANCE_SERVER_REQUEST_LOG") {
        let path = std::path::PathBuf::from(path);
        router = router.layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let line = format!(
                    "{} {} authorization={}\n",
                    request.method(),
                    request.uri().path(),
                    request.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("none")
                );
                if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(&path) {
                    let _ = file.write_all(line.as_bytes());
                }
                next.run(request)
            },
        ));
    }
    {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "listening on http://127.0.0.1:{port}/mcp");
        let _ = stdout.flush();
    }
    match axum::serve(listener, router).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance-server: {e}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let server = match ConformanceServer::new() {
        Ok(server) => server,
        Err(e) => {
            eprintln!("conformance-server: no key for requestState: {e}");
            return ExitCode::FAILURE;
        }
    };
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => serve_stdio(server).await,
        ["--http", port] => match port.parse() {
            Ok(port) => serve_http(server, port).await,
            Err(e) => {
                eprintln!("conformance-server: --http {port}: {e}");
                ExitCode::from(64)
            }
        },
        other => {
            eprintln!("conformance-server: unknown arguments {other:?}; usage: conformance-server [--http PORT]");
            ExitCode::from(64)
        }
    }
}
