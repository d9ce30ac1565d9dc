//! The stdio bridge: a line-delimited JSON-RPC client on stdin/stdout, spoken to the daemon as
//! a streamable-HTTP client would. Shared by `serve --transport stdio` (the daemon is in this
//! process: [`hub_client`]) and `1mcp proxy` (the daemon is elsewhere: [`http_client`]); the
//! two differ only in how one HTTP request is carried ([`Transport`]).
//!
//! Each stdin line is POSTed to `/mcp` as its own exchange, so a slow call never holds up the
//! next one; `initialize` alone is awaited before reading on, because every later request
//! needs the session it creates. Once there is a session, a `GET /mcp` stream carries the
//! server's own messages. Every message for stdout goes through one writer task, so lines
//! never interleave, and the lines of one exchange keep their order.

pub(crate) mod http_client;
pub(crate) mod hub_client;
mod query;

pub use query::ViewQuery;

use crate::mcp_http::messages::{Envelope, INTERNAL_ERROR, answer_line, error_line, event_line, is_response_to};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use onemcp_core::SseEvent;
use onemcp_core::mcp_headers::ToolHeaders;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};
use tokio::task::{Id, JoinSet};

/// Lines queued for stdout before exchanges wait for the client to read (back-pressure).
const OUTPUT_QUEUE: usize = 1024;
/// Stdin lines read ahead while `initialize` is in flight.
const INPUT_QUEUE: usize = 64;
/// Times a `GET /mcp` stream is reopened in a row before the bridge gives up on it.
const STREAM_RETRIES: u32 = 5;
/// First pause before reopening a stream (doubled on each further attempt).
const STREAM_BACKOFF: Duration = Duration::from_millis(100);

/// HTTP method of a bridge request; all go to `/mcp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verb {
    /// A client message.
    Post,
    /// The session's stream of server messages.
    Get,
    /// End the session.
    Delete,
}

/// One HTTP request to the daemon's `/mcp`.
#[derive(Clone, Debug)]
pub(crate) struct BridgeRequest {
    pub(crate) verb: Verb,
    /// Query string without `?` (the view the client asked for).
    pub(crate) query: String,
    pub(crate) session_id: Option<String>,
    pub(crate) protocol_version: Option<String>,
    /// A stateless-revision request's `Mcp-Method`, `Mcp-Name` and `Mcp-Param-*`.
    pub(crate) mcp_headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl BridgeRequest {
    /// `Accept` for this request.
    pub(crate) fn accept(&self) -> Option<&'static str> {
        match self.verb {
            Verb::Post => Some("application/json, text/event-stream"),
            Verb::Get => Some("text/event-stream"),
            Verb::Delete => None,
        }
    }

    /// `Content-Type` for this request.
    pub(crate) fn content_type(&self) -> Option<&'static str> {
        (self.verb == Verb::Post).then_some("application/json")
    }
}

/// Server-sent events of one streamed response, ending when the server ends the stream.
pub(crate) type EventStream = BoxStream<'static, Result<SseEvent, TransportError>>;

/// The daemon's answer.
pub(crate) struct Reply {
    pub(crate) status: u16,
    /// `Mcp-Session-Id` response header.
    pub(crate) session_id: Option<String>,
    pub(crate) body: ReplyBody,
}

/// A whole body, or an event stream.
pub(crate) enum ReplyBody {
    Complete(Vec<u8>),
    Events(EventStream),
}

/// Why a request got no answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TransportError {
    /// The daemon is gone (refused, reset, or stopped mid-answer): nothing more will work.
    #[error("{0}")]
    Unreachable(String),
    /// This request failed; others may still work.
    #[error("{0}")]
    Failed(String),
}

/// How one HTTP request reaches the daemon.
pub(crate) trait Transport: Clone + Send + Sync + 'static {
    /// Starts `request` before returning, so requests reach the daemon in the order they were
    /// read (as far as the carrier allows); the future yields the answer.
    fn send(&self, request: BridgeRequest) -> impl Future<Output = Result<Reply, TransportError>> + Send + 'static;
}

/// Settings of one bridge run.
#[derive(Clone, Debug)]
pub(crate) struct BridgeConfig {
    /// Query string for every request (see [`ViewQuery::to_query`]).
    pub(crate) query: String,
    /// Longest accepted stdin line.
    pub(crate) max_line_bytes: usize,
    /// How long requests in flight may finish once input has ended, and how long ending the
    /// session may take.
    pub(crate) drain: Duration,
}

/// How a bridge run ended without a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Stdin reached end of file.
    InputClosed,
    /// Stdout was closed: nobody is listening any more.
    OutputClosed,
    /// The caller asked the bridge to stop.
    Stopped,
}

/// The daemon went away; in-flight requests were answered with errors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DaemonGone(pub(crate) String);

/// Why the main loop stopped reading.
#[derive(Clone, Debug)]
enum Stop {
    Gone(String),
    OutputClosed,
}

/// Headers that tie a request to the session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct SessionHeaders {
    id: Option<String>,
    version: Option<String>,
}

/// What exchanges and the stream task share.
struct Shared<T> {
    transport: T,
    query: String,
    out: mpsc::Sender<String>,
    session: Mutex<SessionHeaders>,
    stop: watch::Sender<Option<Stop>>,
    /// What the daemon's stateless `tools/list` answers said about header parameters.
    tool_headers: Mutex<ToolHeaders>,
}

impl<T: Transport> Shared<T> {
    fn session(&self) -> SessionHeaders {
        self.session.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set_session(&self, headers: SessionHeaders) {
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = headers;
    }

    /// Starts a request now (see [`Transport::send`]).
    fn send(
        &self,
        verb: Verb,
        session: &SessionHeaders,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<Reply, TransportError>> + Send + 'static {
        self.transport.send(BridgeRequest {
            verb,
            query: self.query.clone(),
            session_id: session.id.clone(),
            protocol_version: session.version.clone(),
            mcp_headers: Vec::new(),
            body,
        })
    }

    /// Starts a stateless-revision request now: no session; its revision and metadata headers
    /// (`headers`, from [`ToolHeaders::for_request`]) instead.
    fn send_stateless(
        &self,
        mut headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<Reply, TransportError>> + Send + 'static {
        let version = headers.iter().position(|(name, _)| name.eq_ignore_ascii_case("mcp-protocol-version"));
        let protocol_version = version.map(|at| headers.remove(at).1);
        self.transport.send(BridgeRequest {
            verb: Verb::Post,
            query: self.query.clone(),
            session_id: None,
            protocol_version,
            mcp_headers: headers,
            body,
        })
    }

    async fn write(&self, line: String) {
        // A closed channel means stdout is gone; the writer has already said so.
        let _ = self.out.send(line).await;
    }

    /// Whether the run is stopping because the daemon went away.
    fn daemon_gone(&self) -> bool {
        matches!(&*self.stop.borrow(), Some(Stop::Gone(_)))
    }

    /// The daemon is gone: the main loop stops reading and winds down (first reason wins).
    fn lost(&self, why: &str) {
        self.stop.send_if_modified(|stop| {
            if stop.is_some() {
                return false;
            }
            *stop = Some(Stop::Gone(why.to_owned()));
            true
        });
    }

    /// Answers request `id` (if it is one) with an error for `error`.
    async fn fail(&self, id: Option<&Value>, error: &TransportError) {
        let message = match error {
            TransportError::Unreachable(why) => {
                self.lost(why);
                format!("1mcp daemon unreachable: {why}")
            }
            TransportError::Failed(why) => format!("1mcp bridge: {why}"),
        };
        match id {
            Some(id) => self.write(error_line(id, INTERNAL_ERROR, &message)).await,
            None => tracing::warn!("a client message could not be delivered: {message}"),
        }
    }

    /// Writes what an answer carries; returns the response to request `id` if one was seen.
    async fn deliver(&self, reply: Reply, id: Option<&Value>) -> Option<Value> {
        match reply.body {
            ReplyBody::Complete(body) => {
                let answer = answer_line("1mcp", reply.status, &body, id);
                if let Some(why) = &answer.complaint {
                    tracing::warn!("{why}");
                }
                if let Some(line) = answer.line {
                    self.write(line).await;
                }
                answer.message
            }
            ReplyBody::Events(events) => {
                let (response, error) = self.pump(events, id).await;
                match (error, &response) {
                    (Some(error), None) => self.fail(id, &error).await,
                    (Some(TransportError::Unreachable(why)), Some(_)) => self.lost(&why),
                    _ => {}
                }
                response
            }
        }
    }

    /// Writes every message of an event stream; returns the response to `id` if one came, and
    /// the error that ended the stream if it did not end cleanly.
    async fn pump(&self, mut events: EventStream, id: Option<&Value>) -> (Option<Value>, Option<TransportError>) {
        let mut response = None;
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(event) => event,
                Err(error) => return (response, Some(error)),
            };
            if event.event.as_deref().is_some_and(|name| name != "message") {
                tracing::debug!(event = event.event.as_deref(), "ignoring a non-message event");
                continue;
            }
            let Some((line, message)) = event_line(&event.data) else { continue };
            if id.is_some() && message.as_ref().is_some_and(|m| is_response_to(m, id)) {
                response = message;
            }
            self.write(line).await;
        }
        (response, None)
    }
}

/// Runs the bridge until stdin ends, stdout closes, `stop` completes or the daemon goes away.
pub(crate) async fn run<T, R, W, S>(
    transport: T,
    config: BridgeConfig,
    input: R,
    output: W,
    stop: S,
) -> Result<Ended, DaemonGone>
where
    T: Transport,
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
    S: Future<Output = ()> + Send,
{
    let (out_tx, out_rx) = mpsc::channel(OUTPUT_QUEUE);
    let (stop_tx, mut stop_rx) = watch::channel(None);
    let writer = tokio::spawn(write_lines(output, out_rx, stop_tx.clone()));
    let reader = spawn_reader(input, config.max_line_bytes);
    let shared = Arc::new(Shared {
        transport,
        query: config.query.clone(),
        out: out_tx,
        session: Mutex::new(SessionHeaders::default()),
        stop: stop_tx,
        tool_headers: Mutex::new(ToolHeaders::default()),
    });
    let mut exchanges = Exchanges::new(shared, config.max_line_bytes);
    let mut lines = reader.lines;
    let ended = exchanges.read_lines(&mut lines, &mut stop_rx, stop).await;
    reader.task.abort();

    exchanges.wind_down(config.drain).await;
    // Only a session that is still reachable and not left by a failure is worth ending politely.
    if !exchanges.shared.daemon_gone() && ended.is_some() {
        end_session(&exchanges.shared, config.drain).await;
    }

    let failure = stop_rx.borrow().clone();
    // The writer ends once every sender is gone and the queue is written out.
    drop(exchanges);
    let _ = tokio::time::timeout(config.drain, writer).await;
    outcome(ended, failure)
}

/// How a run ended: a lost daemon wins over why the loop stopped; no reason means stdout closed.
fn outcome(ended: Option<Ended>, failure: Option<Stop>) -> Result<Ended, DaemonGone> {
    match (ended, failure) {
        (_, Some(Stop::Gone(why))) => Err(DaemonGone(why)),
        (Some(ended), _) => Ok(ended),
        (None, _) => Ok(Ended::OutputClosed),
    }
}

/// The main loop's exchanges in flight and the session's server stream.
struct Exchanges<T> {
    shared: Arc<Shared<T>>,
    max_line_bytes: usize,
    tasks: JoinSet<()>,
    /// Request id (if any) of each exchange in flight, to answer it if it has to be abandoned.
    in_flight: HashMap<Id, Option<Value>>,
    /// The `initialize` in flight: no further line is read until it is answered.
    initializing: Option<Id>,
    /// The session the server stream belongs to, and the task following it.
    stream: Option<(String, tokio::task::JoinHandle<()>)>,
    /// Stateless-revision requests in flight, by request id (JSON text): the client ends one
    /// (a `subscriptions/listen`) with `notifications/cancelled`, which over HTTP means closing
    /// its stream.
    stateless: HashMap<String, tokio::task::AbortHandle>,
}

impl<T: Transport> Exchanges<T> {
    fn new(shared: Arc<Shared<T>>, max_line_bytes: usize) -> Self {
        Exchanges {
            shared,
            max_line_bytes,
            tasks: JoinSet::new(),
            in_flight: HashMap::new(),
            initializing: None,
            stream: None,
            stateless: HashMap::new(),
        }
    }

    /// Posts every stdin line until input ends or `stop` completes; None when the run has to
    /// stop instead (the daemon or stdout is gone, see `stop_rx`).
    async fn read_lines(
        &mut self,
        lines: &mut mpsc::Receiver<InputLine>,
        stop_rx: &mut watch::Receiver<Option<Stop>>,
        stop: impl Future<Output = ()>,
    ) -> Option<Ended> {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                biased;
                _ = stop_rx.changed() => return None,
                () = &mut stop => return Some(Ended::Stopped),
                Some(done) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => self.finished(done),
                line = lines.recv(), if self.initializing.is_none() => {
                    let Some(line) = line else { return Some(Ended::InputClosed) };
                    self.start(line).await;
                }
            }
        }
    }

    /// An exchange ended; once `initialize` has, the session's stream can be opened.
    fn finished(&mut self, done: Result<(Id, ()), tokio::task::JoinError>) {
        let id = match done {
            Ok((id, ())) => id,
            Err(error) => error.id(),
        };
        self.in_flight.remove(&id);
        self.stateless.retain(|_, handle| handle.id() != id);
        if self.initializing == Some(id) {
            self.initializing = None;
            restart_stream(&self.shared, &mut self.stream);
        }
    }

    /// One stdin line: refused if too long, skipped if blank, POSTed otherwise.
    async fn start(&mut self, line: InputLine) {
        let bytes = match line {
            InputLine::Message(bytes) => bytes,
            InputLine::TooLong(len) => {
                let message = format!("message of {len} bytes exceeds {} bytes", self.max_line_bytes);
                return self.shared.write(error_line(&Value::Null, -32600, &message)).await;
            }
        };
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            self.post(bytes);
        }
    }

    /// Sends `bytes` now (so requests leave in the order read) and answers in its own task.
    fn post(&mut self, bytes: Vec<u8>) {
        let envelope = Envelope::read(&bytes);
        if let (Some(method), Some(params)) = (&envelope.method, &envelope.stateless_params) {
            // A stateless-revision request: no session, its own headers.
            let headers = self
                .shared
                .tool_headers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .for_request(method, Some(params));
            let learn = if method == "tools/list" { Learn::ToolHeaders } else { Learn::Nothing };
            let pending = self.shared.send_stateless(headers, bytes);
            let request_id = envelope.id.clone();
            let task = exchange(Arc::clone(&self.shared), request_id.clone(), pending, learn);
            let handle = self.tasks.spawn(task);
            if let Some(id) = &request_id {
                self.stateless.insert(id.to_string(), handle.clone());
            }
            self.in_flight.insert(handle.id(), request_id);
            return;
        }
        if envelope.method.as_deref() == Some("notifications/cancelled") && self.end_stateless(&bytes) {
            return;
        }
        let initialize = envelope.is_request() && envelope.method.as_deref() == Some("initialize");
        // `initialize` starts a new session, so it must not carry the old one's headers.
        let session = if initialize { SessionHeaders::default() } else { self.shared.session() };
        let pending = self.shared.send(Verb::Post, &session, bytes);
        let request_id = envelope.is_request().then(|| envelope.id.clone()).flatten();
        let task = exchange(
            Arc::clone(&self.shared),
            request_id.clone(),
            pending,
            if initialize { Learn::Session } else { Learn::Nothing },
        );
        let handle = self.tasks.spawn(task);
        self.in_flight.insert(handle.id(), request_id);
        if initialize {
            self.initializing = Some(handle.id());
        }
    }

    /// A cancellation naming a stateless-revision request in flight: its exchange is dropped
    /// (over HTTP, closing the stream is how the revision ends a request). True if it named one.
    fn end_stateless(&mut self, cancellation: &[u8]) -> bool {
        let Ok(message) = serde_json::from_slice::<Value>(cancellation) else { return false };
        let Some(id) = message.pointer("/params/requestId") else { return false };
        let Some(handle) = self.stateless.remove(&id.to_string()) else { return false };
        handle.abort();
        true
    }

    /// Input is over: lets what is in flight finish within `drain`, answers the rest with
    /// errors, and stops the server stream.
    async fn wind_down(&mut self, drain: Duration) {
        self.finish_in_flight(tokio::time::Instant::now() + drain).await;
        self.abandon_rest().await;
        if let Some((_, task)) = self.stream.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Waits for the exchanges in flight until `deadline` (they fail fast if the daemon is gone).
    async fn finish_in_flight(&mut self, deadline: tokio::time::Instant) {
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.tasks.join_next_with_id()).await {
                Ok(Some(Ok((id, ())))) => {
                    self.in_flight.remove(&id);
                }
                Ok(Some(Err(_)) | None) => {}
                Err(_) => break,
            }
        }
    }

    /// Cancels the exchanges still in flight; a request among them gets an error answer, so
    /// the client is not left waiting.
    async fn abandon_rest(&mut self) {
        self.tasks.abort_all();
        while let Some(done) = self.tasks.join_next_with_id().await {
            if let Err(error) = done
                && error.is_cancelled()
                && let Some(Some(id)) = self.in_flight.remove(&error.id())
            {
                let why = if self.shared.daemon_gone() { "1mcp daemon unreachable" } else { "the bridge is closing" };
                self.shared.write(error_line(&id, INTERNAL_ERROR, &format!("{why}; request abandoned"))).await;
            }
        }
    }
}

/// What an exchange's answer teaches the bridge.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Learn {
    /// Nothing.
    Nothing,
    /// `initialize`: the session and its protocol version.
    Session,
    /// A stateless `tools/list`: which tool parameters later calls mirror into headers.
    ToolHeaders,
}

/// One POSTed client message: waits for the daemon's answer, writes it out, and learns from it.
async fn exchange<T: Transport>(
    shared: Arc<Shared<T>>,
    id: Option<Value>,
    pending: impl Future<Output = Result<Reply, TransportError>>,
    learn: Learn,
) {
    let reply = match pending.await {
        Ok(reply) => reply,
        Err(error) => return shared.fail(id.as_ref(), &error).await,
    };
    let status = reply.status;
    let session_id = reply.session_id.clone();
    let response = shared.deliver(reply, id.as_ref()).await;
    match learn {
        Learn::Session if (200..300).contains(&status) && session_id.is_some() => {
            let version = response.as_ref().and_then(|r| r.pointer("/result/protocolVersion")).and_then(Value::as_str);
            shared.set_session(SessionHeaders { id: session_id, version: version.map(str::to_owned) });
        }
        Learn::ToolHeaders if let Some(response) = &response => {
            shared.tool_headers.lock().unwrap_or_else(PoisonError::into_inner).learn(response);
        }
        _ => {}
    }
}

/// After `initialize`: (re)opens the server stream if the session changed.
fn restart_stream<T: Transport>(shared: &Arc<Shared<T>>, stream: &mut Option<(String, tokio::task::JoinHandle<()>)>) {
    let session = shared.session();
    let Some(id) = session.id.clone() else { return };
    if stream.as_ref().is_some_and(|(open, _)| *open == id) {
        return;
    }
    if let Some((old, task)) = stream.take() {
        // A second initialize replaced the session; the old one ends by the daemon's idle rules.
        tracing::info!(session = %old, "client started a new session");
        task.abort();
    }
    let task = tokio::spawn(listen(Arc::clone(shared), session));
    *stream = Some((id, task));
}

/// Keeps the session's `GET /mcp` stream open and writes every message it carries.
async fn listen<T: Transport>(shared: Arc<Shared<T>>, session: SessionHeaders) {
    let mut attempts = 0u32;
    while follow_stream(&shared, &session).await == StreamEnd::Closed {
        attempts += 1;
        if attempts > STREAM_RETRIES {
            tracing::warn!("the server stream keeps closing; giving up on server messages");
            return;
        }
        tokio::time::sleep(STREAM_BACKOFF * 2u32.pow(attempts - 1)).await;
    }
}

/// How one `GET /mcp` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamEnd {
    /// It was open and closed (or broke): worth reopening.
    Closed,
    /// It was refused or cannot be reached: reopening would not help.
    Refused,
}

/// Opens the session's stream once and writes every message it carries until it ends.
async fn follow_stream<T: Transport>(shared: &Shared<T>, session: &SessionHeaders) -> StreamEnd {
    match shared.send(Verb::Get, session, Vec::new()).await {
        Ok(Reply { status: 200..=299, body: ReplyBody::Events(events), .. }) => {
            tracing::debug!("server stream open");
            if let (_, Some(error)) = shared.pump(events, None).await {
                tracing::debug!(%error, "server stream broke");
            }
            StreamEnd::Closed
        }
        Ok(reply) => {
            log_stream_refused(reply.status);
            StreamEnd::Refused
        }
        Err(TransportError::Unreachable(why)) => {
            shared.lost(&why);
            StreamEnd::Refused
        }
        Err(TransportError::Failed(why)) => {
            tracing::warn!("cannot open the server stream: {why}");
            StreamEnd::Refused
        }
    }
}

/// Says why the daemon gave no stream; only an unexpected status is worth a warning.
fn log_stream_refused(status: u16) {
    match status {
        404 => tracing::info!("the session ended; no more server messages"),
        405 => tracing::debug!("the daemon offers no server stream"),
        status => tracing::warn!(status, "the daemon refused the server stream"),
    }
}

/// `DELETE /mcp`: tells the daemon the session is over instead of leaving it to expire.
async fn end_session<T: Transport>(shared: &Shared<T>, limit: Duration) {
    let session = shared.session();
    if session.id.is_none() {
        return;
    }
    match tokio::time::timeout(limit, shared.send(Verb::Delete, &session, Vec::new())).await {
        Ok(Ok(reply)) => tracing::debug!(status = reply.status, "session ended"),
        Ok(Err(error)) => tracing::debug!(%error, "could not end the session"),
        Err(_) => tracing::debug!("ending the session timed out"),
    }
}

/// Writes lines to `output`, flushing whenever the queue runs dry. A write failure means the
/// client is gone.
async fn write_lines<W: AsyncWrite + Unpin>(
    mut output: W,
    mut lines: mpsc::Receiver<String>,
    stop: watch::Sender<Option<Stop>>,
) {
    while let Some(line) = lines.recv().await {
        let mut result = write_line(&mut output, &line).await;
        while result.is_ok()
            && let Ok(line) = lines.try_recv()
        {
            result = write_line(&mut output, &line).await;
        }
        if let Err(error) = result.and(output.flush().await) {
            tracing::info!(%error, "stdout is closed");
            stop.send_if_modified(|stop| {
                let first = stop.is_none();
                if first {
                    *stop = Some(Stop::OutputClosed);
                }
                first
            });
            return;
        }
    }
    let _ = output.flush().await;
}

async fn write_line<W: AsyncWrite + Unpin>(output: &mut W, line: &str) -> std::io::Result<()> {
    output.write_all(line.as_bytes()).await?;
    output.write_all(b"\n").await
}

/// One stdin line.
enum InputLine {
    Message(Vec<u8>),
    /// Longer than the limit (length given); its bytes were discarded.
    TooLong(usize),
}

struct Reader {
    lines: mpsc::Receiver<InputLine>,
    task: tokio::task::JoinHandle<()>,
}

/// Reads stdin in its own task (line reads are not cancel-safe, the main loop's select is).
fn spawn_reader<R: AsyncRead + Send + Unpin + 'static>(input: R, max: usize) -> Reader {
    let (tx, lines) = mpsc::channel(INPUT_QUEUE);
    let task = tokio::spawn(async move {
        let mut reader = crate::lines::LineReader::new(BufReader::new(input), max);
        let mut buf = Vec::new();
        loop {
            let line = match reader.next_line(&mut buf).await {
                Ok(Some(crate::lines::LineStatus::Complete)) => InputLine::Message(std::mem::take(&mut buf)),
                Ok(Some(crate::lines::LineStatus::Truncated { len })) => InputLine::TooLong(len),
                Ok(None) => return,
                Err(error) => {
                    tracing::info!(%error, "cannot read stdin");
                    return;
                }
            };
            if tx.send(line).await.is_err() {
                return;
            }
        }
    });
    Reader { lines, task }
}

#[cfg(test)]
mod tests;
