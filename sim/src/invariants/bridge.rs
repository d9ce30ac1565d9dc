//! The stateless revision (2026-07-28) and the bridge to legacy backends, checked.
//!
//! What a stateless request may hear ([`Invariant::Stateless`]): its answer, progress under
//! its own token, and log messages about its own call at or above the level its `_meta` asked
//! for (none without one); never a JSON-RPC request, never anything else.
//!
//! The bridge ([`Invariant::Bridge`]): a server's question mid-call reaches a stateless client
//! only as an `InputRequiredResult` answering the very call the question is about (the fake
//! servers name the call's payload in every question), and only if the request declared the
//! capability answering takes. What the answer to a retry must be is decided when the hub
//! receives it, from what the ledger saw of its state: given by the hub, not used by an earlier
//! retry, its call neither cancelled on its server nor gone with its server's process. A
//! tampered state, other arguments, and a state used, expired or never given must be refused
//! (-32602, naming the `requestState`); a live state resumes the call, and without answers it
//! is asked the same questions again. The answers a server gets name the client and the retry
//! that carried them: the client must be the one whose call the question is about, and the
//! retry one delivered in that very step whose state was not refused.

use super::{Asked, Breach, CallResult, Invariant, Ledger, Retry, RetryKind, breach, server_of};
use onemcp_core::{ExchangeId, Gen};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The answer a retry must get, decided when the hub receives it.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Expect {
    /// Its state refused (-32602), for this reason.
    Refused(&'static str),
    /// The parked call goes on under it (whatever the call's answer then is).
    Resumed,
    /// The same questions again, under a fresh state.
    AskedAgain(Vec<String>),
}

/// A `requestState` the hub handed out.
#[derive(Clone, Debug)]
struct StateBook {
    /// The call it continues.
    payload: String,
    /// The keys of the questions asked with it.
    keys: Vec<String>,
    /// A retry presented it while it was live (it is good once).
    used: bool,
}

/// Where a state stands, as far as the ledger can tell.
enum Status<'a> {
    /// Its call is parked at it.
    Live(&'a StateBook),
    /// Presented once already.
    Used,
    /// Its call was cancelled on its server or went with the server's process.
    Expired,
    /// Never handed out.
    Unknown,
}

/// Counters of what the stateless side of a run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BridgeCounts {
    /// Calls answered `input_required` (the bridge crossed).
    pub input_required: u64,
    /// Retries whose state was refused.
    pub refused: u64,
    /// Retries that resumed their call.
    pub resumed: u64,
}

/// What the ledger knows of the stateless requests and the servers' questions.
#[derive(Debug, Default)]
pub(super) struct BridgeBook {
    states: BTreeMap<String, StateBook>,
    /// Payload -> where its call was sent: backend (instance name included), generation, id.
    calls: BTreeMap<String, (String, Gen, u64)>,
    /// Calls the hub told their backend to drop.
    cancelled: BTreeSet<(String, Gen, u64)>,
    /// Backend generations that exited or were stopped.
    ended: BTreeSet<(String, Gen)>,
    /// (server, question id) -> the payload of the call it is about.
    questions: BTreeMap<(String, String), String>,
    /// The exchange whose request is this step's input, if any.
    pub(super) step_exchange: Option<ExchangeId>,
    /// Counters, for reports.
    pub(super) counts: BridgeCounts,
}

impl BridgeBook {
    /// A call with `payload` was sent to `backend`#`generation` under id `n`.
    pub(super) fn note_call(&mut self, backend: &str, generation: Gen, n: u64, payload: &str) {
        self.calls.insert(payload.to_owned(), (backend.to_owned(), generation, n));
    }

    /// The hub told `backend`#`generation` to drop request `n`.
    pub(super) fn note_cancel(&mut self, backend: &str, generation: Gen, n: u64) {
        self.cancelled.insert((backend.to_owned(), generation, n));
    }

    fn status(&self, state: &str) -> Status<'_> {
        let Some(book) = self.states.get(state) else { return Status::Unknown };
        if book.used {
            return Status::Used;
        }
        match self.calls.get(&book.payload) {
            Some((backend, generation, n))
                if !self.cancelled.contains(&(backend.clone(), *generation, *n))
                    && !self.ended.contains(&(backend.clone(), *generation)) =>
            {
                Status::Live(book)
            }
            _ => Status::Expired,
        }
    }
}

/// The `requestState` refusal: -32602 with a message naming the state.
fn is_state_refusal(message: &Value) -> bool {
    message.pointer("/error/code").and_then(Value::as_i64) == Some(-32602)
        && message.pointer("/error/message").and_then(Value::as_str).is_some_and(|m| m.contains("requestState"))
}

/// The capability a client must declare to be asked `method`.
fn capability_for(method: &str) -> Option<&'static str> {
    match method {
        "elicitation/create" => Some("elicitation"),
        "sampling/createMessage" => Some("sampling"),
        "roots/list" => Some("roots"),
        _ => None,
    }
}

impl Ledger {
    /// `backend`'s process `generation` exited or was stopped: its calls ended with it.
    pub fn handle_backend_exit(&mut self, backend: &str, generation: Gen) {
        self.bridge.ended.insert((backend.to_owned(), generation));
    }

    /// Where the call with `payload` was sent (backend and generation), if it was.
    pub fn call_location(&self, payload: &str) -> Option<(String, Gen)> {
        self.bridge.calls.get(payload).map(|(backend, generation, _)| (backend.clone(), *generation))
    }

    /// What the stateless side of the run did so far.
    pub fn bridge_counts(&self) -> BridgeCounts {
        self.bridge.counts
    }

    /// A line from `backend`: a question it asks mid-call names the call it is about.
    pub(super) fn note_question(&mut self, backend: &str, message: &Value) {
        let (Some(id), Some(_)) = (message.get("id").and_then(Value::as_str), message.get("method")) else { return };
        let Some(about) = message.pointer("/params/_meta/sim~1about").and_then(Value::as_str) else { return };
        self.bridge.questions.insert((server_of(backend).to_owned(), id.to_owned()), about.to_owned());
    }

    /// What the answer to retry `exchange` must be, now that the hub receives it (through the
    /// door); a live state is used up by it.
    pub(super) fn expect_retry(&mut self, exchange: ExchangeId, retry: &Retry) -> Expect {
        let payload = match self.records.get(&exchange).map(|r| &r.asked) {
            Some(Asked::Call { payload, .. }) => payload.clone(),
            _ => String::new(),
        };
        match retry.kind {
            RetryKind::Tampered => return Expect::Refused("a tampered state"),
            RetryKind::OtherArgs => return Expect::Refused("its state for other arguments"),
            _ => {}
        }
        let (expect, used) = match self.bridge.status(&retry.state) {
            Status::Live(book) if book.payload != payload => (Expect::Refused("the state of another call"), false),
            Status::Live(book) if retry.kind == RetryKind::Unanswered => (Expect::AskedAgain(book.keys.clone()), true),
            Status::Live(_) => (Expect::Resumed, true),
            Status::Used => (Expect::Refused("a state already used"), false),
            Status::Expired => (Expect::Refused("an expired state (its call ended)"), false),
            Status::Unknown => (Expect::Refused("a state the hub never gave"), false),
        };
        if used && let Some(book) = self.bridge.states.get_mut(&retry.state) {
            book.used = true;
        }
        expect
    }

    /// A JSON-RPC answer on `exchange`: for a stateless call, an `InputRequiredResult` or a
    /// refused state is checked here (true: nothing more to check); a retry's answer must be
    /// the one decided when it arrived. Any answer of a session's call must not be an
    /// `InputRequiredResult` (sessions are asked on their streams).
    pub(super) fn check_bridge_answer(&mut self, exchange: ExchangeId, message: &Value) -> Result<bool, Breach> {
        let Some(r) = self.records.get_mut(&exchange) else { return Ok(false) };
        let result = message.get("result");
        let input_required = result.and_then(|r| r.get("resultType")).and_then(Value::as_str) == Some("input_required");
        let Some(modern) = r.modern.clone() else {
            if input_required {
                return breach(
                    Invariant::Stateless,
                    format!("{exchange}, a session's request, was answered input_required: {message}"),
                );
            }
            return Ok(false);
        };
        r.answer = Some(message.clone());
        let (client, asked, expect) = (r.client, r.asked.clone(), r.expect.clone());
        let refusal = is_state_refusal(message);
        match &expect {
            Some(Expect::Refused(why)) if !refusal => {
                return breach(
                    Invariant::Bridge,
                    format!("{exchange}, client {client}'s retry with {why}, was not refused: {message}"),
                );
            }
            Some(Expect::Resumed | Expect::AskedAgain(_)) if refusal => {
                return breach(
                    Invariant::Bridge,
                    format!(
                        "{exchange}, client {client}'s retry with a live state of its own call, was refused: {message}"
                    ),
                );
            }
            None if refusal && modern.retry.is_none() => {
                return breach(
                    Invariant::Bridge,
                    format!("{exchange} presented no state but was refused one: {message}"),
                );
            }
            _ => {}
        }
        if refusal {
            self.bridge.counts.refused += 1;
            return Ok(true);
        }
        if expect == Some(Expect::Resumed) || matches!(expect, Some(Expect::AskedAgain(_))) {
            self.bridge.counts.resumed += 1;
        }
        let Some(result) = result.filter(|_| input_required) else {
            if let Some(Expect::AskedAgain(keys)) = &expect {
                return breach(
                    Invariant::Bridge,
                    format!("{exchange} retried without answering {keys:?} and was not asked them again: {message}"),
                );
            }
            return Ok(false);
        };
        let Asked::Call { payload, backend, .. } = &asked else {
            return breach(
                Invariant::Bridge,
                format!("{exchange}, not a call, was answered input_required: {message}"),
            );
        };
        let state = result.get("requestState").and_then(Value::as_str).unwrap_or_default();
        let questions = result.get("inputRequests").and_then(Value::as_object);
        let Some(questions) = questions.filter(|q| !q.is_empty() && state.starts_with("1mcp.")) else {
            return breach(
                Invariant::Bridge,
                format!("{exchange} was answered input_required without questions or a state of 1mcp's: {message}"),
            );
        };
        for (key, question) in questions {
            let method = question.get("method").and_then(Value::as_str).unwrap_or_default();
            let about = question.pointer("/params/_meta/sim~1about").and_then(Value::as_str);
            if let Some(needed) = capability_for(method)
                && !modern.declares.contains(needed)
            {
                return breach(
                    Invariant::Bridge,
                    format!(
                        "client {client} was asked {method} ({key}) on {exchange} but declared no {needed}: {message}"
                    ),
                );
            }
            // Roots are the client's, not a call's: a shared server's roots/list is answered by the
            // hub itself (DESIGN.md rule 2), so one that reaches a client comes from that client's
            // own instance, which may ask at start-up, before any call of its own.
            let clients_own = method == "roots/list" && about.is_none();
            if about != Some(payload.as_str()) && !clients_own {
                return breach(
                    Invariant::Bridge,
                    format!(
                        "client {client}'s call {payload:?} to {backend} on {exchange} was asked {key}, a question about {about:?}: {message}"
                    ),
                );
            }
        }
        let keys: Vec<String> = questions.keys().cloned().collect();
        // Every question left unanswered is asked again; the server may have asked more while
        // the call waited (they come in the same round), but none may be dropped.
        if let Some(Expect::AskedAgain(before)) = &expect
            && !before.iter().all(|key| keys.contains(key))
        {
            return breach(
                Invariant::Bridge,
                format!("{exchange} retried without answering {before:?} but was asked only {keys:?}: {message}"),
            );
        }
        if self.bridge.states.contains_key(state) {
            return breach(Invariant::Bridge, format!("{exchange} was handed a state given before: {message}"));
        }
        let book = StateBook { payload: payload.clone(), keys, used: false };
        self.bridge.states.insert(state.to_owned(), book);
        self.bridge.counts.input_required += 1;
        if let Some(r) = self.records.get_mut(&exchange) {
            r.result = Some(CallResult::InputRequired);
        }
        Ok(true)
    }

    /// A message pushed on `exchange` (before its answer): a stateless request hears only its
    /// own progress and the logs it asked for; a session hears nothing about another's call.
    pub(super) fn check_modern_push(&self, exchange: ExchangeId, message: &Value) -> Result<(), Breach> {
        let Some(r) = self.records.get(&exchange) else { return Ok(()) };
        let method = message.get("method").and_then(Value::as_str);
        let about = message
            .pointer("/params/data/about")
            .or_else(|| message.pointer("/params/_meta/sim~1about"))
            .and_then(Value::as_str);
        let whose = about.and_then(|p| self.payloads.get(p)).map(|(_, _, client)| *client);
        let Some(modern) = &r.modern else {
            // A session's stream: what a server says about a call is for that call's client.
            if let (Some(about), Some(owner)) = (about, whose)
                && owner != r.client
            {
                return breach(
                    Invariant::Attribution,
                    format!("client {}'s {exchange} heard about client {owner}'s call {about:?}: {message}", r.client),
                );
            }
            return Ok(());
        };
        let Some(method) = method else { return Ok(()) };
        let client = r.client;
        if message.get("id").is_some() {
            return breach(
                Invariant::Stateless,
                format!("{exchange}, client {client}'s stateless request, was sent a request: {message}"),
            );
        }
        let payload = match &r.asked {
            Asked::Call { payload, .. } => Some(payload.as_str()),
            _ => None,
        };
        match method {
            "notifications/progress" => {
                let token = message.pointer("/params/progressToken");
                if modern.progress_token.is_none() || token != modern.progress_token.as_ref() {
                    return breach(
                        Invariant::Stateless,
                        format!(
                            "{exchange} (progress token {:?}) of client {client} got progress for token {token:?}: {message}",
                            modern.progress_token
                        ),
                    );
                }
            }
            "notifications/message" => {
                let level = message.pointer("/params/level").and_then(Value::as_str).unwrap_or_default();
                let rank = crate::fake_backend::LOG_LEVELS.iter().position(|l| *l == level);
                let Some(min) = modern.log_level else {
                    return breach(
                        Invariant::Stateless,
                        format!(
                            "{exchange} of client {client} set no logLevel but got a {level} log message: {message}"
                        ),
                    );
                };
                if rank.is_none_or(|rank| rank < min) {
                    let wanted = crate::fake_backend::LOG_LEVELS[min];
                    return breach(
                        Invariant::Stateless,
                        format!("{exchange} of client {client} asked for {wanted} and up but got {level}: {message}"),
                    );
                }
                if about.is_some() && about != payload {
                    return breach(
                        Invariant::Attribution,
                        format!("{exchange}, client {client}'s call {payload:?}, got a log about {about:?}: {message}"),
                    );
                }
            }
            _ => {
                return breach(
                    Invariant::Stateless,
                    format!("{exchange}, client {client}'s stateless request, heard {method}: {message}"),
                );
            }
        }
        Ok(())
    }

    /// A line written to `backend`: an answer to one of its questions (`q-<n>`) that a
    /// stateless client gave names that client and the retry that carried it; both must be
    /// right, and the retry's state not refused.
    pub(super) fn check_question_answer(&self, backend: &str, message: &Value) -> Result<(), Breach> {
        let Some(id) = message.get("id").and_then(Value::as_str).filter(|_| message.get("method").is_none()) else {
            return Ok(());
        };
        let Some(about) = self.bridge.questions.get(&(server_of(backend).to_owned(), id.to_owned())) else {
            return Ok(());
        };
        let meta = message.pointer("/result/_meta");
        let Some(answerer) = meta.and_then(|m| m.get("sim/client")).and_then(Value::as_u64) else { return Ok(()) };
        let answerer = answerer as usize;
        let owner = self.payloads.get(about).map(|(_, _, client)| *client);
        if owner != Some(answerer) {
            return breach(
                Invariant::Bridge,
                format!(
                    "{backend}'s question {id} about {about:?} (client {owner:?}'s call) was answered by client {answerer}: {message}"
                ),
            );
        }
        let retry = meta.and_then(|m| m.get("sim/retry")).and_then(Value::as_u64).map(ExchangeId);
        if retry.is_none() || retry != self.bridge.step_exchange {
            return breach(
                Invariant::Bridge,
                format!(
                    "the answer to {backend}'s question {id}, carried by {retry:?}, reached it in a step whose input is {:?}: {message}",
                    self.bridge.step_exchange
                ),
            );
        }
        let r = retry.and_then(|x| self.records.get(&x));
        if let Some(Expect::Refused(why)) = r.and_then(|r| r.expect.as_ref()) {
            return breach(
                Invariant::Bridge,
                format!("{backend} got the answers of {retry:?}, a retry with {why} that must be refused: {message}"),
            );
        }
        if let Some(Asked::Call { payload, .. }) = r.map(|r| &r.asked)
            && payload != about
        {
            return breach(
                Invariant::Bridge,
                format!(
                    "{backend}'s question {id} about {about:?} got an answer meant for call {payload:?}: {message}"
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The checks must bite: feed the ledger what a broken bridge could do.

    use super::*;
    use crate::invariants::{Completed, ModernAsk};
    use onemcp_core::config::{LaunchSpec, TransportConfig};
    use onemcp_core::{BackendKey, HttpResponse, Output, SseEvent};
    use serde_json::json;

    fn invariant(r: Result<Option<Completed>, Breach>) -> Option<Invariant> {
        r.err().map(|b| b.invariant)
    }

    fn modern(log_level: Option<usize>, retry: Option<Retry>) -> ModernAsk {
        ModernAsk {
            declares: ["elicitation".to_owned()].into(),
            log_level,
            progress_token: Some(json!("pt-c0-r1")),
            retry,
        }
    }

    /// Alpha runs as generation 1; client 0's stateless call `c0-r1` went to it as id 5 on x1.
    fn ledger_with_modern_call(log_level: Option<usize>) -> Ledger {
        let mut l = Ledger::new(["alpha".to_owned()]);
        let call = Asked::Call { id: json!(1), payload: "c0-r1".into(), backend: "alpha".into() };
        l.issue_modern(ExchangeId(1), 0, call, modern(log_level, None));
        l.handle_delivered(ExchangeId(1));
        let spawn = Output::SpawnBackend {
            backend: BackendKey::parse("alpha"),
            generation: Gen(1),
            transport: TransportConfig::Stdio(LaunchSpec::default()),
        };
        assert_eq!(invariant(l.handle_output(&spawn)), None);
        let sent = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "c0-r1"}}});
        assert_eq!(invariant(l.handle_output(&write(&sent))), None);
        l.end_step();
        l
    }

    fn write(message: &Value) -> Output {
        Output::WriteBackend { backend: BackendKey::parse("alpha"), generation: Gen(1), line: message.to_string() }
    }

    fn push(x: u64, message: Value) -> Output {
        Output::PushEvent { exchange: ExchangeId(x), event: SseEvent { event: None, data: message.to_string() } }
    }

    fn respond(x: u64, message: Value) -> Output {
        let response = HttpResponse { status: 200, content_type: None, headers: vec![], body: message.to_string() };
        Output::Respond { exchange: ExchangeId(x), response }
    }

    fn log(level: &str, about: &str) -> Value {
        json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": level, "data": {"about": about}}})
    }

    /// The hub's answer to client 0's call on `x` (JSON-RPC id `id`): one question about `about`.
    fn input_required(x: u64, id: u64, state: &str, method: &str, about: &str) -> Output {
        respond(
            x,
            json!({"jsonrpc": "2.0", "id": id, "result": {"resultType": "input_required", "requestState": state,
                "inputRequests": {"1mcp-1": {"method": method, "params": {"_meta": {"sim/about": about}}}}}}),
        )
    }

    fn refusal(id: u64) -> Value {
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": "Invalid params: requestState is expired or was used already"}})
    }

    fn echo(id: u64) -> Value {
        json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": "c0-r1"}], "resultType": "complete"}})
    }

    /// Client 0 retries its call on `x` with `state`, this way.
    fn retry(l: &mut Ledger, x: u64, state: &str, kind: RetryKind) {
        let call = Asked::Call { id: json!(x), payload: "c0-r1".into(), backend: "alpha".into() };
        let retry = Retry { state: state.into(), kind };
        l.end_step();
        l.issue_modern(ExchangeId(x), 0, call, modern(None, Some(retry)));
        l.handle_delivered(ExchangeId(x));
    }

    #[test]
    fn a_stateless_stream_hears_only_its_own_progress_and_the_logs_it_asked_for() {
        // Asked for warning and up (index 3).
        let mut l = ledger_with_modern_call(Some(3));
        assert_eq!(invariant(l.handle_output(&Output::OpenStream { exchange: ExchangeId(1), headers: vec![] })), None);
        let progress = |token: &str| json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": token, "progress": 1}});
        assert_eq!(invariant(l.handle_output(&push(1, progress("pt-c0-r1")))), None);
        assert_eq!(invariant(l.handle_output(&push(1, progress("pt-c1-r1")))), Some(Invariant::Stateless));
        assert_eq!(invariant(l.handle_output(&push(1, log("error", "c0-r1")))), None);
        assert_eq!(invariant(l.handle_output(&push(1, log("info", "c0-r1")))), Some(Invariant::Stateless), "below");
        assert_eq!(invariant(l.handle_output(&push(1, log("error", "c1-r4")))), Some(Invariant::Attribution));
        let request = json!({"jsonrpc": "2.0", "id": "1mcp-1", "method": "elicitation/create", "params": {}});
        assert_eq!(invariant(l.handle_output(&push(1, request))), Some(Invariant::Stateless), "no requests");
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "1mcp-1"}});
        assert_eq!(invariant(l.handle_output(&push(1, cancel))), Some(Invariant::Stateless));
        // Without a logLevel, no log message at all.
        let mut l = ledger_with_modern_call(None);
        assert_eq!(invariant(l.handle_output(&Output::OpenStream { exchange: ExchangeId(1), headers: vec![] })), None);
        assert_eq!(invariant(l.handle_output(&push(1, log("emergency", "c0-r1")))), Some(Invariant::Stateless));
    }

    #[test]
    fn an_input_required_result_asks_only_about_its_own_call_and_only_what_was_declared() {
        let mut l = ledger_with_modern_call(None);
        let answer = input_required(1, 1, "1mcp.a", "elicitation/create", "c1-r9");
        assert_eq!(invariant(l.handle_output(&answer)), Some(Invariant::Bridge), "another call's question");
        let mut l = ledger_with_modern_call(None);
        let answer = input_required(1, 1, "1mcp.a", "sampling/createMessage", "c0-r1");
        assert_eq!(invariant(l.handle_output(&answer)), Some(Invariant::Bridge), "sampling was not declared");
        let mut l = ledger_with_modern_call(None);
        let answer = input_required(1, 1, "1mcp.a", "elicitation/create", "c0-r1");
        assert_eq!(invariant(l.handle_output(&answer)), None);
        assert_eq!(l.bridge_counts().input_required, 1);
        // A session's call is never answered input_required.
        let mut l = Ledger::new(["alpha".to_owned()]);
        l.issue(ExchangeId(2), 1, Asked::Call { id: json!(2), payload: "c1-r2".into(), backend: "alpha".into() });
        l.handle_delivered(ExchangeId(2));
        let answer = input_required(2, 2, "1mcp.b", "elicitation/create", "c1-r2");
        assert_eq!(invariant(l.handle_output(&answer)), Some(Invariant::Stateless));
    }

    #[test]
    fn a_live_state_resumes_its_call_once_and_every_other_state_is_refused() {
        let mut l = ledger_with_modern_call(None);
        assert_eq!(invariant(l.handle_output(&input_required(1, 1, "1mcp.a", "elicitation/create", "c0-r1"))), None);
        // Tampered, other arguments, never given: refused, whatever else happens.
        for (x, state, kind) in [
            (2, "1mcp.b", RetryKind::Tampered),
            (3, "1mcp.a", RetryKind::OtherArgs),
            (4, "1mcp.zzz", RetryKind::Answers),
        ] {
            retry(&mut l, x, state, kind);
            assert_eq!(invariant(l.handle_output(&respond(x, echo(x)))), Some(Invariant::Bridge), "{kind:?}");
        }
        retry(&mut l, 5, "1mcp.b", RetryKind::Tampered);
        assert_eq!(invariant(l.handle_output(&respond(5, refusal(5)))), None);
        // The live state: resumed (a refusal is a breach), and good once.
        retry(&mut l, 6, "1mcp.a", RetryKind::Answers);
        assert_eq!(invariant(l.handle_output(&respond(6, refusal(6)))), Some(Invariant::Bridge));
        retry(&mut l, 7, "1mcp.a", RetryKind::Replayed);
        assert_eq!(invariant(l.handle_output(&respond(7, echo(7)))), Some(Invariant::Bridge), "used already");
    }

    #[test]
    fn a_state_whose_call_ended_is_refused() {
        let mut l = ledger_with_modern_call(None);
        assert_eq!(invariant(l.handle_output(&input_required(1, 1, "1mcp.a", "elicitation/create", "c0-r1"))), None);
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}});
        assert_eq!(invariant(l.handle_output(&write(&cancel))), None);
        retry(&mut l, 2, "1mcp.a", RetryKind::Answers);
        assert_eq!(invariant(l.handle_output(&respond(2, echo(2)))), Some(Invariant::Bridge), "cancelled on alpha");
        let mut l = ledger_with_modern_call(None);
        assert_eq!(invariant(l.handle_output(&input_required(1, 1, "1mcp.a", "elicitation/create", "c0-r1"))), None);
        l.handle_backend_exit("alpha", Gen(1));
        retry(&mut l, 2, "1mcp.a", RetryKind::Answers);
        assert_eq!(invariant(l.handle_output(&respond(2, refusal(2)))), None, "alpha's process is gone");
    }

    #[test]
    fn a_retry_without_answers_is_asked_the_same_questions_again() {
        let mut l = ledger_with_modern_call(None);
        assert_eq!(invariant(l.handle_output(&input_required(1, 1, "1mcp.a", "elicitation/create", "c0-r1"))), None);
        retry(&mut l, 2, "1mcp.a", RetryKind::Unanswered);
        assert_eq!(invariant(l.handle_output(&respond(2, echo(2)))), Some(Invariant::Bridge), "not asked again");
        let mut l = ledger_with_modern_call(None);
        assert_eq!(invariant(l.handle_output(&input_required(1, 1, "1mcp.a", "elicitation/create", "c0-r1"))), None);
        retry(&mut l, 2, "1mcp.a", RetryKind::Unanswered);
        assert_eq!(invariant(l.handle_output(&input_required(2, 2, "1mcp.c", "elicitation/create", "c0-r1"))), None);
        assert_eq!(
            invariant(l.handle_output(&input_required(2, 2, "1mcp.c", "elicitation/create", "c0-r1"))),
            Some(Invariant::OneResponse)
        );
    }

    #[test]
    fn a_server_gets_only_the_answers_of_the_client_asked_carried_by_an_accepted_retry() {
        let mut l = ledger_with_modern_call(None);
        let question = json!({"jsonrpc": "2.0", "id": "q-1", "method": "elicitation/create", "params": {"_meta": {"sim/about": "c0-r1"}}});
        l.handle_backend_line("alpha", &question.to_string());
        assert_eq!(invariant(l.handle_output(&input_required(1, 1, "1mcp.a", "elicitation/create", "c0-r1"))), None);
        let answer = |client: usize, retry: u64| {
            write(
                &json!({"jsonrpc": "2.0", "id": "q-1", "result": {"action": "accept", "_meta": {"sim/client": client, "sim/retry": retry}}}),
            )
        };
        // A tampered retry's answers must not reach alpha.
        retry(&mut l, 2, "1mcp.zzz", RetryKind::Tampered);
        assert_eq!(invariant(l.handle_output(&answer(0, 2))), Some(Invariant::Bridge));
        retry(&mut l, 3, "1mcp.a", RetryKind::Answers);
        assert_eq!(invariant(l.handle_output(&answer(1, 3))), Some(Invariant::Bridge), "client 1 was not asked");
        assert_eq!(invariant(l.handle_output(&answer(0, 2))), Some(Invariant::Bridge), "not this step's retry");
        assert_eq!(invariant(l.handle_output(&answer(0, 3))), None);
        // The hub's own error answers name nobody and are fine.
        let error =
            json!({"jsonrpc": "2.0", "id": "q-1", "error": {"code": -32603, "message": "the client session ended"}});
        assert_eq!(invariant(l.handle_output(&write(&error))), None);
    }

    #[test]
    fn after_quiescence_the_hub_holds_exactly_the_live_sessions() {
        let l = Ledger::new(["alpha".to_owned()]);
        let stats = onemcp_core::HubStats { sessions: 1, ..onemcp_core::HubStats::default() };
        assert_eq!(l.check_sessions(&stats).err().map(|b| b.invariant), Some(Invariant::Drains), "a record left");
        assert_eq!(l.check_sessions(&onemcp_core::HubStats::default()), Ok(()));
    }
}
