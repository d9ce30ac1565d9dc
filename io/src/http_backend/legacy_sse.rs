//! The legacy HTTP+SSE transport (2024-11-05): a GET event stream whose first `endpoint`
//! event names where to POST; every server message is a `message` event on that stream.
//! The connection's [`HttpLink`](onemcp_core::http_link::HttpLink) says what an answer means
//! and how the connection ended.

use super::{Conn, PEER, Unsent, message_kind, request_id, send_authorized, shown_url};
use crate::mcp_http::messages::Envelope;
use crate::mcp_http::sse_parse::ParsedEvent;
use crate::mcp_http::{self, ParsedEvents, StreamError};
use futures_util::StreamExt;
use hyper::body::Bytes;
use hyper::http::uri::{Parts, PathAndQuery};
use hyper::{Method, Uri};
use onemcp_core::http_link::{
    CONNECT_TIMEOUT, LEGACY_ERROR_BODY, LinkEnd, MAX_IN_FLIGHT, MessageKind, PostAnswer, PostHeaders, PostVerdict,
};
use std::ops::ControlFlow;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

/// Auto mode found no streamable-HTTP server: try legacy SSE, then send it `first`, the
/// message the streamable attempt could not deliver. (Started was reported already; a failed
/// fallback is still a start that failed, and the link says what made it fall back.)
pub(super) async fn fall_back(
    conn: &Arc<Conn>,
    first: String,
    lines: mpsc::Receiver<String>,
    stop: oneshot::Receiver<()>,
) -> LinkEnd {
    run(conn, vec![first], lines, stop).await
}

/// Runs one legacy connection until it is stopped or its stream ends; `pending` is sent
/// first. The backend counts as started once the endpoint is known.
pub(super) async fn run(
    conn: &Arc<Conn>,
    pending: Vec<String>,
    lines: mpsc::Receiver<String>,
    mut stop: oneshot::Receiver<()>,
) -> LinkEnd {
    let (endpoint, events) = match open_in_time(conn, &mut stop).await {
        Ok(opened) => opened,
        Err(end) => return end,
    };
    tracing::debug!(server = %conn.server, endpoint = %shown_url(&endpoint), "legacy SSE connection open");
    conn.opened().await;
    let endpoint = Arc::new(endpoint);
    let mut tasks = JoinSet::new();
    for line in pending {
        tasks.spawn(post(Arc::clone(conn), Arc::clone(&endpoint), line));
    }
    relay(conn, &endpoint, events, lines, stop, tasks).await
}

/// Opens the stream and waits (bounded) for its endpoint; a failure means the backend never
/// started, a stop ends it.
async fn open_in_time(conn: &Conn, stop: &mut oneshot::Receiver<()>) -> Result<(Uri, ParsedEvents), LinkEnd> {
    let opened = tokio::select! {
        _ = stop => return Err(conn.link().handle_stop()),
        opened = tokio::time::timeout(CONNECT_TIMEOUT, open(conn)) => opened,
    };
    let Ok(opened) = opened else {
        let why = format!("{} sent no endpoint event within {} s", conn.shown, CONNECT_TIMEOUT.as_secs());
        return Err(conn.link().handle_start_failed(&why));
    };
    opened.map_err(|unopened| match unopened {
        Unsent::Failed(why) => conn.link().handle_start_failed(&why),
        Unsent::NeedsUser(why) => conn.link().handle_unauthorized(&why),
    })
}

impl From<String> for Unsent {
    fn from(why: String) -> Unsent {
        Unsent::Failed(why)
    }
}

/// Delivers the stream's events and POSTs the driver's lines until the connection ends.
async fn relay(
    conn: &Arc<Conn>,
    endpoint: &Arc<Uri>,
    mut events: ParsedEvents,
    mut lines: mpsc::Receiver<String>,
    mut stop: oneshot::Receiver<()>,
    mut tasks: JoinSet<()>,
) -> LinkEnd {
    loop {
        let step = tokio::select! {
            _ = &mut stop => ControlFlow::Break(conn.link().handle_stop()),
            item = events.next() => deliver_event(conn, item).await,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => ControlFlow::Continue(()),
            line = lines.recv(), if tasks.len() < MAX_IN_FLIGHT => spawn_post(conn, endpoint, line, &mut tasks),
        };
        if let ControlFlow::Break(end) = step {
            return end;
        }
    }
}

/// Delivers one event of the stream; the stream's end or break is the connection's.
async fn deliver_event(conn: &Conn, item: Option<Result<ParsedEvent, StreamError>>) -> ControlFlow<LinkEnd> {
    let Some(item) = item else { return ControlFlow::Break(conn.link().handle_legacy_stream_end(None)) };
    match conn.event(item).await {
        Ok(_) => ControlFlow::Continue(()),
        Err(why) => ControlFlow::Break(conn.link().handle_legacy_stream_end(Some(why))),
    }
}

/// Starts POSTing `line`; `None` (the driver dropped the handle) is the same as a stop.
fn spawn_post(
    conn: &Arc<Conn>,
    endpoint: &Arc<Uri>,
    line: Option<String>,
    tasks: &mut JoinSet<()>,
) -> ControlFlow<LinkEnd> {
    let Some(line) = line else { return ControlFlow::Break(conn.link().handle_stop()) };
    tasks.spawn(post(Arc::clone(conn), Arc::clone(endpoint), line));
    ControlFlow::Continue(())
}

/// GETs the stream (with fresh credentials again if the server refused them and the
/// authorizer got some) and waits for its `endpoint` event.
async fn open(conn: &Conn) -> Result<(Uri, ParsedEvents), Unsent> {
    let make = || conn.request(Method::GET, &conn.url, Some("text/event-stream"), None, None);
    let response = send_authorized(conn, make).await?;
    let status = response.status();
    if !status.is_success() || !mcp_http::is_event_stream(response.headers()) {
        return Err(format!("{} answered HTTP {status} without an event stream to the SSE GET", conn.shown).into());
    }
    let mut events = mcp_http::event_stream(response.into_body(), conn.max_line);
    while let Some(item) = events.next().await {
        match item {
            Ok(parsed) if parsed.event.event.as_deref() == Some("endpoint") => {
                let endpoint = resolve_endpoint(&conn.url, parsed.event.data.trim())?;
                return Ok((endpoint, events));
            }
            Ok(_) => tracing::debug!(server = %conn.server, "ignoring an event before the endpoint event"),
            Err(error) => return Err(format!("{}: {error}", conn.shown).into()),
        }
    }
    Err(format!("{} closed the SSE stream before sending its endpoint", conn.shown).into())
}

/// POSTs one message to the endpoint (nothing once the link is over); answers come on the
/// stream, so only failures matter.
async fn post(conn: Arc<Conn>, endpoint: Arc<Uri>, line: String) {
    let envelope = Envelope::read(line.as_bytes());
    let (id, kind) = (request_id(&envelope), message_kind(&envelope));
    if conn.link().post_headers(kind) == PostHeaders::Ended {
        return;
    }
    let body = Bytes::from(line);
    let make = || conn.request(Method::POST, &endpoint, None, Some(body.clone()), None);
    let why = match send_authorized(&conn, make).await {
        Ok(response) if verdict(&conn, &response, kind) == PostVerdict::Accepted => return,
        Ok(response) => {
            let status = response.status().as_u16();
            let body = mcp_http::read_body(response.into_body(), LEGACY_ERROR_BODY).await.unwrap_or_default();
            let quote = crate::mcp_http::messages::quote(&String::from_utf8_lossy(&body));
            format!("{PEER} answered HTTP {status}: {quote}")
        }
        // A legacy stream stays open: the request fails, saying where to authorize.
        Err(Unsent::Failed(why) | Unsent::NeedsUser(why)) => why,
    };
    conn.failed(id.as_ref(), &why).await;
}

/// The link's verdict on `response` to a legacy POST of `kind` (legacy POSTs carry no session).
fn verdict(conn: &Conn, response: &hyper::Response<hyper::body::Incoming>, kind: MessageKind) -> PostVerdict {
    let event_stream = mcp_http::is_event_stream(response.headers());
    let answer =
        PostAnswer { kind, status: response.status().as_u16(), with_session: false, event_stream, session_id: None };
    conn.link().handle_post_answer(answer)
}

/// The POST URL an `endpoint` event names, resolved against the stream's URL (RFC 3986 §5.2).
/// It must stay on the same origin: the config's headers (credentials) go with every POST.
pub(super) fn resolve_endpoint(base: &Uri, endpoint: &str) -> Result<Uri, String> {
    let refused = |why: &str| format!("unusable endpoint event from {}: {why}", shown_url(base));
    if endpoint.is_empty() {
        return Err(refused("it is empty"));
    }
    let resolved = if endpoint.contains("://") {
        endpoint.parse::<Uri>().map_err(|_| refused("not a URL"))?
    } else if let Some(rest) = endpoint.strip_prefix("//") {
        format!("{}://{rest}", base.scheme_str().unwrap_or("http")).parse::<Uri>().map_err(|_| refused("not a URL"))?
    } else {
        let (path, query) = match endpoint.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (endpoint, None),
        };
        let path = if path.is_empty() {
            base.path().to_owned()
        } else if path.starts_with('/') {
            remove_dot_segments(path)
        } else {
            let dir = base.path().rsplit_once('/').map_or("", |(dir, _)| dir);
            remove_dot_segments(&format!("{dir}/{path}"))
        };
        let path_and_query = match query {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        let mut parts = Parts::default();
        parts.scheme = base.scheme().cloned();
        parts.authority = base.authority().cloned();
        parts.path_and_query = Some(path_and_query.parse::<PathAndQuery>().map_err(|_| refused("not a URL path"))?);
        Uri::from_parts(parts).map_err(|_| refused("not a URL"))?
    };
    let origin = |uri: &Uri| {
        (uri.scheme_str().map(str::to_ascii_lowercase), uri.host().map(str::to_ascii_lowercase), uri.port_u16())
    };
    if origin(&resolved) != origin(base) {
        return Err(refused("it points to another origin"));
    }
    Ok(resolved)
}

/// RFC 3986 §5.2.4 on an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." | ".." => {
                if *segment == ".." {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            other => out.push(other),
        }
    }
    format!("/{}", out.join("/"))
}
