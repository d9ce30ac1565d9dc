//! The stateless revision (2026-07-28) at the front door: which requests are modern, and the
//! checks every modern request passes before it is served. A modern request declares its
//! revision in `params._meta` (`io.modelcontextprotocol/protocolVersion`) instead of opening a
//! session with `initialize`; a dual-era server serves it without a session (spec, versioning:
//! "a request with modern per-request `_meta` is served statelessly").

use crate::jsonrpc::{self, code};
use crate::session::LogLevel;
use serde_json::{Map, Value, json};

/// The stateless revisions served.
pub(crate) const MODERN_VERSIONS: [&str; 1] = ["2026-07-28"];

/// The `_meta` key naming a modern request's revision.
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// The `_meta` key carrying a modern request's client capabilities.
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// The `_meta` key asking for log messages at or above a level during one request.
const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// The `_meta` keys that only a modern peer understands: a legacy backend is sent the request
/// without them (it has its session's capabilities and level already).
const META_MODERN_ONLY: [&str; 4] =
    [META_VERSION, META_CAPABILITIES, META_LOG_LEVEL, "io.modelcontextprotocol/clientInfo"];

/// Methods of the session-based revisions that the stateless one removed: a modern request for
/// one is answered as an unknown method (HTTP 404, -32601), as for any method not served.
const REMOVED: [&str; 5] = ["initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"];

/// Requests of the stateless revision a client may send (served, or to be served); any other
/// method of a modern request is unknown (HTTP 404, -32601).
const METHODS: [&str; 10] = [
    "server/discover",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "completion/complete",
    "subscriptions/listen",
];

/// The revision a request declares in its `_meta`, if it declares one.
pub(crate) fn declared_version(body: &Map<String, Value>) -> Option<&Value> {
    jsonrpc::params(body)?.get("_meta")?.as_object()?.get(META_VERSION)
}

/// Whether a request without a session is a modern one: it declares its revision in `_meta`,
/// or its `MCP-Protocol-Version` header names a stateless revision (and then it must declare
/// it in `_meta` too).
pub(crate) fn is_modern(body: &Map<String, Value>, header: Option<&str>) -> bool {
    declared_version(body).is_some() || header.is_some_and(|h| MODERN_VERSIONS.contains(&h))
}

/// A modern request that may not be served, with the HTTP status and JSON-RPC error to answer.
#[derive(Debug, PartialEq)]
pub(crate) struct Refusal {
    /// The HTTP status.
    pub(crate) status: u16,
    /// The JSON-RPC error response.
    pub(crate) body: Value,
}

impl Refusal {
    fn new(status: u16, id: &Value, code: i64, message: String, data: Option<Value>) -> Refusal {
        Refusal { status, body: jsonrpc::error_with_data(Some(id), code, message, data) }
    }
}

/// The checks of a modern request, in the spec's terms, all with HTTP 400: the revision
/// declared in `_meta` (-32602 without one), the `MCP-Protocol-Version` header equal to it
/// (-32020), a revision this server speaks (-32022, naming the supported ones), the required
/// client capabilities in `_meta` (-32602). A method the revision removed or does not define
/// answers 404 with -32601.
pub(crate) fn check(id: &Value, method: &str, body: &Map<String, Value>, header: Option<&str>) -> Result<(), Refusal> {
    let Some(declared) = declared_version(body) else {
        let message = format!("Invalid params: _meta.{META_VERSION} is required");
        return Err(Refusal::new(400, id, code::INVALID_PARAMS, message, None));
    };
    if header.is_none_or(|h| declared.as_str() != Some(h)) {
        let message = match header {
            Some(header) => format!(
                "Header mismatch: MCP-Protocol-Version is {:?}, the request's _meta says {declared}",
                crate::text::clip(header, 64)
            ),
            None => format!("Header mismatch: MCP-Protocol-Version is missing; the request's _meta says {declared}"),
        };
        return Err(Refusal::new(400, id, code::HEADER_MISMATCH, message, None));
    }
    let Some(version) = declared.as_str().filter(|v| MODERN_VERSIONS.contains(v)) else {
        let data = json!({"supported": MODERN_VERSIONS, "requested": declared});
        let message = format!("Unsupported protocol version: {declared}");
        return Err(Refusal::new(400, id, code::UNSUPPORTED_PROTOCOL_VERSION, message, Some(data)));
    };
    let meta = jsonrpc::params(body).and_then(|p| p.get("_meta")).and_then(Value::as_object);
    if !meta.and_then(|m| m.get(META_CAPABILITIES)).is_some_and(Value::is_object) {
        let message = format!("Invalid params: _meta.{META_CAPABILITIES} is required");
        return Err(Refusal::new(400, id, code::INVALID_PARAMS, message, None));
    }
    if REMOVED.contains(&method) || !METHODS.contains(&method) {
        let why = if REMOVED.contains(&method) { format!(" (removed in {version})") } else { String::new() };
        let message = format!("Method not found: {}{why}", crate::text::for_log(method));
        return Err(Refusal::new(404, id, code::METHOD_NOT_FOUND, message, None));
    }
    Ok(())
}

/// A modern request's `_meta`, if it has one.
fn meta(body: &Map<String, Value>) -> Option<&Map<String, Value>> {
    jsonrpc::params(body)?.get("_meta")?.as_object()
}

/// The client capabilities a modern request declares (checked present by [`check`]).
pub(crate) fn client_capabilities(body: &Map<String, Value>) -> Map<String, Value> {
    meta(body).and_then(|m| m.get(META_CAPABILITIES)).and_then(Value::as_object).cloned().unwrap_or_default()
}

/// The level a modern request asks log messages at: `None` if it asks for none (then it gets
/// none), a 400 with -32602 if the level is not one of the spec's.
pub(crate) fn log_level(id: &Value, body: &Map<String, Value>) -> Result<Option<LogLevel>, Refusal> {
    let Some(level) = meta(body).and_then(|m| m.get(META_LOG_LEVEL)) else { return Ok(None) };
    match level.as_str().and_then(LogLevel::parse) {
        Some(level) => Ok(Some(level)),
        None => {
            let message = format!(
                "Invalid params: _meta.{META_LOG_LEVEL} must be one of debug, info, notice, warning, error, \
                 critical, alert, emergency"
            );
            Err(Refusal::new(400, id, code::INVALID_PARAMS, message, None))
        }
    }
}

/// A request as a stateless backend is sent it: its `_meta` carries the revision and what the
/// client it is sent for declared (its capabilities, and the level of log messages it wants),
/// beside whatever `_meta` the request already had (a progress token).
pub(crate) fn for_stateless_backend(
    body: &mut Map<String, Value>,
    capabilities: &Map<String, Value>,
    log_level: Option<LogLevel>,
) {
    let params = body.entry("params").or_insert_with(|| json!({}));
    let Some(params) = params.as_object_mut() else { return };
    let meta = params.entry("_meta").or_insert_with(|| json!({}));
    let Some(meta) = meta.as_object_mut() else { return };
    meta.insert(META_VERSION.into(), MODERN_VERSIONS[0].into());
    meta.insert(META_CAPABILITIES.into(), Value::Object(capabilities.clone()));
    let client_info = json!({"name": crate::hub::SERVER_NAME, "version": crate::hub::SERVER_VERSION});
    meta.insert("io.modelcontextprotocol/clientInfo".into(), client_info);
    match log_level {
        Some(level) => meta.insert(META_LOG_LEVEL.into(), level.name().into()),
        None => meta.remove(META_LOG_LEVEL),
    };
}

/// What a `server/discover` result tells of a stateless backend: its capabilities and
/// instructions, or why it cannot be used (it does not speak this revision).
pub(crate) fn discovered(result: &Map<String, Value>) -> Result<(Map<String, Value>, Option<String>), String> {
    let supported = result.get("supportedVersions").and_then(Value::as_array);
    if !supported.is_some_and(|s| s.iter().any(|v| v.as_str() == Some(MODERN_VERSIONS[0]))) {
        let theirs = supported.map_or_else(|| "none".to_owned(), |s| Value::Array(s.clone()).to_string());
        return Err(format!(
            "it does not speak {} (it supports {})",
            MODERN_VERSIONS[0],
            crate::text::clip(&theirs, 200)
        ));
    }
    let capabilities = result.get("capabilities").and_then(Value::as_object).cloned().unwrap_or_default();
    let instructions = result.get("instructions").and_then(Value::as_str).map(str::to_owned);
    Ok((capabilities, instructions))
}

/// The `serverInfo` a stateless result names, if any.
pub(crate) fn server_name(result: &Map<String, Value>) -> Option<&str> {
    result.get("_meta")?.get("io.modelcontextprotocol/serverInfo")?.get("name")?.as_str()
}

/// The HTTP status of an answer to a stateless client: 400 for the errors the revision pairs
/// with it (a header mismatch, a missing client capability, an unsupported version), even when a
/// backend said them; 200 for everything else.
pub(crate) fn http_status(answer: &Value) -> u16 {
    let code = answer.get("error").and_then(|e| e.get("code")).and_then(Value::as_i64);
    match code {
        Some(code::HEADER_MISMATCH | code::MISSING_REQUIRED_CLIENT_CAPABILITY | code::UNSUPPORTED_PROTOCOL_VERSION) => {
            400
        }
        _ => 200,
    }
}

/// A modern request as a legacy backend is sent it: without the `_meta` keys only the
/// stateless revision defines (an empty `_meta` goes too).
pub(crate) fn for_legacy_backend(body: &mut Map<String, Value>) {
    let Some(params) = body.get_mut("params").and_then(Value::as_object_mut) else { return };
    let Some(meta) = params.get_mut("_meta").and_then(Value::as_object_mut) else { return };
    for key in META_MODERN_ONLY {
        meta.remove(key);
    }
    if meta.is_empty() {
        params.remove("_meta");
    }
}

/// A result as the stateless revision shapes it for `method`: `resultType` on every result
/// (a backend's own is kept), the caching hints on the cacheable ones, and 1mcp's identity.
pub(crate) fn result_for(method: &str, mut result: Map<String, Value>, private: bool) -> Value {
    if method == "resources/read" {
        return cacheable(result, private);
    }
    result.entry("resultType").or_insert_with(|| "complete".into());
    with_server_info(&mut result);
    Value::Object(result)
}

fn with_server_info(result: &mut Map<String, Value>) {
    let server_info = json!({"name": crate::hub::SERVER_NAME, "version": crate::hub::SERVER_VERSION});
    let meta = result.entry("_meta").or_insert_with(|| json!({}));
    if let Some(meta) = meta.as_object_mut() {
        meta.insert("io.modelcontextprotocol/serverInfo".into(), server_info);
    }
}

/// What a cacheable result carries in this revision: `resultType`, the caching hints and the
/// server's identity. `ttlMs` is the backend's own (a stateless backend's read), else 0: a
/// merged list, or a legacy backend's result, carries no hint, so nothing may be reused without
/// asking again. `private` when the result depends on who asks (their token's tags or their
/// view) or its backend said so.
pub(crate) fn cacheable(mut result: Map<String, Value>, private: bool) -> Value {
    result.insert("resultType".into(), "complete".into());
    // A stateless backend's own hints are kept, made no looser: its ttlMs, and private if
    // either side says so.
    let ttl = result.get("ttlMs").and_then(Value::as_u64).unwrap_or(0);
    let private = private || result.get("cacheScope").and_then(Value::as_str) == Some("private");
    result.insert("ttlMs".into(), ttl.into());
    result.insert("cacheScope".into(), (if private { "private" } else { "public" }).into());
    with_server_info(&mut result);
    Value::Object(result)
}

/// `server/discover`'s result: the revisions served statelessly, what the caller can use, and
/// the merged instructions of the servers it sees.
pub(crate) fn discover(instructions: Option<String>, private: bool) -> Value {
    let mut result = Map::new();
    result.insert("supportedVersions".into(), json!(MODERN_VERSIONS));
    // List changes and resource updates reach a client through subscriptions/listen.
    let capabilities = json!({
        "tools": {"listChanged": true},
        "prompts": {"listChanged": true},
        "resources": {"subscribe": true, "listChanged": true},
    });
    result.insert("capabilities".into(), capabilities);
    if let Some(text) = instructions {
        result.insert("instructions".into(), text.into());
    }
    cacheable(result, private)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(meta: Value) -> Map<String, Value> {
        let Value::Object(body) = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}})
        else {
            unreachable!()
        };
        body
    }

    fn modern() -> Map<String, Value> {
        request(json!({META_VERSION: "2026-07-28", META_CAPABILITIES: {}}))
    }

    fn refusal(method: &str, body: &Map<String, Value>, header: Option<&str>) -> (u16, i64, Value) {
        let r = check(&json!(1), method, body, header).expect_err("refused");
        (r.status, r.body["error"]["code"].as_i64().unwrap_or_default(), r.body["error"]["data"].clone())
    }

    #[test]
    fn a_request_is_modern_by_its_meta_only() {
        assert_eq!(declared_version(&modern()), Some(&json!("2026-07-28")));
        assert_eq!(declared_version(&request(json!({"progressToken": 1}))), None);
        let Value::Object(legacy) = json!({"method": "initialize", "params": {"protocolVersion": "2025-11-25"}}) else {
            unreachable!()
        };
        assert_eq!(declared_version(&legacy), None, "a legacy initialize names its version elsewhere");
    }

    #[test]
    fn a_well_formed_modern_request_passes() {
        assert_eq!(check(&json!(1), "tools/list", &modern(), Some("2026-07-28")), Ok(()));
        assert_eq!(check(&json!(1), "server/discover", &modern(), Some("2026-07-28")), Ok(()));
    }

    #[test]
    fn an_unknown_revision_is_refused_naming_the_supported_ones() {
        let body = request(json!({META_VERSION: "2030-01-01", META_CAPABILITIES: {}}));
        let (status, code, data) = refusal("tools/list", &body, Some("2030-01-01"));
        assert_eq!((status, code), (400, code::UNSUPPORTED_PROTOCOL_VERSION));
        assert_eq!(data, json!({"supported": ["2026-07-28"], "requested": "2030-01-01"}));
        let body = request(json!({META_VERSION: 20260728, META_CAPABILITIES: {}}));
        assert_eq!(
            refusal("tools/list", &body, Some("20260728")).1,
            code::HEADER_MISMATCH,
            "a number is no header value"
        );
    }

    #[test]
    fn the_version_header_must_say_what_the_body_says() {
        for header in [None, Some("2025-11-25"), Some("2026-07-28 ")] {
            let (status, code, _) = refusal("tools/list", &modern(), header);
            assert_eq!((status, code), (400, code::HEADER_MISMATCH), "{header:?}");
        }
        // A mismatch is a mismatch even when the body's revision is one not spoken.
        let body = request(json!({META_VERSION: "2030-01-01", META_CAPABILITIES: {}}));
        assert_eq!(refusal("tools/list", &body, Some("2026-07-28")).1, code::HEADER_MISMATCH);
    }

    #[test]
    fn a_modern_header_without_the_meta_is_a_modern_request_missing_its_version() {
        let body = request(json!({META_CAPABILITIES: {}}));
        assert!(is_modern(&body, Some("2026-07-28")));
        assert!(!is_modern(&body, Some("2025-11-25")), "a legacy header alone is legacy traffic");
        assert!(!is_modern(&body, None));
        let (status, code, _) = refusal("tools/list", &body, Some("2026-07-28"));
        assert_eq!((status, code), (400, code::INVALID_PARAMS));
    }

    #[test]
    fn methods_the_revision_does_not_define_are_unknown() {
        let (status, code, _) = refusal("foo/bar", &modern(), Some("2026-07-28"));
        assert_eq!((status, code), (404, code::METHOD_NOT_FOUND));
        for method in METHODS {
            assert_eq!(check(&json!(1), method, &modern(), Some("2026-07-28")), Ok(()), "{method}");
        }
    }

    #[test]
    fn client_capabilities_are_required() {
        let body = request(json!({META_VERSION: "2026-07-28"}));
        assert_eq!(refusal("tools/list", &body, Some("2026-07-28")).1, code::INVALID_PARAMS);
        let body = request(json!({META_VERSION: "2026-07-28", META_CAPABILITIES: "all"}));
        assert_eq!(refusal("tools/list", &body, Some("2026-07-28")).1, code::INVALID_PARAMS);
    }

    #[test]
    fn methods_the_revision_removed_are_unknown() {
        for method in REMOVED {
            let (status, code, _) = refusal(method, &modern(), Some("2026-07-28"));
            assert_eq!((status, code), (404, code::METHOD_NOT_FOUND), "{method}");
        }
    }

    #[test]
    fn the_log_level_is_optional_but_must_be_a_level() {
        assert_eq!(log_level(&json!(1), &modern()), Ok(None));
        let body = request(json!({META_VERSION: "2026-07-28", META_CAPABILITIES: {}, META_LOG_LEVEL: "warning"}));
        assert_eq!(log_level(&json!(1), &body), Ok(Some(LogLevel::Warning)));
        let body = request(json!({META_VERSION: "2026-07-28", META_CAPABILITIES: {}, META_LOG_LEVEL: "loud"}));
        let refused = log_level(&json!(1), &body).expect_err("not a level");
        assert_eq!((refused.status, refused.body["error"]["code"].as_i64()), (400, Some(code::INVALID_PARAMS)));
    }

    #[test]
    fn a_legacy_backend_is_sent_the_request_without_the_modern_meta() {
        let mut body =
            request(json!({META_VERSION: "2026-07-28", META_CAPABILITIES: {"roots": {}}, "progressToken": 5}));
        assert_eq!(client_capabilities(&body), *json!({"roots": {}}).as_object().unwrap_or(&Map::new()));
        for_legacy_backend(&mut body);
        assert_eq!(body["params"], json!({"_meta": {"progressToken": 5}}), "the progress token stays");
        let mut body = modern();
        for_legacy_backend(&mut body);
        assert_eq!(body["params"], json!({}), "nothing left of the _meta");
    }

    #[test]
    fn every_result_says_it_is_complete_and_reads_are_cacheable() {
        let call = result_for("tools/call", Map::new(), false);
        assert_eq!(call["resultType"], "complete");
        assert_eq!(call["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "1mcp");
        assert!(call.get("ttlMs").is_none(), "a tool call's result is not cacheable");
        let mut theirs = Map::new();
        theirs.insert("resultType".into(), "input_required".into());
        assert_eq!(result_for("tools/call", theirs, false)["resultType"], "input_required", "the backend's is kept");
        let read = result_for("resources/read", Map::new(), true);
        assert_eq!((read["ttlMs"].as_u64(), read["cacheScope"].as_str()), (Some(0), Some("private")));
    }
}
