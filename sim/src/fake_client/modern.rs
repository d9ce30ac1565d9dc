//! The stateless (2026-07-28) side of a fake client: no `initialize` and no session; every
//! request carries the revision, the client's capabilities and now and then a log level and a
//! progress token in its `_meta`. When a server asks it something mid-call, the hub answers
//! `input_required` with the questions and a `requestState`; the client retries the same call
//! with its answers, or first misbehaves as its [`BridgeFaults`] say: a tampered state, a state
//! it used already, other arguments, no answers, a retry after the server died, or none at all.
//!
//! Every answer it gives names it and the retry that carries it (`_meta["sim/client"]`,
//! `_meta["sim/retry"]`), so the ledger can tell whose answer reached a server, and when.

use super::{ClientAction, ClientState, FakeClient, InFlight};
use crate::fake_backend::{LOG_LEVELS, MS};
use crate::faults::{BridgeFaults, ClientFaults, below, between, chance, pick};
use crate::invariants::{Asked, ModernAsk, Retry, RetryKind};
use onemcp_core::mcp_headers::McpHeaders;
use onemcp_core::{ExchangeId, HttpMethod, HttpRequest};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The stateless revision the fake clients speak.
pub const MODERN_VERSION: &str = "2026-07-28";

/// What a stateless client declares and asks for, drawn once per client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModernProfile {
    /// Declares `elicitation`.
    pub elicitation: bool,
    /// Declares `sampling`.
    pub sampling: bool,
    /// Declares `roots` (and answers `roots/list` with its one root).
    pub roots: bool,
    /// The log level most of its requests ask for (an index into [`LOG_LEVELS`]); `None`: its
    /// requests never ask for log messages.
    pub log_level: Option<usize>,
    /// Its calls carry a progress token.
    pub progress: bool,
}

impl ModernProfile {
    /// Draw a profile: any mix of capabilities, with or without log messages and progress.
    pub fn swarm(rng: &mut ChaCha8Rng) -> ModernProfile {
        ModernProfile {
            elicitation: chance(rng, 0.6),
            sampling: chance(rng, 0.5),
            roots: chance(rng, 0.4),
            log_level: chance(rng, 0.6).then(|| below(rng, LOG_LEVELS.len() as u64) as usize),
            progress: chance(rng, 0.5),
        }
    }

    /// The capabilities it declares, by name.
    pub fn declares(&self) -> BTreeSet<String> {
        [("elicitation", self.elicitation), ("sampling", self.sampling), ("roots", self.roots)]
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(name, _)| name.to_owned())
            .collect()
    }
}

/// A call its server asked something: what the client needs to go on with it.
#[derive(Clone, Debug, PartialEq)]
pub struct Parked {
    /// The call's payload.
    pub payload: String,
    /// The server it targets.
    pub backend: String,
    /// The state to present.
    pub state: String,
    /// The questions, by the key the answers go under: `{method, params}`.
    pub questions: Map<String, Value>,
}

/// A stateless request the client is waiting on.
#[derive(Clone, Debug)]
pub(super) struct ModernCall {
    /// The call's payload and server (`None` for a list).
    call: Option<(String, String)>,
    /// A retry: its kind and the state it presented.
    retry: Option<(RetryKind, String)>,
    /// For a retry meant to be refused: the parked call to go on with once it is.
    then: Option<Parked>,
}

/// The stateless side of a client.
#[derive(Clone, Debug)]
pub struct ModernSide {
    /// What it declares.
    pub profile: ModernProfile,
    pub(super) calls: BTreeMap<ExchangeId, ModernCall>,
    /// States it presented in a retry that was answered: used, so replaying one is refused.
    used_states: Vec<String>,
    /// A retry carries a progress token of its own (as an SDK that makes one per request
    /// does), instead of its call's first one.
    pub fresh_retry_tokens: bool,
}

/// Something a stateless client does about an answer, and when.
#[derive(Clone, Debug, PartialEq)]
pub enum ModernStep {
    /// Send this, `delay` nanoseconds from now.
    Send {
        /// Think time before it goes.
        delay: u64,
        /// What.
        action: ClientAction,
    },
    /// The server process serving the call with this payload dies, `delay` from now (the
    /// client's retry comes after: its state has expired).
    Crash {
        /// When.
        delay: u64,
        /// The call whose process dies.
        payload: String,
    },
}

impl FakeClient {
    /// Make this client a stateless one with `profile`.
    pub fn make_modern(&mut self, profile: ModernProfile) {
        self.state = ClientState::Stateless;
        let calls = BTreeMap::new();
        self.modern = Some(Box::new(ModernSide { profile, calls, used_states: vec![], fresh_retry_tokens: false }));
    }

    /// The capabilities its requests declare. With roots it also names itself in
    /// `experimental`, as a legacy client does (a per-session instance is told them verbatim).
    pub fn modern_capabilities(&self) -> Value {
        let Some(side) = &self.modern else { return json!({}) };
        let p = &side.profile;
        let mut caps = json!({});
        if p.elicitation {
            caps["elicitation"] = json!({});
        }
        if p.sampling {
            caps["sampling"] = json!({});
        }
        if p.roots {
            caps["roots"] = json!({"listChanged": true});
            caps["experimental"] = json!({"sim": {"client": self.index}});
        }
        caps
    }

    /// A request's `_meta` and what the ledger needs to know of it: the revision, the
    /// capabilities, mostly the client's log level (now and then none), and for a call of a
    /// client with progress, `progress` as its token.
    fn modern_meta(&self, rng: &mut ChaCha8Rng, progress: Option<Value>, retry: Option<Retry>) -> (Value, ModernAsk) {
        let profile = self.modern.as_ref().map(|m| m.profile.clone());
        let mut meta = json!({
            "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
            "io.modelcontextprotocol/clientCapabilities": self.modern_capabilities(),
        });
        let log_level = profile.as_ref().and_then(|p| p.log_level).filter(|_| chance(rng, 0.8));
        if let Some(level) = log_level {
            meta["io.modelcontextprotocol/logLevel"] = json!(LOG_LEVELS[level]);
        }
        let progress_token = progress.filter(|_| profile.as_ref().is_some_and(|p| p.progress));
        if let Some(token) = &progress_token {
            meta["progressToken"] = token.clone();
        }
        let declares = profile.map(|p| p.declares()).unwrap_or_default();
        (meta, ModernAsk { declares, log_level, progress_token, retry })
    }

    /// A POST of `body` as the stateless revision sends it: no session; the revision, the
    /// method and the name it calls in headers too (`MCP-Protocol-Version`, `Mcp-Method`,
    /// `Mcp-Name`).
    fn modern_request(&self, body: &Value) -> Box<HttpRequest> {
        let method = body.get("method").and_then(Value::as_str).unwrap_or_default();
        let name = body.pointer("/params/name").and_then(Value::as_str);
        let headers = std::iter::once(("Mcp-Method", method)).chain(name.map(|name| ("Mcp-Name", name)));
        Box::new(HttpRequest {
            method: Some(HttpMethod::Post),
            path: "/mcp".into(),
            query: self.query.clone(),
            host: Some("127.0.0.1:3050".into()),
            accept: Some(if self.sse { "text/event-stream" } else { "application/json, text/event-stream" }.into()),
            content_type: Some("application/json".into()),
            protocol_version: Some(MODERN_VERSION.into()),
            session_id: None,
            mcp_headers: McpHeaders::from_headers(headers),
            body: body.to_string().into_bytes(),
            credential: self.credential.clone(),
            ..HttpRequest::default()
        })
    }

    /// A stateless client decides what to do now: hang up on a call, list, or call.
    pub fn wake_modern(
        &mut self,
        rng: &mut ChaCha8Rng,
        (faults, bridge): (&ClientFaults, &BridgeFaults),
        backends: &[String],
        next_exchange: &mut u64,
    ) -> Vec<ClientAction> {
        if self.state != ClientState::Stateless {
            return vec![];
        }
        let delivered: Vec<ExchangeId> = self.in_flight.iter().filter(|(_, f)| f.delivered).map(|(x, _)| *x).collect();
        if !delivered.is_empty() && self.fault(rng, bridge.disconnect) {
            let Some(target) = pick(rng, &delivered).copied() else { return vec![] };
            self.in_flight.remove(&target);
            if let Some(side) = &mut self.modern {
                side.calls.remove(&target);
            }
            return vec![ClientAction::Close(target)];
        }
        if self.max_calls.is_some_and(|max| self.next_rpc >= max) {
            return vec![];
        }
        *next_exchange += 1;
        let x = ExchangeId(*next_exchange);
        let (n, id) = self.fresh_id(rng);
        let list = if self.query.is_empty() { faults.list } else { faults.list.max(0.15) };
        if chance(rng, list) {
            let (meta, modern) = self.modern_meta(rng, None, None);
            let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": {"_meta": meta}});
            return vec![self.send_modern(x, body, Asked::List { id }, modern, None)];
        }
        let backend = if self.fault(rng, faults.unknown_tool) {
            "nosuch".to_owned()
        } else {
            pick(rng, backends).cloned().unwrap_or_default()
        };
        let payload = format!("c{}-r{n}", self.index);
        let token = json!(format!("pt-{payload}"));
        let (meta, modern) = self.modern_meta(rng, Some(token), None);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": format!("{backend}_1mcp_echo"), "arguments": {"text": payload}, "_meta": meta}});
        let call = ModernCall { call: Some((payload.clone(), backend.clone())), retry: None, then: None };
        vec![self.send_modern(x, body, Asked::Call { id, payload, backend }, modern, Some(call))]
    }

    fn send_modern(
        &mut self,
        exchange: ExchangeId,
        body: Value,
        asked: Asked,
        modern: ModernAsk,
        call: Option<ModernCall>,
    ) -> ClientAction {
        let id = body.get("id").cloned().unwrap_or(Value::Null);
        self.in_flight.insert(exchange, InFlight { id, delivered: false });
        if let Some(side) = &mut self.modern {
            let call = call.unwrap_or(ModernCall { call: None, retry: None, then: None });
            side.calls.insert(exchange, call);
        }
        ClientAction::SendModern { exchange, request: self.modern_request(&body), asked, modern: Box::new(modern) }
    }

    /// The last answer on a stateless exchange reached the client (`None`: the exchange ended
    /// without one): go on with the call, as the faults say, if it is parked.
    pub fn handle_modern_answer(
        &mut self,
        rng: &mut ChaCha8Rng,
        bridge: &BridgeFaults,
        faults_on: bool,
        exchange: ExchangeId,
        answer: Option<&Value>,
        next_exchange: &mut u64,
    ) -> Vec<ModernStep> {
        let Some(side) = &mut self.modern else { return vec![] };
        let Some(call) = side.calls.remove(&exchange) else { return vec![] };
        if let Some((RetryKind::Answers | RetryKind::Unanswered, state)) = &call.retry {
            side.used_states.push(state.clone());
        }
        if self.state != ClientState::Stateless {
            return vec![];
        }
        let result = answer.and_then(|a| a.get("result"));
        let input_required = result.and_then(|r| r.get("resultType")).and_then(Value::as_str) == Some("input_required");
        if let (true, Some(result), Some((payload, backend))) = (input_required, result, call.call) {
            let state = result.get("requestState").and_then(Value::as_str).unwrap_or_default().to_owned();
            let questions = result.get("inputRequests").and_then(Value::as_object).cloned().unwrap_or_default();
            let parked = Parked { payload, backend, state, questions };
            return self.after_input_required(rng, bridge, faults_on, parked, next_exchange);
        }
        // A retry meant to be refused was (else the ledger said so): now the real one.
        match call.then {
            Some(parked) => {
                let delay = think(rng);
                vec![ModernStep::Send { delay, action: self.retry(rng, &parked, RetryKind::Answers, next_exchange) }]
            }
            None => vec![],
        }
    }

    /// Its call was answered `input_required`: retry with the answers, or misbehave first.
    fn after_input_required(
        &mut self,
        rng: &mut ChaCha8Rng,
        bridge: &BridgeFaults,
        faults_on: bool,
        parked: Parked,
        next_exchange: &mut u64,
    ) -> Vec<ModernStep> {
        let delay = think(rng);
        let mut kind = RetryKind::Answers;
        if faults_on {
            if self.fault(rng, bridge.abandon) {
                return vec![];
            }
            if self.fault(rng, bridge.restart) {
                let crash = between(rng, 1, 30) * MS;
                let retry = self.retry(rng, &parked, RetryKind::Answers, next_exchange);
                let payload = parked.payload;
                let after = crash + between(rng, 1, 300) * MS;
                return vec![
                    ModernStep::Crash { delay: crash, payload },
                    ModernStep::Send { delay: after, action: retry },
                ];
            }
            let has_used = self.modern.as_ref().is_some_and(|m| !m.used_states.is_empty());
            kind = if self.fault(rng, bridge.tamper) {
                RetryKind::Tampered
            } else if has_used && self.fault(rng, bridge.replay) {
                RetryKind::Replayed
            } else if self.fault(rng, bridge.other_args) {
                RetryKind::OtherArgs
            } else if self.fault(rng, bridge.unanswered) {
                RetryKind::Unanswered
            } else {
                RetryKind::Answers
            };
        }
        vec![ModernStep::Send { delay, action: self.retry(rng, &parked, kind, next_exchange) }]
    }

    /// The retry of a parked call, of this kind.
    fn retry(
        &mut self,
        rng: &mut ChaCha8Rng,
        parked: &Parked,
        kind: RetryKind,
        next_exchange: &mut u64,
    ) -> ClientAction {
        *next_exchange += 1;
        let x = ExchangeId(*next_exchange);
        let (_, id) = self.fresh_id(rng);
        let payload = &parked.payload;
        let arguments = if kind == RetryKind::OtherArgs {
            json!({"text": payload, "again": true})
        } else {
            json!({"text": payload})
        };
        let state = match kind {
            RetryKind::Tampered => tamper(rng, &parked.state),
            RetryKind::Replayed => {
                let used = self.modern.as_ref().map(|m| m.used_states.clone()).unwrap_or_default();
                pick(rng, &used).cloned().unwrap_or_else(|| parked.state.clone())
            }
            _ => parked.state.clone(),
        };
        let responses: Map<String, Value> = if kind == RetryKind::Unanswered {
            Map::new()
        } else {
            parked.questions.iter().map(|(key, question)| (key.clone(), self.answer_question(x, question))).collect()
        };
        // A retry is a request of its own; an SDK that makes a token per request gives it one.
        let fresh = self.modern.as_ref().is_some_and(|m| m.fresh_retry_tokens);
        let token = if fresh { json!(format!("pt-{payload}-{}", x.0)) } else { json!(format!("pt-{payload}")) };
        let (meta, modern) = self.modern_meta(rng, Some(token), Some(Retry { state: state.clone(), kind }));
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": format!("{}_1mcp_echo", parked.backend), "arguments": arguments,
            "inputResponses": responses, "requestState": state, "_meta": meta}});
        let refused = matches!(kind, RetryKind::Tampered | RetryKind::Replayed | RetryKind::OtherArgs);
        let call = ModernCall {
            call: Some((payload.clone(), parked.backend.clone())),
            retry: Some((kind, state)),
            then: refused.then(|| parked.clone()),
        };
        let asked = Asked::Call { id, payload: payload.clone(), backend: parked.backend.clone() };
        self.send_modern(x, body, asked, modern, Some(call))
    }

    /// Its answer to one question, carried by the retry on `x`: named after it and the retry.
    fn answer_question(&self, x: ExchangeId, question: &Value) -> Value {
        let meta = json!({"sim/client": self.index, "sim/retry": x.0});
        match question.get("method").and_then(Value::as_str) {
            Some("elicitation/create") => json!({"action": "accept", "content": {"ok": true}, "_meta": meta}),
            Some("sampling/createMessage") => json!({"role": "assistant", "model": "sim", "_meta": meta,
                "content": {"type": "text", "text": format!("client {} answers", self.index)}}),
            Some("roots/list") => json!({"roots": [{"uri": Self::root_uri(self.index)}], "_meta": meta}),
            _ => json!({"_meta": meta}),
        }
    }
}

/// How long a client thinks before it retries.
fn think(rng: &mut ChaCha8Rng) -> u64 {
    between(rng, 0, 200) * MS
}

/// `state` with one character of its body changed (never the last one, which may carry only
/// padding bits): it no longer verifies.
fn tamper(rng: &mut ChaCha8Rng, state: &str) -> String {
    let mut chars: Vec<char> = state.chars().collect();
    let body = state.find('.').map_or(0, |dot| dot + 1);
    if chars.len() < body + 2 {
        return format!("{state}A");
    }
    let at = body + below(rng, (chars.len() - body - 1) as u64) as usize;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}
