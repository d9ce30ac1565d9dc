//! The client side of MCP over HTTP, shared by `1mcp proxy` (the bridge to a daemon) and HTTP
//! backends: a pooled hyper client speaking plain HTTP and HTTPS (rustls, ring, webpki roots),
//! bounded body reads, and event streams parsed as they arrive.

pub(crate) mod messages;
pub(crate) mod sse_parse;

use futures_util::stream::BoxStream;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sse_parse::{ParsedEvent, SseError, SseParser};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// A pooled HTTP/1.1 client for `http://` and `https://` URLs.
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Idle keep-alive connections are closed after this long.
const POOL_IDLE: Duration = Duration::from_secs(30);

/// A client whose TCP connects give up after `connect_timeout`. Certificates are checked
/// against the bundled webpki roots, so the binary needs no CA files at run time.
pub(crate) fn http_client(connect_timeout: Duration) -> Result<HttpClient, String> {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    // The TLS layer above handles `https://`; this one must let it through.
    http.enforce_http(false);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(provider)
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).pool_idle_timeout(POOL_IDLE).build(https))
}

/// True if the response is an event stream.
pub(crate) fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim().to_ascii_lowercase().starts_with("text/event-stream"))
}

/// The `Mcp-Session-Id` response header, if usable.
pub(crate) fn session_id(headers: &HeaderMap) -> Option<String> {
    headers.get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Why a body could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyError {
    /// It grew past the limit; this many bytes had arrived (the rest was not read).
    #[error("response body of {0} bytes or more exceeds the limit")]
    TooLarge(usize),
    /// The connection broke off.
    #[error("reading a response failed: {0}")]
    Broken(String),
}

/// The whole body, refusing more than `max` bytes.
pub(crate) async fn read_body(mut body: Incoming, max: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Broken(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > max {
                return Err(BodyError::TooLarge(out.len() + data.len()));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// Why an event stream yielded no event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StreamError {
    /// One event was too large and was skipped; the stream goes on.
    #[error(transparent)]
    Event(#[from] SseError),
    /// The body broke off; the stream is over.
    #[error("the event stream broke off: {0}")]
    Broken(String),
}

/// Events of one streamed body, ending when the body ends.
pub(crate) type ParsedEvents = BoxStream<'static, Result<ParsedEvent, StreamError>>;

struct StreamState {
    body: Incoming,
    parser: SseParser,
    ready: VecDeque<Result<ParsedEvent, SseError>>,
    done: bool,
}

/// Events as the body delivers them, none larger than `max_event_bytes`.
pub(crate) fn event_stream(body: Incoming, max_event_bytes: usize) -> ParsedEvents {
    let state = StreamState { body, parser: SseParser::new(max_event_bytes), ready: VecDeque::new(), done: false };
    Box::pin(futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(item) = state.ready.pop_front() {
                return Some((item.map_err(StreamError::from), state));
            }
            if state.done {
                return None;
            }
            match state.body.frame().await {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else { continue };
                    state.ready.extend(state.parser.push(&data));
                }
                Some(Err(error)) => {
                    state.done = true;
                    return Some((Err(StreamError::Broken(error.to_string())), state));
                }
                None => state.done = true,
            }
        }
    }))
}

/// An error and its causes on one line ("client error (Connect): tcp connect error: Connection refused").
pub(crate) fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
