//! The request metadata headers of the stateless revision (2026-07-28, `basic/transports/
//! streamable-http`, "Request Metadata"): `Mcp-Method`, `Mcp-Name` and the `Mcp-Param-{Name}`
//! headers a tool asks for with `x-mcp-header`, which mirror body fields so that load balancers
//! and gateways can route without parsing the body.
//!
//! What the spec requires, and where 1mcp stands:
//!
//! - A client sends `Mcp-Method` (= `method`) on every request and `Mcp-Name` (= `params.name`
//!   for `tools/call` and `prompts/get`, `params.uri` for `resources/read`) on those three
//!   ("These headers are **REQUIRED**"); for `tools/call` it mirrors every argument whose
//!   property carries `x-mcp-header` into `Mcp-Param-{Name}` (string as-is, integer in decimal,
//!   boolean `true`/`false`, omitted when absent or null). A value that is not plain visible
//!   ASCII, has leading or trailing whitespace, or itself looks like the sentinel is sent as
//!   `=?base64?{Base64 of its UTF-8}?=` ("Value Encoding").
//! - "Any server that processes the message body **MUST** validate that encoded header values,
//!   after decoding if Base64-encoded, match the corresponding values in the request body", and
//!   rejects with `400 Bad Request` and JSON-RPC `-32020` (`HeaderMismatch`) a missing required
//!   header, a value that differs from the body, a value with invalid characters, and a header
//!   omitted while the value is in the body ("Server Validation"). Header names compare
//!   case-insensitively, values case-sensitively; integers **SHOULD** compare numerically.
//! - An intermediary **MUST** forward an `Mcp-Param-{Name}` it does not recognise and **MUST**
//!   answer a validation failure with an HTTP error (a JSON-RPC body optional).
//!
//! 1mcp reads every body, so it validates as a server ([`check`], against the tool as it exposes
//! it, prefixed name included) and always answers 400 with `-32020`. Toward a modern HTTP backend
//! it is the client: [`backend_headers`] mirrors the request as the backend will see it (its own
//! tool name after a rename) and passes on the `Mcp-Param-*` headers it did not recognise.
//! [`header_params`] reads a tool's `x-mcp-header` annotations, refusing the ones the spec
//! forbids (a client on HTTP **MUST** leave such a tool out of `tools/list`).

use crate::jsonrpc::{self, code};
use crate::text::clip;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Most `Mcp-Param-*` headers one request may carry (a tool rarely mirrors more than a few).
pub const MAX_PARAM_HEADERS: usize = 32;
/// Longest value kept for any of these headers, after trimming (a resource URI can be long;
/// Base64 adds a third).
pub const MAX_VALUE_BYTES: usize = 8 * 1024;
/// Longest `{Name}` in `Mcp-Param-{Name}`.
pub const MAX_PARAM_NAME_BYTES: usize = 128;

const METHOD_HEADER: &str = "Mcp-Method";
const NAME_HEADER: &str = "Mcp-Name";
const PARAM_PREFIX: &str = "Mcp-Param-";
const SENTINEL_PREFIX: &str = "=?base64?";
const SENTINEL_SUFFIX: &str = "?=";
/// The tool schema keyword naming a parameter's header.
const ANNOTATION: &str = "x-mcp-header";
/// Integers are mirrored only within JavaScript's safe range (spec: −2^53+1 to 2^53−1).
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;
/// How much of a client-controlled value an error message repeats.
const ECHO_MAX: usize = 100;

/// The `Mcp-Method`, `Mcp-Name` and `Mcp-Param-*` headers of one HTTP request, values trimmed
/// of surrounding whitespace (RFC 9110 §5.5) and still encoded, as received. Bounded: what
/// does not fit is dropped and named in [`McpHeaders::refused`]. Boxed, and absent when the
/// request has none, so a legacy request pays one word for it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct McpHeaders(Option<Box<Received>>);

/// What [`McpHeaders`] holds when there is anything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct Received {
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// `{Name}` as received (unique case-insensitively) and the value, in arrival order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    params: Vec<(String, String)>,
    /// Why the headers could not be taken as sent (repeated, too many, too long), if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<String>,
}

impl McpHeaders {
    /// Picks the MCP metadata headers out of a request's headers (any case), ignoring the rest.
    /// Values that are not UTF-8 are kept lossily, so validation sees invalid characters.
    pub fn from_headers<N, V>(headers: impl IntoIterator<Item = (N, V)>) -> McpHeaders
    where
        N: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let mut received = Received::default();
        for (name, value) in headers {
            received.take(name.as_ref(), value.as_ref());
        }
        McpHeaders((received != Received::default()).then(|| Box::new(received)))
    }

    /// `Mcp-Method`, if sent.
    pub fn method(&self) -> Option<&str> {
        self.0.as_ref()?.method.as_deref()
    }

    /// `Mcp-Name` as sent (possibly Base64-wrapped), if sent.
    pub fn name(&self) -> Option<&str> {
        self.0.as_ref()?.name.as_deref()
    }

    /// The value of `Mcp-Param-{param}` (name compared case-insensitively), if sent.
    pub fn param(&self, param: &str) -> Option<&str> {
        self.0.as_ref()?.param(param)
    }

    /// Every `Mcp-Param-{Name}` as `(Name, value)`, in arrival order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        let params = self.0.as_ref().map_or(&[][..], |received| &received.params[..]);
        params.iter().map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// Why the headers were not all kept (repeated, too many, too long), if they were not.
    pub fn refused(&self) -> Option<&str> {
        self.0.as_ref()?.refused.as_deref()
    }

    /// Whether the request carried none of these headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl Received {
    fn take(&mut self, name: &str, value: &[u8]) {
        let kind = if name.eq_ignore_ascii_case(METHOD_HEADER) {
            Slot::Method
        } else if name.eq_ignore_ascii_case(NAME_HEADER) {
            Slot::Name
        } else if let Some(param) = strip_prefix_ignore_case(name, PARAM_PREFIX) {
            Slot::Param(param)
        } else {
            return;
        };
        if let Err(reason) = self.store(kind, name, trim_ows(value)) {
            self.refused.get_or_insert(reason);
        }
    }

    fn store(&mut self, slot: Slot<'_>, header: &str, value: &[u8]) -> Result<(), String> {
        let header = clip(header, ECHO_MAX);
        if value.len() > MAX_VALUE_BYTES {
            return Err(format!("{header} is longer than {MAX_VALUE_BYTES} bytes"));
        }
        let value = String::from_utf8_lossy(value).into_owned();
        let single = match slot {
            Slot::Method => &mut self.method,
            Slot::Name => &mut self.name,
            Slot::Param(param) => return self.store_param(param, &header, value),
        };
        if single.is_some() {
            return Err(format!("{header} appears more than once"));
        }
        *single = Some(value);
        Ok(())
    }

    fn store_param(&mut self, param: &str, header: &str, value: String) -> Result<(), String> {
        if param.len() > MAX_PARAM_NAME_BYTES {
            return Err(format!("{header} has a name longer than {MAX_PARAM_NAME_BYTES} bytes"));
        }
        if self.param(param).is_some() {
            return Err(format!("{header} appears more than once"));
        }
        if self.params.len() == MAX_PARAM_HEADERS {
            return Err(format!("more than {MAX_PARAM_HEADERS} Mcp-Param-* headers"));
        }
        self.params.push((param.to_owned(), value));
        Ok(())
    }

    fn param(&self, param: &str) -> Option<&str> {
        self.params.iter().find(|(name, _)| name.eq_ignore_ascii_case(param)).map(|(_, value)| value.as_str())
    }
}

/// Which of the headers a field line is.
enum Slot<'a> {
    Method,
    Name,
    /// `{Name}` of `Mcp-Param-{Name}`.
    Param(&'a str),
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// `value` without the optional whitespace (space, tab) HTTP allows around a field value.
fn trim_ows(value: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !ows(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    &value[start..end]
}

/// A tool parameter mirrored into a header by its `x-mcp-header` annotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderParam {
    /// `{Name}` of `Mcp-Param-{Name}`, as the annotation spells it.
    header: String,
    /// The chain of `properties` keys leading to the parameter in the arguments.
    path: Vec<String>,
}

impl HeaderParam {
    /// The parameter mirrored as `Mcp-Param-{header}`, found at `path` in the arguments.
    pub fn new(header: impl Into<String>, path: impl IntoIterator<Item = impl Into<String>>) -> HeaderParam {
        HeaderParam { header: header.into(), path: path.into_iter().map(Into::into).collect() }
    }

    /// The full header name, `Mcp-Param-{Name}`.
    pub fn header_name(&self) -> String {
        format!("{PARAM_PREFIX}{}", self.header)
    }

    /// The value in `arguments` at this parameter's path; null counts as absent.
    fn value_in<'a>(&self, arguments: Option<&'a Map<String, Value>>) -> Option<&'a Value> {
        let (last, parents) = self.path.split_last()?;
        let mut object = arguments?;
        for key in parents {
            object = object.get(key)?.as_object()?;
        }
        object.get(last).filter(|value| !value.is_null())
    }

    /// Where the value sits in the body, for messages: `arguments.region`.
    fn body_path(&self) -> String {
        format!("arguments.{}", self.path.join("."))
    }
}

/// Why a tool's `x-mcp-header` annotations are invalid (spec: "Schema Extension").
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnnotationError {
    /// The annotation is empty or not a string.
    #[error("x-mcp-header of {0} is empty or not a string")]
    Empty(String),
    /// The annotation is not an HTTP field-name token (RFC 9110 §5.1).
    #[error("x-mcp-header {0:?} is not an HTTP header name token")]
    NotToken(String),
    /// Two annotations name the same header, ignoring case.
    #[error("x-mcp-header {0:?} is used more than once (names compare without case)")]
    Duplicate(String),
    /// The annotated property is not of type string, integer or boolean.
    #[error("x-mcp-header on {0}, which is not of type string, integer or boolean")]
    NotPrimitive(String),
    /// The annotation is not reached from the root through `properties` alone.
    #[error("x-mcp-header outside a chain of properties (under items, a combinator, a condition or $defs)")]
    Unreachable,
}

/// The header parameters a tool's `inputSchema` declares, or why its annotations are invalid.
pub fn header_params(input_schema: &Value) -> Result<Vec<HeaderParam>, AnnotationError> {
    let mut found = Vec::new();
    walk(input_schema, Some(&[]), &mut found)?;
    for (i, param) in found.iter().enumerate() {
        if found[..i].iter().any(|earlier| earlier.header.eq_ignore_ascii_case(&param.header)) {
            return Err(AnnotationError::Duplicate(param.header.clone()));
        }
    }
    Ok(found)
}

/// Looks for annotations under `node`; `chain` is the `properties` path that reached it, `None`
/// once the path went through anything else.
fn walk(node: &Value, chain: Option<&[String]>, found: &mut Vec<HeaderParam>) -> Result<(), AnnotationError> {
    match node {
        Value::Array(items) => items.iter().try_for_each(|item| walk(item, None, found)),
        Value::Object(schema) => walk_schema(schema, chain, found),
        _ => Ok(()),
    }
}

fn walk_schema(
    schema: &Map<String, Value>,
    chain: Option<&[String]>,
    found: &mut Vec<HeaderParam>,
) -> Result<(), AnnotationError> {
    if let Some(annotation) = schema.get(ANNOTATION) {
        found.push(annotated(schema, annotation, chain)?);
    }
    for (keyword, value) in schema {
        match keyword.as_str() {
            // Instance data, not subschemas: an object there is no annotation.
            ANNOTATION | "default" | "const" | "enum" | "examples" => {}
            "properties" => walk_properties(value, chain, found)?,
            _ => walk(value, None, found)?,
        }
    }
    Ok(())
}

fn walk_properties(
    properties: &Value,
    chain: Option<&[String]>,
    found: &mut Vec<HeaderParam>,
) -> Result<(), AnnotationError> {
    let Value::Object(properties) = properties else { return walk(properties, None, found) };
    for (name, schema) in properties {
        let longer = chain.map(|chain| [chain, std::slice::from_ref(name)].concat());
        walk(schema, longer.as_deref(), found)?;
    }
    Ok(())
}

fn annotated(
    schema: &Map<String, Value>,
    annotation: &Value,
    chain: Option<&[String]>,
) -> Result<HeaderParam, AnnotationError> {
    let Some(path) = chain.filter(|chain| !chain.is_empty()) else { return Err(AnnotationError::Unreachable) };
    let property = path.join(".");
    let header =
        annotation.as_str().filter(|h| !h.is_empty()).ok_or_else(|| AnnotationError::Empty(property.clone()))?;
    if !header.bytes().all(is_tchar) {
        return Err(AnnotationError::NotToken(header.to_owned()));
    }
    if !matches!(schema.get("type").and_then(Value::as_str), Some("string" | "integer" | "boolean")) {
        return Err(AnnotationError::NotPrimitive(property));
    }
    Ok(HeaderParam { header: header.to_owned(), path: path.to_vec() })
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A request refused for its headers: the HTTP status and the JSON-RPC error response.
#[derive(Clone, Debug, PartialEq)]
pub struct HeaderRefusal {
    /// Always 400 (spec: "Servers **MUST** reject requests with a `400 Bad Request`").
    pub(crate) status: u16,
    /// A JSON-RPC error with code -32020 (`HeaderMismatch`) saying which header and what the
    /// body said.
    pub(crate) body: Value,
}

/// Checks a modern request's `Mcp-Method`, `Mcp-Name` and `Mcp-Param-*` headers against its
/// body (`method`, `params`), where `tool` lists the header parameters of the tool a
/// `tools/call` names, as 1mcp exposes it (empty for other methods or an unknown tool). For
/// requests only: the revision defines no headers for notifications.
pub fn check(
    id: &Value,
    method: &str,
    params: Option<&Map<String, Value>>,
    headers: &McpHeaders,
    tool: &[HeaderParam],
) -> Result<(), HeaderRefusal> {
    mismatch(method, params, headers, tool).map_err(|why| HeaderRefusal {
        status: 400,
        body: jsonrpc::error(Some(id), code::HEADER_MISMATCH, format!("Header mismatch: {why}")),
    })
}

fn mismatch(
    method: &str,
    params: Option<&Map<String, Value>>,
    headers: &McpHeaders,
    tool: &[HeaderParam],
) -> Result<(), String> {
    if let Some(reason) = headers.refused() {
        return Err(reason.to_owned());
    }
    check_method(method, headers.method())?;
    if let Some(field) = name_field(method) {
        check_name(field, params.and_then(|p| p.get(field)), headers.name())?;
    }
    if method == "tools/call" {
        let arguments = params.and_then(|p| p.get("arguments")).and_then(Value::as_object);
        for param in tool {
            check_param(param, param.value_in(arguments), headers.param(&param.header))?;
        }
    }
    Ok(())
}

/// The `params` field `Mcp-Name` mirrors for `method`, if it has one.
fn name_field(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

fn check_method(method: &str, header: Option<&str>) -> Result<(), String> {
    let method_text = clip(method, ECHO_MAX);
    let Some(header) = header else {
        return Err(format!("{METHOD_HEADER} header is missing; the body's method is {method_text:?}"));
    };
    // Mcp-Method is compared as sent: the Base64 form is defined for Mcp-Name and Mcp-Param-*.
    if !is_header_safe(header) {
        return Err(format!("{METHOD_HEADER} header contains characters not allowed in a header value"));
    }
    if header != method {
        return Err(format!("{METHOD_HEADER} header is {:?} but the body's method is {method_text:?}", echo(header)));
    }
    Ok(())
}

fn check_name(field: &str, body: Option<&Value>, header: Option<&str>) -> Result<(), String> {
    match (body.and_then(Value::as_str), header) {
        // No name in the body: the method's own validation answers that (-32602).
        (None, None) => Ok(()),
        (Some(name), None) => Err(format!("{NAME_HEADER} header is missing; params.{field} is {:?}", echo(name))),
        (name, Some(header)) => {
            let decoded = decode(header).map_err(|why| format!("{NAME_HEADER} header {why}"))?;
            if name == Some(decoded.as_ref()) {
                return Ok(());
            }
            let body = name.map_or_else(|| "absent or not a string".to_owned(), |name| format!("{:?}", echo(name)));
            Err(format!("{NAME_HEADER} header is {:?} but params.{field} is {body}", echo(header)))
        }
    }
}

fn check_param(param: &HeaderParam, body: Option<&Value>, header: Option<&str>) -> Result<(), String> {
    let name = param.header_name();
    let path = param.body_path();
    match (body, header) {
        (None, None) => Ok(()),
        (Some(value), None) => Err(format!("{name} header is missing; {path} is {}", echo_json(value))),
        (None, Some(header)) => Err(format!("{name} header is {:?} but {path} is absent", echo(header))),
        (Some(value), Some(header)) => {
            let decoded = decode(header).map_err(|why| format!("{name} header {why}"))?;
            if same_value(value, &decoded) {
                return Ok(());
            }
            Err(format!("{name} header is {:?} but {path} is {}", echo(header), echo_json(value)))
        }
    }
}

/// Whether a header's decoded text stands for `value`: the same string, `true`/`false`, or the
/// same integer within the safe range (compared as numbers, so `42.0` is `42`).
fn same_value(value: &Value, text: &str) -> bool {
    match value {
        Value::String(s) => s == text,
        Value::Bool(b) => text == if *b { "true" } else { "false" },
        Value::Number(n) => safe_integer(n).is_some_and(|n| parse_integer(text) == Some(n)),
        _ => false,
    }
}

fn safe_integer(n: &Number) -> Option<i64> {
    let n = match n.as_i64() {
        Some(n) => n,
        None => float_integer(n.as_f64()?)?,
    };
    (n.abs() <= MAX_SAFE_INTEGER).then_some(n)
}

fn parse_integer(text: &str) -> Option<i64> {
    let n = match text.parse::<i64>() {
        Ok(n) => n,
        Err(_) => float_integer(text.parse::<f64>().ok()?)?,
    };
    (n.abs() <= MAX_SAFE_INTEGER).then_some(n)
}

/// `x` as an integer if it is a whole number within the safe range.
fn float_integer(x: f64) -> Option<i64> {
    (x.is_finite() && x.fract() == 0.0 && x.abs() <= MAX_SAFE_INTEGER as f64).then_some(x as i64)
}

/// Whether `value` is a valid header value as the spec allows it: visible ASCII, space, tab.
fn is_header_safe(value: &str) -> bool {
    value.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// A received `Mcp-Name` or `Mcp-Param-*` value with its `=?base64?...?=` wrapping undone; a
/// value without both markers is literal. The error completes "Mcp-Name header ...".
fn decode(value: &str) -> Result<Cow<'_, str>, &'static str> {
    if !is_header_safe(value) {
        return Err("contains characters not allowed in a header value");
    }
    let wrapped = value.len() >= SENTINEL_PREFIX.len() + SENTINEL_SUFFIX.len()
        && value.starts_with(SENTINEL_PREFIX)
        && value.ends_with(SENTINEL_SUFFIX);
    if !wrapped {
        return Ok(Cow::Borrowed(value));
    }
    let inner = &value[SENTINEL_PREFIX.len()..value.len() - SENTINEL_SUFFIX.len()];
    let bytes = STANDARD.decode(inner).map_err(|_| "is not valid Base64 inside =?base64?...?=")?;
    String::from_utf8(bytes).map(Cow::Owned).map_err(|_| "decodes from Base64 to bytes that are not UTF-8")
}

/// `text` as a header value: as-is when it is plain visible ASCII (inner spaces allowed),
/// otherwise (non-ASCII, control characters, surrounding whitespace, or text that looks like
/// the sentinel itself) `=?base64?{Base64 of its UTF-8}?=`.
pub fn encode(text: &str) -> Cow<'_, str> {
    let sentinel = text.starts_with(SENTINEL_PREFIX) && text.ends_with(SENTINEL_SUFFIX);
    let plain =
        !sentinel && !text.starts_with(' ') && !text.ends_with(' ') && text.bytes().all(|b| (b' '..=b'~').contains(&b));
    if plain {
        return Cow::Borrowed(text);
    }
    Cow::Owned(format!("{SENTINEL_PREFIX}{}{SENTINEL_SUFFIX}", STANDARD.encode(text)))
}

/// The metadata headers 1mcp sends with a request to a modern HTTP backend: `Mcp-Method`,
/// `Mcp-Name` and the `Mcp-Param-*` of the backend's tool (`tool`), all from the request as
/// the backend will receive it (`method`, `params`: its own tool name after a rename), then
/// the `Mcp-Param-*` headers the client sent (`received`) that `tool` does not declare, which
/// an intermediary must pass on. `MCP-Protocol-Version` is the link's to set.
pub fn backend_headers(
    method: &str,
    params: Option<&Map<String, Value>>,
    tool: &[HeaderParam],
    received: Option<&McpHeaders>,
) -> Vec<(String, String)> {
    let mut headers = vec![(METHOD_HEADER.to_owned(), method.to_owned())];
    if let Some(name) = name_field(method).and_then(|field| params?.get(field)?.as_str()) {
        headers.push((NAME_HEADER.to_owned(), encode(name).into_owned()));
    }
    if method == "tools/call" {
        let arguments = params.and_then(|p| p.get("arguments")).and_then(Value::as_object);
        for param in tool {
            if let Some(value) = param.value_in(arguments).and_then(header_text) {
                headers.push((param.header_name(), value));
            }
        }
    }
    let unknown = received.into_iter().flat_map(McpHeaders::params).filter(|(name, value)| {
        is_header_safe(value) && !tool.iter().any(|param| param.header.eq_ignore_ascii_case(name))
    });
    headers.extend(unknown.map(|(name, value)| (format!("{PARAM_PREFIX}{name}"), value.to_owned())));
    headers
}

/// Most tools whose header parameters a [`ToolHeaders`] remembers.
pub const MAX_TOOL_HEADERS: usize = 10_000;

/// What a client of a stateless server (1mcp toward a backend, or a bridge toward 1mcp) learns
/// from the server's `tools/list` answers: which call parameters each tool mirrors into
/// `Mcp-Param-*` headers, by the server's own tool name, so its calls can carry them.
#[derive(Clone, Debug, Default)]
pub struct ToolHeaders(BTreeMap<String, Vec<HeaderParam>>);

impl ToolHeaders {
    /// `message` is the answer to a `tools/list`: remember each listed tool's header
    /// parameters (a tool whose annotations are invalid mirrors nothing). At most
    /// [`MAX_TOOL_HEADERS`] tools are remembered.
    pub fn learn(&mut self, message: &Value) {
        let tools = message.pointer("/result/tools").and_then(Value::as_array).into_iter().flatten();
        for tool in tools {
            let (Some(name), Some(schema)) = (tool.get("name").and_then(Value::as_str), tool.get("inputSchema")) else {
                continue;
            };
            match header_params(schema) {
                Ok(params) if !params.is_empty() => {
                    if self.0.len() < MAX_TOOL_HEADERS || self.0.contains_key(name) {
                        self.0.insert(name.to_owned(), params);
                    }
                }
                _ => {
                    self.0.remove(name);
                }
            }
        }
    }

    /// The headers a POST of a stateless-revision request carries (`method` and `params` as
    /// the server receives them): `MCP-Protocol-Version` equal to its `_meta`'s, `Mcp-Method`,
    /// `Mcp-Name` and the called tool's `Mcp-Param-*`. None for any other message.
    pub fn for_request(&self, method: &str, params: Option<&Map<String, Value>>) -> Vec<(String, String)> {
        let version = params
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get("io.modelcontextprotocol/protocolVersion"))
            .and_then(Value::as_str);
        let Some(version) = version else { return Vec::new() };
        let tool = params.and_then(|p| p.get("name")).and_then(Value::as_str).filter(|_| method == "tools/call");
        let annotated = tool.and_then(|t| self.0.get(t)).map_or(&[][..], Vec::as_slice);
        let mut headers = vec![("MCP-Protocol-Version".to_owned(), version.to_owned())];
        headers.extend(backend_headers(method, params, annotated, None));
        headers
    }
}

/// A parameter value as its header text, if it has one (objects and arrays do not).
fn header_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(encode(s).into_owned()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(safe_integer(n).map_or_else(|| n.to_string(), |n| n.to_string())),
        _ => None,
    }
}

fn echo(text: &str) -> Cow<'_, str> {
    clip(text, ECHO_MAX)
}

fn echo_json(value: &Value) -> String {
    clip(&value.to_string(), ECHO_MAX).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> McpHeaders {
        McpHeaders::from_headers(pairs.iter().copied())
    }

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    /// The refusal's status, code and message, or `None` if the request passes.
    fn refusal(
        method: &str,
        body: Option<Value>,
        sent: &McpHeaders,
        tool: &[HeaderParam],
    ) -> Option<(u16, i64, String)> {
        let params = body.map(params);
        let refusal = check(&json!(7), method, params.as_ref(), sent, tool).err()?;
        assert_eq!(refusal.body["id"], json!(7));
        let error = &refusal.body["error"];
        Some((refusal.status, error["code"].as_i64().unwrap(), error["message"].as_str().unwrap().to_owned()))
    }

    /// The message of a refusal that must be 400 / -32020.
    fn mismatch(method: &str, body: Option<Value>, sent: &McpHeaders, tool: &[HeaderParam]) -> String {
        let (status, code, message) = refusal(method, body, sent, tool).expect("refused");
        assert_eq!((status, code), (400, code::HEADER_MISMATCH), "{message}");
        message
    }

    fn region() -> Vec<HeaderParam> {
        vec![HeaderParam::new("Region", ["region"])]
    }

    #[test]
    fn names_are_case_insensitive_values_trimmed_and_other_headers_ignored() {
        let sent = headers(&[
            ("MCP-METHOD", " tools/call\t"),
            ("mcp-name", "echo"),
            ("mcp-param-region", "  us-west1 "),
            ("Mcp-Session-Id", "s1"),
            ("X-Mcp-Name", "not ours"),
        ]);
        assert_eq!((sent.method(), sent.name()), (Some("tools/call"), Some("echo")));
        assert_eq!(sent.param("REGION"), Some("us-west1"));
        assert_eq!(sent.params().collect::<Vec<_>>(), [("region", "us-west1")]);
        assert_eq!(sent.refused(), None);
        assert!(headers(&[("Accept", "*/*")]).is_empty());
        let body = json!({"name": "echo", "arguments": {"region": "us-west1"}});
        assert_eq!(refusal("tools/call", Some(body), &sent, &region()), None);
    }

    #[test]
    fn headers_are_bounded_in_count_and_length_and_say_why() {
        let many: Vec<(String, String)> =
            (0..=MAX_PARAM_HEADERS).map(|i| (format!("Mcp-Param-P{i}"), "v".into())).collect();
        let sent = McpHeaders::from_headers(many);
        assert_eq!(sent.params().count(), MAX_PARAM_HEADERS);
        assert_eq!(sent.refused(), Some("more than 32 Mcp-Param-* headers"));
        let message = mismatch("tools/list", None, &sent, &[]);
        assert!(message.contains("more than 32 Mcp-Param-* headers"), "{message}");

        let long = "x".repeat(MAX_VALUE_BYTES + 1);
        let sent = headers(&[("Mcp-Method", "tools/call"), ("Mcp-Name", &long)]);
        assert_eq!((sent.name(), sent.refused()), (None, Some("Mcp-Name is longer than 8192 bytes")));
        assert!(mismatch("tools/call", Some(json!({"name": long})), &sent, &[]).contains("longer than 8192 bytes"));
        // Exactly at the limit is kept.
        let at_limit = "x".repeat(MAX_VALUE_BYTES);
        assert_eq!(headers(&[("Mcp-Name", &at_limit)]).name(), Some(at_limit.as_str()));

        let long_name = format!("Mcp-Param-{}", "n".repeat(MAX_PARAM_NAME_BYTES + 1));
        assert!(headers(&[(&long_name, "v")]).refused().unwrap().contains("has a name longer than 128 bytes"));
    }

    #[test]
    fn a_repeated_header_is_refused_rather_than_one_copy_picked() {
        let sent = headers(&[("Mcp-Method", "tools/list"), ("mcp-method", "tools/call")]);
        assert_eq!(sent.refused(), Some("mcp-method appears more than once"));
        assert!(mismatch("tools/list", None, &sent, &[]).contains("appears more than once"));
        let sent = headers(&[("Mcp-Method", "tools/call"), ("Mcp-Param-Region", "a"), ("MCP-PARAM-REGION", "b")]);
        assert_eq!(sent.refused(), Some("MCP-PARAM-REGION appears more than once"));
    }

    #[test]
    fn mcp_method_is_required_and_must_equal_the_body_method_exactly() {
        assert_eq!(refusal("tools/list", None, &headers(&[("Mcp-Method", "tools/list")]), &[]), None);
        assert_eq!(
            mismatch("tools/list", None, &headers(&[]), &[]),
            r#"Header mismatch: Mcp-Method header is missing; the body's method is "tools/list""#
        );
        assert_eq!(
            mismatch("tools/list", None, &headers(&[("Mcp-Method", "prompts/list")]), &[]),
            r#"Header mismatch: Mcp-Method header is "prompts/list" but the body's method is "tools/list""#
        );
        // Values are case-sensitive.
        assert!(mismatch("tools/list", None, &headers(&[("Mcp-Method", "TOOLS/LIST")]), &[]).contains("TOOLS/LIST"));
        // The Base64 form is not defined for Mcp-Method: an encoded method is not the method.
        let encoded = format!("=?base64?{}?=", STANDARD.encode("tools/list"));
        mismatch("tools/list", None, &headers(&[("Mcp-Method", &encoded)]), &[]);
        let bad = mismatch("tools/list", None, &McpHeaders::from_headers([("Mcp-Method", b"tools/list\x01")]), &[]);
        assert!(bad.contains("characters not allowed"), "{bad}");
    }

    #[test]
    fn mcp_name_is_required_where_the_spec_lists_it_and_compared_with_name_or_uri() {
        let call = json!({"name": "echo", "arguments": {}});
        let sent = headers(&[("Mcp-Method", "tools/call"), ("Mcp-Name", "echo")]);
        assert_eq!(refusal("tools/call", Some(call.clone()), &sent, &[]), None);
        assert_eq!(
            mismatch("tools/call", Some(call.clone()), &headers(&[("Mcp-Method", "tools/call")]), &[]),
            r#"Header mismatch: Mcp-Name header is missing; params.name is "echo""#
        );
        let wrong = headers(&[("Mcp-Method", "tools/call"), ("Mcp-Name", "wrong_tool_name")]);
        assert_eq!(
            mismatch("tools/call", Some(call), &wrong, &[]),
            r#"Header mismatch: Mcp-Name header is "wrong_tool_name" but params.name is "echo""#
        );

        let prompt = headers(&[("Mcp-Method", "prompts/get"), ("Mcp-Name", "greet")]);
        assert_eq!(refusal("prompts/get", Some(json!({"name": "greet"})), &prompt, &[]), None);
        assert!(mismatch("prompts/get", Some(json!({"name": "other"})), &prompt, &[]).contains("params.name"));

        let uri = "file:///projects/myapp/config.json";
        let read = headers(&[("Mcp-Method", "resources/read"), ("Mcp-Name", uri)]);
        assert_eq!(refusal("resources/read", Some(json!({"uri": uri})), &read, &[]), None);
        let message = mismatch("resources/read", Some(json!({"uri": "file:///etc/passwd"})), &read, &[]);
        assert!(message.contains("params.uri is \"file:///etc/passwd\""), "{message}");
        let missing = headers(&[("Mcp-Method", "resources/read")]);
        assert!(
            mismatch("resources/read", Some(json!({"uri": uri})), &missing, &[]).contains("Mcp-Name header is missing")
        );
    }

    #[test]
    fn mcp_name_without_a_name_in_the_body_is_left_to_the_method_unless_a_header_claims_one() {
        let only_method = headers(&[("Mcp-Method", "tools/call")]);
        assert_eq!(refusal("tools/call", Some(json!({"arguments": {}})), &only_method, &[]), None);
        let claims = headers(&[("Mcp-Method", "tools/call"), ("Mcp-Name", "echo")]);
        let message = mismatch("tools/call", Some(json!({"name": 5})), &claims, &[]);
        assert!(message.ends_with("params.name is absent or not a string"), "{message}");
        // Methods without a name: an Mcp-Name is not compared.
        let list = headers(&[("Mcp-Method", "tools/list"), ("Mcp-Name", "anything")]);
        assert_eq!(refusal("tools/list", None, &list, &[]), None);
    }

    #[test]
    fn encoded_names_are_decoded_before_comparing_and_bad_encodings_refused() {
        let name = "héllo wörld";
        let body = json!({"name": name});
        let encoded = format!("=?base64?{}?=", STANDARD.encode(name));
        let sent = headers(&[("Mcp-Method", "prompts/get"), ("Mcp-Name", &encoded)]);
        assert_eq!(refusal("prompts/get", Some(body.clone()), &sent, &[]), None);
        // Unpadded and non-alphabet Base64 are refused (the suite's SGVsbG8 / SGVs!!!bG8=).
        for bad in ["=?base64?SGVsbG8?=", "=?base64?SGVs!!!bG8=?="] {
            let sent = headers(&[("Mcp-Method", "prompts/get"), ("Mcp-Name", bad)]);
            let message = mismatch("prompts/get", Some(json!({"name": "Hello"})), &sent, &[]);
            assert!(message.contains("not valid Base64"), "{message}");
        }
        let not_utf8 = format!("=?base64?{}?=", STANDARD.encode([0xff, 0xfe]));
        let sent = headers(&[("Mcp-Method", "prompts/get"), ("Mcp-Name", &not_utf8)]);
        assert!(mismatch("prompts/get", Some(json!({"name": "x"})), &sent, &[]).contains("not UTF-8"));
        // Without both markers the value is literal.
        for literal in ["SGVsbG8=", "=?base64?SGVsbG8=", "SGVsbG8=?="] {
            let sent = headers(&[("Mcp-Method", "prompts/get"), ("Mcp-Name", literal)]);
            assert_eq!(refusal("prompts/get", Some(json!({"name": literal})), &sent, &[]), None, "{literal}");
        }
        // Raw non-ASCII (obs-text, kept lossily by from_headers) is an invalid character.
        let raw = McpHeaders::from_headers([("Mcp-Method", "prompts/get".as_bytes()), ("Mcp-Name", name.as_bytes())]);
        assert!(mismatch("prompts/get", Some(body), &raw, &[]).contains("characters not allowed"));
    }

    #[test]
    fn mirrored_parameters_must_match_the_arguments() {
        let tool = vec![
            HeaderParam::new("Region", ["region"]),
            HeaderParam::new("Priority", ["priority"]),
            HeaderParam::new("Verbose", ["verbose"]),
            HeaderParam::new("Tenant", ["scope", "tenant"]),
        ];
        let args = json!({"region": "us-west1", "priority": 42, "verbose": false, "scope": {"tenant": "acme"}});
        let body = json!({"name": "q", "arguments": args});
        let base = [("Mcp-Method", "tools/call"), ("Mcp-Name", "q")];
        let with = |extra: &[(&'static str, &'static str)]| headers(&[&base[..], extra].concat());
        let all = [
            ("mcp-param-region", "us-west1"),
            ("MCP-PARAM-PRIORITY", "42"),
            ("Mcp-Param-Verbose", "false"),
            ("Mcp-Param-Tenant", "acme"),
        ];
        assert_eq!(refusal("tools/call", Some(body.clone()), &with(&all), &tool), None);
        // Integers compare as numbers.
        let float = [all[0], ("Mcp-Param-Priority", "42.0"), all[2], all[3]];
        assert_eq!(refusal("tools/call", Some(body.clone()), &with(&float), &tool), None);
        let cases: [(&[(&str, &str)], &str); 5] = [
            (
                &[all[0], ("Mcp-Param-Priority", "43"), all[2], all[3]],
                r#"Mcp-Param-Priority header is "43" but arguments.priority is 42"#,
            ),
            (
                &[all[0], all[1], ("Mcp-Param-Verbose", "False"), all[3]],
                r#"Mcp-Param-Verbose header is "False" but arguments.verbose is false"#,
            ),
            (
                &[("Mcp-Param-Region", "US-WEST1"), all[1], all[2], all[3]],
                r#"Mcp-Param-Region header is "US-WEST1" but arguments.region is "us-west1""#,
            ),
            (&[all[0], all[1], all[2]], r#"Mcp-Param-Tenant header is missing; arguments.scope.tenant is "acme""#),
            (&[all[1], all[2], all[3]], r#"Mcp-Param-Region header is missing; arguments.region is "us-west1""#),
        ];
        for (sent, expected) in cases {
            let message = mismatch("tools/call", Some(body.clone()), &with(sent), &tool);
            assert_eq!(message, format!("Header mismatch: {expected}"));
        }
    }

    #[test]
    fn absent_or_null_parameters_expect_no_header_and_unknown_headers_are_ignored() {
        let tool = region();
        let sent = headers(&[("Mcp-Method", "tools/call"), ("Mcp-Name", "q"), ("Mcp-Param-Other", "x\u{1}")]);
        for args in [json!({}), json!({"region": null})] {
            assert_eq!(refusal("tools/call", Some(json!({"name": "q", "arguments": args})), &sent, &tool), None);
        }
        assert_eq!(refusal("tools/call", Some(json!({"name": "q"})), &sent, &tool), None);
        // A header for a value the body does not carry disagrees with it.
        let extra = headers(&[("Mcp-Method", "tools/call"), ("Mcp-Name", "q"), ("Mcp-Param-Region", "eu")]);
        let message = mismatch("tools/call", Some(json!({"name": "q", "arguments": {}})), &extra, &tool);
        assert_eq!(message, r#"Header mismatch: Mcp-Param-Region header is "eu" but arguments.region is absent"#);
        // Parameters only apply to tools/call.
        let prompt = headers(&[("Mcp-Method", "prompts/get"), ("Mcp-Name", "q"), ("Mcp-Param-Region", "eu")]);
        assert_eq!(refusal("prompts/get", Some(json!({"name": "q", "arguments": {}})), &prompt, &tool), None);
    }

    #[test]
    fn parameter_values_are_decoded_checked_for_characters_and_kept_in_the_safe_integer_range() {
        let tool = region();
        let call = |value: Value, header: &[u8]| {
            let sent = McpHeaders::from_headers([
                ("Mcp-Method", b"tools/call".as_slice()),
                ("Mcp-Name", b"q"),
                ("Mcp-Param-Region", header),
            ]);
            refusal("tools/call", Some(json!({"name": "q", "arguments": {"region": value}})), &sent, &tool)
        };
        assert_eq!(call(json!("Hello, 世界"), b"=?base64?SGVsbG8sIOS4lueVjA==?="), None);
        assert_eq!(call(json!(" padded "), b"=?base64?IHBhZGRlZCA=?="), None);
        assert_eq!(call(json!("=?base64?literal?="), b"=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="), None);
        assert_eq!(call(json!(""), b""), None);
        assert!(call(json!("Hello"), b"=?base64?SGVsbG8?=").unwrap().2.contains("not valid Base64"));
        assert!(call(json!("Hello, 世界"), "Hello, 世界".as_bytes()).unwrap().2.contains("characters not allowed"));
        assert!(call(json!("a\u{7f}b"), b"a\x7fb").unwrap().2.contains("characters not allowed"));
        let max = MAX_SAFE_INTEGER;
        assert_eq!(call(json!(max), max.to_string().as_bytes()), None);
        assert_eq!(call(json!(-max), (-max).to_string().as_bytes()), None);
        assert!(call(json!(max + 1), (max + 1).to_string().as_bytes()).is_some());
        assert!(call(json!(9007199254740993u64), b"9007199254740992").is_some());
        assert!(call(json!(1.5), b"1.5").is_some());
        assert!(call(json!(1), b"NaN").is_some());
        assert!(call(json!({"a": 1}), b"{\"a\":1}").is_some());
    }

    #[test]
    fn messages_clip_what_the_client_sent() {
        let long = "n".repeat(8_000);
        let sent = headers(&[("Mcp-Method", "tools/call"), ("Mcp-Name", &long)]);
        let message = mismatch("tools/call", Some(json!({"name": "echo"})), &sent, &[]);
        assert!(message.len() < 300, "{}", message.len());
        assert!(message.contains("(8000 bytes)"), "{message}");
        let message = mismatch(&"m".repeat(5000), None, &headers(&[("Mcp-Method", "x")]), &[]);
        assert!(message.len() < 300 && message.contains("(5000 bytes)"), "{message}");
    }

    #[test]
    fn annotations_are_read_from_properties_chains() {
        let schema = json!({
            "type": "object",
            "properties": {
                "region": {"type": "string", "x-mcp-header": "Region"},
                "priority": {"type": "integer", "x-mcp-header": "Priority"},
                "scope": {"type": "object", "properties": {"debug": {"type": "boolean", "x-mcp-header": "Debug"}}},
                "enum": {"type": "string", "x-mcp-header": "Enum"},
                "query": {"type": "string", "default": {"x-mcp-header": "NotASchema"}}
            }
        });
        let params = header_params(&schema).unwrap();
        let names: Vec<(String, Vec<String>)> = params.iter().map(|p| (p.header_name(), p.path.clone())).collect();
        let expect = |h: &str, path: &[&str]| (h.to_owned(), path.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            names,
            [
                expect("Mcp-Param-Enum", &["enum"]),
                expect("Mcp-Param-Priority", &["priority"]),
                expect("Mcp-Param-Region", &["region"]),
                expect("Mcp-Param-Debug", &["scope", "debug"]),
            ]
        );
        assert_eq!(header_params(&json!({"type": "object"})), Ok(vec![]));
    }

    #[test]
    fn invalid_annotations_are_refused() {
        let one = |property: Value| header_params(&json!({"type": "object", "properties": {"p": property}}));
        use AnnotationError::*;
        assert_eq!(one(json!({"type": "string", "x-mcp-header": ""})), Err(Empty("p".into())));
        assert_eq!(one(json!({"type": "string", "x-mcp-header": 5})), Err(Empty("p".into())));
        for kind in ["object", "array", "null", "number"] {
            assert_eq!(one(json!({"type": kind, "x-mcp-header": "P"})), Err(NotPrimitive("p".into())), "{kind}");
        }
        assert_eq!(one(json!({"x-mcp-header": "P"})), Err(NotPrimitive("p".into())));
        for name in ["My Region", "Region:Primary", "Région", "Region\t1", "Region\r\n"] {
            assert_eq!(one(json!({"type": "string", "x-mcp-header": name})), Err(NotToken(name.into())), "{name:?}");
        }
        for second in ["Region", "region"] {
            let schema = json!({"type": "object", "properties": {
                "a": {"type": "string", "x-mcp-header": "Region"},
                "b": {"type": "string", "x-mcp-header": second}}});
            assert_eq!(header_params(&schema), Err(Duplicate(second.into())));
        }
        let unreachable = [
            json!({"type": "object", "properties": {"list": {"type": "array",
                "items": {"type": "string", "x-mcp-header": "I"}}}}),
            json!({"type": "object", "anyOf": [{"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}]}),
            json!({"type": "object", "if": {"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}}),
            json!({"type": "object", "$defs": {"a": {"type": "string", "x-mcp-header": "A"}},
                "properties": {"a": {"$ref": "#/$defs/a"}}}),
            json!({"type": "string", "x-mcp-header": "Root"}),
        ];
        for schema in unreachable {
            assert_eq!(header_params(&schema), Err(Unreachable), "{schema}");
        }
    }

    #[test]
    fn values_are_encoded_as_the_spec_table_shows() {
        let table = [
            ("us-west1", "us-west1"),
            ("us west 1", "us west 1"),
            ("", ""),
            ("Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="),
            (" padded ", "=?base64?IHBhZGRlZCA=?="),
            ("line1\nline2", "=?base64?bGluZTEKbGluZTI=?="),
            ("=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="),
            ("\tindented", "=?base64?CWluZGVudGVk?="),
            ("us-west1 ", "=?base64?dXMtd2VzdDEg?="),
        ];
        for (value, header) in table {
            assert_eq!(encode(value), header, "{value:?}");
        }
    }

    #[test]
    fn backend_headers_name_the_backends_tool_and_mirror_its_parameters() {
        // The client called `alpha_1mcp_query`; the backend knows the tool as `query`.
        let tool = vec![
            HeaderParam::new("Region", ["region"]),
            HeaderParam::new("Priority", ["priority"]),
            HeaderParam::new("Verbose", ["verbose"]),
            HeaderParam::new("Greeting", ["greeting"]),
        ];
        let received = headers(&[
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "alpha_1mcp_query"),
            ("mcp-param-region", "us-west1"),
            ("Mcp-Param-Trace", "abc"),
            ("Mcp-Param-Bad", "a\u{1}"),
        ]);
        let backend = json!({"name": "query", "arguments":
            {"region": "us-west1", "priority": 42, "verbose": null, "greeting": "Hello, 世界", "query": "SELECT 1"}});
        let backend = params(backend);
        let sent = backend_headers("tools/call", Some(&backend), &tool, Some(&received));
        let expected = [
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "query"),
            ("Mcp-Param-Region", "us-west1"),
            ("Mcp-Param-Priority", "42"),
            ("Mcp-Param-Greeting", "=?base64?SGVsbG8sIOS4lueVjA==?="),
            ("Mcp-Param-Trace", "abc"),
        ];
        let expected: Vec<(String, String)> = expected.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        assert_eq!(sent, expected);
        // What 1mcp sends passes the same validation at the backend.
        let at_backend = McpHeaders::from_headers(sent);
        assert_eq!(check(&json!(1), "tools/call", Some(&backend), &at_backend, &tool), Ok(()));
    }

    #[test]
    fn backend_headers_for_other_methods() {
        let uri = params(json!({"uri": "file:///tmp/ä.txt"}));
        assert_eq!(
            backend_headers("resources/read", Some(&uri), &[], None),
            [
                ("Mcp-Method".to_owned(), "resources/read".to_owned()),
                ("Mcp-Name".to_owned(), format!("=?base64?{}?=", STANDARD.encode("file:///tmp/ä.txt"))),
            ]
        );
        assert_eq!(
            backend_headers("tools/list", None, &[], None),
            [("Mcp-Method".to_owned(), "tools/list".to_owned())]
        );
        let prompt = params(json!({"name": "greet", "arguments": {"region": "x"}}));
        let sent = backend_headers("prompts/get", Some(&prompt), &region(), None);
        assert_eq!(sent.len(), 2, "{sent:?}");
    }

    #[test]
    fn recordings_without_the_field_still_load_and_empty_headers_are_not_recorded() {
        let request = crate::event::HttpRequest { path: "/mcp".into(), ..Default::default() };
        let text = serde_json::to_string(&request).unwrap();
        assert!(!text.contains("mcp_headers"), "{text}");
        assert_eq!(serde_json::from_str::<crate::event::HttpRequest>(&text).unwrap(), request);
        let with = crate::event::HttpRequest {
            mcp_headers: headers(&[("Mcp-Method", "tools/list"), ("Mcp-Param-A", "1")]),
            ..request
        };
        let text = serde_json::to_string(&with).unwrap();
        assert_eq!(serde_json::from_str::<crate::event::HttpRequest>(&text).unwrap(), with);
    }
}
