//! A small MCP server over stdio, built with the official Rust SDK (rmcp), used as a backend in
//! the end-to-end tests. Every output names the server (`--name`), so a test can tell which
//! backend answered. Fault modes (`--exit-at-start`, `--garbage`, `--stderr-noise`, `--start-delay`) let tests
//! check how the gateway copes with misbehaving children.

// Logging (`logging/setLevel`) is deprecated by SEP-2577 but still part of the legacy protocol
// revisions the gateway serves, so the fixture keeps offering it.
#![allow(deprecated)]

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult, CompletionInfo,
    ContentBlock, GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation, JsonObject,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    Prompt, PromptArgument, PromptMessage, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, ResourceTemplate, Role, ServerCapabilities, ServerConfig, SetLevelRequestParams, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};

/// Names offered by the `greeting` prompt's `name` completion.
const GREETING_NAMES: [&str; 3] = ["alice", "bob", "carol"];

/// What `getenv` answers for a variable that is not set.
const UNSET: &str = "(unset)";

/// Command-line settings of the fixture.
#[derive(Debug, Clone)]
struct FixtureConfig {
    name: String,
    exit_at_start: Option<u8>,
    garbage: bool,
    stderr_noise: usize,
    instructions: Option<String>,
    many_tools: usize,
    start_delay_ms: u64,
    huge_line_mb: usize,
}

impl FixtureConfig {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut config = FixtureConfig {
            name: "fixture".to_owned(),
            exit_at_start: None,
            garbage: false,
            stderr_noise: 0,
            instructions: None,
            many_tools: 0,
            start_delay_ms: 0,
            huge_line_mb: 0,
        };
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| args.next().ok_or_else(|| format!("{flag} needs a value"));
            match arg.as_str() {
                "--name" => config.name = value("--name")?,
                "--exit-at-start" => {
                    let code = value("--exit-at-start")?;
                    config.exit_at_start = Some(code.parse().map_err(|e| format!("--exit-at-start {code}: {e}"))?);
                }
                "--garbage" => config.garbage = true,
                "--stderr-noise" => {
                    let n = value("--stderr-noise")?;
                    config.stderr_noise = n.parse().map_err(|e| format!("--stderr-noise {n}: {e}"))?;
                }
                "--instructions" => config.instructions = Some(value("--instructions")?),
                "--many-tools" => {
                    let n = value("--many-tools")?;
                    config.many_tools = n.parse().map_err(|e| format!("--many-tools {n}: {e}"))?;
                }
                "--huge-line" => {
                    let mb = value("--huge-line")?;
                    config.huge_line_mb = mb.parse().map_err(|e| format!("--huge-line {mb}: {e}"))?;
                }
                "--start-delay" => {
                    let ms = value("--start-delay")?;
                    config.start_delay_ms = ms.parse().map_err(|e| format!("--start-delay {ms}: {e}"))?;
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(config)
    }
}

/// The MCP server handler: tools, prompts, resources, completions and logging, all named.
#[derive(Debug, Clone)]
struct FixtureServer {
    config: Arc<FixtureConfig>,
}

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

fn text_result(text: impl Into<String>) -> Result<CallToolResponse, McpError> {
    Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
}

fn argument<'a>(arguments: &'a JsonObject, key: &str) -> Result<&'a Value, McpError> {
    arguments.get(key).ok_or_else(|| McpError::invalid_params(format!("missing argument {key:?}"), None))
}

fn number_argument(arguments: &JsonObject, key: &str) -> Result<f64, McpError> {
    argument(arguments, key)?
        .as_f64()
        .ok_or_else(|| McpError::invalid_params(format!("argument {key:?} must be a number"), None))
}

impl FixtureServer {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn tools(&self) -> Vec<Tool> {
        let mut tools = vec![
            Tool::new(
                "echo",
                format!("Echo text back, prefixed with {}", self.name()),
                schema(json!({
                    "type": "object",
                    "properties": {"text": {"type": "string"}},
                    "required": ["text"]
                })),
            ),
            Tool::new(
                "add",
                "Add two numbers",
                schema(json!({
                    "type": "object",
                    "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                    "required": ["a", "b"]
                })),
            ),
            Tool::new(
                "sleep",
                "Sleep for ms milliseconds, then answer",
                schema(json!({
                    "type": "object",
                    "properties": {"ms": {"type": "integer", "minimum": 0}},
                    "required": ["ms"]
                })),
            ),
            Tool::new(
                "fail",
                "Always answers with a JSON-RPC error",
                schema(json!({"type": "object", "properties": {}})),
            ),
            Tool::new("whoami", "Answer with the server name", schema(json!({"type": "object", "properties": {}}))),
            Tool::new("pid", "Answer with this process's id", schema(json!({"type": "object", "properties": {}}))),
            Tool::new(
                "freeze",
                "Stop this whole process (SIGSTOP): it neither reads nor answers any more",
                schema(json!({"type": "object", "properties": {}})),
            ),
            Tool::new(
                "getenv",
                "Answer with the value of an environment variable, or (unset)",
                schema(json!({
                    "type": "object",
                    "properties": {"name": {"type": "string"}},
                    "required": ["name"]
                })),
            ),
            Tool::new(
                "hidden",
                "A tool that configs hide with disabledTools",
                schema(json!({"type": "object", "properties": {}})),
            ),
        ];
        tools.extend((0..self.config.many_tools).map(|i| {
            Tool::new(
                format!("t{i}"),
                format!("Numbered tool {i}"),
                schema(json!({"type": "object", "properties": {}})),
            )
        }));
        tools
    }

    fn readme_uri(&self) -> String {
        format!("fixture://{}/readme", self.name())
    }

    fn items_prefix(&self) -> String {
        format!("fixture://{}/items/", self.name())
    }
}

impl ServerHandler for FixtureServer {
    fn get_info(&self) -> ServerConfig {
        let instructions =
            self.config.instructions.clone().unwrap_or_else(|| format!("{} fixture instructions", self.name()));
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .enable_completions()
                .enable_logging()
                .build(),
        )
        .with_server_info(Implementation::new(format!("fixture-{}", self.name()), env!("CARGO_PKG_VERSION")))
        .with_instructions(instructions)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let arguments = request.arguments.unwrap_or_default();
        let name = self.name();
        match request.name.as_ref() {
            "echo" => {
                let text = argument(&arguments, "text")?
                    .as_str()
                    .ok_or_else(|| McpError::invalid_params("argument \"text\" must be a string", None))?;
                text_result(format!("{name}: {text}"))
            }
            "add" => {
                let sum = number_argument(&arguments, "a")? + number_argument(&arguments, "b")?;
                text_result(sum.to_string())
            }
            "sleep" => {
                let ms = argument(&arguments, "ms")?
                    .as_u64()
                    .ok_or_else(|| McpError::invalid_params("argument \"ms\" must be a non-negative integer", None))?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                text_result(format!("slept {ms}"))
            }
            "fail" => Err(McpError::internal_error(format!("{name} refused: fail was called"), None)),
            "whoami" => text_result(name),
            "pid" => text_result(std::process::id().to_string()),
            "freeze" => {
                let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::STOP);
                text_result("thawed".to_owned())
            }
            "getenv" => {
                let variable = argument(&arguments, "name")?
                    .as_str()
                    .ok_or_else(|| McpError::invalid_params("argument \"name\" must be a string", None))?;
                text_result(std::env::var(variable).unwrap_or_else(|_| UNSET.to_owned()))
            }
            "hidden" => text_result(format!("{name}: hidden tool called")),
            other => match other.strip_prefix('t').and_then(|n| n.parse::<usize>().ok()) {
                Some(i) if i < self.config.many_tools => text_result(format!("{name}: t{i}")),
                _ => Err(McpError::invalid_params(format!("{name}: unknown tool {other:?}"), None)),
            },
        }
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let greeting = Prompt::new(
            "greeting",
            Some(format!("A greeting from {}", self.name())),
            Some(vec![PromptArgument::new("name").with_description("Who to greet").with_required(true)]),
        );
        Ok(ListPromptsResult::with_all_items(vec![greeting]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        if request.name != "greeting" {
            return Err(McpError::invalid_params(format!("{}: unknown prompt {:?}", self.name(), request.name), None));
        }
        let arguments = request.arguments.unwrap_or_default();
        let who = argument(&arguments, "name")?
            .as_str()
            .ok_or_else(|| McpError::invalid_params("argument \"name\" must be a string", None))?;
        let message = PromptMessage::new_text(Role::User, format!("Hello {who} from {}", self.name()));
        Ok(GetPromptResult::new(vec![message]).with_description(format!("A greeting from {}", self.name())).into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let readme = Resource::new(self.readme_uri(), format!("{}-readme", self.name()))
            .with_description(format!("The readme of {}", self.name()))
            .with_mime_type("text/plain");
        Ok(ListResourcesResult::with_all_items(vec![readme]))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let items = ResourceTemplate::new(format!("{}{{id}}", self.items_prefix()), format!("{}-items", self.name()))
            .with_description(format!("Items of {}", self.name()))
            .with_mime_type("text/plain");
        Ok(ListResourceTemplatesResult::with_all_items(vec![items]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri;
        let text = if uri == self.readme_uri() {
            format!("readme of {}", self.name())
        } else if let Some(id) = uri.strip_prefix(&self.items_prefix()).filter(|id| !id.is_empty()) {
            format!("item {id} of {}", self.name())
        } else {
            return Err(McpError::resource_not_found(format!("{}: no resource {uri}", self.name()), None));
        };
        Ok(ReadResourceResult::new(vec![ResourceContents::text(text, uri)]).into())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let values = match (request.r#ref.as_prompt_name(), request.argument.name.as_str()) {
            (Some("greeting"), "name") => GREETING_NAMES
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let config = match FixtureConfig::parse(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("fixture-server: {message}");
            return ExitCode::from(64);
        }
    };
    if let Some(code) = config.exit_at_start {
        eprintln!("fixture-server {}: exiting at start with code {code}", config.name);
        return ExitCode::from(code);
    }
    {
        let mut stderr = std::io::stderr().lock();
        for i in 0..config.stderr_noise {
            // A closed stderr must not stop the fixture from serving.
            let _ = writeln!(stderr, "fixture-server {}: noise line {i}", config.name);
        }
    }
    if config.huge_line_mb > 0 {
        // One enormous line (a server dumping a blob to stdout): the gateway must not buffer it.
        let mut stdout = std::io::stdout().lock();
        let chunk = vec![b'x'; 1024 * 1024];
        for _ in 0..config.huge_line_mb {
            let _ = stdout.write_all(&chunk);
        }
        let _ = stdout.write_all(b"\n");
        let _ = stdout.flush();
    }
    if config.start_delay_ms > 0 {
        // A server that takes a while before it reads stdin (npx downloading, a JVM warming up).
        tokio::time::sleep(std::time::Duration::from_millis(config.start_delay_ms)).await;
    }
    if config.garbage {
        let mut stdout = std::io::stdout().lock();
        let junk = [
            "this is not JSON".to_owned(),
            format!("{} says hello on stdout", config.name),
            "{ broken json".to_owned(),
        ];
        for line in junk {
            let _ = writeln!(stdout, "{line}");
        }
        let _ = stdout.flush();
    }
    let name = config.name.clone();
    let server = FixtureServer { config: Arc::new(config) };
    let running = match server.serve(rmcp::transport::stdio()).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!("fixture-server {name}: initialization failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    match running.waiting().await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fixture-server {name}: {e}");
            ExitCode::FAILURE
        }
    }
}
