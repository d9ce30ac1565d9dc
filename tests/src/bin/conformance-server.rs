//! The MCP server the official conformance suite (`@modelcontextprotocol/conformance`) expects,
//! built with the official Rust SDK (rmcp). It exposes exactly the tools, resources, prompts and
//! behaviours the suite's server scenarios look for by name (the suite's reference
//! "everything-server"), so the suite can be run against it directly and through `1mcp`.
//!
//! Modes: stdio (the default; how `1mcp` runs it as a backend) and `--http PORT` (streamable HTTP
//! on 127.0.0.1; port 0 picks a free port). In HTTP mode the first line on stdout is
//! `listening on http://127.0.0.1:PORT/mcp`.

// Sampling, elicitation, logging and resources/subscribe are deprecated by SEP-2577 but are part
// of the legacy protocol revisions (2025-11-25 and earlier) the suite scores.
#![allow(deprecated)]

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult, CompletionInfo,
    CreateMessageRequestParams, ElicitRequestParams, GetPromptRequestParams, GetPromptResponse, GetPromptResult,
    Implementation, JsonObject, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    LoggingLevel, LoggingMessageNotificationParam, PaginatedRequestParams, ProgressNotificationParam, Prompt,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource, ResourceTemplate,
    ServerCapabilities, ServerConfig, SetLevelRequestParams, SubscribeRequestParams, Tool, UnsubscribeRequestParams,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};

/// A 1x1 red PNG (the suite's reference image).
const TEST_IMAGE_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A minimal WAV file (the suite's reference audio).
const TEST_AUDIO_BASE64: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

const STATIC_TEXT_URI: &str = "test://static-text";
const STATIC_BINARY_URI: &str = "test://static-binary";
const WATCHED_URI: &str = "test://watched-resource";
const TEMPLATE_PREFIX: &str = "test://template/";
const TEMPLATE_SUFFIX: &str = "/data";

/// Values offered for `test_prompt_with_arguments`'s `arg1` completion.
const ARG1_VALUES: [&str; 3] = ["paris", "park", "party"];

/// Pause between the notifications of the logging and progress tools (the suite's ~50 ms).
const STEP_PAUSE: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Default)]
struct ConformanceServer;

/// Deserialises a wire-shaped JSON value into an rmcp model type, so every result below reads
/// exactly like the JSON the suite expects.
macro_rules! wire {
    ($type:ty, $value:expr) => {
        serde_json::from_value::<$type>($value)
            .map_err(|e| McpError::internal_error(format!("fixture built bad JSON: {e}"), None))
    };
}

fn object_schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

fn no_arguments() -> Arc<JsonObject> {
    object_schema(json!({"type": "object", "properties": {}}))
}

fn tool_result(value: Value) -> Result<CallToolResponse, McpError> {
    Ok(wire!(CallToolResult, value)?.into())
}

fn text_result(text: impl Into<String>) -> Result<CallToolResponse, McpError> {
    tool_result(json!({"content": [{"type": "text", "text": text.into()}]}))
}

fn string_argument(arguments: &JsonObject, key: &str) -> Result<String, McpError> {
    arguments
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| McpError::invalid_params(format!("argument {key:?} must be a string"), None))
}

/// The SEP-1613 / SEP-2106 input schema whose keywords must survive `tools/list` untouched.
fn json_schema_2020_12() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "$anchor": "addressDef",
                "type": "object",
                "properties": {"street": {"type": "string"}, "city": {"type": "string"}}
            }
        },
        "properties": {
            "name": {"type": "string"},
            "address": {"$ref": "#/$defs/address"},
            "contactMethod": {"type": "string", "enum": ["phone", "email"]},
            "phone": {"type": "string"},
            "email": {"type": "string"}
        },
        "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
        "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
        "then": {"required": ["phone"]},
        "else": {"required": ["email"]},
        "additionalProperties": false
    })
}

fn tools() -> Vec<Tool> {
    let plain = |name: &'static str, description: &'static str| Tool::new(name, description, no_arguments());
    vec![
        plain("test_simple_text", "Tests simple text content response"),
        plain("test_image_content", "Tests image content response"),
        plain("test_audio_content", "Tests audio content response"),
        plain("test_embedded_resource", "Tests embedded resource content response"),
        plain("test_multiple_content_types", "Tests response with multiple content types (text, image, resource)"),
        plain("test_tool_with_logging", "Tests tool that emits log messages during execution"),
        plain("test_tool_with_progress", "Tests tool that reports progress notifications"),
        plain("test_error_handling", "Tests error response handling"),
        Tool::new(
            "test_sampling",
            "Tests server-initiated sampling (LLM completion request)",
            object_schema(json!({
                "type": "object",
                "properties": {"prompt": {"type": "string", "description": "The prompt to send to the LLM"}},
                "required": ["prompt"]
            })),
        ),
        Tool::new(
            "test_elicitation",
            "Tests server-initiated elicitation (user input request)",
            object_schema(json!({
                "type": "object",
                "properties": {"message": {"type": "string", "description": "The message to show the user"}},
                "required": ["message"]
            })),
        ),
        plain("test_elicitation_sep1034_defaults", "Tests elicitation with default values per SEP-1034"),
        plain("test_elicitation_sep1330_enums", "Tests elicitation with enum schema improvements per SEP-1330"),
        Tool::new(
            "json_schema_2020_12_tool",
            "Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
            object_schema(json_schema_2020_12()),
        ),
    ]
}

fn prompts() -> Vec<Prompt> {
    let argument = |name: &str, description: &str| {
        rmcp::model::PromptArgument::new(name).with_description(description).with_required(true)
    };
    vec![
        Prompt::new("test_simple_prompt", Some("A simple prompt without arguments"), None)
            .with_title("Simple Test Prompt"),
        Prompt::new(
            "test_prompt_with_arguments",
            Some("A prompt with required arguments"),
            Some(vec![argument("arg1", "First test argument"), argument("arg2", "Second test argument")]),
        )
        .with_title("Prompt With Arguments"),
        Prompt::new(
            "test_prompt_with_embedded_resource",
            Some("A prompt that includes an embedded resource"),
            Some(vec![argument("resourceUri", "URI of the resource to embed")]),
        )
        .with_title("Prompt With Embedded Resource"),
        Prompt::new("test_prompt_with_image", Some("A prompt that includes image content"), None)
            .with_title("Prompt With Image"),
    ]
}

fn resources() -> Vec<Resource> {
    let resource = |uri: &str, name: &str, title: &str, description: &str, mime: &str| {
        Resource::new(uri, name).with_title(title).with_description(description).with_mime_type(mime)
    };
    vec![
        resource(
            STATIC_TEXT_URI,
            "static-text",
            "Static Text Resource",
            "A static text resource for testing",
            "text/plain",
        ),
        resource(
            STATIC_BINARY_URI,
            "static-binary",
            "Static Binary Resource",
            "A static binary resource (image) for testing",
            "image/png",
        ),
        resource(
            WATCHED_URI,
            "watched-resource",
            "Watched Resource",
            "A resource clients can subscribe to",
            "text/plain",
        ),
    ]
}

/// Sends a `notifications/message` at info level; a closed peer only loses the log line.
async fn log_info(context: &RequestContext<RoleServer>, text: &str) {
    let param =
        LoggingMessageNotificationParam::new(LoggingLevel::Info, json!(text)).with_logger("conformance-test-server");
    let _ = context.peer.notify_logging_message(param).await;
}

/// The text of a sampling or elicitation answer, for the tool result.
fn sampled_text(result: &Value) -> String {
    let content = &result["content"];
    let text = content["text"].as_str().or_else(|| content[0]["text"].as_str());
    text.unwrap_or("No response").to_owned()
}

impl ConformanceServer {
    async fn logging_tool(&self, context: &RequestContext<RoleServer>) -> Result<CallToolResponse, McpError> {
        log_info(context, "Tool execution started").await;
        tokio::time::sleep(STEP_PAUSE).await;
        log_info(context, "Tool processing data").await;
        tokio::time::sleep(STEP_PAUSE).await;
        log_info(context, "Tool execution completed").await;
        text_result("Tool with logging executed successfully")
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
        text_result(match echoed {
            Value::String(s) => s,
            other => other.to_string(),
        })
    }

    async fn sampling_tool(
        &self,
        arguments: &JsonObject,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let prompt = string_argument(arguments, "prompt")?;
        let params = wire!(
            CreateMessageRequestParams,
            json!({
                "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
                "maxTokens": 100
            })
        )?;
        match context.peer.create_message(params).await {
            Ok(result) => {
                let result = serde_json::to_value(&result).unwrap_or(Value::Null);
                text_result(format!("LLM response: {}", sampled_text(&result)))
            }
            Err(e) => tool_result(json!({
                "content": [{"type": "text", "text": format!("Sampling not supported or error: {e}")}],
                "isError": true
            })),
        }
    }

    async fn elicit(
        &self,
        context: &RequestContext<RoleServer>,
        params: Value,
        label: &str,
    ) -> Result<CallToolResponse, McpError> {
        let params = wire!(ElicitRequestParams, params)?;
        match context.peer.create_elicitation(params).await {
            Ok(result) => {
                let result = serde_json::to_value(&result).unwrap_or(Value::Null);
                let action = result["action"].as_str().unwrap_or("unknown");
                let content = result.get("content").cloned().unwrap_or_else(|| json!({}));
                text_result(format!("{label}: action={action}, content={content}"))
            }
            Err(e) => tool_result(json!({
                "content": [{"type": "text", "text": format!("Elicitation not supported or error: {e}")}],
                "isError": true
            })),
        }
    }
}

fn elicitation_params(arguments: &JsonObject) -> Result<Value, McpError> {
    Ok(json!({
        "message": string_argument(arguments, "message")?,
        "requestedSchema": {
            "type": "object",
            "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"}
            },
            "required": ["username", "email"]
        }
    }))
}

fn sep1034_params() -> Value {
    json!({
        "message": "Please review and update the form fields with defaults",
        "requestedSchema": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "User name", "default": "John Doe"},
                "age": {"type": "integer", "description": "User age", "default": 30},
                "score": {"type": "number", "description": "User score", "default": 95.5},
                "status": {
                    "type": "string",
                    "description": "User status",
                    "enum": ["active", "inactive", "pending"],
                    "default": "active"
                },
                "verified": {"type": "boolean", "description": "Verification status", "default": true}
            },
            "required": []
        }
    })
}

fn sep1330_params() -> Value {
    json!({
        "message": "Please select options from the enum fields",
        "requestedSchema": {
            "type": "object",
            "properties": {
                "untitledSingle": {
                    "type": "string",
                    "description": "Select one option",
                    "enum": ["option1", "option2", "option3"]
                },
                "titledSingle": {
                    "type": "string",
                    "description": "Select one option with titles",
                    "oneOf": [
                        {"const": "value1", "title": "First Option"},
                        {"const": "value2", "title": "Second Option"},
                        {"const": "value3", "title": "Third Option"}
                    ]
                },
                "legacyEnum": {
                    "type": "string",
                    "description": "Select one option (legacy)",
                    "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"]
                },
                "untitledMulti": {
                    "type": "array",
                    "description": "Select multiple options",
                    "minItems": 1,
                    "maxItems": 3,
                    "items": {"type": "string", "enum": ["option1", "option2", "option3"]}
                },
                "titledMulti": {
                    "type": "array",
                    "description": "Select multiple options with titles",
                    "minItems": 1,
                    "maxItems": 3,
                    "items": {
                        "anyOf": [
                            {"const": "value1", "title": "First Choice"},
                            {"const": "value2", "title": "Second Choice"},
                            {"const": "value3", "title": "Third Choice"}
                        ]
                    }
                }
            },
            "required": []
        }
    })
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
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let arguments = request.arguments.unwrap_or_default();
        match request.name.as_ref() {
            "test_simple_text" => text_result("This is a simple text response for testing."),
            "test_image_content" => tool_result(json!({
                "content": [{"type": "image", "data": TEST_IMAGE_BASE64, "mimeType": "image/png"}]
            })),
            "test_audio_content" => tool_result(json!({
                "content": [{"type": "audio", "data": TEST_AUDIO_BASE64, "mimeType": "audio/wav"}]
            })),
            "test_embedded_resource" => tool_result(json!({
                "content": [{
                    "type": "resource",
                    "resource": {
                        "uri": "test://embedded-resource",
                        "mimeType": "text/plain",
                        "text": "This is an embedded resource content."
                    }
                }]
            })),
            "test_multiple_content_types" => tool_result(json!({
                "content": [
                    {"type": "text", "text": "Multiple content types test:"},
                    {"type": "image", "data": TEST_IMAGE_BASE64, "mimeType": "image/png"},
                    {
                        "type": "resource",
                        "resource": {
                            "uri": "test://mixed-content-resource",
                            "mimeType": "application/json",
                            "text": json!({"test": "data", "value": 123}).to_string()
                        }
                    }
                ]
            })),
            "test_tool_with_logging" => self.logging_tool(&context).await,
            "test_tool_with_progress" => self.progress_tool(&context).await,
            "test_error_handling" => tool_result(json!({
                "content": [{"type": "text", "text": "This tool intentionally returns an error for testing"}],
                "isError": true
            })),
            "test_sampling" => self.sampling_tool(&arguments, &context).await,
            "test_elicitation" => self.elicit(&context, elicitation_params(&arguments)?, "User response").await,
            "test_elicitation_sep1034_defaults" => {
                self.elicit(&context, sep1034_params(), "Elicitation completed").await
            }
            "test_elicitation_sep1330_enums" => self.elicit(&context, sep1330_params(), "Elicitation completed").await,
            "json_schema_2020_12_tool" => {
                text_result(format!("JSON Schema 2020-12 tool called with: {}", Value::Object(arguments)))
            }
            other => Err(McpError::invalid_params(format!("unknown tool {other:?}"), None)),
        }
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(prompts()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let arguments = request.arguments.unwrap_or_default();
        let result = match request.name.as_str() {
            "test_simple_prompt" => json!({
                "messages": [{"role": "user", "content": {"type": "text", "text": "This is a simple prompt for testing."}}]
            }),
            "test_prompt_with_arguments" => {
                let arg1 = string_argument(&arguments, "arg1")?;
                let arg2 = string_argument(&arguments, "arg2")?;
                json!({
                    "messages": [{
                        "role": "user",
                        "content": {"type": "text", "text": format!("Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")}
                    }]
                })
            }
            "test_prompt_with_embedded_resource" => {
                let uri = string_argument(&arguments, "resourceUri")?;
                json!({
                    "messages": [
                        {
                            "role": "user",
                            "content": {
                                "type": "resource",
                                "resource": {
                                    "uri": uri,
                                    "mimeType": "text/plain",
                                    "text": "Embedded resource content for testing."
                                }
                            }
                        },
                        {"role": "user", "content": {"type": "text", "text": "Please process the embedded resource above."}}
                    ]
                })
            }
            "test_prompt_with_image" => json!({
                "messages": [
                    {"role": "user", "content": {"type": "image", "data": TEST_IMAGE_BASE64, "mimeType": "image/png"}},
                    {"role": "user", "content": {"type": "text", "text": "Please analyze the image above."}}
                ]
            }),
            other => return Err(McpError::invalid_params(format!("unknown prompt {other:?}"), None)),
        };
        Ok(wire!(GetPromptResult, result)?.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult::with_all_items(resources()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let template = ResourceTemplate::new(format!("{TEMPLATE_PREFIX}{{id}}{TEMPLATE_SUFFIX}"), "template")
            .with_title("Resource Template")
            .with_description("A resource template with parameter substitution")
            .with_mime_type("application/json");
        Ok(ListResourceTemplatesResult::with_all_items(vec![template]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri;
        let contents = match uri.as_str() {
            STATIC_TEXT_URI => json!({
                "uri": uri, "mimeType": "text/plain", "text": "This is the content of the static text resource."
            }),
            STATIC_BINARY_URI => json!({"uri": uri, "mimeType": "image/png", "blob": TEST_IMAGE_BASE64}),
            WATCHED_URI => json!({"uri": uri, "mimeType": "text/plain", "text": "Watched resource content"}),
            _ => match uri.strip_prefix(TEMPLATE_PREFIX).and_then(|rest| rest.strip_suffix(TEMPLATE_SUFFIX)) {
                Some(id) if !id.is_empty() && !id.contains('/') => json!({
                    "uri": uri,
                    "mimeType": "application/json",
                    "text": json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")}).to_string()
                }),
                _ => {
                    return Err(McpError::resource_not_found(format!("no resource {uri}"), Some(json!({"uri": uri}))));
                }
            },
        };
        Ok(wire!(ReadResourceResult, json!({"contents": [contents]}))?.into())
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

async fn serve_stdio() -> ExitCode {
    let running = match ConformanceServer.serve(rmcp::transport::stdio()).await {
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

async fn serve_http(port: u16) -> ExitCode {
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
        StreamableHttpService::new(|| Ok(ConformanceServer), Arc::default(), config);
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
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => serve_stdio().await,
        ["--http", port] => match port.parse() {
            Ok(port) => serve_http(port).await,
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
