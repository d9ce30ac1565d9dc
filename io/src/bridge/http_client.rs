//! The network carrier: real HTTP/1.1 (keep-alive, pooled) to a running daemon, for
//! `1mcp proxy`. JSON bodies are read whole (bounded); event streams are parsed as they come.

use super::{BridgeRequest, EventStream, Reply, ReplyBody, Transport, TransportError, Verb};
use crate::mcp_http::{self, BodyError, HttpClient, StreamError, error_text};
use futures_util::StreamExt;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, Uri};
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
    /// The HTTP client could not be set up.
    #[error("{0}")]
    Client(String),
}

/// Pooled HTTP/1.1 client bound to one daemon endpoint.
#[derive(Clone, Debug)]
pub(crate) struct HttpTransport {
    client: HttpClient,
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
    /// `Authorization` value sent with every request, if the daemon wants a token.
    bearer: Option<HeaderValue>,
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
        let client = mcp_http::http_client(setup_timeout).map_err(UrlError::Client)?;
        Ok(HttpTransport {
            client,
            origin: format!("http://{authority}"),
            path,
            base_query: uri.query().filter(|q| !q.is_empty()).map(str::to_owned),
            setup_timeout,
            max_body_bytes,
            bearer: None,
        })
    }

    /// Send `Authorization: Bearer <token>` with every MCP request.
    pub(crate) fn with_token(mut self, token: &str) -> Result<Self, UrlError> {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| UrlError::Invalid { url: self.url(), why: "the token is not a valid header value".into() })?;
        self.bearer = Some(value);
        Ok(self)
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
        if let Some(bearer) = &self.bearer {
            builder = builder.header(header::AUTHORIZATION, bearer.clone());
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
        for (name, value) in &request.mcp_headers {
            let value = HeaderValue::from_str(value)
                .map_err(|_| TransportError::Failed(format!("{name} cannot be sent as a header")))?;
            builder = builder.header(name.as_str(), value);
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
    let session_id = mcp_http::session_id(response.headers());
    let streamed = mcp_http::is_event_stream(response.headers());
    let body = response.into_body();
    let body = if streamed {
        ReplyBody::Events(event_stream(body, max_body))
    } else {
        let body = mcp_http::read_body(body, max_body).await.map_err(|e| match e {
            BodyError::TooLarge(_) => TransportError::Failed(format!("response body exceeds {max_body} bytes")),
            BodyError::Broken(why) => TransportError::Unreachable(format!("reading a response failed: {why}")),
        })?;
        ReplyBody::Complete(body)
    };
    Ok(Reply { status, session_id, body })
}

/// Events as the body delivers them. A body that breaks off is the daemon going away.
fn event_stream(body: Incoming, max_event_bytes: usize) -> EventStream {
    Box::pin(mcp_http::event_stream(body, max_event_bytes).map(|item| match item {
        Ok(parsed) => Ok(parsed.event),
        Err(StreamError::Event(error)) => Err(TransportError::Failed(error.to_string())),
        Err(error @ StreamError::Broken(_)) => Err(TransportError::Unreachable(error.to_string())),
    }))
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
            mcp_headers: Vec::new(),
            body: b"{}".to_vec(),
        };
        assert!(matches!(t.send(request).await, Err(TransportError::Unreachable(_))));
    }
}
