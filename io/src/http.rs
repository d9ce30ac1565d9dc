//! The HTTP front end: every request, whatever its method and path, becomes one
//! `Input::HttpRequest`; routing and policy live in the core. The only thing answered here
//! is a body over the size limit (and 503 once the hub is gone).

use crate::exchange::{CloseGuard, FrontMsg, Head};
use crate::sse;
use crate::tokens::TokenStore;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode, request::Parts};
use axum::response::Response;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use onemcp_core::mcp_headers::McpHeaders;
use onemcp_core::{ExchangeId, HttpMethod, HttpRequest, HttpResponse};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Shared by all handlers.
#[derive(Clone, Debug)]
pub(crate) struct FrontState {
    front: mpsc::UnboundedSender<FrontMsg>,
    next_exchange: Arc<AtomicU64>,
    max_body_bytes: usize,
    keep_alive: Duration,
    tokens: Option<Arc<TokenStore>>,
    /// An external identity provider whose JWTs are accepted beside the store's tokens.
    idp: Option<Arc<crate::idp::ExternalIdp>>,
    /// The embedded authorization server: its endpoints, and its access tokens.
    auth: Option<Arc<crate::oauth::AuthServer>>,
    /// 1mcp's authorizations toward protected backends: their authorize and callback pages.
    backend_auth: Option<Arc<crate::backend_auth::registry::Authorizations>>,
}

impl FrontState {
    /// State for a front end feeding `front`; bearer tokens are looked up in `tokens`, if given.
    pub(crate) fn new(
        front: mpsc::UnboundedSender<FrontMsg>,
        max_body_bytes: usize,
        keep_alive: Duration,
        tokens: Option<Arc<TokenStore>>,
    ) -> Self {
        FrontState {
            front,
            next_exchange: Arc::new(AtomicU64::new(1)),
            max_body_bytes,
            keep_alive,
            tokens,
            idp: None,
            auth: None,
            backend_auth: None,
        }
    }

    /// Serve the embedded authorization server's endpoints and accept its access tokens.
    pub(crate) fn with_auth_server(mut self, auth: Option<Arc<crate::oauth::AuthServer>>) -> Self {
        self.auth = auth;
        self
    }

    /// Serve the authorize and callback pages of backend authorization.
    pub(crate) fn with_backend_auth(mut self, auths: Arc<crate::backend_auth::registry::Authorizations>) -> Self {
        self.backend_auth = Some(auths);
        self
    }

    /// Bearer JWTs go to `idp`, if given (other bearer tokens still to the store).
    pub(crate) fn with_idp(mut self, idp: Option<Arc<crate::idp::ExternalIdp>>) -> Self {
        self.idp = idp;
        self
    }
}

/// A router that sends everything to [`handle`].
pub(crate) fn router(state: FrontState) -> Router {
    Router::new().fallback(handle).with_state(state)
}

async fn handle(State(state): State<FrontState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Some(auth) = &state.auth
        && crate::oauth::is_oauth_path(parts.uri.path())
    {
        return authorization_server(auth, &parts, body).await;
    }
    if let Some(auths) = &state.backend_auth
        && parts.uri.path().starts_with("/oauth/")
        && let Some(response) = crate::backend_auth::routes::handle(auths, state.auth.as_deref(), &parts).await
    {
        return response;
    }
    let body = match read_mcp_body(&parts.headers, body, state.max_body_bytes).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let exchange = ExchangeId(state.next_exchange.fetch_add(1, Ordering::Relaxed));
    tracing::debug!(%exchange, method = %parts.method, path = parts.uri.path(), "http request");
    let mut request = Box::new(to_core(&parts, body, peer_address(&parts)));
    if let Some(tokens) = &state.tokens {
        request.credential = state.credential(tokens, &parts.headers).await;
    }
    hand_to_hub(&state, exchange, request).await
}

/// An MCP request's body, or the answer refusing it (too large, or unreadable).
async fn read_mcp_body(headers: &HeaderMap, body: Body, max: usize) -> Result<Vec<u8>, Response> {
    match read_body(headers, body, max).await {
        Ok(body) => Ok(body),
        Err(BodyError::TooLarge) => Err(too_large(max)),
        Err(BodyError::Read(error)) => {
            tracing::debug!(%error, "reading request body failed");
            Err(json_error(StatusCode::BAD_REQUEST, -32700, "could not read request body"))
        }
    }
}

/// The client's address as the core sees it (an IPv4-mapped IPv6 address as plain IPv4).
fn peer_address(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|peer| peer.0.ip().to_canonical().to_string())
}

impl FrontState {
    /// What the request's `Authorization` header presents. The token is hashed and looked up
    /// here (or, a JWT with an external provider, verified); only what the store or the
    /// verifier says reaches the core.
    async fn credential(&self, tokens: &TokenStore, headers: &HeaderMap) -> onemcp_core::auth::Credential {
        let authorization = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or(""));
        let bearer = authorization
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        match (&self.auth, bearer) {
            (Some(auth), Some(token)) if token.starts_with(crate::oauth::ACCESS_PREFIX) => auth.credential(token),
            _ => crate::idp::credential(tokens, self.idp.as_ref(), authorization).await,
        }
    }
}

/// Gives the request to the hub task and waits for its first answer: a whole response, or
/// the head of an event stream.
async fn hand_to_hub(state: &FrontState, exchange: ExchangeId, request: Box<HttpRequest>) -> Response {
    let (reply, answer) = oneshot::channel();
    // Armed from here: if this future is dropped (client gone) the hub hears about it.
    let mut guard = CloseGuard::new(exchange, state.front.clone());
    if state.front.send(FrontMsg::Request { exchange, request, reply }).is_err() {
        guard.disarm();
        return unavailable();
    }
    match answer.await {
        Ok(Head::Response(response)) => {
            guard.disarm();
            tracing::debug!(%exchange, status = response.status, "http response");
            to_http(response)
        }
        Ok(Head::Stream { headers, events }) => {
            tracing::debug!(%exchange, "http stream opened");
            stream_response(headers, sse::body(events, guard, state.keep_alive))
        }
        Err(_) => {
            // The hub task dropped the exchange without answering: it is shutting down.
            guard.disarm();
            unavailable()
        }
    }
}

/// A request to the embedded authorization server: small bodies only, answered there.
async fn authorization_server(auth: &crate::oauth::AuthServer, parts: &Parts, body: Body) -> Response {
    let body = match read_body(&parts.headers, body, crate::oauth::MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return too_large(crate::oauth::MAX_BODY_BYTES),
        Err(BodyError::Read(_)) => return json_error(StatusCode::BAD_REQUEST, -32700, "could not read request body"),
    };
    let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|peer| peer.0.ip());
    let request = crate::oauth::OAuthRequest {
        method: &parts.method,
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        body: &body,
        peer,
    };
    auth.handle(request).await
}

#[derive(Debug)]
enum BodyError {
    TooLarge,
    Read(axum::BoxError),
}

/// Reads the whole body, refusing (without reading further) as soon as it exceeds `max`. A declared
/// `Content-Length` over the limit is refused before a byte is read; a chunked body (or one whose
/// length is not declared) is cut off by `Limited` at the first frame that would pass the limit.
async fn read_body(headers: &HeaderMap, body: Body, max: usize) -> Result<Vec<u8>, BodyError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes().into()),
        Err(error) if error.is::<LengthLimitError>() => Err(BodyError::TooLarge),
        Err(error) => Err(BodyError::Read(error)),
    }
}

fn to_core(parts: &Parts, body: Vec<u8>, peer: Option<String>) -> HttpRequest {
    let header = |name: &HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let method = match parts.method {
        Method::GET => HttpMethod::Get,
        Method::POST => HttpMethod::Post,
        Method::DELETE => HttpMethod::Delete,
        _ => HttpMethod::Other,
    };
    HttpRequest {
        method: Some(method),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        host: header(&header::HOST).or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned())),
        origin: header(&header::ORIGIN),
        accept: header(&header::ACCEPT),
        content_type: header(&header::CONTENT_TYPE),
        session_id: header(&HeaderName::from_static("mcp-session-id")),
        protocol_version: header(&HeaderName::from_static("mcp-protocol-version")),
        peer,
        credential: onemcp_core::auth::Credential::None,
        // Bounded in count and length by McpHeaders; hyper already caps a request at 100 headers
        // in a head of ~400 KiB.
        mcp_headers: McpHeaders::from_headers(parts.headers.iter().map(|(name, value)| (name, value.as_bytes()))),
        body,
    }
}

fn to_http(response: HttpResponse) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = Response::new(Body::from(response.body));
    *out.status_mut() = status;
    if let Some(content_type) = response.content_type {
        append_header(out.headers_mut(), "content-type", &content_type);
    }
    for (name, value) in &response.headers {
        append_header(out.headers_mut(), name, value);
    }
    out
}

fn stream_response(headers: Vec<(String, String)>, body: Body) -> Response {
    let mut out = Response::new(body);
    let h = out.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tells nginx-style proxies not to buffer the stream.
    h.insert(HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no"));
    for (name, value) in &headers {
        append_header(h, name, value);
    }
    out
}

fn append_header(headers: &mut HeaderMap, name: &str, value: &str) {
    match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
        (Ok(name), Ok(value)) => {
            headers.append(name, value);
        }
        // The value is not logged: headers can carry credentials.
        _ => tracing::warn!(header = name, "core produced an invalid response header; dropped"),
    }
}

/// The JSON-RPC-shaped 413 for an oversized body.
fn too_large(max: usize) -> Response {
    json_error(StatusCode::PAYLOAD_TOO_LARGE, -32600, &format!("request body exceeds {max} bytes"))
}

fn unavailable() -> Response {
    json_error(StatusCode::SERVICE_UNAVAILABLE, -32603, "1mcp is shutting down")
}

fn json_error(status: StatusCode, code: i32, message: &str) -> Response {
    // Written by hand to keep `jsonrpc` first, as clients' logs and our tests expect.
    let message = serde_json::Value::from(message);
    let body = format!(r#"{{"jsonrpc":"2.0","error":{{"code":{code},"message":{message}}}}}"#);
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = status;
    out.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn body_limit_is_exact() {
        let headers = HeaderMap::new();
        assert!(read_body(&headers, Body::from(vec![0u8; 10]), 10).await.is_ok());
        assert!(matches!(read_body(&headers, Body::from(vec![0u8; 11]), 10).await, Err(BodyError::TooLarge)));
        let mut declared = HeaderMap::new();
        declared.insert(header::CONTENT_LENGTH, HeaderValue::from_static("4194305"));
        assert!(matches!(read_body(&declared, Body::empty(), 4194304).await, Err(BodyError::TooLarge)));
    }

    /// A body arriving in `chunks` with no declared length, then failing if `fail` says so.
    fn chunked(chunks: &[&'static [u8]], fail: bool) -> Body {
        let mut items: Vec<Result<&'static [u8], std::io::Error>> = chunks.iter().map(|c| Ok(*c)).collect();
        if fail {
            items.push(Err(std::io::Error::other("connection reset")));
        }
        Body::from_stream(futures_util::stream::iter(items))
    }

    #[tokio::test]
    async fn chunked_body_limit_is_exact() {
        let headers = HeaderMap::new();
        let read = read_body(&headers, chunked(&[b"12345", b"67890"], false), 10).await;
        assert_eq!(read.ok().as_deref(), Some(&b"1234567890"[..]));
        let read = read_body(&headers, chunked(&[b"12345", b"67890", b"1"], false), 10).await;
        assert!(matches!(read, Err(BodyError::TooLarge)), "{read:?}");
        // Past the limit, reading stops: the failure behind the oversized frame is never reached.
        let read = read_body(&headers, chunked(&[b"12345678901"], true), 10).await;
        assert!(matches!(read, Err(BodyError::TooLarge)), "{read:?}");
        // A broken body under the limit is a read error (400), not a 413.
        let read = read_body(&headers, chunked(&[b"123"], true), 10).await;
        assert!(matches!(read, Err(BodyError::Read(_))), "{read:?}");
    }

    #[tokio::test]
    async fn declared_length_is_a_fast_path_not_a_promise() {
        let mut declared = HeaderMap::new();
        declared.insert(header::CONTENT_LENGTH, HeaderValue::from_static("10"));
        assert!(read_body(&declared, Body::from(vec![0u8; 10]), 10).await.is_ok());
        // A declared length under the limit does not let a longer body through.
        let read = read_body(&declared, chunked(&[b"12345", b"678901"], false), 10).await;
        assert!(matches!(read, Err(BodyError::TooLarge)), "{read:?}");
        // An unreadable length is ignored; the bytes decide.
        declared.insert(header::CONTENT_LENGTH, HeaderValue::from_static("lots"));
        assert!(read_body(&declared, Body::from(vec![0u8; 10]), 10).await.is_ok());
        // A declared length over the limit is refused before any byte is read.
        declared.insert(header::CONTENT_LENGTH, HeaderValue::from_static("11"));
        let read = read_body(&declared, chunked(&[], true), 10).await;
        assert!(matches!(read, Err(BodyError::TooLarge)), "{read:?}");
    }

    #[tokio::test]
    async fn too_large_body_matches_the_contract() {
        let response = too_large(4_194_304);
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap_or_default();
        assert_eq!(
            body.as_ref(),
            br#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"request body exceeds 4194304 bytes"}}"#
        );
    }

    #[test]
    fn mcp_metadata_headers_reach_the_core_whatever_their_case() {
        let request = axum::http::Request::post("/mcp")
            .header("MCP-METHOD", "tools/call")
            .header("mcp-name", " query\t")
            .header("Mcp-Param-Region", "us-west1")
            .header("mcp-param-greeting", "=?base64?SGVsbG8sIOS4lueVjA==?=")
            .header("Mcp-Param-Raw", HeaderValue::from_bytes(b"caf\xc3\xa9").expect("obs-text is a valid value"))
            .header("X-Other", "ignored")
            .body(())
            .expect("request");
        let (parts, ()) = request.into_parts();
        let core = to_core(&parts, Vec::new(), None);
        let mcp = &core.mcp_headers;
        assert_eq!((mcp.method(), mcp.name(), mcp.refused()), (Some("tools/call"), Some("query"), None));
        let params: Vec<_> = mcp.params().collect();
        assert_eq!(params, [("region", "us-west1"), ("greeting", "=?base64?SGVsbG8sIOS4lueVjA==?="), ("raw", "café")]);
    }

    #[test]
    fn repeated_or_oversized_mcp_headers_are_refused_with_a_reason() {
        let mut request = axum::http::Request::post("/mcp").header("Mcp-Method", "tools/list");
        for i in 0..=onemcp_core::mcp_headers::MAX_PARAM_HEADERS {
            request = request.header(format!("Mcp-Param-P{i}"), "v");
        }
        let (parts, ()) = request.body(()).expect("request").into_parts();
        let core = to_core(&parts, Vec::new(), None);
        assert_eq!(core.mcp_headers.refused(), Some("more than 32 Mcp-Param-* headers"));
        let (parts, ()) = axum::http::Request::post("/mcp")
            .header("Mcp-Method", "tools/list")
            .header("Mcp-Method", "tools/call")
            .body(())
            .expect("request")
            .into_parts();
        assert_eq!(to_core(&parts, Vec::new(), None).mcp_headers.refused(), Some("mcp-method appears more than once"));
        let (parts, ()) = axum::http::Request::post("/mcp").body(()).expect("request").into_parts();
        assert!(to_core(&parts, Vec::new(), None).mcp_headers.is_empty());
    }
}
