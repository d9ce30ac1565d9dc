//! HTTP backends: a remote MCP server presented to the driver like a child process. Lines the
//! core writes are POSTed; what the server answers (JSON bodies, response event streams, the
//! session's GET stream, legacy SSE `message` events) comes back as `BackendLine`s; a lost
//! session or an unreachable server is the connection's "exit".
//!
//! One task per connection owns everything (the POSTs in flight, the server stream), so
//! aborting it or stopping it ends every request of that incarnation. What an answer means
//! (a lost session, a fallback to legacy SSE, when to reopen the server stream and when the
//! server is gone) is decided by the connection's [`HttpLink`] in core; io does the requests,
//! feeds it what happened and does what it says.

mod legacy_sse;
mod streamable;
#[cfg(test)]
mod tests;

use crate::backend::BackendHandle;
use crate::backend_auth::registry::{Refusal, ServerAuth};
use crate::clock::Clock;
use crate::mcp_http::messages::{Envelope, INTERNAL_ERROR, error_line, event_line};
use crate::mcp_http::sse_parse::ParsedEvent;
use crate::mcp_http::{self, HttpClient, StreamError, error_text};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, Uri};
use onemcp_core::config::HttpConfig;
use onemcp_core::http_link::{
    AUTHORIZED_RESENDS, CONNECT_TIMEOUT, Era, HttpLink, LINE_QUEUE, LinkEnd, MessageKind, SessionHeaders,
};
use onemcp_core::{BackendKey, ExitInfo, Gen, Input};
use serde_json::Value;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::{mpsc, oneshot};

/// Sent with every request so the server's logs say who is calling.
const USER_AGENT: &str = concat!("1mcp/", env!("CARGO_PKG_VERSION"));
/// How synthesized errors name the other side.
const PEER: &str = "the server";

/// Headers from the config: names are logged, values never (they carry tokens).
#[derive(Clone, Default)]
pub(crate) struct ConfigHeaders(Vec<(HeaderName, HeaderValue)>);

impl std::fmt::Debug for ConfigHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(name, _)| name.as_str())).finish()
    }
}

impl ConfigHeaders {
    /// Checks every entry; an error names the header, never its value.
    pub(crate) fn new(headers: &std::collections::BTreeMap<String, String>) -> Result<Self, String> {
        let mut out = Vec::new();
        for (name, value) in headers {
            let header = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| format!("header name {name:?} is not a valid HTTP header name"))?;
            let mut value = HeaderValue::from_str(value.trim())
                .map_err(|_| format!("the value of header {name:?} is not a valid HTTP header value"))?;
            if onemcp_core::http_link::is_reserved_header(header.as_str()) {
                tracing::warn!(header = header.as_str(), "configured header is set by the transport; ignored");
                continue;
            }
            // Keeps it out of hyper's own debug output.
            value.set_sensitive(true);
            out.push((header, value));
        }
        Ok(ConfigHeaders(out))
    }
}

/// `scheme://host:port/path` of `uri`: no credentials, no query (either may hold secrets).
pub(crate) fn shown_url(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    let host = uri.host().unwrap_or_default();
    match uri.port_u16() {
        Some(port) => format!("{scheme}://{host}:{port}{}", uri.path()),
        None => format!("{scheme}://{host}{}", uri.path()),
    }
}

/// Parses the configured endpoint URL: `http://` or `https://` with a host.
pub(crate) fn endpoint_uri(url: &str) -> Result<Uri, String> {
    let uri: Uri = url.trim().parse().map_err(|_| "the URL is not valid".to_owned())?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(format!("{}: only http:// and https:// URLs are supported", shown_url(&uri)));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("the URL has no host".to_owned());
    }
    Ok(uri)
}

/// The session headers of one request, as the link gave them (a value that is no valid
/// header value is left out).
#[derive(Clone, Debug, Default)]
struct Session {
    id: Option<HeaderValue>,
    version: Option<HeaderValue>,
}

impl Session {
    fn of(headers: &SessionHeaders) -> Session {
        let value = |text: Option<&str>| text.and_then(|text| HeaderValue::from_str(text).ok());
        Session { id: value(headers.id()), version: value(headers.version()) }
    }
}

/// What POST and stream tasks tell the connection task.
#[derive(Debug)]
enum Control {
    /// The link says: open the server stream.
    OpenStream,
    /// The server stream's GET was answered or failed (the link may let held lines go).
    StreamAnswered,
    /// The link ended (the session is lost, the server unreachable, or it never started).
    Ended(LinkEnd),
    /// The server refused the `initialize` (this line) as one that does not speak streamable
    /// HTTP: try legacy SSE.
    FallBack(String),
}

/// What the tasks of one connection share.
struct Conn {
    server: BackendKey,
    generation: Gen,
    client: HttpClient,
    url: Uri,
    /// `url` as it may appear in messages.
    shown: String,
    headers: ConfigHeaders,
    max_line: usize,
    events: mpsc::Sender<Input>,
    /// The connection's policy; locked only between awaits.
    link: Mutex<HttpLink>,
    /// Turns the link's instants into sleeps.
    clock: Clock,
    control: mpsc::UnboundedSender<Control>,
    /// 1mcp's authorization toward the server (OAuth), unless the config sets `Authorization`.
    auth: Option<Arc<ServerAuth>>,
}

impl Conn {
    fn link(&self) -> MutexGuard<'_, HttpLink> {
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A request to `uri` with the config headers, 1mcp's credentials if it holds some, and
    /// the session's if `with_session`.
    fn request(
        &self,
        method: Method,
        uri: &Uri,
        accept: Option<&'static str>,
        body: Option<Bytes>,
        session: Option<&Session>,
    ) -> Result<Request<Full<Bytes>>, String> {
        let mut builder = Request::builder().method(method).uri(uri.clone()).header(header::USER_AGENT, USER_AGENT);
        for (name, value) in &self.headers.0 {
            builder = builder.header(name, value);
        }
        if let Some(bearer) = self.auth.as_ref().and_then(|auth| auth.bearer()) {
            builder = builder.header(header::AUTHORIZATION, bearer);
        }
        if let Some(accept) = accept {
            builder = builder.header(header::ACCEPT, accept);
        }
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(session) = session {
            if let Some(id) = &session.id {
                builder = builder.header("mcp-session-id", id);
            }
            if let Some(version) = &session.version {
                builder = builder.header("mcp-protocol-version", version);
            }
        }
        builder.body(Full::new(body.unwrap_or_default())).map_err(|e| e.to_string())
    }

    /// What the link learns from (an event of) the answer to a POST of `kind`; `lists_tools`
    /// when the POST was a `tools/list`.
    fn answer_data(&self, kind: MessageKind, lists_tools: bool, data: &[u8]) {
        let mut link = self.link();
        link.handle_answer_data(kind, data);
        if lists_tools {
            link.learn_tools(data);
        }
    }

    /// The headers of a stateless-revision request's POST; none for other messages.
    fn stateless_headers(&self, envelope: &Envelope) -> Vec<(String, String)> {
        match (&envelope.method, &envelope.stateless_params) {
            (Some(method), Some(params)) => self.link().stateless_headers(method, Some(params)),
            _ => Vec::new(),
        }
    }

    /// Sends `request`; a failure is described with the (redacted) URL.
    async fn send(&self, request: Request<Full<Bytes>>) -> Result<Response<Incoming>, String> {
        self.client.request(request).await.map_err(|e| format!("cannot reach {}: {}", self.shown, error_text(&e)))
    }

    /// Hands one message to the core; false once the hub is gone.
    async fn line(&self, line: String) -> bool {
        let input = Input::BackendLine { backend: self.server.clone(), generation: self.generation, line };
        self.events.send(input).await.is_ok()
    }

    async fn too_long(&self, len: usize) {
        tracing::warn!(server = %self.server, generation = %self.generation, len, "server message too long; discarded");
        let input = Input::BackendLineTooLong { backend: self.server.clone(), generation: self.generation, len };
        let _ = self.events.send(input).await;
    }

    /// Request `id` failed without an answer: the core gets an error response at once (it
    /// would otherwise wait for its timeout). Anything else is only logged.
    async fn failed(&self, id: Option<&Value>, why: &str) {
        match id {
            Some(id) => {
                self.line(error_line(id, INTERNAL_ERROR, why)).await;
            }
            None => {
                tracing::warn!(server = %self.server, generation = %self.generation, "message not delivered: {why}")
            }
        }
    }

    /// Delivers one event of a stream; returns the JSON-RPC message it carried.
    async fn event(&self, item: Result<ParsedEvent, StreamError>) -> Result<Option<Value>, String> {
        match item {
            Ok(parsed) => {
                if parsed.event.event.as_deref().is_some_and(|name| name != "message") {
                    return Ok(None);
                }
                let Some((line, message)) = event_line(&parsed.event.data) else { return Ok(None) };
                self.line(line).await;
                Ok(message)
            }
            Err(StreamError::Event(crate::mcp_http::sse_parse::SseError::TooLarge { len, .. })) => {
                self.too_long(len).await;
                Ok(None)
            }
            Err(StreamError::Broken(why)) => Err(why),
        }
    }

    async fn report(&self, end: &LinkEnd) {
        let (backend, generation) = (self.server.clone(), self.generation);
        let input = if end.is_failed_start() {
            Input::BackendSpawnFailed { backend, generation, error: end.to_string() }
        } else if let LinkEnd::NeedsAuthorization(why) = end {
            Input::BackendNeedsAuthorization { backend, generation, why: why.clone() }
        } else {
            let reason = end.to_string();
            tracing::debug!(server = %self.server, %generation, %reason, "HTTP backend connection ended");
            Input::BackendExited {
                backend,
                generation,
                status: ExitInfo { reason: Some(reason), ..ExitInfo::default() },
            }
        };
        let _ = self.events.send(input).await;
    }

    /// The transport is open: reports the backend started, the first time.
    async fn opened(&self) {
        if !self.link().handle_opened() {
            return;
        }
        let input = Input::BackendSpawned { backend: self.server.clone(), generation: self.generation, pid: None };
        let _ = self.events.send(input).await;
    }

    /// The link ended with `end` (a task found out): the connection task ends it.
    fn ended(&self, end: LinkEnd) {
        let _ = self.control.send(Control::Ended(end));
    }
}

/// Why a request brought no answer to deliver.
enum Unsent {
    /// It could not be sent, or brought no answer: why.
    Failed(String),
    /// The server refused 1mcp's credentials and only the user can go on: why, and where.
    NeedsUser(String),
}

/// Sends the request `make` builds (with 1mcp's credentials, if it holds some), building and
/// sending it again when a refusal of the credentials brought fresh ones.
async fn send_authorized(
    conn: &Conn,
    make: impl Fn() -> Result<Request<Full<Bytes>>, String>,
) -> Result<Response<Incoming>, Unsent> {
    let mut resends = 0;
    loop {
        let request = make().map_err(Unsent::Failed)?;
        let sent = conn.auth.as_ref().and_then(|_| request.headers().get(header::AUTHORIZATION).cloned());
        let response = conn.send(request).await.map_err(Unsent::Failed)?;
        match authorize(conn, &response, sent.as_ref(), resends).await {
            Authorized::Deliver => return Ok(response),
            Authorized::Resend => resends += 1,
            Authorized::NeedsUser(why) => return Err(Unsent::NeedsUser(why)),
        }
    }
}

/// What an answer means for 1mcp's authorization toward the server.
enum Authorized {
    /// Not a refusal of the credentials (or 1mcp does not authorize itself here): deliver it.
    Deliver,
    /// Fresh credentials are in hand: send the POST again.
    Resend,
    /// Only the user can go on (why, and where): the link is over.
    NeedsUser(String),
}

/// Hands a refusal (of a POST, or the legacy stream's GET) of the credentials `sent` (a 401, or a 403 asking for more scope) to the
/// server's authorizer; after [`AUTHORIZED_RESENDS`] resends a refusal needs the user.
async fn authorize(conn: &Conn, response: &Response<Incoming>, sent: Option<&HeaderValue>, resends: u32) -> Authorized {
    let status = response.status().as_u16();
    let Some(auth) = conn.auth.as_ref().filter(|_| matches!(status, 401 | 403)) else { return Authorized::Deliver };
    let challenges = response.headers().get_all(header::WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok());
    let Some(challenge) = conn.link().authorization_challenge(status, challenges) else { return Authorized::Deliver };
    tracing::info!(server = %conn.server, status, "the server refused 1mcp's credentials");
    match auth.refused(status, challenge, sent).await {
        Refusal::Resend if resends < AUTHORIZED_RESENDS => Authorized::Resend,
        Refusal::Resend => Authorized::NeedsUser(format!(
            "the server refused fresh credentials (HTTP {status}); authorize again at {}",
            auth.link()
        )),
        Refusal::NeedsUser(why) => Authorized::NeedsUser(why),
    }
}

/// The request id of a line, if it is a request.
fn request_id(envelope: &Envelope) -> Option<Value> {
    envelope.is_request().then(|| envelope.id.clone()).flatten()
}

/// What a line is to the link.
fn message_kind(envelope: &Envelope) -> MessageKind {
    MessageKind::of(envelope.method.as_deref(), envelope.id.is_some())
}

/// Opens backend `name`/`generation` at `config.url`, authorizing itself with `auth` if given;
/// its events go to `events`. Only a bad URL or header fails here; an unreachable server is
/// reported as `BackendSpawnFailed` later.
pub(crate) fn connect(
    name: &BackendKey,
    generation: Gen,
    config: &HttpConfig,
    auth: Option<Arc<ServerAuth>>,
    max_line: usize,
    events: mpsc::Sender<Input>,
) -> Result<BackendHandle, String> {
    let url = endpoint_uri(&config.url)?;
    let shown = shown_url(&url);
    let headers = ConfigHeaders::new(&config.headers).map_err(|why| format!("{shown}: {why}"))?;
    let client = mcp_http::http_client(CONNECT_TIMEOUT)?;
    let (control, control_rx) = mpsc::unbounded_channel();
    let conn = Arc::new(Conn {
        server: name.clone(),
        generation,
        client,
        url,
        shown,
        headers,
        max_line,
        events,
        link: Mutex::new(if auth.is_some() {
            HttpLink::new(config.flavor).authorizing()
        } else {
            HttpLink::new(config.flavor)
        }),
        clock: Clock::start(),
        control,
        auth,
    });
    let (lines_tx, lines) = mpsc::channel(LINE_QUEUE);
    let (stop_tx, stop) = oneshot::channel();
    let task = tokio::spawn(async move {
        let era = conn.link().era();
        let end = match era {
            Era::LegacySse => legacy_sse::run(&conn, Vec::new(), lines, stop).await,
            Era::Streamable => streamable::run(&conn, lines, stop, control_rx).await,
        };
        conn.report(&end).await;
    });
    Ok(BackendHandle::from_parts(None, lines_tx, stop_tx, task))
}
