//! A scripted MCP client: initialize, then calls, lists, cancels, disconnects and DELETEs.
//!
//! Payloads are globally unique (`c{client}-r{n}`) so a result that reaches the wrong exchange
//! is recognisable; JSON-RPC ids may collide across clients on purpose, because the hub must
//! keep sessions apart even when every client counts from 1.
//!
//! Some clients speak the stateless revision instead (`modern`): no session, and the bridge
//! when a server asks them something mid-call.

use crate::faults::{ClientFaults, chance, pick};
use crate::invariants::{Asked, ModernAsk};
use onemcp_core::auth::Credential;
use onemcp_core::{ExchangeId, HttpMethod, HttpRequest};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::collections::BTreeMap;

mod modern;
pub use modern::{MODERN_VERSION, ModernProfile, ModernSide, ModernStep, Parked};

/// The protocol revision the fake clients ask for.
pub const CLIENT_VERSION: &str = "2025-06-18";

/// Where a client is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientState {
    /// Has not sent `initialize` yet.
    Idle,
    /// Waiting for the `initialize` answer.
    Initializing,
    /// Has a session.
    Active {
        /// Its `Mcp-Session-Id`.
        session: String,
    },
    /// Deleted its session or was refused one; sends nothing more.
    Done,
    /// Speaks the stateless revision (2026-07-28): never has a session.
    Stateless,
}

/// What a client does on waking.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientAction {
    /// Send an HTTP request on a fresh exchange.
    Send {
        /// The exchange the world allocated.
        exchange: ExchangeId,
        /// The request (boxed: it is much larger than the other variant).
        request: Box<HttpRequest>,
        /// What it asks, for the ledger.
        asked: Asked,
    },
    /// Send a stateless (2026-07-28) request on a fresh exchange.
    SendModern {
        /// The exchange the world allocated.
        exchange: ExchangeId,
        /// The request.
        request: Box<HttpRequest>,
        /// What it asks, for the ledger.
        asked: Asked,
        /// What its `_meta` declared, and the retry it is, if it is one.
        modern: Box<ModernAsk>,
    },
    /// Drop the connection of an exchange.
    Close(ExchangeId),
}

/// A call the client is waiting on.
#[derive(Clone, Debug, PartialEq)]
struct InFlight {
    id: Value,
    delivered: bool,
}

/// One fake client.
#[derive(Debug)]
pub struct FakeClient {
    /// Index in the world, used in payloads and traces.
    pub index: usize,
    /// Asks for SSE replies.
    pub sse: bool,
    /// Life-cycle state.
    pub state: ClientState,
    /// Uses ids 1, 2, 3... like every other client, instead of ids unique to itself.
    pub colliding_ids: bool,
    next_rpc: u64,
    in_flight: BTreeMap<ExchangeId, InFlight>,
    /// The standalone GET stream asked for or open.
    stream: Option<ExchangeId>,
    /// The hub has received the GET of `stream`.
    stream_delivered: bool,
    /// Faults injected by this client (disconnects, cancels, deletes, unknown tools).
    pub faults_injected: u64,
    /// Stop after this many calls and lists (scripted scenarios); `None` for no limit.
    pub max_calls: Option<u64>,
    /// The URL query of its `/mcp` requests (`tags=a`, `tag-filter=...`): its view; empty for none.
    pub query: String,
    /// Declares the `roots` capability, opens a GET stream as soon as it has a session, and
    /// answers every `roots/list` with its one root, `file:///client-<index>`.
    pub roots: bool,
    /// What its requests present (authentication on): a token, or something the door refuses.
    pub credential: Credential,
    /// Set for a stateless client: what it declares, and its calls in flight.
    pub modern: Option<Box<ModernSide>>,
}

impl FakeClient {
    /// A client that has not started.
    pub fn new(index: usize, sse: bool, colliding_ids: bool) -> FakeClient {
        FakeClient {
            index,
            sse,
            state: ClientState::Idle,
            colliding_ids,
            next_rpc: 0,
            in_flight: BTreeMap::new(),
            stream: None,
            stream_delivered: false,
            faults_injected: 0,
            max_calls: None,
            query: String::new(),
            roots: false,
            credential: Credential::None,
            modern: None,
        }
    }

    /// The capabilities it declares at `initialize`. A client with roots also names itself in
    /// `experimental` (`{"sim": {"client": <index>}}`): a per-session instance is told exactly
    /// its client's capabilities, so the ledger learns from the instance's `initialize` whose
    /// it is, before any call or roots question could be misrouted.
    pub fn capabilities(&self) -> Value {
        if self.roots {
            json!({"roots": {"listChanged": true}, "experimental": {"sim": {"client": self.index}}})
        } else {
            json!({})
        }
    }

    /// The one root it answers `roots/list` with.
    pub fn root_uri(index: usize) -> String {
        format!("file:///client-{index}")
    }

    fn post(&self, next_exchange: &mut u64, body: &Value, asked: Asked) -> Option<ClientAction> {
        if !matches!(self.state, ClientState::Active { .. }) {
            return None;
        }
        *next_exchange += 1;
        let request = Box::new(self.request(HttpMethod::Post, Some(body)));
        Some(ClientAction::Send { exchange: ExchangeId(*next_exchange), request, asked })
    }

    /// A client with roots, just given its session: open the GET stream it can be asked on.
    pub fn open_roots_stream(&mut self, next_exchange: &mut u64) -> Option<ClientAction> {
        if !self.roots || self.stream.is_some() || !matches!(self.state, ClientState::Active { .. }) {
            return None;
        }
        *next_exchange += 1;
        let x = ExchangeId(*next_exchange);
        self.stream = Some(x);
        let request = Box::new(self.request(HttpMethod::Get, None));
        Some(ClientAction::Send { exchange: x, request, asked: Asked::Stream })
    }

    /// `roots/list` reached it under `id`: answer with its roots (a client without roots
    /// answers nothing; the ledger flags that it was asked at all).
    pub fn answer_roots(&mut self, id: &Value, next_exchange: &mut u64) -> Option<ClientAction> {
        if !self.roots {
            return None;
        }
        let body = json!({"jsonrpc": "2.0", "id": id, "result": {"roots": [{"uri": Self::root_uri(self.index)}]}});
        self.post(next_exchange, &body, Asked::Reply)
    }

    /// Its roots changed: tell the hub (`notifications/roots/list_changed`).
    pub fn roots_changed(&mut self, next_exchange: &mut u64) -> Option<ClientAction> {
        if !self.roots {
            return None;
        }
        let body = json!({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"});
        self.post(next_exchange, &body, Asked::Notify)
    }

    fn request(&self, method: HttpMethod, body: Option<&Value>) -> HttpRequest {
        let session_id = match &self.state {
            ClientState::Active { session } => Some(session.clone()),
            _ => None,
        };
        HttpRequest {
            method: Some(method),
            path: "/mcp".into(),
            query: self.query.clone(),
            host: Some("127.0.0.1:3050".into()),
            accept: Some(if self.sse { "text/event-stream" } else { "application/json, text/event-stream" }.into()),
            content_type: body.map(|_| "application/json".into()),
            protocol_version: session_id.as_ref().map(|_| CLIENT_VERSION.into()),
            session_id,
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
            credential: self.credential.clone(),
            ..HttpRequest::default()
        }
    }

    /// A request under its own credential naming `session`, another client's session (a
    /// principal probing someone else's session): a `tools/call` of `backend` (`kind` 0), a
    /// DELETE (1) or a GET stream (2). The hub must answer 404 and do nothing else. Not tracked
    /// as in flight: the client never cancels or hangs up on it.
    pub fn probe(&self, session: String, n: u64, backend: &str, kind: u64) -> (Box<HttpRequest>, Asked) {
        let (method, body, asked) = match kind {
            1 => (HttpMethod::Delete, None, Asked::Delete),
            2 => (HttpMethod::Get, None, Asked::Stream),
            _ => {
                let id = json!(format!("probe-{}-{n}", self.index));
                let payload = format!("c{}-x{n}", self.index);
                let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": format!("{backend}_1mcp_echo"), "arguments": {"text": payload}}});
                (HttpMethod::Post, Some(body), Asked::Call { id, payload, backend: backend.to_owned() })
            }
        };
        let mut request = Box::new(self.request(method, body.as_ref()));
        request.session_id = Some(session);
        request.protocol_version = Some(CLIENT_VERSION.into());
        (request, asked)
    }

    fn fresh_id(&mut self, rng: &mut ChaCha8Rng) -> (u64, Value) {
        self.next_rpc += 1;
        let n = self.next_rpc;
        let number = if self.colliding_ids { n } else { (self.index as u64 + 1) * 1_000_000 + n };
        // Strings and numbers are different ids; both must come back exactly as sent.
        let id = if chance(rng, 0.3) { json!(number.to_string()) } else { json!(number) };
        (n, id)
    }

    fn fault(&mut self, rng: &mut ChaCha8Rng, p: f64) -> bool {
        let hit = chance(rng, p);
        self.faults_injected += u64::from(hit);
        hit
    }

    /// Decide what to do now; `next_exchange` hands out exchange ids; `backends` are the
    /// configured server names.
    pub fn wake(
        &mut self,
        rng: &mut ChaCha8Rng,
        faults: &ClientFaults,
        backends: &[String],
        next_exchange: &mut u64,
    ) -> Vec<ClientAction> {
        let mut exchange = || {
            *next_exchange += 1;
            ExchangeId(*next_exchange)
        };
        match self.state.clone() {
            ClientState::Idle => {
                self.state = ClientState::Initializing;
                let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                    "protocolVersion": CLIENT_VERSION, "capabilities": self.capabilities(),
                    "clientInfo": {"name": format!("sim-client-{}", self.index), "version": "1"}}});
                vec![ClientAction::Send {
                    exchange: exchange(),
                    request: Box::new(self.request(HttpMethod::Post, Some(&body))),
                    asked: Asked::Initialize,
                }]
            }
            ClientState::Initializing | ClientState::Done | ClientState::Stateless => vec![],
            ClientState::Active { .. } => {
                if self.fault(rng, faults.delete) {
                    let request = Box::new(self.request(HttpMethod::Delete, None));
                    self.state = ClientState::Done;
                    return vec![ClientAction::Send { exchange: exchange(), request, asked: Asked::Delete }];
                }
                // A client with roots may be asked on a call's stream at any moment, so a cancel
                // can race that push (seed 31 found the hub answering 204 on the open stream).
                let waiting: Vec<ExchangeId> = self.in_flight.keys().copied().collect();
                if !waiting.is_empty() && self.fault(rng, faults.cancel) {
                    let Some(target) = pick(rng, &waiting).copied() else { return vec![] };
                    let id = self.in_flight.remove(&target).map(|f| f.id).unwrap_or(Value::Null);
                    let body = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id, "reason": "sim"}});
                    let request = Box::new(self.request(HttpMethod::Post, Some(&body)));
                    return vec![ClientAction::Send { exchange: exchange(), request, asked: Asked::Cancel { target } }];
                }
                // Mostly one stream; now and then a second one, which the hub must refuse.
                if chance(rng, faults.listen) && (self.stream.is_none() || chance(rng, 0.2)) {
                    let x = exchange();
                    self.stream.get_or_insert(x);
                    let request = Box::new(self.request(HttpMethod::Get, None));
                    return vec![ClientAction::Send { exchange: x, request, asked: Asked::Stream }];
                }
                let delivered: Vec<ExchangeId> =
                    self.in_flight.iter().filter(|(_, f)| f.delivered).map(|(x, _)| *x).collect();
                if let Some(stream) = self.stream.filter(|_| self.stream_delivered)
                    && self.fault(rng, faults.disconnect / 4.0)
                {
                    self.stream = None;
                    self.stream_delivered = false;
                    return vec![ClientAction::Close(stream)];
                }
                if !delivered.is_empty() && self.fault(rng, faults.disconnect) {
                    let Some(target) = pick(rng, &delivered).copied() else { return vec![] };
                    self.in_flight.remove(&target);
                    return vec![ClientAction::Close(target)];
                }
                if self.max_calls.is_some_and(|max| self.next_rpc >= max) {
                    return vec![];
                }
                let x = exchange();
                let (n, id) = self.fresh_id(rng);
                // A client with a view lists now and then whatever the faults, so its view is
                // checked in lists too; its calls go to any configured server, in view or not.
                let list = if self.query.is_empty() { faults.list } else { faults.list.max(0.15) };
                if chance(rng, list) {
                    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"});
                    self.in_flight.insert(x, InFlight { id: id.clone(), delivered: false });
                    return vec![ClientAction::Send {
                        exchange: x,
                        request: Box::new(self.request(HttpMethod::Post, Some(&body))),
                        asked: Asked::List { id },
                    }];
                }
                let backend = if self.fault(rng, faults.unknown_tool) {
                    "nosuch".to_owned()
                } else {
                    pick(rng, backends).cloned().unwrap_or_default()
                };
                let tool = format!("{backend}_1mcp_echo");
                let payload = format!("c{}-r{n}", self.index);
                let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": tool, "arguments": {"text": payload}}});
                self.in_flight.insert(x, InFlight { id: id.clone(), delivered: false });
                let request = Box::new(self.request(HttpMethod::Post, Some(&body)));
                vec![ClientAction::Send { exchange: x, request, asked: Asked::Call { id, payload, backend } }]
            }
        }
    }

    /// The hub has received this exchange's request (only then may the client hang up on it).
    pub fn handle_delivered(&mut self, exchange: ExchangeId) {
        if let Some(f) = self.in_flight.get_mut(&exchange) {
            f.delivered = true;
        }
        if self.stream == Some(exchange) {
            self.stream_delivered = true;
        }
    }

    /// An exchange was answered completely.
    pub fn handle_response(&mut self, exchange: ExchangeId, asked: &Asked, status: u16, headers: &[(String, String)]) {
        self.in_flight.remove(&exchange);
        if self.stream == Some(exchange) {
            self.stream = None;
            self.stream_delivered = false;
        }
        if *asked == Asked::Initialize && self.state == ClientState::Initializing {
            let session =
                headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("mcp-session-id")).map(|(_, v)| v.clone());
            self.state = match (status, session) {
                (200, Some(session)) => ClientState::Active { session },
                _ => ClientState::Done,
            };
        }
        // Turned away at the door (its token expired): it gives up rather than knock forever.
        if status == 401 {
            self.state = ClientState::Done;
        }
    }

    /// True once the client will send nothing more.
    pub fn is_done(&self) -> bool {
        self.state == ClientState::Done || self.max_calls.is_some_and(|max| self.next_rpc >= max)
    }
}
