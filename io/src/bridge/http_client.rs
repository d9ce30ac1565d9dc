//! The network carrier: real HTTP/1.1 (keep-alive, pooled) to a running daemon, for
//! `1mcp proxy`. JSON bodies are read whole (bounded); event streams are parsed as they come.

use super::sse_parse::SseParser;
use super::{BridgeRequest, EventStream, Reply, ReplyBody, Transport, TransportError, Verb};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

/// Sent with every request so the daemon's logs say who is calling.
const USER_AGENT: &str = concat!("1mcp-proxy/", env!("CARGO_PKG_VERSION"));

/// Why a daemon URL cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not a URL.
    #[error("{url:?} is not a valid URL: {why}")]
    Invalid {
        /// What was given.
        url: String,
        /// The parser's complaint.
        why: String,
    },
    /// Only plain `http://` is supported (the daemon serves loopback HTTP).
    #[error("{0:?}: only http:// URLs are supported")]
    Scheme(String),
}

/// Pooled HTTP/1.1 client bound to one daemon endpoint.
#[derive(Clone, Debug)]
pub(crate) struct HttpTransport {
    client: Client<HttpConnector, Full<Bytes>>,
    /// `scheme://authority`.
    origin: String,
    /// Path of the MCP endpoint, e.g. `/mcp`.
    path: String,
    /// Query that was part of the URL (kept, the view's query is appended).
    base_query: Option<String>,
    /// Bound on the wait for a response head to anything but a POST (whose head may only come
    /// with the tool's result).
    setup_timeout: Duration,
    max_body_bytes: usize,
}

impl HttpTransport {
    /// A client for the MCP endpoint at `url` (`http://host:port/mcp`; a bare origin means
    /// `/mcp`). `setup_timeout` bounds connecting and non-POST requests.
    pub(crate) fn new(url: &str, setup_timeout: Duration, max_body_bytes: usize) -> Result<Self, UrlError> {
        let uri: Uri = url
            .trim()
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| UrlError::Invalid { url: url.into(), why: e.to_string() })?;
        if uri.scheme_str() != Some("http") {
            return Err(UrlError::Scheme(url.into()));
        }
        let Some(authority) = uri.authority() else {
            return Err(UrlError::Invalid { url: url.into(), why: "no host".into() });
        };
        let path = match uri.path() {
            "" | "/" => "/mcp".to_owned(),
            path => path.to_owned(),
        };
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(setup_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector);
        Ok(HttpTransport {
            client,
            origin: format!("http://{authority}"),
            path,
            base_query: uri.query().filter(|q| !q.is_empty()).map(str::to_owned),
            setup_timeout,
            max_body_bytes,
        })
    }

    /// The endpoint URL as used.
    pub(crate) fn url(&self) -> String {
        format!("{}{}", self.origin, self.path)
    }

    /// `GET /health/live` (next to the MCP path): is a daemon answering there?
    pub(crate) async fn probe(&self) -> Result<(), String> {
        let prefix = self.path.strip_suffix("/mcp").unwrap_or_default();
        let uri = format!("{}{prefix}/health/live", self.origin);
        let request = Request::get(uri)
            .header(header::USER_AGENT, USER_AGENT)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(self.setup_timeout, self.client.request(request))
            .await
            .map_err(|_| format!("no answer within {} ms", self.setup_timeout.as_millis()))?
            .map_err(|e| error_text(&e))?;
        let status = response.status();
        if status.is_success() { Ok(()) } else { Err(format!("/health/live answered HTTP {status}")) }
    }

    fn uri(&self, query: &str) -> String {
        let query = match (self.base_query.as_deref(), query) {
            (Some(base), "") => base.to_owned(),
            (Some(base), view) => format!("{base}&{view}"),
            (None, view) => view.to_owned(),
        };
        if query.is_empty() {
            format!("{}{}", self.origin, self.path)
        } else {
            format!("{}{}?{query}", self.origin, self.path)
        }
    }

    fn build(&self, request: BridgeRequest) -> Result<Request<Full<Bytes>>, TransportError> {
        let method = match request.verb {
            Verb::Post => Method::POST,
            Verb::Get => Method::GET,
            Verb::Delete => Method::DELETE,
        };
        let mut builder =
            Request::builder().method(method).uri(self.uri(&request.query)).header(header::USER_AGENT, USER_AGENT);
        if let Some(accept) = request.accept() {
            builder = builder.header(header::ACCEPT, accept);
        }
        if let Some(content_type) = request.content_type() {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        for (name, value) in
            [("mcp-session-id", &request.session_id), ("mcp-protocol-version", &request.protocol_version)]
        {
            if let Some(value) = value {
                let value = HeaderValue::from_str(value)
                    .map_err(|_| TransportError::Failed(format!("the daemon sent an unusable {name}")))?;
                builder = builder.header(name, value);
            }
        }
        builder.body(Full::new(Bytes::from(request.body))).map_err(|e| TransportError::Failed(e.to_string()))
    }
}

impl Transport for HttpTransport {
    fn send(&self, request: BridgeRequest) -> impl Future<Output = Result<Reply, TransportError>> + Send + 'static {
        let bounded = request.verb != Verb::Post;
        let built = self.build(request);
        let client = self.client.clone();
        let (limit, max_body) = (self.setup_timeout, self.max_body_bytes);
        async move {
            let response = client.request(built?);
            let response = if bounded {
                tokio::time::timeout(limit, response)
                    .await
                    .map_err(|_| TransportError::Unreachable(format!("no answer within {} ms", limit.as_millis())))?
            } else {
                response.await
            };
            let response = response.map_err(|e| TransportError::Unreachable(error_text(&e)))?;
            read_reply(response, max_body).await
        }
    }
}

async fn read_reply(response: Response<Incoming>, max_body: usize) -> Result<Reply, TransportError> {
    let status = response.status().as_u16();
    let headers = response.headers();
    let session_id = headers.get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let streamed = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim().to_ascii_lowercase().starts_with("text/event-stream"));
    let body = response.into_body();
    let body = if streamed {
        ReplyBody::Events(event_stream(body, max_body))
    } else {
        ReplyBody::Complete(read_body(body, max_body).await?)
    };
    Ok(Reply { status, session_id, body })
}

/// The whole body, refusing more than `max` bytes.
async fn read_body(mut body: Incoming, max: usize) -> Result<Vec<u8>, TransportError> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| TransportError::Unreachable(format!("reading a response failed: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > max {
                return Err(TransportError::Failed(format!("response body exceeds {max} bytes")));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

struct StreamState {
    body: Incoming,
    parser: SseParser,
    ready: VecDeque<onemcp_core::SseEvent>,
    done: bool,
}

/// Events as the body delivers them. A body that breaks off is the daemon going away.
fn event_stream(body: Incoming, max_event_bytes: usize) -> EventStream {
    let state = StreamState { body, parser: SseParser::new(max_event_bytes), ready: VecDeque::new(), done: false };
    Box::pin(futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(event) = state.ready.pop_front() {
                return Some((Ok(event), state));
            }
            if state.done {
                return None;
            }
            match state.body.frame().await {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else { continue };
                    match state.parser.push(&data) {
                        Ok(events) => state.ready.extend(events),
                        Err(error) => {
                            state.done = true;
                            return Some((Err(TransportError::Failed(error.to_string())), state));
                        }
                    }
                }
                Some(Err(error)) => {
                    state.done = true;
                    let error = TransportError::Unreachable(format!("the event stream broke off: {error}"));
                    return Some((Err(error), state));
                }
                None => state.done = true,
            }
        }
    }))
}

/// An error and its causes on one line ("client error (Connect): tcp connect error: Connection refused").
fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(url: &str) -> HttpTransport {
        match HttpTransport::new(url, Duration::from_secs(1), 1024) {
            Ok(t) => t,
            Err(e) => panic!("{url}: {e}"),
        }
    }

    #[test]
    fn urls_are_checked_and_completed() {
        assert_eq!(transport("http://127.0.0.1:3050").url(), "http://127.0.0.1:3050/mcp");
        assert_eq!(transport("http://127.0.0.1:3050/mcp").url(), "http://127.0.0.1:3050/mcp");
        assert!(matches!(HttpTransport::new("https://example.com/mcp", Duration::ZERO, 1), Err(UrlError::Scheme(_))));
        assert!(matches!(HttpTransport::new("not a url", Duration::ZERO, 1), Err(UrlError::Invalid { .. })));
        assert!(matches!(HttpTransport::new("/mcp", Duration::ZERO, 1), Err(UrlError::Scheme(_))));
    }

    #[test]
    fn the_view_query_is_appended_to_the_urls_own() {
        let plain = transport("http://127.0.0.1:1/mcp");
        assert_eq!(plain.uri(""), "http://127.0.0.1:1/mcp");
        assert_eq!(plain.uri("tags=a,b"), "http://127.0.0.1:1/mcp?tags=a,b");
        let with_query = transport("http://127.0.0.1:1/mcp?app=x");
        assert_eq!(with_query.uri(""), "http://127.0.0.1:1/mcp?app=x");
        assert_eq!(with_query.uri("pagination=true"), "http://127.0.0.1:1/mcp?app=x&pagination=true");
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        // Bind then drop: the port is (almost certainly) closed right after.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
        let Ok(port) = port else { return };
        let t = transport(&format!("http://127.0.0.1:{port}/mcp"));
        assert!(t.probe().await.is_err());
        let request = BridgeRequest {
            verb: Verb::Post,
            query: String::new(),
            session_id: None,
            protocol_version: None,
            body: b"{}".to_vec(),
        };
        assert!(matches!(t.send(request).await, Err(TransportError::Unreachable(_))));
    }
}
