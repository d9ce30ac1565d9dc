//! Streamable HTTP (2025-11-25), client side: every message is a POST; answers are a JSON body
//! or a response event stream; the session's GET stream carries the server's own messages.
//! What each answer means is the connection's [`HttpLink`](onemcp_core::http_link::HttpLink)'s
//! call; this module does the requests and delivers what they bring.

use super::{Conn, Control, PEER, Session, Unsent, legacy_sse, message_kind, request_id, send_authorized};
use crate::mcp_http::messages::{Envelope, answer_line, is_response_to};
use crate::mcp_http::{self, BodyError, ParsedEvents};
use futures_util::StreamExt;
use hyper::body::Bytes;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Response};
use onemcp_core::http_link::{
    CONNECT_TIMEOUT, DELETE_TIMEOUT, FirstRefusal, LinkEnd, MAX_IN_FLIGHT, MessageKind, PostAnswer, PostHeaders,
    PostVerdict, StreamOpen, StreamStep,
};
use serde_json::Value;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

const POST_ACCEPT: &str = "application/json, text/event-stream";
const STREAM_ACCEPT: &str = "text/event-stream";

/// Runs one streamable-HTTP connection until it is stopped or lost. In auto mode, a refused
/// `initialize` may switch to legacy SSE.
pub(super) async fn run(
    conn: &Arc<Conn>,
    mut lines: mpsc::Receiver<String>,
    mut stop: oneshot::Receiver<()>,
    control: mpsc::UnboundedReceiver<Control>,
) -> LinkEnd {
    conn.opened().await;
    match relay(conn, &mut lines, &mut stop, control).await {
        Relayed::Over(end) => {
            end_session(conn).await;
            end
        }
        Relayed::FallBack(initialize) => legacy_sse::fall_back(conn, initialize, lines, stop).await,
    }
}

/// How the streamable connection ended.
enum Relayed {
    /// The link is over.
    Over(LinkEnd),
    /// Not a streamable-HTTP server: legacy SSE is tried with this `initialize`.
    FallBack(String),
}

/// Adds (or replaces) `headers` on `request`; one that is not a valid header is left out (the
/// server then refuses the request, saying which).
fn with_headers<B>(request: &mut hyper::Request<B>, headers: &[(String, String)]) {
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) =
            (hyper::header::HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value))
        {
            request.headers_mut().insert(name, value);
        }
    }
}

/// The facts of `response` to a POST of `kind` that carried `session`.
fn post_answer<'a>(response: &'a Response<Incoming>, kind: MessageKind, session: Option<&Session>) -> PostAnswer<'a> {
    PostAnswer {
        kind,
        status: response.status().as_u16(),
        with_session: session.is_some_and(|s| s.id.is_some()),
        event_stream: mcp_http::is_event_stream(response.headers()),
        session_id: response.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()),
    }
}

/// POSTs the driver's lines and follows the tasks' control messages until the connection
/// ends; then nothing of it keeps running.
async fn relay(
    conn: &Arc<Conn>,
    lines: &mut mpsc::Receiver<String>,
    stop: &mut oneshot::Receiver<()>,
    mut control: mpsc::UnboundedReceiver<Control>,
) -> Relayed {
    let mut tasks = JoinSet::new();
    let mut stream = ServerStream::default();
    let mut requests = Requests::default();
    let end = loop {
        // Lines wait while the session's stream is opening (the link bounds the wait); the
        // stream's first answer, or the refused `notifications/initialized` task ending, wakes
        // the loop.
        let held = conn.link().posts_held_until(conn.clock.now());
        let wait = async {
            if let Some(at) = held {
                tokio::time::sleep_until(conn.clock.to_tokio(at)).await;
            }
        };
        let step = tokio::select! {
            _ = &mut *stop => ControlFlow::Break(Relayed::Over(conn.link().handle_stop())),
            Some(message) = control.recv() => stream.follow(conn, message),
            Some(_) = tasks.join_next(), if !tasks.is_empty() => ControlFlow::Continue(()),
            () = wait, if held.is_some() => ControlFlow::Continue(()),
            line = lines.recv(), if held.is_none() && tasks.len() < MAX_IN_FLIGHT => {
                spawn_post(conn, line, &mut tasks, &mut requests)
            }
        };
        if let ControlFlow::Break(end) = step {
            break end;
        }
    };
    tasks.abort_all();
    stream.abort();
    end
}

/// Starts POSTing `line`; `None` (the driver dropped the handle) is the same as a stop. A
/// request the core cancels has its POST abandoned: its answer is no longer wanted, and for a
/// long-lived one (a stateless server's `subscriptions/listen`) closing the stream is how the
/// revision ends it.
fn spawn_post(
    conn: &Arc<Conn>,
    line: Option<String>,
    tasks: &mut JoinSet<()>,
    requests: &mut Requests,
) -> ControlFlow<Relayed> {
    let Some(line) = line else { return ControlFlow::Break(Relayed::Over(conn.link().handle_stop())) };
    let envelope = Envelope::read(line.as_bytes());
    conn.link().handle_posting(message_kind(&envelope), conn.clock.now());
    if envelope.method.as_deref() == Some("notifications/cancelled") {
        requests.abandon(&line);
    }
    let id = request_id(&envelope);
    let handle = tasks.spawn(post(Arc::clone(conn), line, envelope));
    if let Some(id) = id {
        requests.track(&id, handle);
    }
    ControlFlow::Continue(())
}

/// The POSTs of requests still running, by request id (as JSON text), so a cancellation can
/// end one. Finished ones are pruned as new ones come, so the map stays near `MAX_IN_FLIGHT`.
#[derive(Default)]
struct Requests(std::collections::BTreeMap<String, tokio::task::AbortHandle>);

impl Requests {
    fn track(&mut self, id: &Value, handle: tokio::task::AbortHandle) {
        if self.0.len() >= MAX_IN_FLIGHT {
            self.0.retain(|_, handle| !handle.is_finished());
        }
        self.0.insert(id.to_string(), handle);
    }

    /// `cancellation` (a `notifications/cancelled` line) names a request: stop waiting for it.
    fn abandon(&mut self, cancellation: &str) {
        let Ok(message) = serde_json::from_str::<Value>(cancellation) else { return };
        let Some(id) = message.pointer("/params/requestId") else { return };
        if let Some(handle) = self.0.remove(&id.to_string()) {
            handle.abort();
        }
    }
}

/// The session's GET stream, opened when the link says so.
#[derive(Default)]
struct ServerStream(Option<JoinHandle<()>>);

impl ServerStream {
    /// Acts on a control message: opens the stream (once), ends the connection, or leaves it
    /// for legacy SSE.
    fn follow(&mut self, conn: &Arc<Conn>, message: Control) -> ControlFlow<Relayed> {
        match message {
            Control::OpenStream => {
                self.0.get_or_insert_with(|| tokio::spawn(listen(Arc::clone(conn))));
                ControlFlow::Continue(())
            }
            Control::StreamAnswered => ControlFlow::Continue(()),
            Control::Ended(end) => ControlFlow::Break(Relayed::Over(end)),
            Control::FallBack(initialize) => ControlFlow::Break(Relayed::FallBack(initialize)),
        }
    }

    fn abort(self) {
        if let Some(task) = self.0 {
            task.abort();
        }
    }
}

/// POSTs one message (with the session headers the link gives it, nothing once it is over)
/// and delivers the answer.
async fn post(conn: Arc<Conn>, line: String, envelope: Envelope) {
    let kind = message_kind(&envelope);
    let session = {
        let link = conn.link();
        match link.post_headers(kind) {
            PostHeaders::Ended => return,
            PostHeaders::Plain => None,
            PostHeaders::Session(headers) => Some(Session::of(headers)),
        }
    };
    let id = request_id(&envelope);
    // Kept in case the server refuses it for not speaking streamable HTTP (auto mode).
    let initialize = (kind == MessageKind::Initialize).then(|| line.clone());
    let body = Bytes::from(line);
    let make = || {
        let mut request =
            conn.request(Method::POST, &conn.url, Some(POST_ACCEPT), Some(body.clone()), session.as_ref())?;
        with_headers(&mut request, &conn.stateless_headers(&envelope));
        Ok(request)
    };
    let response = match send_authorized(&conn, make).await {
        Ok(response) => response,
        Err(Unsent::Failed(why)) => {
            // Before any answer the server was never there: the backend did not start.
            let failed_start = conn.link().handle_post_failed(&why);
            match failed_start {
                Some(end) => conn.ended(end),
                None => conn.failed(id.as_ref(), &why).await,
            }
            return;
        }
        Err(Unsent::NeedsUser(why)) => {
            // The hub hears it first and fails what this incarnation owed (this request too)
            // saying where to authorize; an error line first would read as the server failing
            // the request, and a handshake failing restarts the server.
            let end = conn.link().handle_unauthorized(&why);
            conn.ended(end);
            return;
        }
    };
    // The link learns the session from the answer before the core sees it, so the core's next
    // message carries it.
    let verdict = conn.link().handle_post_answer(post_answer(&response, kind, session.as_ref()));
    match (verdict, initialize) {
        (PostVerdict::PeekBody, Some(initialize)) => refused_initialize(&conn, response, initialize, id).await,
        (verdict, _) => deliver(conn, response, envelope, kind, verdict).await,
    }
}

/// The `initialize` POST was refused in auto mode: the body decides whether the server speaks
/// streamable HTTP at all (then the refusal is delivered) or the link falls back to legacy SSE.
async fn refused_initialize(conn: &Conn, response: Response<Incoming>, initialize: String, id: Option<Value>) {
    let status = response.status().as_u16();
    let body = mcp_http::read_body(response.into_body(), conn.max_line).await.unwrap_or_default();
    let refusal = conn.link().handle_first_refusal(status, &body, id.as_ref());
    if refusal == FirstRefusal::FallBack {
        tracing::info!(server = %conn.server, status, "not a streamable-HTTP server; trying legacy HTTP+SSE");
        let _ = conn.control.send(Control::FallBack(initialize));
        return;
    }
    deliver_body(conn, status, Ok(body), id.as_ref()).await;
}

/// Does what the link's `verdict` on the answer to a POST of `kind` says.
async fn deliver(
    conn: Arc<Conn>,
    response: Response<Incoming>,
    envelope: Envelope,
    kind: MessageKind,
    verdict: PostVerdict,
) {
    let status = response.status().as_u16();
    let id = request_id(&envelope);
    // A stateless server's tool list says which call parameters go into headers.
    let lists_tools = envelope.method.as_deref() == Some("tools/list");
    match verdict {
        // Nothing is replayed: the core fails what is in flight and starts over.
        PostVerdict::Ended(end) => {
            conn.ended(end);
            return;
        }
        PostVerdict::DeliverStream => {
            if !deliver_event_stream(&conn, response, id.as_ref(), (kind, lists_tools)).await {
                return;
            }
        }
        _ => deliver_json(&conn, response, id.as_ref(), (kind, lists_tools)).await,
    }
    if conn.link().handle_delivered(kind, status) {
        let _ = conn.control.send(Control::OpenStream);
    }
}

/// Delivers a response event stream; `id` fails if the stream ends without answering it.
/// False if the stream broke off.
async fn deliver_event_stream(
    conn: &Conn,
    response: Response<Incoming>,
    id: Option<&Value>,
    (kind, lists_tools): (MessageKind, bool),
) -> bool {
    let mut events = mcp_http::event_stream(response.into_body(), conn.max_line);
    let mut resumes = 0;
    loop {
        let resume_at = match pump_answer(conn, &mut events, id, (kind, lists_tools)).await {
            Pumped::Answered => return true,
            Pumped::Broken => return false,
            Pumped::Ended(_) if id.is_none() => return true,
            Pumped::Ended(resume_at) => resume_at,
        };
        // Ended without the answer. A stream that named its events can be resumed (SEP-1699):
        // a GET with Last-Event-ID, after the server's `retry`, at most RESUMES times.
        let Some((last, retry)) = resume_at.filter(|_| resumes < RESUMES) else {
            conn.failed(id, &format!("{PEER} ended its event stream without answering")).await;
            return true;
        };
        resumes += 1;
        tokio::time::sleep(retry.map_or(RESUME_DELAY, Duration::from_millis).min(MAX_RESUME_DELAY)).await;
        match resume(conn, &last).await {
            Ok(resumed) => events = resumed,
            Err(why) => {
                let why = format!("{PEER} ended its event stream without answering; resuming it failed: {why}");
                conn.failed(id, &why).await;
                return true;
            }
        }
    }
}

/// How an answer stream went.
enum Pumped {
    /// The answer came.
    Answered,
    /// It broke off (already reported).
    Broken,
    /// It ended without the answer; where it could be resumed (last event id and `retry`).
    Ended(Option<(String, Option<u64>)>),
}

/// Delivers an answer stream's events until it ends or breaks.
async fn pump_answer(
    conn: &Conn,
    events: &mut ParsedEvents,
    id: Option<&Value>,
    (kind, lists_tools): (MessageKind, bool),
) -> Pumped {
    let mut answered = false;
    let mut resume_at = None;
    while let Some(item) = events.next().await {
        if let Ok(parsed) = &item {
            conn.answer_data(kind, lists_tools, parsed.event.data.as_bytes());
            resume_at = parsed.id.clone().map(|at| (at, parsed.retry));
        }
        match conn.event(item).await {
            Ok(message) => answered |= message.is_some_and(|m| is_response_to(&m, id)),
            Err(why) => {
                if !answered {
                    conn.failed(id, &format!("{PEER} broke off its answer: {why}")).await;
                }
                return Pumped::Broken;
            }
        }
    }
    if answered { Pumped::Answered } else { Pumped::Ended(resume_at) }
}

/// Times a POST's answer stream that ended without the answer is resumed.
const RESUMES: u32 = 3;
/// Wait before resuming when the server named none (`retry:`).
const RESUME_DELAY: Duration = Duration::from_secs(1);
/// Longest wait a server's `retry:` may ask for before a resume.
const MAX_RESUME_DELAY: Duration = Duration::from_secs(30);

/// Resumes an answer stream after event `last`: a GET with `Last-Event-ID`, in the session.
async fn resume(conn: &Conn, last: &str) -> Result<ParsedEvents, String> {
    let session = match conn.link().post_headers(MessageKind::Other) {
        PostHeaders::Session(headers) => Some(Session::of(headers)),
        PostHeaders::Plain => None,
        PostHeaders::Ended => return Err("the connection is over".into()),
    };
    let mut request = conn.request(Method::GET, &conn.url, Some(STREAM_ACCEPT), None, session.as_ref())?;
    let last = HeaderValue::from_str(last).map_err(|_| "the server's event id cannot be sent back".to_owned())?;
    request.headers_mut().insert("last-event-id", last);
    let response = tokio::time::timeout(CONNECT_TIMEOUT, conn.send(request))
        .await
        .map_err(|_| format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))??;
    if !response.status().is_success() || !mcp_http::is_event_stream(response.headers()) {
        return Err(format!("the server answered HTTP {}", response.status().as_u16()));
    }
    Ok(mcp_http::event_stream(response.into_body(), conn.max_line))
}

/// Delivers an answer that is a whole body (JSON, or an error status).
async fn deliver_json(
    conn: &Conn,
    response: Response<Incoming>,
    id: Option<&Value>,
    (kind, lists_tools): (MessageKind, bool),
) {
    let status = response.status().as_u16();
    let body = mcp_http::read_body(response.into_body(), conn.max_line).await;
    if let Ok(body) = &body {
        conn.answer_data(kind, lists_tools, body);
    }
    deliver_body(conn, status, body, id).await;
}

/// Delivers a complete answer (or says why there is none).
async fn deliver_body(conn: &Conn, status: u16, body: Result<Vec<u8>, BodyError>, id: Option<&Value>) {
    match body {
        Ok(body) => {
            let answer = answer_line(PEER, status, &body, id);
            if let Some(line) = answer.line {
                conn.line(line).await;
            }
            if let Some(why) = answer.complaint {
                tracing::warn!(server = %conn.server, generation = %conn.generation, "{why}");
            }
        }
        Err(BodyError::TooLarge(len)) => {
            conn.too_long(len).await;
            let why = format!("{PEER}'s answer exceeds {} bytes", conn.max_line);
            conn.failed(id, &why).await;
        }
        Err(error @ BodyError::Broken(_)) => conn.failed(id, &format!("{PEER}: {error}")).await,
    }
}

/// Keeps the session's GET stream open, delivering what it carries, for as long as the link
/// wants it: reopened when it ends or fails to open, at the instant the link says, with the
/// `Last-Event-ID` it says.
async fn listen(conn: Arc<Conn>) {
    loop {
        // Once the link has heard how the GET went, requests held back for the stream may go.
        let answered = || {
            let _ = conn.control.send(Control::StreamAnswered);
        };
        let step = match open_stream(&conn).await {
            Ok(Some(events)) => {
                answered();
                deliver_server_stream(&conn, events).await;
                conn.link().handle_stream_ended(conn.clock.now())
            }
            Ok(None) => {
                answered();
                return;
            }
            Err(why) => {
                tracing::debug!(server = %conn.server, %why, "cannot open the server stream");
                let step = conn.link().handle_stream_failed(conn.clock.now(), &why);
                answered();
                step
            }
        };
        match step {
            StreamStep::RetryAt(at) => tokio::time::sleep_until(conn.clock.to_tokio(at)).await,
            StreamStep::Ended(end) => {
                conn.ended(end);
                return;
            }
            StreamStep::Stop => return,
        }
    }
}

/// Delivers the server stream's events until it ends, telling the link each event id.
async fn deliver_server_stream(conn: &Conn, mut events: ParsedEvents) {
    while let Some(item) = events.next().await {
        if let Ok(parsed) = &item
            && let Some(id) = &parsed.id
        {
            conn.link().handle_stream_event_id(id);
        }
        if let Err(why) = conn.event(item).await {
            tracing::debug!(server = %conn.server, %why, "server stream broke");
        }
    }
    tracing::debug!(server = %conn.server, "server stream ended; reopening");
}

/// GETs the server stream: its events, `None` if there is none to be had (the link is over, the
/// server offers none or refuses it, or it lost the session, which is reported), or why the
/// server could not be reached.
async fn open_stream(conn: &Conn) -> Result<Option<ParsedEvents>, String> {
    let asked =
        conn.link().stream_request().map(|r| (Session::of(r.session), r.last_event_id.map(HeaderValue::from_str)));
    let Some((session, last_event_id)) = asked else { return Ok(None) };
    let mut request = conn.request(Method::GET, &conn.url, Some(STREAM_ACCEPT), None, Some(&session))?;
    if let Some(Ok(id)) = last_event_id {
        request.headers_mut().insert("last-event-id", id);
    }
    let response = tokio::time::timeout(CONNECT_TIMEOUT, conn.send(request))
        .await
        .map_err(|_| format!("the server stream did not open within {} s", CONNECT_TIMEOUT.as_secs()))??;
    let status = response.status();
    let open = conn.link().handle_stream_answer(status.as_u16(), mcp_http::is_event_stream(response.headers()));
    match open {
        StreamOpen::Listen => return Ok(Some(mcp_http::event_stream(response.into_body(), conn.max_line))),
        StreamOpen::Ended(end) => conn.ended(end),
        StreamOpen::NotOffered => tracing::debug!(server = %conn.server, "the server offers no stream of its own"),
        // Not what the spec allows, but not fatal: requests and their answers still work.
        StreamOpen::Refused => {
            tracing::warn!(server = %conn.server, %status, "the server refused its stream's GET; no server-initiated messages")
        }
    }
    Ok(None)
}

/// DELETE the session if the link says so (best effort, bounded): the server may free it at once.
async fn end_session(conn: &Conn) {
    let Some(session) = conn.link().session_to_end().map(Session::of) else { return };
    let Ok(request) = conn.request(Method::DELETE, &conn.url, None, None, Some(&session)) else { return };
    match tokio::time::timeout(DELETE_TIMEOUT, conn.send(request)).await {
        Ok(Ok(response)) => tracing::debug!(server = %conn.server, status = %response.status(), "session ended"),
        Ok(Err(why)) => tracing::debug!(server = %conn.server, %why, "could not end the session"),
        Err(_) => tracing::debug!(server = %conn.server, "ending the session timed out"),
    }
}
