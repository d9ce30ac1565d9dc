//! The ledger of everything clients asked and the hub did, and the DESIGN.md invariants
//! checked against it: 1 (exactly one response), 2 (attribution), 3 (a failing backend affects
//! only its own calls), 4 (a session sees and calls only what its view and its token admit),
//! 5 (tables drain), plus "one live generation receives writes", "outputs name only exchanges
//! the hub was given" and the front door (with authentication on, nothing without a live token,
//! and no principal reaches another's session). The stateless revision and the bridge between
//! it and the legacy backends are checked in [`bridge`].

use onemcp_core::auth::Credential;
use onemcp_core::view::TagFilter;
use onemcp_core::{ExchangeId, Gen, HubStats, Output};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

mod bridge;
pub use bridge::BridgeCounts;
use bridge::{BridgeBook, Expect};

/// Which rule a run broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invariant {
    /// 1: every request gets exactly one response unless cancelled or abandoned.
    OneResponse,
    /// 2: a response reaches the exchange that asked, under its id, with its payload.
    Attribution,
    /// 3: one backend failing affects only the requests routed to it.
    Isolation,
    /// 4: a session sees and calls only what its filter and its credentials admit (its view
    /// AND its token's tags), in lists, calls and notifications; a view reaching past the
    /// token's tags is refused at `initialize` (403).
    View,
    /// 5: tables are bounded and drain after quiescence.
    Drains,
    /// Only the newest generation of a backend receives writes.
    OneGeneration,
    /// Outputs name only exchanges and backends the hub was given.
    KnownParty,
    /// 6: a reload restarts only what changed; servers it leaves alone keep their process and
    /// their calls, a tags-only change respawns nothing, an invalid file changes nothing.
    ReloadScope,
    /// A server removed by a reload is never written to (nor spawned) again.
    Removed,
    /// The hub never panics, whatever it is fed.
    NoPanic,
    /// A recording is well formed (header first, inputs in time order, exchanges opened once).
    Replayable,
    /// An exact recording replays to the outputs the daemon recorded, byte for byte.
    SameOutputs,
    /// Rule 2, roots: a shared server is answered `{"roots": []}` and never reaches a client;
    /// a client's roots, its roots questions and its `roots/list_changed` go only to and from
    /// its own instances.
    RootsStayWithTheirClient,
    /// The front door (authentication on): a request without a live token (none, malformed,
    /// unknown, revoked, expired when the hub handles it) is answered 401 with a challenge (a
    /// token in the URL: 400), opens no session and causes nothing else; a request naming
    /// another principal's session is answered 404 (-32001) and causes nothing else; a live
    /// token is never refused; once a token is revoked, its principal's event streams get
    /// nothing more (its sessions end).
    Door,
    /// A stateless (2026-07-28) request hears only its own answer, its own progress and the log
    /// messages it asked for (none without a `logLevel`, none below it): never another's, and
    /// never a JSON-RPC request (the revision has no server-to-client requests).
    Stateless,
    /// The bridge: a server's question reaches only the stateless client whose call it is
    /// about, as an `InputRequiredResult`, and only if that request declared what answering
    /// takes; a retry with a tampered, used, expired or foreign state, or other arguments, is
    /// refused and none of its answers reach a server; a valid one resumes the call, and one
    /// without answers is asked again; every answer a server gets comes from the client asked.
    Bridge,
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Invariant::OneResponse => "invariant 1 (exactly one response)",
            Invariant::Attribution => "invariant 2 (attribution, no cross-talk)",
            Invariant::Isolation => "invariant 3 (a failing backend affects only its own calls)",
            Invariant::View => "invariant 4 (a session sees and calls only what its view and its token admit)",
            Invariant::Drains => "invariant 5 (tables bounded and drained)",
            Invariant::OneGeneration => "one live generation per backend",
            Invariant::KnownParty => "outputs name known exchanges and backends",
            Invariant::ReloadScope => "invariant 6 (a reload restarts only what changed)",
            Invariant::Removed => "a removed server gets no more writes",
            Invariant::NoPanic => "the hub never panics",
            Invariant::Replayable => "the recording is well formed",
            Invariant::SameOutputs => "the replay makes the recorded outputs, byte for byte",
            Invariant::RootsStayWithTheirClient => "rule 2 (roots stay with their client)",
            Invariant::Door => "the front door (no live token: 401 and nothing else; another's session: 404)",
            Invariant::Stateless => "a stateless request hears only its own answer, progress and the logs it asked for",
            Invariant::Bridge => "the bridge (questions to their client, states refused or resumed as they must be)",
        })
    }
}

/// A broken invariant and what exactly was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breach {
    /// The rule.
    pub invariant: Invariant,
    /// What happened.
    pub detail: String,
}

fn breach<T>(invariant: Invariant, detail: impl Into<String>) -> Result<T, Breach> {
    Err(Breach { invariant, detail: detail.into() })
}

/// The message of the error a fake backend fails a call with on purpose; its `data.text` is
/// the call's payload, so the ledger knows which calls each backend failed itself.
pub const FAKE_TOOL_ERROR: &str = "the tool failed on purpose";

/// What a client asked on one exchange.
#[derive(Clone, Debug, PartialEq)]
pub enum Asked {
    /// `initialize` (id 0).
    Initialize,
    /// `tools/call` of `<backend>_1mcp_echo` with a unique payload.
    Call {
        /// The client's JSON-RPC id.
        id: Value,
        /// The unique text to echo.
        payload: String,
        /// The server it targets (`nosuch` for a tool nobody has).
        backend: String,
    },
    /// `tools/list`.
    List {
        /// The client's JSON-RPC id.
        id: Value,
    },
    /// `notifications/cancelled` for the call on `target`.
    Cancel {
        /// The exchange of the call being cancelled.
        target: ExchangeId,
    },
    /// `DELETE /mcp`.
    Delete,
    /// A JSON-RPC response to a request the hub pushed (a `roots/list` answer).
    Reply,
    /// A notification other than a cancel (`notifications/roots/list_changed`).
    Notify,
    /// `GET /mcp`: a standalone stream for server messages.
    Stream,
}

/// What a stateless (2026-07-28) request declared in its `_meta`, beside what it asked.
#[derive(Clone, Debug, PartialEq)]
pub struct ModernAsk {
    /// The capabilities it declared (`elicitation`, `sampling`, `roots`).
    pub declares: BTreeSet<String>,
    /// The least severe level of log messages it asked for, as an index into
    /// [`crate::fake_backend::LOG_LEVELS`]; `None`: it asked for none, and must get none.
    pub log_level: Option<usize>,
    /// Its progress token, if it gave one.
    pub progress_token: Option<Value>,
    /// Set when it is a retry of a call its server asked something.
    pub retry: Option<Retry>,
}

/// A stateless client's retry of a call that was answered `input_required`.
#[derive(Clone, Debug, PartialEq)]
pub struct Retry {
    /// The `requestState` it presents.
    pub state: String,
    /// How it is meant.
    pub kind: RetryKind,
}

/// What a retry does with the `requestState` it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryKind {
    /// The state and the answers: the call goes on, unless the state expired.
    Answers,
    /// The state without the answers: the questions are asked again.
    Unanswered,
    /// The state altered: refused.
    Tampered,
    /// The right state for other arguments: refused.
    OtherArgs,
    /// A state already used: refused.
    Replayed,
}

/// How a call ended, for reports and scenario assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallResult {
    /// Echoed text.
    Ok(String),
    /// JSON-RPC error message (or HTTP status when there was no JSON-RPC error).
    Error(String),
    /// No answer, legitimately: the reason.
    Unanswered(&'static str),
    /// Stateless: its server asked the client something first (`input_required`).
    InputRequired,
}

/// One `tools/call` and its fate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallOutcome {
    /// Which client.
    pub client: usize,
    /// The exchange.
    pub exchange: ExchangeId,
    /// The JSON-RPC id the client used, as JSON text.
    pub id: String,
    /// Target server.
    pub backend: String,
    /// The payload.
    pub payload: String,
    /// What came back.
    pub result: CallResult,
}

/// Everything known about one exchange.
#[derive(Clone, Debug)]
struct Record {
    client: usize,
    asked: Asked,
    delivered: bool,
    closed: bool,
    cancelled: bool,
    session_gone: bool,
    answers: u32,
    stream_open: bool,
    ended: bool,
    headers: Vec<(String, String)>,
    status: u16,
    result: Option<CallResult>,
    /// A call its session's view did not admit when the hub received it: it must be refused
    /// with -32602 and never reach a backend.
    refused: bool,
    /// Names another client's session under its own token (authentication on).
    foreign: bool,
    /// The status the front door must refuse it with, decided when the hub received it.
    door: Option<u16>,
    /// A stateless (2026-07-28) request: what its `_meta` declared.
    modern: Option<ModernAsk>,
    /// A stateless retry: what its answer must be, decided when the hub received it.
    expect: Option<Expect>,
    /// The JSON-RPC answer it got (kept for stateless requests, whose client reads it).
    answer: Option<Value>,
}

/// A finished exchange, for the client that owns it.
#[derive(Clone, Debug)]
pub struct Completed {
    /// The exchange.
    pub exchange: ExchangeId,
    /// Its owner.
    pub client: usize,
    /// What was asked.
    pub asked: Asked,
    /// HTTP status.
    pub status: u16,
    /// Response headers (from the stream opening for SSE).
    pub headers: Vec<(String, String)>,
    /// The JSON-RPC answer, for a stateless request (its client goes on from it).
    pub answer: Option<Value>,
}

/// The front door's part of an answer (authentication on): a request the door had to refuse
/// got exactly that refusal (`true`: nothing more to check); one it had to let through was not
/// refused for its credential.
fn check_door(exchange: ExchangeId, r: &Record, status: u16, body: &str) -> Result<bool, Breach> {
    let challenge = r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("www-authenticate")).map(|(_, v)| v.as_str());
    let client = r.client;
    let Some(expected) = r.door else {
        if status == 401 || (status == 403 && challenge.is_some()) {
            return breach(
                Invariant::Door,
                format!(
                    "{exchange} ({:?}) of client {client}, with a live token and a view within it, was refused {status}: {body}",
                    r.asked
                ),
            );
        }
        return Ok(false);
    };
    if status != expected {
        return breach(
            Invariant::Door,
            format!(
                "{exchange} ({:?}) of client {client} had to be refused {expected} at the door but was answered {status}: {body}",
                r.asked
            ),
        );
    }
    let code = serde_json::from_str::<Value>(body).ok().and_then(|m| m.pointer("/error/code").and_then(Value::as_i64));
    let fine = match expected {
        401 => challenge.is_some_and(|c| c.starts_with("Bearer ") && c.contains("resource_metadata=")),
        403 => challenge.is_some_and(|c| c.contains("error=\"insufficient_scope\"")),
        404 => code == Some(-32001),
        _ => true,
    };
    if !fine {
        return breach(
            Invariant::Door,
            format!(
                "{exchange} of client {client} was refused {status} without the right challenge or code (challenge {challenge:?}): {body}"
            ),
        );
    }
    Ok(true)
}

/// Per backend generation: which ids the hub used on it.
#[derive(Debug, Default)]
struct GenLog {
    request_ids: BTreeSet<u64>,
}

/// The server a backend name belongs to: per-session instances are `<server>_1mcp_session<N>`.
pub fn server_of(name: &str) -> &str {
    name.split_once("_1mcp_session").map_or(name, |(server, _)| server)
}

/// What a configuration change delivered right now may and may not do, until the next step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadScope {
    /// Servers the change leaves alone (unchanged, or only tags changed): none of their
    /// processes may be stopped or spawned, none of their calls answered.
    pub untouched: BTreeSet<String>,
    /// The file was invalid: nothing at all may happen.
    pub invalid: bool,
    /// What changed, for messages.
    pub what: String,
}

/// Which output names a backend, for [`Ledger::known_backend`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BackendUse {
    Spawn,
    Write,
    Stop,
}

/// The observer's books.
#[derive(Debug, Default)]
pub struct Ledger {
    records: BTreeMap<ExchangeId, Record>,
    /// payload -> (target backend, times a backend received it, issuing client).
    payloads: BTreeMap<String, (String, u32, usize)>,
    /// backend -> newest generation spawned.
    latest: BTreeMap<String, Gen>,
    gens: BTreeMap<(String, Gen), GenLog>,
    /// Servers configured now.
    backends: BTreeSet<String>,
    /// Servers a reload removed (and no later reload added back).
    removed: BTreeSet<String>,
    /// Every generation ever spawned, of any backend.
    spawned: BTreeSet<Gen>,
    /// Per-session instance -> the client whose calls it serves (from the first call it got).
    instance_owner: BTreeMap<String, usize>,
    /// Instances ever spawned (an upper bound on the ones the hub still holds timers for).
    live_instances: BTreeSet<String>,
    /// Set while the outputs of a configuration change are drained.
    reload: Option<ReloadScope>,
    /// Each configured server's tags, as the hub has them now.
    tags: BTreeMap<String, Vec<String>>,
    /// Per client with a view (`?tags=` / `?tag-filter=`): what it admits.
    views: BTreeMap<usize, TagFilter>,
    /// Payloads of calls refused by their session's view: no backend may ever see them.
    refused_payloads: BTreeSet<String>,
    /// Payload -> server whose fake backend answered that call with an error (it said so).
    backend_errors: BTreeMap<String, String>,
    /// Servers whose process exited or failed to spawn in this step (set until the next step).
    failing: BTreeSet<String>,
    /// The server whose process sent this step's input, if any (set until the next step).
    source: Option<String>,
    /// Every server name ever configured (a hub error naming one of them names a culprit).
    known_servers: BTreeSet<String>,
    /// Clients that declared `roots`, with exactly the capabilities they declared.
    roots_clients: BTreeMap<usize, Value>,
    /// Per-session instance -> the client whose capabilities (and so roots) it was given, read
    /// from the client marker in its `initialize` (see [`crate::fake_client::FakeClient::capabilities`]).
    roots_owner: BTreeMap<String, usize>,
    /// The backend (instance name included) whose process sent this step's input, if any.
    source_backend: Option<String>,
    /// The client whose request is this step's input, if any.
    step_client: Option<usize>,
    /// Authentication is on: requests go through the front door.
    auth: bool,
    /// What each client's requests present (authentication on).
    credentials: BTreeMap<usize, Credential>,
    /// Clients that put a token in their URL query as well.
    query_tokens: BTreeSet<usize>,
    /// Per client with a tag-bound token: its tags, lower-cased.
    scopes: BTreeMap<usize, BTreeSet<String>>,
    /// Clients whose token was revoked mid-run (the hub was told): their event streams get
    /// nothing more.
    revoked: BTreeSet<usize>,
    /// The hub's wall clock (Unix ms) at the input being delivered.
    wall_ms: u64,
    /// This step's input is a request the door refuses: the refusal is its only output.
    door_step: Option<ExchangeId>,
    /// Clients with a live session (its `initialize` answered with an id, not deleted, its
    /// token not revoked): after quiescence, the hub holds exactly these sessions.
    live_sessions: BTreeSet<usize>,
    /// What is known of the stateless requests, their parked calls and the servers' questions.
    bridge: BridgeBook,
    /// Responses seen.
    pub responses: u64,
}

impl Ledger {
    /// Books for a hub configured with `backends`.
    pub fn new(backends: impl IntoIterator<Item = String>) -> Ledger {
        let backends: BTreeSet<String> = backends.into_iter().collect();
        Ledger { known_servers: backends.clone(), backends, ..Ledger::default() }
    }

    /// The servers' tags from now on (at start, and before each valid configuration change
    /// is delivered: a tags-only change re-decides every view at that step).
    pub fn set_tags(&mut self, tags: BTreeMap<String, Vec<String>>) {
        self.known_servers.extend(tags.keys().cloned());
        self.tags = tags;
    }

    /// `client` opens its session with this view (from the same query the hub parses).
    pub fn set_view(&mut self, client: usize, filter: TagFilter) {
        self.views.insert(client, filter);
    }

    /// The hub runs with authentication on.
    pub fn enable_auth(&mut self) {
        self.auth = true;
    }

    /// What `client`'s requests present; `query_token`: its URL carries `access_token=` too.
    pub fn set_credential(&mut self, client: usize, credential: Credential, query_token: bool) {
        if let Credential::Token(grant) = &credential
            && let Some(tags) = &grant.tags
        {
            self.scopes.insert(client, tags.iter().map(|t| t.to_lowercase()).collect());
        }
        if query_token {
            self.query_tokens.insert(client);
        }
        self.credentials.insert(client, credential);
    }

    /// `client`'s token is revoked from this step on (the hub is told in the same step): its
    /// requests are refused at the door, and its open event streams must get nothing more.
    pub fn revoke(&mut self, client: usize) {
        if let Some(Credential::Token(grant)) = self.credentials.get_mut(&client) {
            grant.revoked = true;
            self.revoked.insert(client);
            self.live_sessions.remove(&client);
        }
    }

    /// The hub's wall clock (Unix ms) when it handles the next input.
    pub fn set_wall_ms(&mut self, wall_ms: u64) {
        self.wall_ms = wall_ms;
    }

    /// Whether `client` presents a live token now (known, not revoked, not expired, issued for
    /// this server if it names a resource: its base URL or an MCP endpoint of the simulated
    /// hub's front end, `http://127.0.0.1:3050`).
    fn live(&self, client: usize) -> bool {
        let ours = |aud: &str| {
            let aud = aud.strip_suffix('/').unwrap_or(aud);
            ["", "/mcp", "/sse", "/messages"].iter().any(|path| aud == format!("http://127.0.0.1:3050{path}"))
        };
        match self.credentials.get(&client) {
            Some(Credential::Token(grant)) => {
                !grant.revoked
                    && grant.expires_at_ms.is_none_or(|at| self.wall_ms < at)
                    && grant.audience.as_deref().is_none_or(ours)
            }
            _ => false,
        }
    }

    /// What the front door must answer a request of `r` with right now; `None`: let through.
    fn door(&self, r: &Record) -> Option<u16> {
        if !self.auth {
            return None;
        }
        if self.query_tokens.contains(&r.client) {
            return Some(400);
        }
        if !self.live(r.client) {
            return Some(401);
        }
        if r.foreign {
            return Some(404);
        }
        let beyond = |scope: &BTreeSet<String>, filter: &TagFilter| !filter.referenced_tags().is_subset(scope);
        // A stateless request brings its view every time, and is refused it every time.
        if (r.asked == Asked::Initialize || r.modern.is_some())
            && let (Some(scope), Some(filter)) = (self.scopes.get(&r.client), self.views.get(&r.client))
            && beyond(scope, filter)
        {
            return Some(403);
        }
        None
    }

    /// Whether `client`'s view and token admit `server` now; `None` for a client with neither
    /// a view nor a tag-bound token.
    fn admits(&self, client: usize, server: &str) -> Option<bool> {
        let (filter, scope) = (self.views.get(&client), self.scopes.get(&client));
        if filter.is_none() && scope.is_none() {
            return None;
        }
        let tags = self.tags.get(server).filter(|_| self.backends.contains(server));
        Some(tags.is_some_and(|t| {
            filter.is_none_or(|f| f.admits(t)) && scope.is_none_or(|s| t.iter().any(|tag| s.contains(tag)))
        }))
    }

    /// The hub is about to learn that `server`'s process ended or never started: until the
    /// next step, no call to another server may be failed.
    pub fn begin_failure(&mut self, server: &str) {
        self.failing.insert(server.to_owned());
    }

    /// This step's input comes from `backend`'s process (a line, a spawn, an exit); `backend`
    /// may be a per-session instance.
    pub fn begin_source(&mut self, backend: &str) {
        self.source = Some(server_of(backend).to_owned());
        self.source_backend = Some(backend.to_owned());
    }

    /// `client` declared `roots`, with exactly these capabilities.
    pub fn set_roots(&mut self, client: usize, capabilities: Value) {
        self.roots_clients.insert(client, capabilities);
    }

    /// The client that sent `exchange`'s request, if the ledger knows it.
    pub fn client_of(&self, exchange: ExchangeId) -> Option<usize> {
        self.records.get(&exchange).map(|r| r.client)
    }

    /// `backend` is about to hand the hub this line: remember which calls it failed itself.
    pub fn handle_backend_line(&mut self, backend: &str, line: &str) {
        let Ok(message) = serde_json::from_str::<Value>(line) else { return };
        self.note_question(backend, &message);
        if let Some(text) = message.pointer("/error/data/text").and_then(Value::as_str) {
            self.backend_errors.insert(text.to_owned(), server_of(backend).to_owned());
        }
    }

    /// A new step begins: what held for the last one's outputs only is forgotten.
    pub fn end_step(&mut self) {
        self.reload = None;
        self.failing.clear();
        self.source = None;
        self.source_backend = None;
        self.step_client = None;
        self.door_step = None;
        self.bridge.step_exchange = None;
    }

    /// A client issued a request on `exchange` (not yet delivered).
    pub fn issue(&mut self, exchange: ExchangeId, client: usize, asked: Asked) {
        match &asked {
            Asked::Call { payload, backend, .. } => {
                self.payloads.insert(payload.clone(), (backend.clone(), 0, client));
            }
            Asked::Cancel { target } => {
                if let Some(r) = self.records.get_mut(target) {
                    r.cancelled = true;
                }
            }
            Asked::Delete => {
                for r in self.records.values_mut().filter(|r| r.client == client) {
                    r.session_gone = true;
                }
            }
            _ => {}
        }
        self.insert_record(exchange, client, asked, false);
    }

    /// A stateless client issued a request on `exchange`: a call's payload is booked as for a
    /// session's call, except for a retry, which repeats a call already sent (it must never
    /// be sent again).
    pub fn issue_modern(&mut self, exchange: ExchangeId, client: usize, asked: Asked, modern: ModernAsk) {
        if let (Asked::Call { payload, backend, .. }, None) = (&asked, &modern.retry) {
            self.payloads.insert(payload.clone(), (backend.clone(), 0, client));
        }
        self.insert_record(exchange, client, asked, false);
        if let Some(r) = self.records.get_mut(&exchange) {
            r.modern = Some(modern);
        }
    }

    /// `client` issued a request on `exchange` naming another client's session under its own
    /// token (authentication on): whatever it asks (a call, a DELETE, a stream), it touches
    /// nothing of its own client's, and the door must refuse it.
    pub fn issue_probe(&mut self, exchange: ExchangeId, client: usize, asked: Asked) {
        if let Asked::Call { payload, backend, .. } = &asked {
            self.payloads.insert(payload.clone(), (backend.clone(), 0, client));
        }
        self.insert_record(exchange, client, asked, true);
    }

    fn insert_record(&mut self, exchange: ExchangeId, client: usize, asked: Asked, foreign: bool) {
        let record = Record {
            client,
            asked,
            delivered: false,
            closed: false,
            cancelled: false,
            session_gone: false,
            answers: 0,
            stream_open: false,
            ended: false,
            headers: vec![],
            status: 0,
            result: None,
            refused: false,
            foreign,
            door: None,
            modern: None,
            expect: None,
            answer: None,
        };
        self.records.insert(exchange, record);
    }

    /// The hub is about to receive the request of `exchange`.
    pub fn handle_delivered(&mut self, exchange: ExchangeId) {
        let Some(r) = self.records.get(&exchange) else { return };
        let door = self.door(r);
        let retry = r.modern.as_ref().and_then(|m| m.retry.clone());
        let refused = match &r.asked {
            // A retry goes on with a call admitted when it was first sent.
            Asked::Call { .. } if retry.is_some() => false,
            Asked::Call { backend, .. } => self.admits(r.client, backend) == Some(false),
            _ => false,
        };
        // A retry refused at the door repeats a call that was sent already.
        if let (true, None, Asked::Call { payload, .. }) = (refused || door.is_some(), &retry, &r.asked) {
            self.refused_payloads.insert(payload.clone());
        }
        self.bridge.step_exchange = Some(exchange);
        let expect = match (&retry, door) {
            (Some(retry), None) => Some(self.expect_retry(exchange, retry)),
            _ => None,
        };
        if door.is_some() {
            self.door_step = Some(exchange);
        }
        if let Some(r) = self.records.get_mut(&exchange) {
            r.delivered = true;
            r.refused = refused;
            r.door = door;
            r.expect = expect;
            self.step_client = Some(r.client);
        }
    }

    /// The hub is about to learn that `exchange`'s client went away.
    pub fn handle_closed(&mut self, exchange: ExchangeId) {
        if let Some(r) = self.records.get_mut(&exchange) {
            r.closed = true;
        }
    }

    fn record(&mut self, exchange: ExchangeId, what: &str) -> Result<&mut Record, Breach> {
        match self.records.get_mut(&exchange) {
            Some(r) if r.delivered => {
                if r.closed {
                    return breach(Invariant::OneResponse, format!("{what} on {exchange} after the client closed it"));
                }
                if r.ended {
                    return breach(Invariant::OneResponse, format!("{what} on {exchange}, which was already answered"));
                }
                Ok(r)
            }
            _ => breach(Invariant::KnownParty, format!("{what} on {exchange}, an exchange the hub was never given")),
        }
    }

    /// A configuration change is about to be delivered: `configured` is the new set of
    /// servers, `removed` the ones it drops. Holds until [`Ledger::end_reload`].
    pub fn begin_reload(&mut self, scope: ReloadScope, configured: BTreeSet<String>, removed: BTreeSet<String>) {
        if !scope.invalid {
            self.known_servers.extend(configured.iter().cloned());
            self.removed.extend(removed);
            self.removed.retain(|r| !configured.contains(r));
            self.backends = configured;
        }
        self.reload = Some(scope);
    }

    /// The outputs of the last configuration change are all drained.
    pub fn end_reload(&mut self) {
        self.reload = None;
    }

    /// Rule 4 on a message pushed to a session on its own (not an answer): in a step whose
    /// input came from `source`'s process, a `list_changed` can only be about `source`, so a
    /// session whose view does not admit `source` must not hear it.
    fn check_push_view(&self, client: usize, message: &Value) -> Result<(), Breach> {
        let method = message.get("method").and_then(Value::as_str).unwrap_or_default();
        if !method.ends_with("/list_changed") {
            return Ok(());
        }
        let Some(source) = self.source.as_deref() else { return Ok(()) };
        if self.admits(client, source) == Some(false) {
            return breach(
                Invariant::View,
                format!("client {client} heard {method} caused by {source}, which its view and token do not admit"),
            );
        }
        Ok(())
    }

    /// Rule 6 on one output drained right after a configuration change.
    fn check_reload(&self, output: &Output) -> Result<(), Breach> {
        let Some(scope) = &self.reload else { return Ok(()) };
        if scope.invalid {
            return breach(
                Invariant::ReloadScope,
                format!("an invalid configuration ({}) changed something: {output:?}", scope.what),
            );
        }
        let (verb, name) = match output {
            Output::SpawnBackend { backend, .. } => ("spawned", backend.to_string()),
            Output::StopBackend { backend, .. } => ("stopped", backend.to_string()),
            Output::Respond { exchange, .. } | Output::PushEvent { exchange, .. } => {
                let Some(Record { asked: Asked::Call { backend, .. }, .. }) = self.records.get(exchange) else {
                    return Ok(());
                };
                if let Output::PushEvent { event, .. } = output
                    && serde_json::from_str::<Value>(&event.data).is_ok_and(|m| m.get("method").is_some())
                {
                    return Ok(());
                }
                ("answered a call to", backend.clone())
            }
            _ => return Ok(()),
        };
        let server = server_of(&name);
        if scope.untouched.contains(server) {
            return breach(
                Invariant::ReloadScope,
                format!("a reload that leaves {server} alone ({}) {verb} {name}: {output:?}", scope.what),
            );
        }
        Ok(())
    }

    /// Check one hub output; returns the exchange it completed, if any.
    pub fn handle_output(&mut self, output: &Output) -> Result<Option<Completed>, Breach> {
        self.check_reload(output)?;
        if let Some(x) = self.door_step
            && !matches!(output, Output::Respond { exchange, .. } if *exchange == x)
        {
            return breach(Invariant::Door, format!("{x}, refused at the door, caused {output:?}"));
        }
        match output {
            Output::Respond { exchange, response } => {
                let r = self.record(*exchange, "a response")?;
                if r.stream_open {
                    return breach(
                        Invariant::OneResponse,
                        format!("a plain response on {exchange} while its stream is open"),
                    );
                }
                r.ended = true;
                r.answers += 1;
                r.status = response.status;
                r.headers = response.headers.clone();
                let (status, body) = (response.status, response.body.clone());
                self.responses += 1;
                self.check_answer(*exchange, status, &body)?;
                Ok(Some(self.completed(*exchange)))
            }
            Output::OpenStream { exchange, headers } => {
                let r = self.record(*exchange, "a stream")?;
                if r.stream_open {
                    return breach(Invariant::OneResponse, format!("a second stream opened on {exchange}"));
                }
                r.stream_open = true;
                r.status = 200;
                r.headers = headers.clone();
                Ok(None)
            }
            Output::PushEvent { exchange, event } => {
                let r = self.record(*exchange, "an event")?;
                if !r.stream_open {
                    return breach(Invariant::KnownParty, format!("an event on {exchange} without an open stream"));
                }
                let client = r.client;
                if r.asked == Asked::Stream && self.revoked.contains(&client) {
                    return breach(
                        Invariant::Door,
                        format!(
                            "client {client}'s token was revoked, yet its event stream {exchange} got {}",
                            event.data
                        ),
                    );
                }
                let message: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
                self.check_push_view(client, &message)?;
                self.check_modern_push(*exchange, &message)?;
                self.check_roots_question(client, &message)?;
                let r = self.record(*exchange, "an event")?;
                let is_response = message.get("method").is_none()
                    && (message.get("result").is_some() || message.get("error").is_some());
                if is_response {
                    r.answers += 1;
                    self.responses += 1;
                    self.check_answer(*exchange, 200, &event.data)?;
                }
                Ok(None)
            }
            Output::CloseStream { exchange } => {
                let r = self.record(*exchange, "a stream close")?;
                if !r.stream_open {
                    return breach(Invariant::KnownParty, format!("closing {exchange}, which has no open stream"));
                }
                r.ended = true;
                // A cancelled call gets no answer; a stream already open for it just closes.
                if r.answers == 0 && !r.cancelled && !matches!(r.asked, Asked::Cancel { .. } | Asked::Stream) {
                    return breach(
                        Invariant::OneResponse,
                        format!("the stream of {exchange} closed without a response"),
                    );
                }
                Ok(Some(self.completed(*exchange)))
            }
            Output::SpawnBackend { backend, generation, .. } => {
                let backend = &backend.to_string();
                self.known_backend(backend, BackendUse::Spawn)?;
                if !self.spawned.insert(*generation) {
                    return breach(
                        Invariant::OneGeneration,
                        format!("{backend} spawned as {generation}, already used"),
                    );
                }
                if server_of(backend) != backend {
                    self.live_instances.insert(backend.clone());
                }
                if let Some(old) = self.latest.get(backend)
                    && *old >= *generation
                {
                    return breach(Invariant::OneGeneration, format!("{backend} spawned as {generation} after {old}"));
                }
                self.latest.insert(backend.clone(), *generation);
                Ok(None)
            }
            Output::WriteBackend { backend, generation, line } => {
                let backend = &backend.to_string();
                self.known_backend(backend, BackendUse::Write)?;
                self.check_write(backend, *generation, line)?;
                Ok(None)
            }
            Output::StopBackend { backend, generation } => {
                // A stopped instance stays counted: the hub forgets it (and its idle timer)
                // only when that timer fires or its session asks again, which is bounded.
                self.known_backend(&backend.to_string(), BackendUse::Stop)?;
                self.handle_backend_exit(&backend.to_string(), *generation);
                Ok(None)
            }
        }
    }

    fn known_backend(&self, backend: &str, what: BackendUse) -> Result<(), Breach> {
        let server = server_of(backend);
        if self.removed.contains(server) {
            // Stopping what a reload removed is the point; anything else talks to a ghost.
            return match what {
                BackendUse::Stop => Ok(()),
                _ => breach(Invariant::Removed, format!("{what:?} of {backend} after {server} was removed")),
            };
        }
        if self.backends.contains(server) {
            Ok(())
        } else {
            breach(Invariant::KnownParty, format!("an output names unknown backend {backend:?}"))
        }
    }

    fn completed(&mut self, exchange: ExchangeId) -> Completed {
        let r = &self.records[&exchange];
        let done = Completed {
            exchange,
            client: r.client,
            asked: r.asked.clone(),
            status: r.status,
            headers: r.headers.clone(),
            answer: r.answer.clone(),
        };
        // The sessions the hub must still hold once everything settles.
        let has_session = done.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("mcp-session-id"));
        match (&done.asked, done.status, r.foreign) {
            (Asked::Initialize, 200, false) if has_session && !self.revoked.contains(&done.client) => {
                self.live_sessions.insert(done.client);
            }
            (Asked::Delete, 200, false) => {
                self.live_sessions.remove(&done.client);
            }
            _ => {}
        }
        done
    }

    /// Invariants 1 and 2 on one JSON-RPC answer (or bodyless HTTP answer).
    fn check_answer(&mut self, exchange: ExchangeId, status: u16, body: &str) -> Result<(), Breach> {
        let backends = self.backends.clone();
        let Some(r) = self.records.get(&exchange) else { return Ok(()) };
        // What rules 3 and 4 need to know, read before the record is borrowed for writing.
        let admitted: Option<BTreeSet<String>> = (self.views.contains_key(&r.client)
            || self.scopes.contains_key(&r.client))
        .then(|| self.backends.iter().filter(|b| self.admits(r.client, b) == Some(true)).cloned().collect());
        let failed_by = match &r.asked {
            Asked::Call { payload, .. } => self.backend_errors.get(payload).cloned(),
            _ => None,
        };
        let failing = self.failing.clone();
        let known = self.known_servers.clone();
        let auth = self.auth;
        let Some(r) = self.records.get_mut(&exchange) else { return Ok(()) };
        if r.answers > 1 {
            return breach(Invariant::OneResponse, format!("{exchange} received {} responses", r.answers));
        }
        if auth && check_door(exchange, r, status, body)? {
            return Ok(());
        }
        // A cancelled call gets no JSON-RPC answer; its HTTP request is released with an empty 204.
        if r.cancelled && status == 204 && body.is_empty() {
            return Ok(());
        }
        let expected_id = match &r.asked {
            Asked::Cancel { .. } => {
                return match status {
                    202 | 404 => Ok(()),
                    _ => breach(
                        Invariant::OneResponse,
                        format!("a notification on {exchange} was answered {status}: {body}"),
                    ),
                };
            }
            Asked::Reply | Asked::Notify => {
                return match status {
                    202 | 404 => Ok(()),
                    _ => breach(
                        Invariant::OneResponse,
                        format!("a client's response or notification on {exchange} was answered {status}: {body}"),
                    ),
                };
            }
            Asked::Delete => {
                return match status {
                    200 | 404 => Ok(()),
                    _ => breach(Invariant::OneResponse, format!("DELETE on {exchange} was answered {status}: {body}")),
                };
            }
            Asked::Stream if r.stream_open => {
                return breach(
                    Invariant::Attribution,
                    format!("a response was pushed on the GET stream {exchange}: {body}"),
                );
            }
            Asked::Stream => {
                // Refused (409 for a second stream, 404 after a delete): a plain HTTP error.
                return match status {
                    404 | 409 => Ok(()),
                    _ => breach(Invariant::OneResponse, format!("GET on {exchange} was answered {status}: {body}")),
                };
            }
            Asked::Initialize => Value::from(0),
            Asked::Call { id, .. } | Asked::List { id } => id.clone(),
        };
        let message: Value = match serde_json::from_str(body) {
            Ok(Value::Object(m)) => Value::Object(m),
            _ => {
                return breach(
                    Invariant::OneResponse,
                    format!("{exchange} was answered {status} without a JSON-RPC message: {body:?}"),
                );
            }
        };
        if message.get("id") != Some(&expected_id) {
            return breach(
                Invariant::Attribution,
                format!(
                    "{exchange} asked with id {expected_id} but was answered with id {:?}: {body}",
                    message.get("id")
                ),
            );
        }
        let (result, error) = (message.get("result"), message.get("error"));
        if result.is_some() == error.is_some() {
            return breach(
                Invariant::OneResponse,
                format!("{exchange} got a response with neither or both of result and error: {body}"),
            );
        }
        if self.check_bridge_answer(exchange, &message)? {
            return Ok(());
        }
        let Some(r) = self.records.get_mut(&exchange) else { return Ok(()) };
        let (result, error) = (message.get("result"), message.get("error"));
        let error_text = error.map(|e| e.get("message").and_then(Value::as_str).unwrap_or_default().to_owned());
        match (&r.asked, result) {
            (Asked::Call { payload, backend, .. }, Some(result)) => {
                if r.refused {
                    return breach(
                        Invariant::View,
                        format!(
                            "{exchange} called {backend}, outside what client {}'s view and token admit, and got a result: {body}",
                            r.client
                        ),
                    );
                }
                let text = result.pointer("/content/0/text").and_then(Value::as_str).unwrap_or_default();
                if text != payload {
                    return breach(
                        Invariant::Attribution,
                        format!("{exchange} asked to echo {payload:?} but got {text:?}: {body}"),
                    );
                }
                r.result = Some(CallResult::Ok(text.to_owned()));
            }
            (Asked::Call { backend, .. }, None) => {
                // Rule 1: errors keep the backend's context (which server).
                let whole = error.map(Value::to_string).unwrap_or_default();
                if status == 200 && !whole.contains(backend.as_str()) {
                    return breach(
                        Invariant::OneResponse,
                        format!("the error for a call to {backend} on {exchange} does not name it: {body}"),
                    );
                }
                // Rule 4: a call outside the view is refused as an unknown tool.
                let code = error.and_then(|e| e.get("code")).and_then(Value::as_i64);
                // (Unless its session was deleted first: then the session is what is unknown.)
                if r.refused && !r.session_gone && code != Some(-32602) {
                    return breach(
                        Invariant::View,
                        format!(
                            "{exchange} called {backend}, outside what client {}'s view and token admit, and got error {code:?} instead of -32602: {body}",
                            r.client
                        ),
                    );
                }
                // Rule 3: an error is the target's own (its fake said so), or the hub's about
                // the target; never another server's, nor one made while another server failed.
                let message = error_text.as_deref().unwrap_or_default();
                if message.contains(FAKE_TOOL_ERROR) {
                    if failed_by.as_deref() != Some(backend.as_str()) {
                        return breach(
                            Invariant::Isolation,
                            format!(
                                "{exchange} called {backend} and got a tool error its backend never wrote (it came from {failed_by:?}): {body}"
                            ),
                        );
                    }
                } else if let Some(other) = known.iter().find(|k| *k != backend && whole.contains(k.as_str())) {
                    return breach(
                        Invariant::Isolation,
                        format!("{exchange} called {backend} but was failed with an error naming {other}: {body}"),
                    );
                }
                if !failing.is_empty() && !failing.contains(backend) {
                    return breach(
                        Invariant::Isolation,
                        format!(
                            "{exchange} called {backend} and was failed in the step where {failing:?} failed: {body}"
                        ),
                    );
                }
                r.result = Some(CallResult::Error(error_text.unwrap_or_default()));
            }
            (Asked::List { .. }, Some(result)) => {
                for tool in result.get("tools").and_then(Value::as_array).into_iter().flatten() {
                    let name = tool.get("name").and_then(Value::as_str).unwrap_or_default();
                    let owner = name.split("_1mcp_").next().unwrap_or_default();
                    if !backends.contains(owner) {
                        return breach(
                            Invariant::Attribution,
                            format!("tools/list on {exchange} lists {name:?}, which no configured server owns"),
                        );
                    }
                    if let Some(admitted) = &admitted
                        && !admitted.contains(owner)
                    {
                        return breach(
                            Invariant::View,
                            format!(
                                "tools/list on {exchange} shows client {} {name:?}, whose server its view and token do not admit (it admits {admitted:?}): {body}",
                                r.client
                            ),
                        );
                    }
                }
            }
            (Asked::Initialize, Some(result)) => {
                let has_session = r.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("mcp-session-id"));
                if result.get("protocolVersion").is_none() || !has_session {
                    return breach(
                        Invariant::OneResponse,
                        format!("initialize on {exchange} succeeded without a version or session: {body}"),
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Routing seen from the backend side: only the newest generation is written to, ids are
    /// never reused, each call lands on the server its tool name names, once, under its
    /// original name, and cancellations name ids the backend was sent.
    fn check_write(&mut self, backend: &str, generation: Gen, line: &str) -> Result<(), Breach> {
        match self.latest.get(backend) {
            Some(g) if *g == generation => {}
            other => {
                return breach(
                    Invariant::OneGeneration,
                    format!("a write to {backend}#{generation} while the newest generation is {other:?}: {line}"),
                );
            }
        }
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            return breach(Invariant::KnownParty, format!("the hub wrote a non-JSON line to {backend}: {line}"));
        };
        self.check_roots_write(backend, &message, line)?;
        self.check_question_answer(backend, &message)?;
        let log = self.gens.entry((backend.to_owned(), generation)).or_default();
        let method = message.get("method").and_then(Value::as_str);
        match (method, message.get("id")) {
            (Some(method), Some(id)) => {
                let Some(n) = id.as_u64() else { return Ok(()) };
                if !log.request_ids.insert(n) {
                    return breach(
                        Invariant::Attribution,
                        format!("the hub reused id {n} on {backend}#{generation}: {line}"),
                    );
                }
                if method == "tools/call" {
                    let name = message.pointer("/params/name").and_then(Value::as_str).unwrap_or_default();
                    let payload = message.pointer("/params/arguments/text").and_then(Value::as_str).unwrap_or_default();
                    if name != "echo" {
                        return breach(
                            Invariant::Attribution,
                            format!("{backend} was asked for tool {name:?} instead of its original name echo: {line}"),
                        );
                    }
                    self.bridge.note_call(backend, generation, n, payload);
                    if self.refused_payloads.contains(payload) {
                        return breach(
                            Invariant::View,
                            format!(
                                "{backend} was sent payload {payload:?}, a call its session's view or token, or the door, refused: {line}"
                            ),
                        );
                    }
                    let owner = if server_of(backend) == backend {
                        None
                    } else {
                        self.payloads.get(payload).map(|(_, _, client)| *client)
                    };
                    if let Some(client) = owner {
                        let first = *self.instance_owner.entry(backend.to_owned()).or_insert(client);
                        if first != client {
                            return breach(
                                Invariant::Attribution,
                                format!("{backend}, client {first}'s instance, got client {client}'s call: {line}"),
                            );
                        }
                    }
                    match self.payloads.get_mut(payload) {
                        Some((target, seen, _)) if target == server_of(backend) => {
                            *seen += 1;
                            if *seen > 1 {
                                return breach(
                                    Invariant::Attribution,
                                    format!("payload {payload:?} was forwarded {seen} times"),
                                );
                            }
                        }
                        Some((target, _, _)) => {
                            return breach(
                                Invariant::Attribution,
                                format!("payload {payload:?} for {target} was routed to {backend}"),
                            );
                        }
                        None => {
                            return breach(
                                Invariant::Attribution,
                                format!("{backend} received payload {payload:?} that no client sent"),
                            );
                        }
                    }
                }
            }
            (Some("notifications/cancelled"), None) => {
                let target = message.pointer("/params/requestId");
                if let Some(n) = target.and_then(Value::as_u64) {
                    self.bridge.note_cancel(backend, generation, n);
                }
                if !target.and_then(Value::as_u64).is_some_and(|n| log.request_ids.contains(&n)) {
                    return breach(
                        Invariant::Attribution,
                        format!(
                            "{backend}#{generation} was told to cancel {target:?}, an id it was never sent: {line}"
                        ),
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Rule 2 on a message pushed to `client`: a `roots/list` comes only from an instance of
    /// that very client (the step's input is that instance's line: the hub forwards a server's
    /// question in the step it arrives), and only to a client that declared roots.
    fn check_roots_question(&self, client: usize, message: &Value) -> Result<(), Breach> {
        if message.get("method").and_then(Value::as_str) != Some("roots/list") {
            return Ok(());
        }
        let fail = |why: String| breach(Invariant::RootsStayWithTheirClient, format!("{why}: {message}"));
        if !self.roots_clients.contains_key(&client) {
            return fail(format!("client {client}, which declared no roots, was asked roots/list"));
        }
        let Some(from) = self.source_backend.as_deref() else {
            return fail(format!("client {client} was asked roots/list in a step no server spoke"));
        };
        if server_of(from) == from {
            return fail(format!("the shared server {from}'s roots/list reached client {client}"));
        }
        match self.roots_owner.get(from) {
            Some(owner) if *owner == client => Ok(()),
            owner => fail(format!("{from} (client {owner:?}'s instance) asked client {client} for its roots")),
        }
    }

    /// Rule 2 on a line written to `backend`: an instance is initialized with exactly its
    /// client's capabilities and a shared server with none of a client's; a shared server is
    /// told `{"roots": []}`, an instance only its own client's roots; a client's
    /// `roots/list_changed` reaches only its own instances.
    ///
    /// Whose an instance is comes from its `initialize`: a client with roots names itself in
    /// its capabilities, which the hub hands its instances verbatim. That is learnt before the
    /// instance can ask or be called, and does not depend on the routing it checks; the
    /// owner from the first call ([`Ledger::instance_owner`]) must agree with it.
    fn check_roots_write(&mut self, backend: &str, message: &Value, line: &str) -> Result<(), Breach> {
        let shared = server_of(backend) == backend;
        let fail = |why: String| breach(Invariant::RootsStayWithTheirClient, format!("{why}: {line}"));
        let method = message.get("method").and_then(Value::as_str);
        if method == Some("initialize") {
            let caps = message.pointer("/params/capabilities").cloned().unwrap_or(Value::Null);
            let Some(client) = caps.pointer("/experimental/sim/client").and_then(Value::as_u64) else { return Ok(()) };
            let client = client as usize;
            if shared {
                return fail(format!("the shared server {backend} was told client {client}'s capabilities"));
            }
            if self.roots_clients.get(&client) != Some(&caps) {
                return fail(format!("{backend} was not told exactly what client {client} declared"));
            }
            self.roots_owner.insert(backend.to_owned(), client);
            let first = *self.instance_owner.entry(backend.to_owned()).or_insert(client);
            if first != client {
                return fail(format!("{backend} served client {first}'s calls but has client {client}'s capabilities"));
            }
            return Ok(());
        }
        if method == Some("notifications/roots/list_changed") {
            let owner = self.roots_owner.get(backend).or_else(|| self.instance_owner.get(backend));
            return match (self.step_client, shared, owner) {
                (Some(from), false, Some(owner)) if from == *owner => Ok(()),
                (from, _, owner) => fail(format!(
                    "roots/list_changed from client {from:?} reached {backend} (an instance of client {owner:?}, or shared)"
                )),
            };
        }
        let Some(roots) = message.pointer("/result/roots").filter(|_| method.is_none()) else { return Ok(()) };
        if shared {
            if roots.as_array().is_some_and(Vec::is_empty) {
                return Ok(());
            }
            return fail(format!("the shared server {backend} was given roots other than []"));
        }
        let Some(owner) = self.roots_owner.get(backend) else {
            return fail(format!("{backend}, an instance of a client without roots, was given roots"));
        };
        let mine = crate::fake_client::FakeClient::root_uri(*owner);
        let uris: Vec<&str> = roots
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r.get("uri").and_then(Value::as_str).unwrap_or_default())
            .collect();
        if uris.is_empty() || uris.iter().any(|u| *u != mine) {
            return fail(format!("{backend}, client {owner}'s instance, was given roots {uris:?}"));
        }
        Ok(())
    }

    /// Exchanges delivered to the hub and not yet finished or abandoned by their client
    /// (open GET streams included).
    pub fn awaiting(&self) -> usize {
        self.records.values().filter(|r| r.delivered && !r.ended && !r.closed).count()
    }

    /// GET streams the hub opened and neither it nor the client has closed.
    pub fn open_streams(&self) -> usize {
        self.records.values().filter(|r| r.asked == Asked::Stream && r.stream_open && !r.ended && !r.closed).count()
    }

    /// Bounds that hold after every step: the hub holds no exchange the client is not waiting
    /// on, and no timer without a pending request or a backend to watch.
    pub fn check_step(&self, stats: &HubStats) -> Result<(), Breach> {
        if stats.open_exchanges > self.awaiting() {
            return breach(
                Invariant::Drains,
                format!(
                    "the hub holds {} exchanges but only {} await an answer ({stats:?})",
                    stats.open_exchanges,
                    self.awaiting()
                ),
            );
        }
        // Per server a connect, restart or ping timer; per instance that plus its idle timer.
        let bound = stats.pending_backend_requests + self.backends.len() + 2 * self.live_instances.len();
        if stats.timers > bound {
            return breach(
                Invariant::Drains,
                format!(
                    "{} timers for {} pending requests and {} backends ({stats:?})",
                    stats.timers,
                    stats.pending_backend_requests,
                    self.backends.len()
                ),
            );
        }
        Ok(())
    }

    /// After quiescence: every request answered exactly once unless exempt, tables empty.
    pub fn check_quiescent(&self, stats: &HubStats) -> Result<(), Breach> {
        for (x, r) in &self.records {
            if !r.delivered {
                return breach(Invariant::Drains, format!("{x} was never delivered (the world did not drain)"));
            }
            let listening = r.asked == Asked::Stream && r.stream_open;
            let exempt = r.closed || r.cancelled || r.session_gone || listening;
            let answered_once = r.ended && r.answers == 1;
            if !(exempt || answered_once) {
                return breach(
                    Invariant::OneResponse,
                    format!(
                        "{x} ({:?}) of client {} got {} responses and ended={}",
                        r.asked, r.client, r.answers, r.ended
                    ),
                );
            }
        }
        // Only GET streams may stay open, and the hub must hold exactly those.
        let streams = self.open_streams();
        let drained = stats.pending_backend_requests == 0
            && stats.open_exchanges == streams
            && stats.timers == 0
            && stats.starting_backends == 0;
        if !drained {
            return breach(
                Invariant::Drains,
                format!("after quiescence the hub still holds {stats:?} ({streams} GET streams open)"),
            );
        }
        Ok(())
    }

    /// After quiescence, before shutdown: the hub holds exactly the live sessions (a stateless
    /// request's record, parked or not, is gone with its request).
    pub fn check_sessions(&self, stats: &HubStats) -> Result<(), Breach> {
        if stats.sessions != self.live_sessions.len() {
            return breach(
                Invariant::Drains,
                format!(
                    "after quiescence the hub holds {} sessions, but only clients {:?} have one ({stats:?})",
                    stats.sessions, self.live_sessions
                ),
            );
        }
        Ok(())
    }

    /// Every `tools/call` and its fate.
    pub fn outcomes(&self) -> Vec<CallOutcome> {
        self.records
            .iter()
            .filter_map(|(x, r)| {
                let Asked::Call { id, payload, backend } = &r.asked else { return None };
                let result = match &r.result {
                    Some(result) => result.clone(),
                    None if r.closed => CallResult::Unanswered("client disconnected"),
                    None if r.cancelled => CallResult::Unanswered("client cancelled"),
                    None if r.session_gone => CallResult::Unanswered("session deleted"),
                    None if r.ended => CallResult::Error(format!("HTTP {}", r.status)),
                    None => CallResult::Unanswered("still pending"),
                };
                Some(CallOutcome {
                    client: r.client,
                    exchange: *x,
                    id: id.to_string(),
                    backend: backend.clone(),
                    payload: payload.clone(),
                    result,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    //! The checks must bite: feed the ledger outputs a broken hub could produce.

    use super::*;
    use onemcp_core::config::{LaunchSpec, TransportConfig};
    use onemcp_core::{HttpResponse, SseEvent};
    use serde_json::json;

    fn ledger_with_call() -> (Ledger, ExchangeId) {
        let mut l = Ledger::new(["alpha".to_owned(), "beta".to_owned()]);
        let x = ExchangeId(1);
        l.issue(x, 0, Asked::Call { id: json!(7), payload: "c0-r7".into(), backend: "alpha".into() });
        l.handle_delivered(x);
        (l, x)
    }

    fn respond(x: ExchangeId, body: Value) -> Output {
        Output::Respond {
            exchange: x,
            response: HttpResponse { status: 200, content_type: None, headers: vec![], body: body.to_string() },
        }
    }

    fn ok(id: Value, text: &str) -> Value {
        json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": text}]}})
    }

    fn invariant(r: Result<Option<Completed>, Breach>) -> Option<Invariant> {
        r.err().map(|b| b.invariant)
    }

    #[test]
    fn accepts_a_correct_answer_once() {
        let (mut l, x) = ledger_with_call();
        assert_eq!(invariant(l.handle_output(&respond(x, ok(json!(7), "c0-r7")))), None);
        assert_eq!(invariant(l.handle_output(&respond(x, ok(json!(7), "c0-r7")))), Some(Invariant::OneResponse));
    }

    #[test]
    fn catches_wrong_ids_and_cross_talk() {
        let (mut l, x) = ledger_with_call();
        assert_eq!(invariant(l.handle_output(&respond(x, ok(json!("7"), "c0-r7")))), Some(Invariant::Attribution));
        let (mut l, x) = ledger_with_call();
        assert_eq!(invariant(l.handle_output(&respond(x, ok(json!(7), "c1-r7")))), Some(Invariant::Attribution));
    }

    #[test]
    fn catches_answers_to_closed_and_unknown_exchanges() {
        let (mut l, x) = ledger_with_call();
        l.handle_closed(x);
        assert_eq!(invariant(l.handle_output(&respond(x, ok(json!(7), "c0-r7")))), Some(Invariant::OneResponse));
        assert_eq!(invariant(l.handle_output(&respond(ExchangeId(99), ok(json!(7), "")))), Some(Invariant::KnownParty));
    }

    #[test]
    fn catches_errors_without_server_context_and_double_sse_answers() {
        let (mut l, x) = ledger_with_call();
        let e = json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -32603, "message": "it broke"}});
        assert_eq!(invariant(l.handle_output(&respond(x, e))), Some(Invariant::OneResponse));
        let (mut l, x) = ledger_with_call();
        assert_eq!(invariant(l.handle_output(&Output::OpenStream { exchange: x, headers: vec![] })), None);
        let push =
            Output::PushEvent { exchange: x, event: SseEvent { event: None, data: ok(json!(7), "c0-r7").to_string() } };
        assert_eq!(invariant(l.handle_output(&push)), None);
        assert_eq!(invariant(l.handle_output(&push)), Some(Invariant::OneResponse));
    }

    #[test]
    fn catches_misrouted_duplicated_and_stale_backend_writes() {
        let (mut l, _) = ledger_with_call();
        for (b, g) in [("alpha", 1), ("beta", 2)] {
            let spawn = Output::SpawnBackend {
                backend: onemcp_core::BackendKey::parse(b),
                generation: Gen(g),
                transport: TransportConfig::Stdio(LaunchSpec::default()),
            };
            assert_eq!(invariant(l.handle_output(&spawn)), None);
        }
        let call = |b: &str, g: u64, id: u64| {
            Output::WriteBackend {
            backend: onemcp_core::BackendKey::parse(b),
            generation: Gen(g),
            line: json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "c0-r7"}}}).to_string(),
        }
        };
        assert_eq!(invariant(l.handle_output(&call("beta", 2, 1))), Some(Invariant::Attribution), "wrong backend");
        assert_eq!(invariant(l.handle_output(&call("alpha", 1, 1))), None);
        assert_eq!(invariant(l.handle_output(&call("alpha", 1, 2))), Some(Invariant::Attribution), "forwarded twice");
        assert_eq!(invariant(l.handle_output(&call("alpha", 0, 3))), Some(Invariant::OneGeneration));
        let cancel = Output::WriteBackend {
            backend: onemcp_core::BackendKey::parse("alpha"),
            generation: Gen(1),
            line: json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 42}})
                .to_string(),
        };
        assert_eq!(invariant(l.handle_output(&cancel)), Some(Invariant::Attribution), "cancel of an id never sent");
    }

    #[test]
    fn catches_reloads_that_touch_what_they_should_not() {
        let spawn = |b: &str, g: u64| Output::SpawnBackend {
            backend: onemcp_core::BackendKey::parse(b),
            generation: Gen(g),
            transport: TransportConfig::Stdio(LaunchSpec::default()),
        };
        let configured = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<BTreeSet<String>>();
        let (mut l, x) = ledger_with_call();
        assert_eq!(invariant(l.handle_output(&spawn("alpha", 1))), None);
        // beta's command changed; alpha is untouched: its call may not be failed, nor alpha respawned.
        let scope = ReloadScope { untouched: configured(&["alpha"]), invalid: false, what: "Command(beta)".into() };
        l.begin_reload(scope.clone(), configured(&["alpha", "beta"]), BTreeSet::new());
        let failed =
            json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -32603, "message": "server 'alpha' was stopped"}});
        assert_eq!(invariant(l.handle_output(&respond(x, failed))), Some(Invariant::ReloadScope));
        assert_eq!(invariant(l.handle_output(&spawn("alpha", 3))), Some(Invariant::ReloadScope));
        assert_eq!(invariant(l.handle_output(&spawn("beta", 4))), None);
        l.end_reload();
        assert_eq!(invariant(l.handle_output(&spawn("gamma", 5))), Some(Invariant::KnownParty));
        assert_eq!(invariant(l.handle_output(&spawn("beta", 4))), Some(Invariant::OneGeneration), "reused");
        // An invalid file: nothing at all may happen.
        l.begin_reload(ReloadScope { invalid: true, ..scope }, BTreeSet::new(), BTreeSet::new());
        assert_eq!(
            invariant(l.handle_output(&Output::StopBackend {
                backend: onemcp_core::BackendKey::parse("beta"),
                generation: Gen(4)
            })),
            Some(Invariant::ReloadScope)
        );
        // Removed: it may be stopped, never written to or spawned again.
        l.begin_reload(ReloadScope::default(), configured(&["alpha"]), configured(&["beta"]));
        let stop =
            Output::StopBackend { backend: onemcp_core::BackendKey::parse("beta_1mcp_session2"), generation: Gen(6) };
        assert_eq!(invariant(l.handle_output(&stop)), None);
        let write = Output::WriteBackend {
            backend: onemcp_core::BackendKey::parse("beta"),
            generation: Gen(4),
            line: "{}".into(),
        };
        assert_eq!(invariant(l.handle_output(&write)), Some(Invariant::Removed));
    }

    /// alpha is tagged `a`, beta `b`; client 0 opened its session with `?tags=a`.
    fn ledger_with_view() -> Ledger {
        let mut l = Ledger::new(["alpha".to_owned(), "beta".to_owned()]);
        let tags = |t: &str| vec![t.to_owned()];
        l.set_tags([("alpha".to_owned(), tags("a")), ("beta".to_owned(), tags("b"))].into_iter().collect());
        let spec = onemcp_core::view::parse_view_query("tags=a", &onemcp_core::view::Presets::default());
        l.set_view(0, spec.ok().and_then(|v| v.filter).expect("a filter"));
        l
    }

    fn send(l: &mut Ledger, x: u64, asked: Asked) -> ExchangeId {
        l.issue(ExchangeId(x), 0, asked);
        l.handle_delivered(ExchangeId(x));
        ExchangeId(x)
    }

    fn call(l: &mut Ledger, x: u64, backend: &str) -> ExchangeId {
        let asked = Asked::Call { id: json!(x), payload: format!("c0-r{x}"), backend: backend.into() };
        send(l, x, asked)
    }

    fn error(id: u64, code: i64, message: &str) -> Value {
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
    }

    fn list(id: u64, tools: &[&str]) -> Value {
        let tools: Vec<Value> = tools.iter().map(|t| json!({"name": t})).collect();
        json!({"jsonrpc": "2.0", "id": id, "result": {"tools": tools}})
    }

    #[test]
    fn catches_calls_outside_the_view_that_are_answered_or_forwarded() {
        let mut l = ledger_with_view();
        let x = call(&mut l, 1, "beta");
        assert_eq!(invariant(l.handle_output(&respond(x, ok(json!(1), "c0-r1")))), Some(Invariant::View), "a result");
        let x = call(&mut l, 2, "beta");
        let wrong = error(2, -32603, "server 'beta' failed");
        assert_eq!(invariant(l.handle_output(&respond(x, wrong))), Some(Invariant::View), "not -32602");
        let x = call(&mut l, 3, "beta");
        let unknown = error(3, -32602, "Unknown tool: beta_1mcp_echo");
        assert_eq!(invariant(l.handle_output(&respond(x, unknown))), None, "refused as unknown");
        let spawn = Output::SpawnBackend {
            backend: onemcp_core::BackendKey::parse("beta"),
            generation: Gen(1),
            transport: TransportConfig::Stdio(LaunchSpec::default()),
        };
        assert_eq!(invariant(l.handle_output(&spawn)), None);
        let write = Output::WriteBackend {
            backend: onemcp_core::BackendKey::parse("beta"),
            generation: Gen(1),
            line: json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "c0-r3"}}}).to_string(),
        };
        assert_eq!(invariant(l.handle_output(&write)), Some(Invariant::View), "a refused call reached beta");
        // In the view: answered normally.
        let x = call(&mut l, 4, "alpha");
        assert_eq!(invariant(l.handle_output(&respond(x, ok(json!(4), "c0-r4")))), None);
    }

    #[test]
    fn catches_lists_and_list_changed_outside_the_view_and_follows_a_retag() {
        let mut l = ledger_with_view();
        let x = send(&mut l, 1, Asked::List { id: json!(1) });
        let leaky = list(1, &["alpha_1mcp_echo", "beta_1mcp_echo"]);
        assert_eq!(invariant(l.handle_output(&respond(x, leaky))), Some(Invariant::View));
        let x = send(&mut l, 2, Asked::List { id: json!(2) });
        assert_eq!(invariant(l.handle_output(&respond(x, list(2, &["alpha_1mcp_echo"])))), None);
        // A tags-only reload tags beta `a`: from that step on client 0 sees it, and a call to
        // alpha (now `b`) is refused.
        let retag = [("alpha".to_owned(), vec!["b".to_owned()]), ("beta".to_owned(), vec!["a".to_owned()])];
        l.set_tags(retag.into_iter().collect());
        let x = send(&mut l, 3, Asked::List { id: json!(3) });
        assert_eq!(invariant(l.handle_output(&respond(x, list(3, &["beta_1mcp_echo"])))), None);
        let x = send(&mut l, 4, Asked::List { id: json!(4) });
        assert_eq!(invariant(l.handle_output(&respond(x, list(4, &["alpha_1mcp_echo"])))), Some(Invariant::View));
        let x = call(&mut l, 5, "alpha");
        assert_eq!(invariant(l.handle_output(&respond(x, ok(json!(5), "c0-r5")))), Some(Invariant::View));
        // A list_changed caused by alpha's process reaches a session that does not see alpha.
        let stream = send(&mut l, 6, Asked::Stream);
        assert_eq!(invariant(l.handle_output(&Output::OpenStream { exchange: stream, headers: vec![] })), None);
        let changed = tools_list_changed_on(stream);
        l.begin_source("beta");
        assert_eq!(invariant(l.handle_output(&changed)), None, "beta is in view");
        l.end_step();
        l.begin_source("alpha");
        assert_eq!(invariant(l.handle_output(&changed)), Some(Invariant::View), "alpha is not");
    }

    /// `notifications/tools/list_changed` pushed on `stream`.
    fn tools_list_changed_on(stream: ExchangeId) -> Output {
        let data = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}).to_string();
        Output::PushEvent { exchange: stream, event: SseEvent { event: None, data } }
    }

    /// alpha is tagged `a`, beta `b`; authentication is on and client 0 holds token `tok-0`.
    fn ledger_with_token(tags: Option<&[&str]>, expires_at_ms: Option<u64>) -> Ledger {
        let mut l = Ledger::new(["alpha".to_owned(), "beta".to_owned()]);
        let tag = |t: &str| vec![t.to_owned()];
        l.set_tags([("alpha".to_owned(), tag("a")), ("beta".to_owned(), tag("b"))].into_iter().collect());
        l.enable_auth();
        l.set_credential(0, token(0, tags, expires_at_ms), false);
        l
    }

    fn token(client: usize, tags: Option<&[&str]>, expires_at_ms: Option<u64>) -> Credential {
        Credential::Token(Box::new(onemcp_core::auth::TokenGrant {
            id: format!("tok-{client}"),
            name: format!("client-{client}"),
            tags: tags.map(|t| t.iter().map(|s| (*s).to_owned()).collect()),
            expires_at_ms,
            revoked: false,
            audience: None,
        }))
    }

    fn refusal(x: ExchangeId, status: u16, challenge: Option<&str>, body: Value) -> Output {
        let headers = challenge.map(|c| ("WWW-Authenticate".to_owned(), c.to_owned())).into_iter().collect();
        Output::Respond {
            exchange: x,
            response: HttpResponse { status, content_type: None, headers, body: body.to_string() },
        }
    }

    #[test]
    fn catches_list_entries_outside_a_tokens_tags() {
        // A token bound to `A` (capitals: tags compare lower-cased), no view: it sees alpha only.
        let mut l = ledger_with_token(Some(&["A"]), None);
        let x = send(&mut l, 1, Asked::List { id: json!(1) });
        let leaky = list(1, &["alpha_1mcp_echo", "beta_1mcp_echo"]);
        assert_eq!(invariant(l.handle_output(&respond(x, leaky))), Some(Invariant::View), "beta is not tagged a");
        let x = send(&mut l, 2, Asked::List { id: json!(2) });
        assert_eq!(invariant(l.handle_output(&respond(x, list(2, &["alpha_1mcp_echo"])))), None);
        // Calls outside the token's tags are refused as unknown tools, never answered.
        let x = call(&mut l, 3, "beta");
        assert_eq!(invariant(l.handle_output(&respond(x, ok(json!(3), "c0-r3")))), Some(Invariant::View));
        let x = call(&mut l, 4, "beta");
        let unknown = error(4, -32602, "Unknown tool: beta_1mcp_echo");
        assert_eq!(invariant(l.handle_output(&respond(x, unknown))), None);
        // A view and a token apply together: `not a` within a token for `a` and `b` is beta only.
        let mut l = ledger_with_token(Some(&["a", "b"]), None);
        let spec = onemcp_core::view::parse_view_query("tag-filter=not%20a", &onemcp_core::view::Presets::default());
        l.set_view(0, spec.ok().and_then(|v| v.filter).expect("a filter"));
        let x = send(&mut l, 5, Asked::List { id: json!(5) });
        assert_eq!(invariant(l.handle_output(&respond(x, list(5, &["alpha_1mcp_echo"])))), Some(Invariant::View));
        let x = send(&mut l, 6, Asked::List { id: json!(6) });
        assert_eq!(invariant(l.handle_output(&respond(x, list(6, &["beta_1mcp_echo"])))), None);
        // A list_changed caused by beta reaches a session whose token is bound to `a`.
        let mut l = ledger_with_token(Some(&["a"]), None);
        let stream = send(&mut l, 7, Asked::Stream);
        assert_eq!(invariant(l.handle_output(&Output::OpenStream { exchange: stream, headers: vec![] })), None);
        let changed = tools_list_changed_on(stream);
        l.begin_source("beta");
        assert_eq!(invariant(l.handle_output(&changed)), Some(Invariant::View));
    }

    #[test]
    fn catches_a_door_that_lets_through_what_it_must_refuse() {
        let challenge =
            Some("Bearer resource_metadata=\"http://127.0.0.1:3050/.well-known/oauth-protected-resource/mcp\"");
        let denied = json!({"jsonrpc": "2.0", "error": {"code": -32600, "message": "Unauthorized"}});
        // A token valid until 1000 ms: live at 999, refused from 1000 on (the hub's clock decides).
        let mut l = ledger_with_token(None, Some(1000));
        l.set_wall_ms(999);
        let x = call(&mut l, 1, "alpha");
        assert_eq!(invariant(l.handle_output(&respond(x, ok(json!(1), "c0-r1")))), None);
        let x = call(&mut l, 2, "alpha");
        assert_eq!(invariant(l.handle_output(&refusal(x, 401, challenge, denied.clone()))), Some(Invariant::Door));
        l.end_step();
        l.set_wall_ms(1000);
        let x = call(&mut l, 3, "alpha");
        assert_eq!(invariant(l.handle_output(&respond(x, ok(json!(3), "c0-r3")))), Some(Invariant::Door), "expired");
        l.end_step();
        let x = call(&mut l, 4, "alpha");
        assert_eq!(
            invariant(l.handle_output(&refusal(x, 401, None, denied.clone()))),
            Some(Invariant::Door),
            "no challenge"
        );
        l.end_step();
        // Refused properly, but the step does something else too.
        let x = call(&mut l, 5, "alpha");
        assert_eq!(invariant(l.handle_output(&refusal(x, 401, challenge, denied))), None);
        let spawn = Output::SpawnBackend {
            backend: onemcp_core::BackendKey::parse("alpha"),
            generation: Gen(1),
            transport: TransportConfig::Stdio(LaunchSpec::default()),
        };
        assert_eq!(invariant(l.handle_output(&spawn)), Some(Invariant::Door), "a refused request spawned alpha");
        l.end_step();
        assert_eq!(invariant(l.handle_output(&spawn)), None);
        let write = Output::WriteBackend {
            backend: onemcp_core::BackendKey::parse("alpha"),
            generation: Gen(1),
            line: json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "c0-r5"}}}).to_string(),
        };
        assert_eq!(invariant(l.handle_output(&write)), Some(Invariant::View), "a refused call reached alpha later");
        // Client 1, with a live token of its own, names client 0's session: 404, never served.
        l.set_credential(1, token(1, None, None), false);
        let probe = |l: &mut Ledger, x: u64| {
            let asked = Asked::Call { id: json!(x), payload: format!("c1-x{x}"), backend: "alpha".into() };
            l.issue_probe(ExchangeId(x), 1, asked);
            l.handle_delivered(ExchangeId(x));
            ExchangeId(x)
        };
        l.end_step();
        let x = probe(&mut l, 6);
        assert_eq!(invariant(l.handle_output(&respond(x, ok(json!(6), "c1-x6")))), Some(Invariant::Door));
        l.end_step();
        let x = probe(&mut l, 7);
        let gone = error(7, -32001, "Session not found: send initialize to start a new session");
        assert_eq!(invariant(l.handle_output(&refusal(x, 404, None, gone))), None);
        // A DELETE of client 0's session by client 1 is accepted: client 0's session is gone.
        l.end_step();
        l.issue_probe(ExchangeId(8), 1, Asked::Delete);
        l.handle_delivered(ExchangeId(8));
        let deleted = Output::Respond {
            exchange: ExchangeId(8),
            response: HttpResponse { status: 200, content_type: None, headers: vec![], body: String::new() },
        };
        assert_eq!(invariant(l.handle_output(&deleted)), Some(Invariant::Door));
    }

    #[test]
    fn catches_a_failing_backend_that_fails_another_backends_calls() {
        // In the step where beta exits, a call to alpha is failed.
        let (mut l, x) = ledger_with_call();
        l.begin_failure("beta");
        let e = error(7, -32603, "server 'alpha' is unavailable");
        assert_eq!(invariant(l.handle_output(&respond(x, e.clone()))), Some(Invariant::Isolation), "beta's step");
        l.end_step();
        let (mut l, x) = ledger_with_call();
        assert_eq!(invariant(l.handle_output(&respond(x, e))), None, "in a step of its own it may be alpha's fault");
        // An error naming beta for a call to alpha.
        let (mut l, x) = ledger_with_call();
        let e = error(7, -32603, "alpha_1mcp_echo: server 'beta' exited with code 1");
        assert_eq!(invariant(l.handle_output(&respond(x, e))), Some(Invariant::Isolation));
        // A tool error alpha never wrote (beta did).
        let fake = |text: &str| json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -32000, "message": format!("alpha: {FAKE_TOOL_ERROR}"), "data": {"text": text}}});
        let own = |text: &str| {
            json!({"jsonrpc": "2.0", "id": 3, "error": {"code": -32000, "message": FAKE_TOOL_ERROR, "data": {"text": text}}}).to_string()
        };
        let (mut l, x) = ledger_with_call();
        l.handle_backend_line("beta", &own("c0-r7"));
        assert_eq!(invariant(l.handle_output(&respond(x, fake("c0-r7")))), Some(Invariant::Isolation));
        let (mut l, x) = ledger_with_call();
        l.handle_backend_line("alpha", &own("c0-r7"));
        assert_eq!(invariant(l.handle_output(&respond(x, fake("c0-r7")))), None, "alpha's own error");
    }

    #[test]
    fn catches_roots_that_leave_their_client() {
        let (mut l, _) = ledger_with_call();
        let caps = |k: usize| json!({"roots": {"listChanged": true}, "experimental": {"sim": {"client": k}}});
        l.set_roots(0, caps(0));
        l.set_roots(1, caps(1));
        let spawn = |b: &str, g: u64| Output::SpawnBackend {
            backend: onemcp_core::BackendKey::parse(b),
            generation: Gen(g),
            transport: TransportConfig::Stdio(LaunchSpec::default()),
        };
        let write = |b: &str, g: u64, m: Value| Output::WriteBackend {
            backend: onemcp_core::BackendKey::parse(b),
            generation: Gen(g),
            line: m.to_string(),
        };
        let roots = |uris: &[&str]| {
            let roots: Vec<Value> = uris.iter().map(|u| json!({"uri": u})).collect();
            json!({"jsonrpc": "2.0", "id": "roots-1", "result": {"roots": roots}})
        };
        let rule = Some(Invariant::RootsStayWithTheirClient);
        // A shared server is told no roots, never a client's.
        assert_eq!(invariant(l.handle_output(&spawn("alpha", 1))), None);
        assert_eq!(invariant(l.handle_output(&write("alpha", 1, roots(&[])))), None);
        assert_eq!(invariant(l.handle_output(&write("alpha", 1, roots(&["file:///client-0"])))), rule, "shared");
        // Nor a client's capabilities.
        let init =
            |k: usize| json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": caps(k)}});
        assert_eq!(
            invariant(l.handle_output(&write("alpha", 1, init(0)))),
            rule,
            "shared told a client's capabilities"
        );
        // Client 0's instance gets client 0's roots only.
        let mine = "alpha_1mcp_session1";
        assert_eq!(invariant(l.handle_output(&spawn(mine, 2))), None);
        assert_eq!(invariant(l.handle_output(&write(mine, 2, init(0)))), None);
        assert_eq!(invariant(l.handle_output(&write(mine, 2, roots(&["file:///client-1"])))), rule, "client 1's roots");
        assert_eq!(invariant(l.handle_output(&write(mine, 2, roots(&["file:///client-0"])))), None);
        // Its roots question reaches client 0 only, and a shared server's reaches nobody.
        let stream = |l: &mut Ledger, x: u64, client: usize| {
            l.issue(ExchangeId(x), client, Asked::Stream);
            l.handle_delivered(ExchangeId(x));
            assert_eq!(
                invariant(l.handle_output(&Output::OpenStream { exchange: ExchangeId(x), headers: vec![] })),
                None
            );
            ExchangeId(x)
        };
        let (s0, s1) = (stream(&mut l, 10, 0), stream(&mut l, 11, 1));
        let ask = |x: ExchangeId| Output::PushEvent {
            exchange: x,
            event: SseEvent {
                event: None,
                data: json!({"jsonrpc": "2.0", "id": "1mcp-1", "method": "roots/list"}).to_string(),
            },
        };
        l.end_step();
        l.begin_source(mine);
        assert_eq!(invariant(l.handle_output(&ask(s1))), rule, "client 1 asked for client 0's instance");
        assert_eq!(invariant(l.handle_output(&ask(s0))), None);
        l.end_step();
        l.begin_source("alpha");
        assert_eq!(invariant(l.handle_output(&ask(s0))), rule, "a shared server's question reached a client");
        // Client 1's roots/list_changed reaches client 0's instance.
        l.end_step();
        l.issue(ExchangeId(12), 1, Asked::Notify);
        l.handle_delivered(ExchangeId(12));
        let changed = json!({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"});
        assert_eq!(invariant(l.handle_output(&write(mine, 2, changed.clone()))), rule, "another client's change");
        assert_eq!(invariant(l.handle_output(&write("alpha", 1, changed))), rule, "to a shared server");
    }

    #[test]
    fn quiescence_needs_every_unexempt_request_answered_and_empty_tables() {
        let (l, _) = ledger_with_call();
        assert_eq!(l.check_quiescent(&HubStats::default()).err().map(|b| b.invariant), Some(Invariant::OneResponse));
        let (mut l, x) = ledger_with_call();
        l.issue(ExchangeId(2), 0, Asked::Cancel { target: x });
        l.handle_delivered(ExchangeId(2));
        let accepted = Output::Respond {
            exchange: ExchangeId(2),
            response: HttpResponse { status: 202, content_type: None, headers: vec![], body: String::new() },
        };
        assert_eq!(invariant(l.handle_output(&accepted)), None);
        assert_eq!(l.check_quiescent(&HubStats::default()), Ok(()));
        let leaky = HubStats { pending_backend_requests: 1, ..HubStats::default() };
        assert_eq!(l.check_quiescent(&leaky).err().map(|b| b.invariant), Some(Invariant::Drains));
    }
}
