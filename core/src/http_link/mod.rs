//! The policy of one connection to an HTTP backend (an [`HttpLink`]): what the server's answers
//! mean, when the link falls back from streamable HTTP to legacy SSE, when the session is lost,
//! how the session's GET stream is reopened and resumed, when the server counts as unreachable,
//! and when the session is ended with a DELETE.
//!
//! In auto mode the link falls back to legacy SSE on the spec's refusal of its `initialize` POST,
//! which need not be its first: a dual-era client asks with a stateless request first, and a
//! server's refusal of that says nothing of its transport.
//!
//! io does the requests and feeds in what happened (a status, a header, a peek at a body, a
//! stream that opened, ended or failed, an event id, the time); the link answers with what to
//! do. Every method is a plain state transition, so the simulator drives the same code with a
//! fake server and a virtual clock (`onemcp-sim`'s `http_link`).
//!
//! A link ends once (the first [`LinkEnd`] wins); after that it hands out no session for any
//! request, so nothing is sent with a session the server has forgotten.

mod stream;
#[cfg(test)]
mod tests;

pub use stream::{
    STREAM_BACKOFF, STREAM_BACKOFF_MAX, STREAM_RETRIES, STREAM_WAIT, StreamOpen, StreamRequest, StreamStep,
};

use crate::config::HttpFlavor;
use crate::mcp_headers::ToolHeaders;
use crate::oauth_client::{Challenge, bearer_challenge};
use serde_json::{Map, Value};
use std::fmt;
use std::time::Duration;
use stream::ServerStream;

/// Bound on TCP connects, on the wait for the head of the session's GET (streams answer at
/// once) and on a legacy stream's wait for its `endpoint` event.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on ending the session (DELETE) when the backend is stopped.
pub const DELETE_TIMEOUT: Duration = Duration::from_secs(2);
/// Messages queued for one connection before the driver's writes are refused.
pub const LINE_QUEUE: usize = 1024;
/// POSTs in flight per connection; further lines wait in the queue.
pub const MAX_IN_FLIGHT: usize = 64;
/// Bytes of a refused legacy POST's body read to quote in the request's error.
pub const LEGACY_ERROR_BODY: usize = 4096;
/// Times one POST is sent again after the server refused its credentials and the authorizer
/// got (or already had) fresh ones; a refusal after that ends the link for the user to decide.
pub const AUTHORIZED_RESENDS: u32 = 1;
/// Exit reason of a link the core stopped.
pub const STOPPED: &str = "stopped";
/// Exit reason of a link whose server forgot the session.
pub const SESSION_LOST: &str = "the server lost the MCP session (HTTP 404)";

/// Headers the transport sets itself (lower case); a configured header of one of these names
/// is ignored.
const RESERVED_HEADERS: [&str; 7] =
    ["accept", "content-type", "content-length", "host", "mcp-session-id", "mcp-protocol-version", "last-event-id"];

/// True if `name` (lower case, as HTTP libraries normalize it) is set by the transport, so a
/// configured header of that name is ignored.
pub fn is_reserved_header(name: &str) -> bool {
    RESERVED_HEADERS.contains(&name)
}

/// Which transport a link speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// Streamable HTTP (2025-03-26 and later): every message is a POST.
    Streamable,
    /// The legacy HTTP+SSE transport (2024-11-05): a GET stream names where to POST.
    LegacySse,
}

/// What a message is to the link, from its envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// The `initialize` request: sent without a session, its answer carries the session.
    Initialize,
    /// The `notifications/initialized` notification: once accepted, the server stream opens.
    Initialized,
    /// Anything else.
    Other,
}

impl MessageKind {
    /// The kind of a message with `method` (if any) that has an `id` member or not.
    pub fn of(method: Option<&str>, has_id: bool) -> MessageKind {
        match method {
            Some("initialize") if has_id => MessageKind::Initialize,
            Some("notifications/initialized") if !has_id => MessageKind::Initialized,
            _ => MessageKind::Other,
        }
    }
}

/// The session's headers, learned from the `initialize` answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionHeaders {
    id: Option<String>,
    version: Option<String>,
}

impl SessionHeaders {
    /// `Mcp-Session-Id`, if the server gave one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// `Mcp-Protocol-Version`: the version the `initialize` result negotiated.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
}

/// The session headers a POST carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostHeaders<'a> {
    /// None: the `initialize` request, and every legacy POST (the endpoint names the session).
    Plain,
    /// The session's (either may still be unknown).
    Session(&'a SessionHeaders),
    /// Send nothing: the link is over and the core fails what it sent.
    Ended,
}

/// The facts of an answer to a POST.
#[derive(Clone, Copy, Debug)]
pub struct PostAnswer<'a> {
    /// What was POSTed.
    pub kind: MessageKind,
    /// The HTTP status.
    pub status: u16,
    /// The request carried a session id.
    pub with_session: bool,
    /// The answer's content type is `text/event-stream`.
    pub event_stream: bool,
    /// The answer's `Mcp-Session-Id` header, if it is text.
    pub session_id: Option<&'a str>,
}

/// What to do with the answer to a POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostVerdict {
    /// The `initialize` POST was refused in auto mode: read its body and ask
    /// [`HttpLink::handle_first_refusal`] whether the server speaks streamable HTTP at all.
    PeekBody,
    /// Deliver the answer's events as they come.
    DeliverStream,
    /// Deliver the whole body (JSON, or an HTTP error made a JSON-RPC error).
    DeliverBody,
    /// Legacy: accepted; the answer comes on the stream.
    Accepted,
    /// Legacy: refused; the request fails quoting up to [`LEGACY_ERROR_BODY`] bytes of the body.
    Failed,
    /// The link is over (the server forgot our session): nothing is replayed, the core fails
    /// what is in flight and starts over.
    Ended(LinkEnd),
}

/// What a refused `initialize` POST means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstRefusal {
    /// Not a streamable-HTTP server: open legacy SSE and send it the same `initialize`.
    FallBack,
    /// The server answered the request itself: deliver the body.
    Deliver,
}

/// Why a link ended; its `Display` is the backend's exit reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEnd {
    /// It never worked: a POST failed before any was answered, or the legacy stream's opening
    /// failed (a failed start).
    NeverStarted(String),
    /// The core stopped it (or dropped its handle).
    Stopped,
    /// The server answered 404 to our session id.
    SessionLost,
    /// The session's GET stream failed to open [`STREAM_RETRIES`] times in a row; the last reason.
    Unreachable(String),
    /// The legacy SSE stream ended.
    StreamClosed,
    /// The legacy SSE stream broke off.
    StreamBroke(String),
    /// The server refused 1mcp's credentials and only the user can authorize it: why, with
    /// where to do it.
    NeedsAuthorization(String),
}

impl LinkEnd {
    /// True if the backend never started (reported as a failed start, not an exit).
    pub fn is_failed_start(&self) -> bool {
        matches!(self, LinkEnd::NeverStarted(_))
    }
}

impl fmt::Display for LinkEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkEnd::NeverStarted(why) | LinkEnd::Unreachable(why) | LinkEnd::NeedsAuthorization(why) => {
                f.write_str(why)
            }
            LinkEnd::Stopped => f.write_str(STOPPED),
            LinkEnd::SessionLost => f.write_str(SESSION_LOST),
            LinkEnd::StreamClosed => f.write_str("the server closed the SSE stream"),
            LinkEnd::StreamBroke(why) => write!(f, "the SSE stream broke off: {why}"),
        }
    }
}

/// The policy state of one connection to an HTTP backend (one incarnation of it).
#[derive(Clone, Debug)]
pub struct HttpLink {
    /// Auto mode: a refused `initialize` POST falls back to legacy SSE.
    auto: bool,
    /// 1mcp authorizes itself toward this server (OAuth): a refusal of its credentials goes to
    /// the authorizer instead of the core.
    authorizes: bool,
    era: Era,
    /// Streamable: the transport is not known for sure yet (no `initialize` and no success
    /// answered); in auto mode the link may still fall back.
    probing: bool,
    /// Some POST was answered: the server is there, and a POST that fails now fails alone.
    heard: bool,
    end: Option<LinkEnd>,
    /// `BackendSpawned` was reported.
    announced: bool,
    /// The `initialize` POST's status, once it made the link fall back (said in a failed start).
    fell_back_on: Option<u16>,
    session: SessionHeaders,
    stream: ServerStream,
    /// The parameters each of the server's tools mirrors into `Mcp-Param-*` headers, learned
    /// from its `tools/list` answers (stateless revision).
    tool_headers: ToolHeaders,
}

impl HttpLink {
    /// A link of `flavor`, not yet open.
    pub fn new(flavor: HttpFlavor) -> HttpLink {
        let era = if flavor == HttpFlavor::Sse { Era::LegacySse } else { Era::Streamable };
        HttpLink {
            auto: flavor == HttpFlavor::Auto,
            authorizes: false,
            era,
            probing: era == Era::Streamable,
            heard: false,
            end: None,
            announced: false,
            fell_back_on: None,
            session: SessionHeaders::default(),
            stream: ServerStream::default(),
            tool_headers: ToolHeaders::default(),
        }
    }

    /// The link authorizes itself (OAuth) toward its server: see
    /// [`HttpLink::authorization_challenge`]. Not when the config sets `Authorization` itself.
    #[must_use]
    pub fn authorizing(mut self) -> HttpLink {
        self.authorizes = true;
        self
    }

    /// A POST was answered `status` with these `WWW-Authenticate` values. When the link
    /// authorizes itself and the refusal is one authorization can fix (401, or 403 asking for
    /// more scope), the challenge to hand the authorizer; otherwise `None` and the answer is
    /// delivered like any other (a 403 for any other reason is the server's answer to that
    /// request, not a reason to take the backend down).
    pub fn authorization_challenge<'a>(
        &self,
        status: u16,
        www_authenticate: impl IntoIterator<Item = &'a str>,
    ) -> Option<Challenge> {
        if !self.authorizes || !matches!(status, 401 | 403) || self.end.is_some() {
            return None;
        }
        let challenge = bearer_challenge(www_authenticate).unwrap_or_default();
        (status == 401 || challenge.wants_more_scope()).then_some(challenge)
    }

    /// The server refused the link's credentials and the authorizer needs the user (`why` says
    /// where): the link is over, and the backend waits for the authorization.
    pub fn handle_unauthorized(&mut self, why: &str) -> LinkEnd {
        self.finish(LinkEnd::NeedsAuthorization(why.to_owned()))
    }

    /// `data` is (an event of) the answer to a `tools/list` POST: which parameters each tool
    /// mirrors into headers (`x-mcp-header`), to send them with its calls.
    pub fn learn_tools(&mut self, data: &[u8]) {
        if let Ok(message) = serde_json::from_slice::<Value>(data) {
            self.tool_headers.learn(&message);
        }
    }

    /// The headers of a POST of a stateless-revision request (see [`ToolHeaders::for_request`]).
    pub fn stateless_headers(&self, method: &str, params: Option<&Map<String, Value>>) -> Vec<(String, String)> {
        self.tool_headers.for_request(method, params)
    }

    /// The transport to speak now (streamable while probing).
    pub fn era(&self) -> Era {
        self.era
    }

    /// Why the link ended, once it has.
    pub fn end(&self) -> Option<&LinkEnd> {
        self.end.as_ref()
    }

    /// The session as the server gave it.
    pub fn session(&self) -> &SessionHeaders {
        &self.session
    }

    /// The transport is open (streamable: at once, a POST needs no connection first; legacy:
    /// the stream named its endpoint). True the first time: report the backend started.
    pub fn handle_opened(&mut self) -> bool {
        !std::mem::replace(&mut self.announced, true)
    }

    /// The legacy stream could not be opened for `why`, or a POST failed before any was
    /// answered: the backend never started. After a fallback, `why` is the legacy attempt's
    /// failure and the end says what made the link fall back.
    pub fn handle_start_failed(&mut self, why: &str) -> LinkEnd {
        let why = match self.fell_back_on {
            Some(status) => format!("POST answered HTTP {status}; legacy SSE: {why}"),
            None => why.to_owned(),
        };
        self.finish(LinkEnd::NeverStarted(why))
    }

    /// A streamable POST could not be sent for `why`: before any POST was answered the server
    /// was never there (the backend never started: the end to report); after, only that
    /// request fails (`None`).
    pub fn handle_post_failed(&mut self, why: &str) -> Option<LinkEnd> {
        (!self.heard).then(|| self.handle_start_failed(why))
    }

    /// The core stopped the backend (or dropped its handle).
    pub fn handle_stop(&mut self) -> LinkEnd {
        self.finish(LinkEnd::Stopped)
    }

    /// The legacy stream ended (`broke`: why it broke off, `None` if the server closed it).
    pub fn handle_legacy_stream_end(&mut self, broke: Option<String>) -> LinkEnd {
        self.finish(broke.map_or(LinkEnd::StreamClosed, LinkEnd::StreamBroke))
    }

    /// The session to end with a DELETE (bounded by [`DELETE_TIMEOUT`], best effort): only a
    /// streamable session with an id, and only when the core stopped the link; a lost session
    /// is gone already and an unreachable server would not hear it.
    pub fn session_to_end(&self) -> Option<&SessionHeaders> {
        let stopped = self.end == Some(LinkEnd::Stopped);
        (stopped && self.session.id.is_some()).then_some(&self.session)
    }

    /// The session headers a POST of `kind` carries now.
    pub fn post_headers(&self, kind: MessageKind) -> PostHeaders<'_> {
        if self.end.is_some() {
            PostHeaders::Ended
        } else if self.era == Era::LegacySse || kind == MessageKind::Initialize {
            PostHeaders::Plain
        } else {
            PostHeaders::Session(&self.session)
        }
    }

    /// The answer to a POST arrived (its head): what to do with it.
    pub fn handle_post_answer(&mut self, answer: PostAnswer<'_>) -> PostVerdict {
        let success = is_success(answer.status);
        if self.era == Era::LegacySse {
            return if success { PostVerdict::Accepted } else { PostVerdict::Failed };
        }
        self.heard = true;
        let initialize = answer.kind == MessageKind::Initialize;
        if initialize && self.probing && self.auto && matches!(answer.status, 400 | 404 | 405) {
            return PostVerdict::PeekBody;
        }
        // A stateless request refused says nothing of the transport; the handshake, or any
        // success, does.
        if initialize || success {
            self.probing = false;
        }
        if answer.status == 404 && answer.with_session {
            return PostVerdict::Ended(self.finish(LinkEnd::SessionLost));
        }
        if answer.kind == MessageKind::Initialize && success {
            // Known before the core sees the answer, so its next message carries the session.
            self.session = SessionHeaders { id: answer.session_id.map(str::to_owned), version: None };
        }
        if success && answer.event_stream { PostVerdict::DeliverStream } else { PostVerdict::DeliverBody }
    }

    /// The body of an `initialize` POST refused with `status` in auto mode ([`PostVerdict::PeekBody`]);
    /// `id` is the request's. 400, 404 or 405 means "not a streamable-HTTP server, try legacy
    /// SSE" (spec, backwards compatibility), unless the body is the server's JSON-RPC answer to
    /// that very request.
    pub fn handle_first_refusal(&mut self, status: u16, body: &[u8], id: Option<&Value>) -> FirstRefusal {
        let probing = std::mem::replace(&mut self.probing, false);
        if !(probing && self.auto && falls_back_to_sse(status, body, id)) {
            return FirstRefusal::Deliver;
        }
        self.era = Era::LegacySse;
        self.fell_back_on = Some(status);
        FirstRefusal::FallBack
    }

    /// `data` is (an event of) the answer to a POST of `kind`: the `initialize` result names
    /// the protocol version later requests carry.
    pub fn handle_answer_data(&mut self, kind: MessageKind, data: &[u8]) {
        if kind != MessageKind::Initialize {
            return;
        }
        let Ok(message) = serde_json::from_slice::<Value>(data) else { return };
        if let Some(version) = message.pointer("/result/protocolVersion").and_then(Value::as_str) {
            self.session.version = Some(version.to_owned());
        }
    }

    /// The answer to a POST of `kind` with `status` was delivered whole. True once, when the
    /// accepted `notifications/initialized` makes it time to open the session's GET stream; a
    /// refused one opens none, so requests stop waiting for it.
    pub fn handle_delivered(&mut self, kind: MessageKind, status: u16) -> bool {
        if kind != MessageKind::Initialized {
            return false;
        }
        if !is_success(status) {
            self.stream.settle();
            return false;
        }
        self.era == Era::Streamable && self.end.is_none() && self.stream.start()
    }

    /// Ends the link with `end` unless it ended already; returns the end that holds.
    fn finish(&mut self, end: LinkEnd) -> LinkEnd {
        self.end.get_or_insert(end).clone()
    }
}

/// 2xx.
fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// True if an auto-mode `initialize` POST answered `status` with `body` means "not a streamable-HTTP
/// server": 400, 404 or 405, unless the body is a JSON-RPC response to request `id`.
fn falls_back_to_sse(status: u16, body: &[u8], id: Option<&Value>) -> bool {
    if !matches!(status, 400 | 404 | 405) {
        return false;
    }
    let answered = serde_json::from_slice::<Value>(body).ok().is_some_and(|message| is_response_to(&message, id));
    !answered
}

/// True if `message` is a response (result or error) to request `id`.
fn is_response_to(message: &Value, id: Option<&Value>) -> bool {
    let Value::Object(map) = message else { return false };
    map.get("method").is_none()
        && (map.contains_key("result") || map.contains_key("error"))
        && id.is_some_and(|id| map.get("id") == Some(id))
}
