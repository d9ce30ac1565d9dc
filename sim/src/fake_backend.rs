//! A scripted MCP server: a small sans-IO state machine per configured backend.
//!
//! It answers `initialize`, the lists (optionally paginated) and `tools/call echo`, each after
//! a seeded delay so answers overtake each other, and misbehaves as its [`BackendFaults`] say.
//! In worlds with stateless clients it also asks its client something in the middle of a call
//! (elicitation, sampling or roots, sometimes for several rounds), logs and reports progress
//! about the call, as its [`BridgeFaults`] say; what it says about a call names the call's
//! payload (`_meta["sim/about"]`, `data.about`), so the ledger knows whose it is.
//! It returns what it wants to happen as [`Scheduled`] acts; the world queues them, so a line
//! "written" at time t reaches the hub at t, in write order (a pipe does not reorder).

use crate::faults::{BackendFaults, BridgeFaults, below, between, chance, pick};
use crate::invariants::FAKE_TOOL_ERROR;
use onemcp_core::{ExitInfo, Gen};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Nanoseconds in a millisecond.
pub const MS: u64 = 1_000_000;

/// Something a backend process does at a later instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendAct {
    /// The process is up.
    Spawned,
    /// The process could not be started.
    SpawnFailed,
    /// Write one stdout line; `answers` names the request it answers, if any.
    Line {
        /// The line.
        line: String,
        /// Backend-side id of the request this line answers.
        answers: Option<u64>,
    },
    /// Write one stdout line about the call the process knows as `call` (a question, a log
    /// message, progress): not written once the hub has told it that call is cancelled.
    MidCall {
        /// The line.
        line: String,
        /// Backend-side id of the call it is about.
        call: u64,
    },
    /// Die on its own.
    Crash,
    /// Report the end of a process the hub asked to stop.
    Exit,
}

/// An act and how long after now it happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scheduled {
    /// Delay in nanoseconds.
    pub delay: u64,
    /// What happens.
    pub act: BackendAct,
}

/// Where one incarnation is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProcState {
    Starting,
    Running,
    Dead,
}

/// A call waiting for its client's answer to the question it asked.
#[derive(Debug)]
struct Asking {
    /// The call's id, as the hub sent it.
    call_id: Value,
    /// The call itself.
    call: Value,
    /// Questions asked for it so far.
    round: u32,
}

/// Most questions a server asks for one call.
const MAX_ROUNDS: u32 = 3;

/// One incarnation (generation) of the backend process.
#[derive(Debug)]
struct Proc {
    state: ProcState,
    /// Requests it was asked to drop (only honoured ones).
    cancelled: BTreeSet<u64>,
    /// Requests the hub said are cancelled, honoured or not: nothing more is said about them.
    told_cancelled: BTreeSet<u64>,
    /// Calls waiting for their question's answer, by the question's id (`q-<n>`).
    asking: BTreeMap<String, Asking>,
    /// Cursor-less `tools/list` requests seen; a second one means the hub is re-listing a
    /// ready server (after `list_changed`), not starting it.
    tool_lists: u32,
}

/// The shape and behaviour of one fake server.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendShape {
    /// Tools it offers (always includes `echo`).
    pub tools: Vec<String>,
    /// Whether it declares prompts.
    pub prompts: bool,
    /// Whether it declares resources.
    pub resources: bool,
    /// Items per list page; `None` lists everything at once.
    pub page_size: Option<usize>,
    /// Longest ordinary answer delay, in milliseconds.
    pub max_delay_ms: u64,
    /// Longest spawn delay, in milliseconds.
    pub max_spawn_ms: u64,
    /// The hub's request timeout for it, in milliseconds (slow answers exceed it).
    pub request_timeout_ms: u64,
}

impl BackendShape {
    /// Draw a shape.
    pub fn swarm(rng: &mut ChaCha8Rng, request_timeout_ms: u64) -> BackendShape {
        let mut tools = vec!["echo".to_owned()];
        for extra in ["add", "search", "fetch"] {
            if chance(rng, 0.4) {
                tools.push(extra.to_owned());
            }
        }
        BackendShape {
            tools,
            prompts: chance(rng, 0.4),
            resources: chance(rng, 0.4),
            page_size: if chance(rng, 0.5) { Some(between(rng, 1, 2) as usize) } else { None },
            max_delay_ms: between(rng, 5, request_timeout_ms * 3 / 4),
            max_spawn_ms: between(rng, 1, 800),
            request_timeout_ms,
        }
    }
}

/// A fake server and all its incarnations.
#[derive(Debug)]
pub struct FakeBackend {
    /// Server name.
    pub name: String,
    /// What it offers.
    pub shape: BackendShape,
    /// How it misbehaves.
    pub faults: BackendFaults,
    procs: BTreeMap<Gen, Proc>,
    /// Counter for ids of requests it sends and bogus responses it makes up.
    next_own_id: u64,
    /// Faults injected so far.
    pub faults_injected: u64,
    /// `notifications/cancelled` received.
    pub cancels_received: u64,
    /// `crash` faults injected (calls it died on).
    pub crashes: u64,
    /// Whether hang and partial faults may hit list requests of a ready server (see
    /// [`crate::SimOptions::faulty_relists`]).
    pub faulty_relists: bool,
    /// Dies right after every start, faults on or off (a restart storm).
    pub storm: bool,
    /// Asks its client for roots (`roots/list`) after every `notifications/initialized` and
    /// every `notifications/roots/list_changed`, and now and then again after an answer.
    pub asks_roots: bool,
    /// The draws of its roots questions: a stream of their own, so a seed's other draws stay
    /// where they were whether or not the server asks.
    pub roots_rng: ChaCha8Rng,
    /// Roots questions asked (their ids are `roots-<n>`).
    pub roots_asked: u64,
    /// What it asks, logs and reports mid-call (stateless worlds; all zero otherwise).
    pub bridge: BridgeFaults,
    /// The draws of its mid-call questions, logs and progress: a stream of their own.
    pub bridge_rng: ChaCha8Rng,
    /// Questions asked mid-call (their ids are `q-<n>`).
    pub questions: u64,
}

impl FakeBackend {
    /// A backend that has not been spawned yet.
    pub fn new(name: String, shape: BackendShape, faults: BackendFaults) -> FakeBackend {
        FakeBackend {
            name,
            shape,
            faults,
            procs: BTreeMap::new(),
            next_own_id: 0,
            faults_injected: 0,
            cancels_received: 0,
            crashes: 0,
            faulty_relists: true,
            storm: false,
            asks_roots: false,
            roots_rng: ChaCha8Rng::seed_from_u64(0),
            roots_asked: 0,
            bridge: BridgeFaults::default(),
            bridge_rng: ChaCha8Rng::seed_from_u64(0),
            questions: 0,
        }
    }

    fn fault(&mut self, rng: &mut ChaCha8Rng, on: bool, p: f64) -> bool {
        let hit = on && chance(rng, p);
        self.faults_injected += u64::from(hit);
        hit
    }

    /// The hub asked for a new incarnation.
    pub fn handle_spawn(&mut self, rng: &mut ChaCha8Rng, faults_on: bool, generation: Gen) -> Vec<Scheduled> {
        let proc = Proc {
            state: ProcState::Starting,
            cancelled: BTreeSet::new(),
            told_cancelled: BTreeSet::new(),
            asking: BTreeMap::new(),
            tool_lists: 0,
        };
        self.procs.insert(generation, proc);
        if self.storm {
            let up = between(rng, 1, 20) * MS;
            let down = up + between(rng, 1, 30) * MS;
            return vec![
                Scheduled { delay: up, act: BackendAct::Spawned },
                Scheduled { delay: down, act: BackendAct::Crash },
            ];
        }
        let p = self.faults.spawn_fail;
        if self.fault(rng, faults_on, p) {
            return vec![Scheduled { delay: between(rng, 0, 50) * MS, act: BackendAct::SpawnFailed }];
        }
        vec![Scheduled { delay: between(rng, 1, self.shape.max_spawn_ms) * MS, act: BackendAct::Spawned }]
    }

    /// The hub asked an incarnation to stop: it dies now and its exit is reported shortly.
    pub fn handle_stop(&mut self, rng: &mut ChaCha8Rng, generation: Gen) -> Vec<Scheduled> {
        match self.procs.get_mut(&generation) {
            Some(p) if p.state != ProcState::Dead => {
                p.state = ProcState::Dead;
                vec![Scheduled { delay: between(rng, 1, 100) * MS, act: BackendAct::Exit }]
            }
            _ => vec![],
        }
    }

    /// Decide whether a due act still happens: dead processes write nothing, cancelled
    /// answers are dropped. Returns the exit status for acts that end the process.
    pub fn fire(&mut self, generation: Gen, act: &BackendAct) -> Fired {
        let Some(p) = self.procs.get_mut(&generation) else { return Fired::Dropped };
        match act {
            BackendAct::Spawned if p.state == ProcState::Starting => {
                p.state = ProcState::Running;
                Fired::Deliver
            }
            BackendAct::SpawnFailed if p.state == ProcState::Starting => {
                p.state = ProcState::Dead;
                Fired::Deliver
            }
            BackendAct::Line { answers, .. } if p.state == ProcState::Running => {
                if answers.is_some_and(|id| p.cancelled.contains(&id)) { Fired::Dropped } else { Fired::Deliver }
            }
            BackendAct::MidCall { call, .. } if p.state == ProcState::Running => {
                if p.told_cancelled.contains(call) {
                    Fired::Dropped
                } else {
                    Fired::Deliver
                }
            }
            BackendAct::Crash if p.state != ProcState::Dead => {
                p.state = ProcState::Dead;
                Fired::Exit(ExitInfo { code: Some(1), signal: None, reason: None })
            }
            BackendAct::Exit => Fired::Exit(ExitInfo { code: None, signal: Some(15), reason: None }),
            _ => Fired::Dropped,
        }
    }

    /// Whether an incarnation is running (reads its stdin).
    pub fn is_running(&self, generation: Gen) -> bool {
        self.procs.get(&generation).is_some_and(|p| p.state == ProcState::Running)
    }

    /// The hub wrote a line to an incarnation; answer it as the faults say.
    pub fn handle_line(
        &mut self,
        rng: &mut ChaCha8Rng,
        faults_on: bool,
        generation: Gen,
        line: &str,
    ) -> Vec<Scheduled> {
        if !self.is_running(generation) {
            return vec![];
        }
        let Ok(message) = serde_json::from_str::<Value>(line) else { return vec![] };
        let method = message.get("method").and_then(Value::as_str).unwrap_or_default().to_owned();
        let id = message.get("id").cloned();
        match (id, method.as_str()) {
            (None, "notifications/cancelled") => {
                self.cancels_received += 1;
                let target = message.pointer("/params/requestId").and_then(Value::as_u64);
                if let (Some(target), Some(p)) = (target, self.procs.get_mut(&generation)) {
                    p.told_cancelled.insert(target);
                }
                let honour = self.faults.honour_cancel;
                if let (Some(target), true) = (target, chance(rng, honour))
                    && let Some(p) = self.procs.get_mut(&generation)
                {
                    p.cancelled.insert(target);
                }
                vec![]
            }
            (None, "notifications/initialized" | "notifications/roots/list_changed") if self.asks_roots => {
                self.ask_roots(0, 50)
            }
            (None, _) => vec![],
            (Some(id), _) if method.is_empty() && id.as_str().is_some_and(|q| q.starts_with("q-")) => {
                self.handle_answer(rng, faults_on, generation, &id)
            }
            (Some(id), _) if method.is_empty() => {
                // An answer to one of our own questions: now and then, ask for roots again.
                let ours = id.as_str().is_some_and(|id| id.starts_with("roots-"));
                if ours && faults_on && chance(&mut self.roots_rng, 0.15) { self.ask_roots(100, 1500) } else { vec![] }
            }
            (Some(id), _) => {
                let relist = self.note_list(generation, &method, &message);
                let on = faults_on && (self.faulty_relists || !relist);
                if method == "tools/call" && faults_on && chance(&mut self.bridge_rng, self.bridge.ask) {
                    return self.ask(generation, id, message, 1);
                }
                self.answer(rng, on, &id, &method, &message)
            }
        }
    }

    /// Ask the client of `call` something before answering it (round `round` of its questions).
    fn ask(&mut self, generation: Gen, call_id: Value, call: Value, round: u32) -> Vec<Scheduled> {
        let Some(about) = call_id.as_u64() else { return vec![] };
        let payload = call.pointer("/params/arguments/text").cloned().unwrap_or(Value::Null);
        self.questions += 1;
        let id = format!("q-{}", self.questions);
        let meta = json!({"sim/about": payload});
        let text = format!("{} asks {id} about {payload}", self.name);
        let methods = ["elicitation/create", "sampling/createMessage", "roots/list"];
        let method = pick(&mut self.bridge_rng, &methods).copied().unwrap_or(methods[0]);
        let params = match method {
            "elicitation/create" => json!({"message": text, "_meta": meta,
                "requestedSchema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}),
            "sampling/createMessage" => json!({"maxTokens": 16, "_meta": meta,
                "messages": [{"role": "user", "content": {"type": "text", "text": text}}]}),
            _ => json!({"_meta": meta}),
        };
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
        if let Some(p) = self.procs.get_mut(&generation) {
            p.asking.insert(id, Asking { call_id, call, round });
        }
        let delay = between(&mut self.bridge_rng, 0, self.shape.max_delay_ms / 2) * MS;
        vec![Scheduled { delay, act: BackendAct::MidCall { line, call: about } }]
    }

    /// The hub answered question `id` (a result or an error, whoever gave it): ask again now
    /// and then, else answer the call.
    fn handle_answer(&mut self, rng: &mut ChaCha8Rng, faults_on: bool, generation: Gen, id: &Value) -> Vec<Scheduled> {
        let asked = id.as_str().and_then(|q| self.procs.get_mut(&generation)?.asking.remove(q));
        let Some(Asking { call_id, call, round }) = asked else { return vec![] };
        if faults_on && round < MAX_ROUNDS && chance(&mut self.bridge_rng, self.bridge.again) {
            return self.ask(generation, call_id, call, round + 1);
        }
        self.answer(rng, faults_on, &call_id, "tools/call", &call)
    }

    /// What it says about `call` before answering it at `delay`: a log message, progress.
    fn mid_call_notes(&mut self, id: &Value, call: &Value, delay: u64) -> Vec<Scheduled> {
        let Some(about) = id.as_u64() else { return vec![] };
        let payload = call.pointer("/params/arguments/text").cloned().unwrap_or(Value::Null);
        let mut notes = vec![];
        if chance(&mut self.bridge_rng, self.bridge.log) {
            let level = LOG_LEVELS[below(&mut self.bridge_rng, LOG_LEVELS.len() as u64) as usize];
            let line = json!({"jsonrpc": "2.0", "method": "notifications/message",
                "params": {"level": level, "logger": self.name, "data": {"about": payload, "level": level}}});
            notes.push(line);
        }
        let token = call.pointer("/params/_meta/progressToken").cloned();
        if let Some(token) = token
            && chance(&mut self.bridge_rng, self.bridge.progress)
        {
            let line = json!({"jsonrpc": "2.0", "method": "notifications/progress",
                "params": {"progressToken": token, "progress": 1, "total": 2, "message": format!("about {payload}")}});
            notes.push(line);
        }
        notes
            .into_iter()
            .map(|line| {
                let at = between(&mut self.bridge_rng, 0, delay / MS) * MS;
                Scheduled { delay: at, act: BackendAct::MidCall { line: line.to_string(), call: about } }
            })
            .collect()
    }

    /// Ask the client for its roots, `lo..=hi` milliseconds from now.
    fn ask_roots(&mut self, lo: u64, hi: u64) -> Vec<Scheduled> {
        self.roots_asked += 1;
        let line = json!({"jsonrpc": "2.0", "id": format!("roots-{}", self.roots_asked), "method": "roots/list"});
        let delay = between(&mut self.roots_rng, lo, hi) * MS;
        vec![Scheduled { delay, act: BackendAct::Line { line: line.to_string(), answers: None } }]
    }

    /// Count cursor-less `tools/list` requests; true if this is a list request of a re-listing.
    fn note_list(&mut self, generation: Gen, method: &str, message: &Value) -> bool {
        let Some(p) = self.procs.get_mut(&generation) else { return false };
        if method == "tools/list" && message.pointer("/params/cursor").is_none() {
            p.tool_lists += 1;
        }
        method.ends_with("/list") && p.tool_lists > 1
    }

    fn answer(&mut self, rng: &mut ChaCha8Rng, on: bool, id: &Value, method: &str, message: &Value) -> Vec<Scheduled> {
        let f = self.faults.clone();
        if self.fault(rng, on, f.hang) {
            return vec![];
        }
        if method == "tools/call" && self.fault(rng, on, f.crash) {
            self.crashes += 1;
            return vec![Scheduled { delay: between(rng, 0, 200) * MS, act: BackendAct::Crash }];
        }
        let mut body = match method {
            "initialize" => json!({"result": self.initialize_result()}),
            "ping" => json!({"result": {}}),
            "tools/list" => self.list_page("tools", message, self.tools_json()),
            "prompts/list" => self.list_page("prompts", message, self.prompts_json()),
            "resources/list" => self.list_page("resources", message, self.resources_json()),
            "resources/templates/list" => self.list_page("resourceTemplates", message, vec![]),
            "tools/call" => self.call_result(message),
            _ => json!({"error": {"code": -32601, "message": format!("no method {method}")}}),
        };
        if method == "tools/call" && self.fault(rng, on, f.error) {
            let text = message.pointer("/params/arguments/text").cloned().unwrap_or(Value::Null);
            body = json!({"error": {"code": -32000, "message": FAKE_TOOL_ERROR, "data": {"text": text}}});
        }
        body["jsonrpc"] = json!("2.0");
        body["id"] = id.clone();
        let line = body.to_string();
        let answers = id.as_u64();
        let timeout = self.shape.request_timeout_ms;
        let delay = if self.fault(rng, on, f.slow) {
            between(rng, timeout + 100, timeout * 3)
        } else {
            between(rng, 0, self.shape.max_delay_ms)
        } * MS;
        // What it says about the call first (stateless worlds): before its answer, in pipe order.
        let mut acts = if method == "tools/call" && on { self.mid_call_notes(id, message, delay) } else { vec![] };
        if self.fault(rng, on, f.garbage) {
            let junk =
                ["Starting server on stdio...", "{\"jsonrpc\":\"2.0\",", "\u{1b}[32mready\u{1b}[0m", "null", "[1,2]"];
            let text = junk[below(rng, junk.len() as u64) as usize].to_owned();
            acts.push(Scheduled { delay, act: BackendAct::Line { line: text, answers: None } });
        }
        if self.fault(rng, on, f.partial) {
            // A half-written line, or a response with neither result nor error.
            let cut = if chance(rng, 0.5) { half(&line) } else { json!({"jsonrpc": "2.0", "id": id}).to_string() };
            acts.push(Scheduled { delay, act: BackendAct::Line { line: cut, answers: None } });
        } else {
            acts.push(Scheduled { delay, act: BackendAct::Line { line: line.clone(), answers } });
            if self.fault(rng, on, f.duplicate) {
                let again = delay + between(rng, 0, 300) * MS;
                acts.push(Scheduled { delay: again, act: BackendAct::Line { line, answers } });
            }
        }
        if self.fault(rng, on, f.unknown_id) {
            self.next_own_id += 1;
            // Far outside the hub's id range, or a string: it must match nothing.
            let bogus = if chance(rng, 0.5) {
                json!(4_000_000_000u64 + self.next_own_id)
            } else {
                json!(format!("bogus-{}", self.next_own_id))
            };
            let line = json!({"jsonrpc": "2.0", "id": bogus, "result": {"content": [{"type": "text", "text": "nobody asked"}]}}).to_string();
            acts.push(Scheduled {
                delay: between(rng, 0, self.shape.max_delay_ms) * MS,
                act: BackendAct::Line { line, answers: None },
            });
        }
        if self.fault(rng, on, f.list_changed) {
            let line = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}).to_string();
            acts.push(Scheduled { delay: between(rng, 0, 500) * MS, act: BackendAct::Line { line, answers: None } });
        }
        if self.fault(rng, on, f.ping) {
            self.next_own_id += 1;
            let line =
                json!({"jsonrpc": "2.0", "id": format!("srv-{}", self.next_own_id), "method": "ping"}).to_string();
            acts.push(Scheduled { delay: between(rng, 0, 500) * MS, act: BackendAct::Line { line, answers: None } });
        }
        acts
    }

    fn initialize_result(&self) -> Value {
        let mut caps = json!({"tools": {"listChanged": true}});
        if self.shape.prompts {
            caps["prompts"] = json!({});
        }
        if self.shape.resources {
            caps["resources"] = json!({});
        }
        json!({"protocolVersion": "2025-11-25", "capabilities": caps,
            "serverInfo": {"name": format!("fake-{}", self.name), "version": "1"},
            "instructions": format!("{} echoes", self.name)})
    }

    fn tools_json(&self) -> Vec<Value> {
        self.shape
            .tools
            .iter()
            .map(|t| json!({"name": t, "description": format!("{t} tool"), "inputSchema": {"type": "object"}}))
            .collect()
    }

    fn prompts_json(&self) -> Vec<Value> {
        vec![json!({"name": "greet"}), json!({"name": "summarize"})]
    }

    fn resources_json(&self) -> Vec<Value> {
        vec![json!({"uri": format!("mem://{}/a", self.name), "name": "a"})]
    }

    /// One page of a list; the cursor is the index of the first item, as text.
    fn list_page(&self, key: &str, message: &Value, items: Vec<Value>) -> Value {
        let start = message
            .pointer("/params/cursor")
            .and_then(Value::as_str)
            .and_then(|c| c.parse::<usize>().ok())
            .unwrap_or(0);
        let size = self.shape.page_size.unwrap_or(usize::MAX);
        let page: Vec<Value> = items.iter().skip(start).take(size).cloned().collect();
        let mut result = json!({ key: page });
        if start.saturating_add(size) < items.len() {
            result["nextCursor"] = json!((start + size).to_string());
        }
        json!({"result": result})
    }

    fn call_result(&self, message: &Value) -> Value {
        let name = message.pointer("/params/name").and_then(Value::as_str).unwrap_or_default();
        if !self.shape.tools.iter().any(|t| t == name) {
            return json!({"error": {"code": -32602, "message": format!("Unknown tool: {name}")}});
        }
        let text = match name {
            "echo" => message.pointer("/params/arguments/text").cloned().unwrap_or(Value::Null),
            _ => json!(format!("{name} done")),
        };
        json!({"result": {"content": [{"type": "text", "text": text}]}})
    }
}

/// The log levels, least severe first, as the spec spells them.
pub const LOG_LEVELS: [&str; 8] = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

/// What became of a due act.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fired {
    /// Hand it to the hub.
    Deliver,
    /// The process ended: tell the hub it exited like this.
    Exit(ExitInfo),
    /// Nothing happens (the process is dead, or the answer was cancelled).
    Dropped,
}

/// The first half of a line, cut on a character boundary.
fn half(line: &str) -> String {
    let mut at = line.len() / 2;
    while !line.is_char_boundary(at) {
        at -= 1;
    }
    line[..at].to_owned()
}
