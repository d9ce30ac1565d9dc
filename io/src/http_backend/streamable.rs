//! Streamable HTTP (2025-11-25), client side: every message is a POST; answers are a JSON body
//! or a response event stream; the session's GET stream carries the server's own messages.

use super::{
    CONNECT_TIMEOUT, Conn, Control, DELETE_TIMEOUT, End, MAX_IN_FLIGHT, PEER, STOPPED, Session, legacy_sse, request_id,
};
use crate::mcp_http::messages::{Envelope, answer_line, is_response_to};
use crate::mcp_http::{self, BodyError, ParsedEvents};
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Response, StatusCode};
use serde_json::Value;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

const POST_ACCEPT: &str = "application/json, text/event-stream";
const STREAM_ACCEPT: &str = "text/event-stream";
/// Failed connects in a row to (re)open the server stream before the server counts as gone.
const STREAM_RETRIES: u32 = 6;
/// First pause before reopening the server stream; doubles per failure up to [`STREAM_BACKOFF_MAX`].
const STREAM_BACKOFF: Duration = Duration::from_millis(100);
const STREAM_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Exit reason when the server forgot our session.
pub(super) const SESSION_LOST: &str = "the server lost the MCP session (HTTP 404)";

/// True if an `initialize` POST answered `status` with `body` means "not a streamable-HTTP
/// server, try legacy SSE" (spec, backwards compatibility): 400, 404 or 405, unless the body
/// is the server's JSON-RPC answer to that very request.
pub(super) fn falls_back_to_sse(status: u16, body: &[u8], id: Option<&Value>) -> bool {
    if !matches!(status, 400 | 404 | 405) {
        return false;
    }
    let answered = serde_json::from_slice::<Value>(body).ok().is_some_and(|message| is_response_to(&message, id));
    !answered
}

/// Runs one streamable-HTTP connection until it is stopped or lost. With `auto`, a refused
/// first POST switches to legacy SSE.
pub(super) async fn run(
    conn: &Arc<Conn>,
    auto: bool,
    mut lines: mpsc::Receiver<String>,
    mut stop: oneshot::Receiver<()>,
    control: mpsc::UnboundedReceiver<Control>,
) -> End {
    conn.spawned().await;
    // The first message (the core's `initialize`) decides whether the server is there at all,
    // and, in auto mode, which transport it speaks.
    let Some(first) = first_line(&mut lines, &mut stop).await else { return End::Exited(STOPPED.into()) };
    let response = match post_first(conn, &first, &mut stop).await {
        Ok(response) => response,
        Err(end) => return end,
    };
    let mut tasks = JoinSet::new();
    if let Some(context) = first_answer(conn, auto, response, Envelope::read(first.as_bytes()), &mut tasks).await {
        return legacy_sse::fall_back(conn, first, lines, stop, &context).await;
    }
    let end = relay(conn, lines, stop, control, tasks).await;
    if end == End::Exited(STOPPED.into()) {
        end_session(conn).await;
    }
    end
}

/// Waits for the first line to send; `None` if the connection is stopped first.
async fn first_line(lines: &mut mpsc::Receiver<String>, stop: &mut oneshot::Receiver<()>) -> Option<String> {
    tokio::select! {
        _ = stop => None,
        line = lines.recv() => line,
    }
}

/// POSTs the first message; a failure means the backend never started, a stop ends it.
async fn post_first(conn: &Conn, first: &str, stop: &mut oneshot::Receiver<()>) -> Result<Response<Incoming>, End> {
    let request = conn
        .request(Method::POST, &conn.url, Some(POST_ACCEPT), Some(first.to_owned()), None)
        .map_err(End::SpawnFailed)?;
    tokio::select! {
        _ = stop => Err(End::Exited(STOPPED.into())),
        response = conn.send(request) => response.map_err(End::SpawnFailed),
    }
}

/// Handles the answer to the first POST. Returns why to fall back to legacy SSE if `auto` and
/// the server does not speak streamable HTTP; otherwise the answer is (being) delivered.
async fn first_answer(
    conn: &Arc<Conn>,
    auto: bool,
    response: Response<Incoming>,
    envelope: Envelope,
    tasks: &mut JoinSet<()>,
) -> Option<String> {
    let status = response.status().as_u16();
    if !(auto && matches!(status, 400 | 404 | 405)) {
        tasks.spawn(answered(Arc::clone(conn), response, envelope, None));
        return None;
    }
    // The body decides: it may be the server's JSON-RPC answer after all.
    let id = request_id(&envelope);
    let body = mcp_http::read_body(response.into_body(), conn.max_line).await.unwrap_or_default();
    if falls_back_to_sse(status, &body, id.as_ref()) {
        tracing::info!(server = %conn.server, status, "not a streamable-HTTP server; trying legacy HTTP+SSE");
        return Some(format!("POST answered HTTP {status}"));
    }
    deliver_body(conn, status, Ok(body), id.as_ref()).await;
    None
}

/// POSTs the driver's lines and follows the tasks' control messages until the connection
/// ends; then nothing of it keeps running.
async fn relay(
    conn: &Arc<Conn>,
    mut lines: mpsc::Receiver<String>,
    mut stop: oneshot::Receiver<()>,
    mut control: mpsc::UnboundedReceiver<Control>,
    mut tasks: JoinSet<()>,
) -> End {
    let mut stream = ServerStream::default();
    let end = loop {
        let step = tokio::select! {
            _ = &mut stop => ControlFlow::Break(End::Exited(STOPPED.into())),
            Some(message) = control.recv() => stream.follow(conn, message),
            Some(_) = tasks.join_next(), if !tasks.is_empty() => ControlFlow::Continue(()),
            line = lines.recv(), if tasks.len() < MAX_IN_FLIGHT => spawn_post(conn, line, &mut tasks),
        };
        if let ControlFlow::Break(end) = step {
            break end;
        }
    };
    tasks.abort_all();
    stream.abort();
    end
}

/// Starts POSTing `line`; `None` (the driver dropped the handle) is the same as a stop.
fn spawn_post(conn: &Arc<Conn>, line: Option<String>, tasks: &mut JoinSet<()>) -> ControlFlow<End> {
    let Some(line) = line else { return ControlFlow::Break(End::Exited(STOPPED.into())) };
    tasks.spawn(post(Arc::clone(conn), line));
    ControlFlow::Continue(())
}

/// The session's GET stream, opened once the session is initialized.
#[derive(Default)]
struct ServerStream(Option<JoinHandle<()>>);

impl ServerStream {
    /// Acts on a control message: opens the stream (once), or ends the connection.
    fn follow(&mut self, conn: &Arc<Conn>, message: Control) -> ControlFlow<End> {
        match message {
            Control::Initialized => {
                self.0.get_or_insert_with(|| tokio::spawn(listen(Arc::clone(conn))));
                ControlFlow::Continue(())
            }
            Control::SessionLost => ControlFlow::Break(End::Exited(SESSION_LOST.into())),
            Control::Unreachable(why) => ControlFlow::Break(End::Exited(why)),
        }
    }

    fn abort(self) {
        if let Some(task) = self.0 {
            task.abort();
        }
    }
}

/// POSTs one message and delivers the answer.
async fn post(conn: Arc<Conn>, line: String) {
    let envelope = Envelope::read(line.as_bytes());
    let id = request_id(&envelope);
    let session = (!is_initialize(&envelope)).then(|| conn.session());
    let request = conn.request(Method::POST, &conn.url, Some(POST_ACCEPT), Some(line), session.as_ref());
    let response = match request {
        Ok(request) => conn.send(request).await,
        Err(why) => Err(why),
    };
    match response {
        Ok(response) => answered(conn, response, envelope, session).await,
        Err(why) => conn.failed(id.as_ref(), &why).await,
    }
}

/// True for the `initialize` request, whose answer carries the session's headers.
fn is_initialize(envelope: &Envelope) -> bool {
    envelope.is_request() && envelope.method.as_deref() == Some("initialize")
}

/// True for the `notifications/initialized` notification, after which the server stream opens.
fn is_initialized_notification(envelope: &Envelope) -> bool {
    envelope.method.as_deref() == Some("notifications/initialized") && envelope.id.is_none()
}

/// Delivers the answer to a POSTed message; `session` is what the request carried.
async fn answered(conn: Arc<Conn>, response: Response<Incoming>, envelope: Envelope, session: Option<Session>) {
    let status = response.status();
    let with_session = session.as_ref().is_some_and(|s| s.id.is_some());
    if status == StatusCode::NOT_FOUND && with_session {
        // Nothing is replayed: the core fails what is in flight and starts over.
        let _ = conn.control.send(Control::SessionLost);
        return;
    }
    let initialize = is_initialize(&envelope);
    if initialize && status.is_success() {
        // Known before the core sees the answer, so its next message carries the session.
        conn.set_session(Session { id: response.headers().get("mcp-session-id").cloned(), version: None });
    }
    let id = request_id(&envelope);
    if status.is_success() && mcp_http::is_event_stream(response.headers()) {
        let delivered = deliver_event_stream(&conn, response, id.as_ref(), initialize).await;
        if !delivered {
            return;
        }
    } else {
        deliver_json(&conn, response, id.as_ref(), initialize).await;
    }
    if is_initialized_notification(&envelope) && status.is_success() {
        let _ = conn.control.send(Control::Initialized);
    }
}

/// Delivers a response event stream; `id` fails if the stream ends without answering it.
/// False if the stream broke off.
async fn deliver_event_stream(conn: &Conn, response: Response<Incoming>, id: Option<&Value>, initialize: bool) -> bool {
    let mut events = mcp_http::event_stream(response.into_body(), conn.max_line);
    let mut answered = false;
    while let Some(item) = events.next().await {
        let item = if initialize { item.inspect(|parsed| note_version(conn, &parsed.event.data)) } else { item };
        match conn.event(item).await {
            Ok(message) => answered |= message.is_some_and(|m| is_response_to(&m, id)),
            Err(why) => {
                if !answered {
                    conn.failed(id, &format!("{PEER} broke off its answer: {why}")).await;
                }
                return false;
            }
        }
    }
    if !answered && id.is_some() {
        conn.failed(id, &format!("{PEER} ended its event stream without answering")).await;
    }
    true
}

/// Delivers an answer that is a whole body (JSON, or an error status).
async fn deliver_json(conn: &Conn, response: Response<Incoming>, id: Option<&Value>, initialize: bool) {
    let status = response.status().as_u16();
    let body = mcp_http::read_body(response.into_body(), conn.max_line).await;
    if initialize && let Ok(body) = &body {
        note_version(conn, &String::from_utf8_lossy(body));
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

/// Records the negotiated version if `data` is the `initialize` result.
fn note_version(conn: &Conn, data: &str) {
    let Ok(message) = serde_json::from_str::<Value>(data) else { return };
    let version = message.pointer("/result/protocolVersion").and_then(Value::as_str);
    if let Some(version) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
        let mut session = conn.session();
        session.version = Some(version);
        conn.set_session(session);
    }
}

/// Keeps the session's GET stream open, delivering what it carries; reconnects with bounded
/// backoff (and `Last-Event-ID` when the server numbers its events). Connects that keep
/// failing mean the server is gone.
async fn listen(conn: Arc<Conn>) {
    let mut last_event_id: Option<String> = None;
    let mut failures = 0u32;
    loop {
        match open_stream(&conn, last_event_id.as_deref()).await {
            Ok(Some(events)) => {
                failures = 0;
                deliver_server_stream(&conn, events, &mut last_event_id).await;
            }
            Ok(None) => return,
            Err(why) => {
                failures += 1;
                if gave_up(&conn, failures, why) {
                    return;
                }
            }
        }
        tokio::time::sleep(stream_backoff(failures)).await;
    }
}

/// Delivers the server stream's events until it ends, remembering the last event id.
async fn deliver_server_stream(conn: &Conn, mut events: ParsedEvents, last_event_id: &mut Option<String>) {
    while let Some(item) = events.next().await {
        if let Ok(parsed) = &item
            && parsed.id.is_some()
        {
            last_event_id.clone_from(&parsed.id);
        }
        if let Err(why) = conn.event(item).await {
            tracing::debug!(server = %conn.server, %why, "server stream broke");
        }
    }
    tracing::debug!(server = %conn.server, "server stream ended; reopening");
}

/// After the `failures`th failed connect in a row (`why`): true, and the server is reported
/// unreachable, once they are too many.
fn gave_up(conn: &Conn, failures: u32, why: String) -> bool {
    tracing::debug!(server = %conn.server, failures, %why, "cannot open the server stream");
    if failures < STREAM_RETRIES {
        return false;
    }
    let _ = conn.control.send(Control::Unreachable(why));
    true
}

/// Pause before reopening the server stream after `failures` failed connects in a row.
fn stream_backoff(failures: u32) -> Duration {
    STREAM_BACKOFF.saturating_mul(1 << failures.min(6)).min(STREAM_BACKOFF_MAX)
}

/// GETs the server stream: its events, `None` if there is none to be had (405, a refusal, a
/// lost session, which is reported), or why the server could not be reached.
async fn open_stream(conn: &Conn, last_event_id: Option<&str>) -> Result<Option<ParsedEvents>, String> {
    let session = conn.session();
    let mut request = conn.request(Method::GET, &conn.url, Some(STREAM_ACCEPT), None, Some(&session))?;
    if let Some(id) = last_event_id.and_then(|id| HeaderValue::from_str(id).ok()) {
        request.headers_mut().insert("last-event-id", id);
    }
    let response = tokio::time::timeout(CONNECT_TIMEOUT, conn.send(request))
        .await
        .map_err(|_| format!("the server stream did not open within {} s", CONNECT_TIMEOUT.as_secs()))??;
    let status = response.status();
    if status == StatusCode::NOT_FOUND && session.id.is_some() {
        let _ = conn.control.send(Control::SessionLost);
        return Ok(None);
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        tracing::debug!(server = %conn.server, "the server offers no stream of its own");
        return Ok(None);
    }
    if !status.is_success() || !mcp_http::is_event_stream(response.headers()) {
        // Not what the spec allows, but not fatal: requests and their answers still work.
        tracing::warn!(server = %conn.server, %status, "the server refused its stream's GET; no server-initiated messages");
        return Ok(None);
    }
    Ok(Some(mcp_http::event_stream(response.into_body(), conn.max_line)))
}

/// DELETE the session (best effort, bounded): the server may free it at once.
async fn end_session(conn: &Conn) {
    let session = conn.session();
    if session.id.is_none() {
        return;
    }
    let Ok(request) = conn.request(Method::DELETE, &conn.url, None, None, Some(&session)) else { return };
    match tokio::time::timeout(DELETE_TIMEOUT, conn.send(request)).await {
        Ok(Ok(response)) => tracing::debug!(server = %conn.server, status = %response.status(), "session ended"),
        Ok(Err(why)) => tracing::debug!(server = %conn.server, %why, "could not end the session"),
        Err(_) => tracing::debug!(server = %conn.server, "ending the session timed out"),
    }
}
