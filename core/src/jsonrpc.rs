//! JSON-RPC 2.0 envelopes: classify a message, read and rewrite only what the proxy must.
//!
//! Messages stay `serde_json` maps so every field the proxy does not interpret (new spec
//! fields, extensions) passes through untouched.

use serde_json::{Map, Value, json};

/// Standard and MCP error codes used by the proxy.
pub mod code {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON is not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist or is not available.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters (unknown tool, prompt, resource...).
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal error (a backend died, timed out...).
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Legacy implementation-defined code for "session not found" used by the SDKs.
    pub const SESSION_NOT_FOUND: i64 = -32001;
    /// 2026-07-28: an HTTP header disagrees with the body (or is missing).
    pub const HEADER_MISMATCH: i64 = -32020;
    /// 2026-07-28: the request's protocol version is not one the server speaks.
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
    /// 2026-07-28: serving the request needs a client capability the request did not declare
    /// (`data.requiredCapabilities`); HTTP 400.
    pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;
}

/// A request id: a string or an integer, never null (spec: `RequestId`).
pub type RequestId = Value;

/// What a parsed JSON-RPC message is.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Has `method` and `id`.
    Request {
        /// The id to answer with.
        id: RequestId,
        /// The method.
        method: String,
        /// The whole message.
        body: Map<String, Value>,
    },
    /// Has `method`, no `id`.
    Notification {
        /// The method.
        method: String,
        /// The whole message.
        body: Map<String, Value>,
    },
    /// Has `id` and `result` or `error`.
    Response {
        /// The id being answered.
        id: RequestId,
        /// The whole message.
        body: Map<String, Value>,
    },
}

/// Why a message could not be classified.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON at all.
    #[error("parse error: {0}")]
    Parse(String),
    /// JSON, but an array (batches are not supported by the negotiated revisions).
    #[error("batch requests are not supported")]
    Batch,
    /// JSON, but not a JSON-RPC 2.0 message; carries the id when one could be read.
    #[error("invalid request: {reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
        /// The id, if readable (so the error can be correlated).
        id: Option<RequestId>,
    },
}

impl EnvelopeError {
    /// The JSON-RPC error code for this problem.
    pub fn code(&self) -> i64 {
        match self {
            EnvelopeError::Parse(_) => code::PARSE_ERROR,
            EnvelopeError::Batch | EnvelopeError::Invalid { .. } => code::INVALID_REQUEST,
        }
    }

    /// The id to answer with, if one could be read.
    pub fn id(&self) -> Option<&RequestId> {
        match self {
            EnvelopeError::Invalid { id, .. } => id.as_ref(),
            _ => None,
        }
    }
}

/// Parse one JSON-RPC message from bytes.
pub fn parse(bytes: &[u8]) -> Result<Message, EnvelopeError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Parse(e.to_string()))?;
    classify(value)
}

/// Classify an already-parsed JSON value.
pub fn classify(value: Value) -> Result<Message, EnvelopeError> {
    let body = match value {
        Value::Object(map) => map,
        Value::Array(_) => return Err(EnvelopeError::Batch),
        _ => return Err(invalid("message is not a JSON object", None)),
    };
    let id = body.get("id").cloned();
    if let Some(id) = &id
        && !is_valid_id(id)
    {
        return Err(invalid("id must be a string or an integer", None));
    }
    if body.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid("jsonrpc must be \"2.0\"", id));
    }
    match (body.get("method"), id) {
        (Some(Value::String(method)), Some(id)) => {
            let method = method.clone();
            check_params(&body, Some(&id))?;
            Ok(Message::Request { id, method, body })
        }
        (Some(Value::String(method)), None) => {
            let method = method.clone();
            check_params(&body, None)?;
            Ok(Message::Notification { method, body })
        }
        (Some(_), id) => Err(invalid("method must be a string", id)),
        (None, Some(id)) => {
            let has_result = body.contains_key("result");
            let has_error = body.get("error").is_some_and(Value::is_object);
            if has_result == has_error {
                return Err(invalid("a response needs exactly one of result and error", Some(id)));
            }
            Ok(Message::Response { id, body })
        }
        (None, None) => Err(invalid("message has neither method nor id", None)),
    }
}

fn check_params(body: &Map<String, Value>, id: Option<&RequestId>) -> Result<(), EnvelopeError> {
    match body.get("params") {
        None | Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(invalid("params must be an object", id.cloned())),
    }
}

fn invalid(reason: &str, id: Option<RequestId>) -> EnvelopeError {
    EnvelopeError::Invalid { reason: reason.to_owned(), id }
}

/// True for a string or integer id (JSON-RPC allows fractions; MCP does not).
pub fn is_valid_id(id: &Value) -> bool {
    id.is_string() || id.is_i64() || id.is_u64()
}

/// The `params` object of a message, if any.
pub fn params(body: &Map<String, Value>) -> Option<&Map<String, Value>> {
    body.get("params").and_then(Value::as_object)
}

/// A string field of `params`.
pub fn param_str<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    params(body)?.get(key)?.as_str()
}

/// A success response.
pub fn result(id: &RequestId, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// An error response; `id` is omitted when unknown (never `null`).
pub fn error(id: Option<&RequestId>, code: i64, message: impl Into<String>) -> Value {
    error_with_data(id, code, message, None)
}

/// An error response with `data`.
pub fn error_with_data(id: Option<&RequestId>, code: i64, message: impl Into<String>, data: Option<Value>) -> Value {
    let mut error = Map::new();
    error.insert("code".into(), code.into());
    error.insert("message".into(), Value::String(message.into()));
    if let Some(data) = data {
        error.insert("data".into(), data);
    }
    let mut msg = Map::new();
    msg.insert("jsonrpc".into(), "2.0".into());
    if let Some(id) = id {
        msg.insert("id".into(), id.clone());
    }
    msg.insert("error".into(), Value::Object(error));
    Value::Object(msg)
}

/// A request message.
pub fn request(id: &RequestId, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// A notification message.
pub fn notification(method: &str, params: Option<Value>) -> Value {
    match params {
        Some(p) => json!({"jsonrpc": "2.0", "method": method, "params": p}),
        None => json!({"jsonrpc": "2.0", "method": method}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Message {
        parse(text.as_bytes()).expect("valid message")
    }

    #[test]
    fn classifies_requests_notifications_and_responses() {
        assert!(
            matches!(ok(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#), Message::Request { method, .. } if method == "ping")
        );
        assert!(matches!(
            ok(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Message::Notification { .. }
        ));
        assert!(matches!(ok(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#), Message::Response { id, .. } if id == "a"));
        assert!(matches!(ok(r#"{"jsonrpc":"2.0","id":2,"error":{"code":1,"message":"x"}}"#), Message::Response { .. }));
    }

    #[test]
    fn rejects_malformed_messages_with_the_right_code() {
        assert_eq!(parse(b"{not json").map_err(|e| e.code()), Err(code::PARSE_ERROR));
        assert_eq!(parse(b"[]").map_err(|e| e.code()), Err(code::INVALID_REQUEST));
        assert_eq!(parse(b"42").map_err(|e| e.code()), Err(code::INVALID_REQUEST));
        let null_id = parse(br#"{"jsonrpc":"2.0","id":null,"method":"x"}"#).unwrap_err();
        assert_eq!(null_id.id(), None);
        let no_version = parse(br#"{"id":7,"method":"x"}"#).unwrap_err();
        assert_eq!(no_version.id(), Some(&json!(7)));
        assert!(parse(br#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#).is_err());
        assert!(parse(br#"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":""}}"#).is_err());
        assert!(parse(br#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#).is_err());
    }

    #[test]
    fn error_without_id_omits_the_member() {
        let e = error(None, code::PARSE_ERROR, "bad");
        assert!(e.get("id").is_none());
        assert_eq!(e["error"]["code"], json!(-32700));
    }

    #[test]
    fn unknown_fields_survive_classification() {
        let Message::Request { body, .. } =
            ok(r#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"future":1},"x-ext":true}"#)
        else {
            panic!("not a request");
        };
        assert_eq!(body["x-ext"], json!(true));
        assert_eq!(body["params"]["future"], json!(1));
    }
}
