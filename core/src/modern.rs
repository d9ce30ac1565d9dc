//! The stateless revision (2026-07-28) at the front door: which requests are modern, and the
//! checks every modern request passes before it is served. A modern request declares its
//! revision in `params._meta` (`io.modelcontextprotocol/protocolVersion`) instead of opening a
//! session with `initialize`; a dual-era server serves it without a session (spec, versioning:
//! "a request with modern per-request `_meta` is served statelessly").

use crate::jsonrpc::{self, code};
use serde_json::{Map, Value, json};

/// The stateless revisions served.
pub(crate) const MODERN_VERSIONS: [&str; 1] = ["2026-07-28"];

/// The `_meta` key naming a modern request's revision.
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// The `_meta` key carrying a modern request's client capabilities.
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

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

/// What a cacheable result carries in this revision: `resultType`, the caching hints and the
/// server's identity. `ttlMs` is 0: the legacy backends behind 1mcp give no hint, so nothing may
/// be reused without asking again. `private` when the result depends on who asks (their
/// token's tags or their view).
pub(crate) fn cacheable(mut result: Map<String, Value>, private: bool) -> Value {
    result.insert("resultType".into(), "complete".into());
    result.insert("ttlMs".into(), 0.into());
    result.insert("cacheScope".into(), (if private { "private" } else { "public" }).into());
    let server_info = json!({"name": crate::hub::SERVER_NAME, "version": crate::hub::SERVER_VERSION});
    let meta = result.entry("_meta").or_insert_with(|| json!({}));
    if let Some(meta) = meta.as_object_mut() {
        meta.insert("io.modelcontextprotocol/serverInfo".into(), server_info);
    }
    Value::Object(result)
}

/// `server/discover`'s result: the revisions served statelessly, what the caller can use, and
/// the merged instructions of the servers it sees.
pub(crate) fn discover(instructions: Option<String>, private: bool) -> Value {
    let mut result = Map::new();
    result.insert("supportedVersions".into(), json!(MODERN_VERSIONS));
    result.insert("capabilities".into(), json!({"tools": {}, "prompts": {}, "resources": {}}));
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
}
