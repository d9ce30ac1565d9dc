//! The fixed answers: tool results, prompt messages and resource contents that do not depend
//! on the client, as wire JSON (the suite's reference values).

use rmcp::ErrorData as McpError;
use rmcp::model::JsonObject;
use serde_json::{Value, json};

use super::catalog::{STATIC_BINARY_URI, STATIC_TEXT_URI, TEMPLATE_PREFIX, TEMPLATE_SUFFIX, WATCHED_URI};

/// A 1x1 red PNG (the suite's reference image).
pub const TEST_IMAGE_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A minimal WAV file (the suite's reference audio).
const TEST_AUDIO_BASE64: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

/// A tool result holding one text block.
pub fn text(text: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": text.into()}]})
}

/// A tool result the caller should see as a failure (`isError`).
pub fn tool_error(text: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": text.into()}], "isError": true})
}

/// The result of a tool whose answer never changes, or `None` if `name` is not one.
pub fn tool_result(name: &str, arguments: &JsonObject) -> Option<Value> {
    Some(match name {
        "test_simple_text" => text("This is a simple text response for testing."),
        "test_image_content" => json!({
            "content": [{"type": "image", "data": TEST_IMAGE_BASE64, "mimeType": "image/png"}]
        }),
        "test_audio_content" => json!({
            "content": [{"type": "audio", "data": TEST_AUDIO_BASE64, "mimeType": "audio/wav"}]
        }),
        "test_embedded_resource" => json!({
            "content": [{
                "type": "resource",
                "resource": {
                    "uri": "test://embedded-resource",
                    "mimeType": "text/plain",
                    "text": "This is an embedded resource content."
                }
            }]
        }),
        "test_multiple_content_types" => json!({
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
        }),
        "test_error_handling" => tool_error("This tool intentionally returns an error for testing"),
        "test_header_parameter" => {
            let region = arguments.get("region").and_then(Value::as_str).unwrap_or_default();
            text(format!("region={region}"))
        }
        "json_schema_2020_12_tool" => {
            text(format!("JSON Schema 2020-12 tool called with: {}", Value::Object(arguments.clone())))
        }
        _ => return None,
    })
}

pub fn string_argument(arguments: &JsonObject, key: &str) -> Result<String, McpError> {
    arguments
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| McpError::invalid_params(format!("argument {key:?} must be a string"), None))
}

fn user_text(text: impl Into<String>) -> Value {
    json!({"role": "user", "content": {"type": "text", "text": text.into()}})
}

/// The messages of a prompt that needs nothing from the client, or `None` if `name` is not one.
pub fn prompt_result(name: &str, arguments: &JsonObject) -> Result<Option<Value>, McpError> {
    let messages = match name {
        "test_simple_prompt" => json!([user_text("This is a simple prompt for testing.")]),
        "test_prompt_with_arguments" => {
            let arg1 = string_argument(arguments, "arg1")?;
            let arg2 = string_argument(arguments, "arg2")?;
            json!([user_text(format!("Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"))])
        }
        "test_prompt_with_embedded_resource" => {
            let uri = string_argument(arguments, "resourceUri")?;
            let resource =
                json!({"uri": uri, "mimeType": "text/plain", "text": "Embedded resource content for testing."});
            json!([
                {"role": "user", "content": {"type": "resource", "resource": resource}},
                user_text("Please process the embedded resource above.")
            ])
        }
        "test_prompt_with_image" => json!([
            {"role": "user", "content": {"type": "image", "data": TEST_IMAGE_BASE64, "mimeType": "image/png"}},
            user_text("Please analyze the image above.")
        ]),
        _ => return Ok(None),
    };
    Ok(Some(json!({"messages": messages})))
}

/// The contents of the resource at `uri`; `-32002` (rmcp turns it into `-32602` for
/// 2026-07-28 peers) with the URI in `data` when there is none.
pub fn resource_contents(uri: &str) -> Result<Value, McpError> {
    let contents = match uri {
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
            _ => return Err(McpError::resource_not_found(format!("no resource {uri}"), Some(json!({"uri": uri})))),
        },
    };
    Ok(json!({"contents": [contents]}))
}
