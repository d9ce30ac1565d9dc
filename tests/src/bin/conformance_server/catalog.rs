//! What the fixture lists: its tools, prompts, resources and resource template, by the names
//! the conformance suite's scenarios look for. The lists are the same in every protocol era.

use std::sync::Arc;

use rmcp::model::{JsonObject, Prompt, PromptArgument, Resource, ResourceTemplate, Tool};
use serde_json::{Value, json};

pub const STATIC_TEXT_URI: &str = "test://static-text";
pub const STATIC_BINARY_URI: &str = "test://static-binary";
pub const WATCHED_URI: &str = "test://watched-resource";
pub const TEMPLATE_PREFIX: &str = "test://template/";
pub const TEMPLATE_SUFFIX: &str = "/data";

fn object_schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

fn no_arguments() -> Arc<JsonObject> {
    object_schema(json!({"type": "object", "properties": {}}))
}

/// A tool with one required string argument.
fn one_string(name: &'static str, description: &'static str, argument: &str, about: &str) -> Tool {
    let schema = json!({
        "type": "object",
        "properties": {argument: {"type": "string", "description": about}},
        "required": [argument]
    });
    Tool::new(name, description, object_schema(schema))
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

/// Tools whose answer is fixed, or that only notify (logging, progress, list changes).
fn plain_tools() -> Vec<Tool> {
    let plain = |name: &'static str, description: &'static str| Tool::new(name, description, no_arguments());
    vec![
        plain("test_simple_text", "Tests simple text content response"),
        plain("test_image_content", "Tests image content response"),
        plain("test_audio_content", "Tests audio content response"),
        plain("test_embedded_resource", "Tests embedded resource content response"),
        plain("test_multiple_content_types", "Tests response with multiple content types (text, image, resource)"),
        plain("test_tool_with_logging", "Tests tool that emits log messages during execution"),
        plain(
            "test_logging_tool",
            "Emits three info log messages; on 2026-07-28 only when the request names a logLevel",
        ),
        plain("test_tool_with_progress", "Tests tool that reports progress notifications"),
        plain("test_error_handling", "Tests error response handling"),
        plain("test_trigger_tool_change", "Announces a tools/list change to subscribers (the list itself is fixed)"),
        plain(
            "test_trigger_prompt_change",
            "Announces a prompts/list change to subscribers (the list itself is fixed)",
        ),
        Tool::new(
            "test_header_parameter",
            "Echoes a parameter that HTTP clients mirror into the Mcp-Param-Region header (SEP-2243)",
            object_schema(json!({
                "type": "object",
                "properties": {
                    "region": {"type": "string", "description": "Any text", "x-mcp-header": "Region"}
                },
                "required": ["region"]
            })),
        ),
        Tool::new(
            "json_schema_2020_12_tool",
            "Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
            object_schema(json_schema_2020_12()),
        ),
    ]
}

/// Tools that need input from the client: elicitation, sampling or roots. Legacy sessions get
/// server-to-client requests; 2026-07-28 requests get an `InputRequiredResult` (MRTR).
fn input_tools() -> Vec<Tool> {
    let plain = |name: &'static str, description: &'static str| Tool::new(name, description, no_arguments());
    vec![
        one_string(
            "test_sampling",
            "Tests server-initiated sampling (LLM completion request)",
            "prompt",
            "The prompt to send to the LLM",
        ),
        one_string(
            "test_elicitation",
            "Tests server-initiated elicitation (user input request)",
            "message",
            "The message to show the user",
        ),
        plain("test_elicitation_sep1034_defaults", "Tests elicitation with default values per SEP-1034"),
        plain("test_elicitation_sep1330_enums", "Tests elicitation with enum schema improvements per SEP-1330"),
        plain("test_missing_capability", "Needs the client's sampling capability (-32021 when it is not declared)"),
        plain("test_streaming_elicitation", "Asks the user a question while the call is in flight"),
        plain("test_input_required_result_elicitation", "Asks the user's name, then greets them"),
        plain("test_input_required_result_sampling", "Asks the client's LLM for the capital of France"),
        plain("test_input_required_result_list_roots", "Asks the client for its roots, then names them"),
        plain("test_input_required_result_request_state", "Asks for a confirmation and checks the echoed requestState"),
        plain("test_input_required_result_multiple_inputs", "Asks for elicitation, sampling and roots at once"),
        plain("test_input_required_result_multi_round", "Asks two questions in two rounds"),
        plain("test_input_required_result_tampered_state", "Rejects a requestState that fails its HMAC check"),
        plain(
            "test_input_required_result_capabilities",
            "Asks only for the input kinds the client declared (sampling, elicitation, roots)",
        ),
    ]
}

/// Every tool, in a fixed order.
pub fn tools() -> Vec<Tool> {
    let mut tools = plain_tools();
    tools.extend(input_tools());
    tools
}

pub fn prompts() -> Vec<Prompt> {
    let argument =
        |name: &str, description: &str| PromptArgument::new(name).with_description(description).with_required(true);
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
        Prompt::new("test_input_required_result_prompt", Some("A prompt that asks the user for its context"), None)
            .with_title("Prompt Needing Input"),
    ]
}

pub fn resources() -> Vec<Resource> {
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

pub fn resource_template() -> ResourceTemplate {
    ResourceTemplate::new(format!("{TEMPLATE_PREFIX}{{id}}{TEMPLATE_SUFFIX}"), "template")
        .with_title("Resource Template")
        .with_description("A resource template with parameter substitution")
        .with_mime_type("application/json")
}
