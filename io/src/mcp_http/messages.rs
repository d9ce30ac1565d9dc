//! JSON-RPC lines over HTTP, for the client side of MCP: reading the envelope of an outgoing
//! message, turning an HTTP answer (or its failure) into the line the other side sees, and
//! making event data one line.

use serde_json::Value;

/// JSON-RPC code of the errors a transport writes itself.
pub(crate) use onemcp_core::jsonrpc::code::INTERNAL_ERROR;
/// Longest piece of an HTTP error body quoted in a synthesized error.
const QUOTE_CHARS: usize = 200;

/// At most [`QUOTE_CHARS`] of `text` on one line, control characters (ANSI escapes, line
/// breaks) replaced: what a peer's error body may contribute to an error message or a log.
pub(crate) fn quote(text: &str) -> String {
    let mut out: String = text.trim().chars().take(QUOTE_CHARS).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if text.trim().chars().nth(QUOTE_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// The parts of a JSON-RPC message a transport looks at.
#[derive(Debug, Default)]
pub(crate) struct Envelope {
    pub(crate) id: Option<Value>,
    pub(crate) method: Option<String>,
    /// A request's params, kept for a stateless-revision request (its `_meta` names the
    /// revision): its POST's headers are made from them.
    pub(crate) stateless_params: Option<serde_json::Map<String, Value>>,
}

impl Envelope {
    /// Reads `bytes`; anything unparseable reads as an empty envelope (the peer will answer it).
    pub(crate) fn read(bytes: &[u8]) -> Envelope {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(mut map)) => Envelope {
                id: map.get("id").cloned(),
                method: map.get("method").and_then(Value::as_str).map(str::to_owned),
                stateless_params: stateless_params(&mut map),
            },
            _ => Envelope::default(),
        }
    }

    pub(crate) fn is_request(&self) -> bool {
        self.method.is_some() && self.id.is_some()
    }
}

/// The params of a stateless-revision request (see [`Envelope::stateless_params`]), taken out
/// of the parsed `message`; none for anything else.
fn stateless_params(message: &mut serde_json::Map<String, Value>) -> Option<serde_json::Map<String, Value>> {
    if !message.contains_key("id") || !message.contains_key("method") {
        return None;
    }
    let params = message.get("params").and_then(Value::as_object)?;
    params.get("_meta")?.get("io.modelcontextprotocol/protocolVersion")?;
    match message.remove("params") {
        Some(Value::Object(params)) => Some(params),
        _ => None,
    }
}

/// True if `message` is a response (result or error) to request `id`.
pub(crate) fn is_response_to(message: &Value, id: Option<&Value>) -> bool {
    let Value::Object(map) = message else { return false };
    map.get("method").is_none()
        && (map.contains_key("result") || map.contains_key("error"))
        && id.is_some_and(|id| map.get("id") == Some(id))
}

/// A JSON-RPC 2.0 message, or a non-empty batch of them.
pub(crate) fn is_json_rpc(value: &Value) -> bool {
    let one = |v: &Value| v.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
    match value {
        Value::Array(items) => !items.is_empty() && items.iter().all(one),
        other => one(other),
    }
}

/// A JSON-RPC error response, `jsonrpc` first.
pub(crate) fn error_line(id: &Value, code: i64, message: &str) -> String {
    let message = Value::from(message);
    format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{code},"message":{message}}}}}"#)
}

/// An event's data as one stdout line, and the message it holds if it is JSON.
pub(crate) fn event_line(data: &str) -> Option<(String, Option<Value>)> {
    let text = data.trim();
    if text.is_empty() {
        return None;
    }
    let message = serde_json::from_str::<Value>(text).ok();
    if !text.contains(['\n', '\r']) {
        return Some((text.to_owned(), message));
    }
    match message {
        // Re-encoded compactly: a line break inside would split the message on stdout.
        Some(message) => Some((message.to_string(), Some(message))),
        None => {
            tracing::warn!("dropping a multi-line event that is not JSON");
            None
        }
    }
}

/// What to do with a complete HTTP answer.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Answer {
    /// The line to deliver.
    pub(crate) line: Option<String>,
    /// The JSON-RPC message the body holds.
    pub(crate) message: Option<Value>,
    /// Something to log instead (nobody to answer).
    pub(crate) complaint: Option<String>,
}

/// Turns one complete answer from `peer` (named in synthesized errors) to a POST of request
/// `id` (`None` for notifications, responses and unparseable lines) into the line to deliver:
/// a JSON-RPC body as is (an error without an id gets the request's), an HTTP failure without
/// one as a JSON-RPC error, nothing for an empty success (202).
pub(crate) fn answer_line(peer: &str, status: u16, body: &[u8], id: Option<&Value>) -> Answer {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let failed = status >= 400;
    if text.is_empty() {
        if !failed {
            return Answer::default();
        }
        return synthesized(id, format!("{peer} answered HTTP {status} without a body"));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(mut message) if is_json_rpc(&message) => {
            let anonymous_error = message.get("error").is_some() && message.get("id").is_none_or(Value::is_null);
            let line = match id {
                Some(id) if failed && anonymous_error => {
                    message["id"] = id.clone();
                    message.to_string()
                }
                _ if text.contains(['\n', '\r']) => message.to_string(),
                _ => text.to_owned(),
            };
            Answer { line: Some(line), message: Some(message), complaint: None }
        }
        _ => {
            let quote = quote(text);
            let why = if failed {
                format!("{peer} answered HTTP {status}: {quote}")
            } else {
                format!("{peer} answered HTTP {status} with a body that is not JSON-RPC: {quote}")
            };
            synthesized(id, why)
        }
    }
}

fn synthesized(id: Option<&Value>, why: String) -> Answer {
    match id {
        Some(id) => Answer { line: Some(error_line(id, INTERNAL_ERROR, &why)), message: None, complaint: None },
        None => Answer { line: None, message: None, complaint: Some(why) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_become_lines() {
        let id = json!(3);
        // A body is forwarded as is; 202 has nothing to say.
        let body = br#"{"jsonrpc":"2.0","id":3,"result":{}}"#;
        let answer = answer_line("1mcp", 200, body, Some(&id));
        assert_eq!(answer.line.as_deref(), Some(r#"{"jsonrpc":"2.0","id":3,"result":{}}"#));
        assert_eq!(answer_line("1mcp", 202, b"", None), Answer::default());
        // An HTTP error with a JSON-RPC body keeps it, naming the request if the body did not.
        let anonymous = br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad"}}"#;
        let line = answer_line("1mcp", 400, anonymous, Some(&id)).line.unwrap_or_default();
        assert_eq!(
            serde_json::from_str::<Value>(&line).ok(),
            Some(json!({"jsonrpc":"2.0","id":3,"error":{"code":-32600,"message":"Bad"}}))
        );
        let parse_error = br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#;
        assert_eq!(answer_line("1mcp", 400, parse_error, None).line.as_deref(), std::str::from_utf8(parse_error).ok());
        // Anything else is synthesized, with the status; without a request id it is only logged.
        let line = answer_line("1mcp", 502, b"<html>bad gateway</html>", Some(&id)).line.unwrap_or_default();
        let error: Value = serde_json::from_str(&line).unwrap_or_default();
        assert_eq!((&error["id"], &error["error"]["code"]), (&id, &json!(INTERNAL_ERROR)));
        assert_eq!(error["error"]["message"], "1mcp answered HTTP 502: <html>bad gateway</html>");
        let quiet = answer_line("the server", 404, br#"{"error":"not found"}"#, None);
        assert!(quiet.line.is_none() && quiet.complaint.is_some_and(|c| c.contains("the server answered HTTP 404")));
        assert!(answer_line("1mcp", 500, b"", Some(&id)).line.is_some_and(|l| l.contains("HTTP 500")));
        // A pretty-printed body still makes one line.
        let pretty = b"{\n  \"jsonrpc\": \"2.0\",\n  \"id\": 3,\n  \"result\": {}\n}";
        assert!(answer_line("1mcp", 200, pretty, Some(&id)).line.is_some_and(|l| !l.contains('\n')));
    }

    #[test]
    fn quoted_bodies_are_short_and_on_one_line() {
        assert_eq!(quote("  a\nb\u{1b}[31mc\t "), "a b [31mc");
        let long = "x".repeat(1000);
        let quoted = quote(&long);
        assert_eq!(quoted.chars().count(), QUOTE_CHARS + 1);
        assert!(quoted.ends_with('…'));
        let error = answer_line("the server", 500, b"<h1>oops</h1>\r\n<p>trace</p>", Some(&json!("a")));
        let error: Value = serde_json::from_str(&error.line.unwrap_or_default()).unwrap_or_default();
        assert_eq!(error["error"]["message"], "the server answered HTTP 500: <h1>oops</h1>  <p>trace</p>");
        assert_eq!(error["id"], "a");
    }

    #[test]
    fn event_data_becomes_one_line() {
        assert_eq!(event_line("  "), None);
        assert_eq!(event_line("{\"a\":\n1}").map(|(l, _)| l), Some(r#"{"a":1}"#.to_owned()));
        assert_eq!(event_line("not\njson"), None);
        assert!(is_response_to(&json!({"jsonrpc":"2.0","id":1,"error":{}}), Some(&json!(1))));
        assert!(!is_response_to(&json!({"jsonrpc":"2.0","id":1,"method":"x"}), Some(&json!(1))));
        assert!(!is_response_to(&json!({"jsonrpc":"2.0","id":2,"result":{}}), Some(&json!(1))));
    }
}
