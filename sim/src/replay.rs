//! Replay of a `1mcp serve --record FILE` recording through a fresh core.
//!
//! The first line is the header the daemon wrote (`hub_config`, `seed`, `at_ns`); the hub is
//! built from it exactly as the daemon built its own. A recording whose header says `exact`
//! holds every call the daemon made into its hub (see `io/src/record.rs`): `Hub::new`'s
//! outputs, each `handle(at, input)` and each `handle_timeout(at)` at the instant the daemon
//! made it, each with the outputs it produced. The replay makes the same calls at the same
//! instants, and nothing else, and requires the same outputs, byte for byte (each `Output` as
//! serde serializes it): the core is a function of its seed, its config and its calls, so any
//! difference is a bug (or an edited file), reported as the first call whose outputs differ,
//! with both sides' outputs for it. Older recordings hold inputs only; for them the hub's
//! timers fire at their deadlines in between, and only the invariants below are checked.
//!
//! Either way the outputs are checked as they come:
//!
//! * outputs name only exchanges the recording opened, and none after its client closed it;
//! * an exchange ends once (one response, or one stream opened then closed);
//! * a JSON-RPC request POSTed to `/mcp` is answered with its own id, exactly once (in the
//!   response or on its own SSE stream), unless its client went away;
//! * backend generations are never reused;
//! * the hub never panics;
//! * after the recording's end (a `Shutdown` is appended if the daemon did not record one) and
//!   every timer due after it, no exchange, pending request, timer or session is left.
//!
//! An inputs-only replay cannot reproduce the real run's outputs (real timers fire a little
//! late, so an answer that raced its timeout may land on the other side of it); that is why
//! exact recordings hold the `handle_timeout` calls too.

use crate::Violation;
use crate::invariants::Invariant;
use crate::trace::{Trace, input_line, output_line};
use onemcp_core::{ExchangeId, Gen, HttpMethod, Hub, HubConfig, HubStats, Input, Instant, Output};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Duration;

/// Timer firings allowed after the recording's end before the hub is deemed never to settle.
const MAX_TIMERS_AFTER_END: u64 = 100_000;

/// What a replay did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReplayReport {
    /// Inputs fed (recorded ones, plus the appended `Shutdown` if any).
    pub inputs: u64,
    /// HTTP requests among them.
    pub requests: u64,
    /// JSON-RPC requests POSTed to `/mcp` (the ones that must get an answer with their id).
    pub rpc_requests: u64,
    /// Of those, answered with their id.
    pub rpc_answered: u64,
    /// Exchanges whose client went away.
    pub closed: u64,
    /// Outputs the hub produced.
    pub outputs: u64,
    /// Timer firings.
    pub timers: u64,
    /// Whether the recording lacked a `Shutdown` and one was appended.
    pub appended_shutdown: bool,
    /// Instant of the last recorded input, relative to the hub's start.
    pub recorded: Duration,
    /// Hub counters once everything settled.
    pub settled: HubStats,
    /// Calls whose outputs were compared with the recorded ones, byte for byte (the start
    /// included); `None` for an inputs-only recording.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compared: Option<u64>,
}

/// Replay the recording at `path`.
pub fn replay(path: &Path) -> Result<ReplayReport, Violation> {
    let file = std::fs::File::open(path)
        .map_err(|e| malformed(0, format!("cannot open {}: {e}", path.display()), Vec::new()))?;
    replay_reader(std::io::BufReader::new(file))
}

/// Replay a recording read from `reader`.
pub fn replay_reader(reader: impl BufRead) -> Result<ReplayReport, Violation> {
    let mut lines = reader.lines().enumerate();
    let Header { config, seed, start, exact } = match lines.next() {
        Some((_, Ok(line))) => header(&line).map_err(|e| malformed(1, e, Vec::new()))?,
        Some((_, Err(e))) => return Err(malformed(1, format!("cannot read the header: {e}"), Vec::new())),
        None => return Err(malformed(0, "the recording is empty".into(), Vec::new())),
    };
    let mut replay = Replayer::new(config, seed, Instant(start));
    if !exact {
        replay.drain(None)?;
    }
    let mut last = Instant(start);
    let mut shut_down = false;
    let mut started = !exact;
    for (index, line) in lines {
        let number = index as u64 + 1;
        let line = line.map_err(|e| replay.malformed(number, format!("cannot read line {number}: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let step: Step<'_> =
            serde_json::from_str(&line).map_err(|e| replay.malformed(number, format!("line {number}: {e}")))?;
        let at = Instant(step.at_ns);
        if at < last {
            return Err(replay.malformed(number, format!("line {number} goes back in time ({} < {})", at.0, last.0)));
        }
        last = at;
        let expected = step.outputs.as_deref().map(|o| Expected { line: number, outputs: o });
        if exact && expected.is_none() {
            return Err(replay.malformed(number, format!("line {number} has no outputs in an exact recording")));
        }
        if exact && !started {
            if !step.start {
                return Err(replay.malformed(number, format!("line {number}: the start (Hub::new's outputs) first")));
            }
            started = true;
            replay.drain(expected.map(|e| (e, format!("Hub::new({})", at.0))))?;
            continue;
        }
        match (step.input, step.timeout) {
            (Some(input), false) => {
                shut_down |= matches!(input, Input::Shutdown);
                if !exact {
                    replay.fire_timers_until(Some(at))?;
                }
                replay.feed(at, input, expected)?;
            }
            (None, true) if exact => replay.fire_timer(at, expected)?,
            _ => return Err(replay.malformed(number, format!("line {number} is neither an input nor a timeout"))),
        }
    }
    let appended_shutdown = !shut_down;
    if appended_shutdown {
        replay.feed(replay.clock, Input::Shutdown, None)?;
    }
    replay.fire_timers_until(None)?;
    replay.check_settled()?;
    Ok(ReplayReport {
        inputs: replay.inputs,
        requests: replay.requests,
        rpc_requests: replay.books.values().filter(|e| e.rpc_id.is_some()).count() as u64,
        rpc_answered: replay.books.values().filter(|e| e.rpc_id.is_some() && e.answers == 1).count() as u64,
        closed: replay.books.values().filter(|e| e.closed).count() as u64,
        outputs: replay.outputs,
        timers: replay.timers,
        appended_shutdown,
        recorded: Duration::from_nanos(last.0.saturating_sub(start)),
        settled: replay.hub.stats(),
        compared: exact.then_some(replay.compared),
    })
}

/// What `Hub::new` was given, and whether every call after it is recorded with its outputs.
struct Header {
    config: HubConfig,
    seed: [u8; 32],
    start: u64,
    exact: bool,
}

/// One recorded call: `Hub::new` (`start`), `handle(at, input)` or `handle_timeout(at)`.
#[derive(Deserialize)]
struct Step<'a> {
    at_ns: u64,
    #[serde(default)]
    start: bool,
    #[serde(default)]
    input: Option<Input>,
    #[serde(default)]
    timeout: bool,
    /// The outputs exactly as the daemon serialized them.
    #[serde(borrow, default)]
    outputs: Option<Vec<&'a RawValue>>,
}

/// The outputs a call is expected to produce, and where the recording says so.
#[derive(Clone, Copy)]
struct Expected<'a> {
    line: u64,
    outputs: &'a [&'a RawValue],
}

fn header(line: &str) -> Result<Header, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("the header is not JSON: {e}"))?;
    let header = value.get("header").ok_or("the first line is not a {\"header\": …} line")?;
    let config = serde_json::from_value(header.get("hub_config").cloned().unwrap_or(Value::Null))
        .map_err(|e| format!("header.hub_config: {e}"))?;
    let seed = serde_json::from_value(header.get("seed").cloned().unwrap_or(Value::Null))
        .map_err(|e| format!("header.seed (32 bytes): {e}"))?;
    let start = header.get("at_ns").and_then(Value::as_u64).unwrap_or(0);
    let exact = header.get("exact").and_then(Value::as_bool).unwrap_or(false);
    Ok(Header { config, seed, start, exact })
}

fn malformed(step: u64, detail: String, trace: Vec<String>) -> Violation {
    Violation { seed: 0, step, invariant: Invariant::Replayable, detail, trace }
}

/// What the replay knows of one exchange.
#[derive(Debug, Default)]
struct Book {
    /// The id of the single JSON-RPC request POSTed to `/mcp`, if that is what it carried.
    rpc_id: Option<Value>,
    stream_open: bool,
    ended: bool,
    closed: bool,
    answers: u32,
}

struct Replayer {
    hub: Hub,
    clock: Instant,
    books: BTreeMap<ExchangeId, Book>,
    newest_generation: Gen,
    trace: Trace,
    step: u64,
    inputs: u64,
    requests: u64,
    outputs: u64,
    timers: u64,
    /// Calls compared with the recording.
    compared: u64,
    /// Calls made, `Hub::new` being call 0: how a divergence is named.
    calls: u64,
    start: Instant,
}

impl Replayer {
    fn new(config: HubConfig, seed: [u8; 32], start: Instant) -> Replayer {
        Replayer {
            hub: Hub::new(start, config, seed),
            clock: start,
            books: BTreeMap::new(),
            newest_generation: Gen(0),
            trace: Trace::new(50, false),
            step: 0,
            inputs: 0,
            requests: 0,
            outputs: 0,
            timers: 0,
            compared: 0,
            calls: 0,
            start,
        }
    }

    fn violation(&self, invariant: Invariant, detail: String) -> Violation {
        Violation {
            seed: 0,
            step: self.step,
            invariant,
            detail: format!("replay: {detail}"),
            trace: self.trace.recent(),
        }
    }

    fn malformed(&self, line: u64, detail: String) -> Violation {
        malformed(line, detail, self.trace.recent())
    }

    fn feed(&mut self, at: Instant, input: Input, expected: Option<Expected<'_>>) -> Result<(), Violation> {
        self.step += 1;
        self.calls += 1;
        let call = format!("handle({}, {})", at.0, serde_json::to_string(&input).unwrap_or_default());
        self.inputs += 1;
        self.clock = self.clock.max(at);
        match &input {
            Input::HttpRequest { exchange, request } => {
                self.requests += 1;
                let rpc_id = (request.method == Some(HttpMethod::Post) && request.path == "/mcp")
                    .then(|| serde_json::from_slice::<Value>(&request.body).ok())
                    .flatten()
                    .filter(|m| m.get("method").is_some())
                    .and_then(|m| m.get("id").cloned());
                if self.books.insert(*exchange, Book { rpc_id, ..Book::default() }).is_some() {
                    return Err(self.malformed(self.step, format!("exchange {exchange} is opened twice")));
                }
            }
            Input::ExchangeClosed { exchange } => {
                if let Some(book) = self.books.get_mut(exchange) {
                    book.closed = true;
                }
            }
            _ => {}
        }
        self.trace.push(self.clock, input_line(&input, "http"));
        let (hub, now) = (&mut self.hub, self.clock);
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| hub.handle(now, input))) {
            return Err(self.violation(Invariant::NoPanic, format!("the hub panicked: {}", panic_text(&panic))));
        }
        self.drain(expected.map(|e| (e, call)))
    }

    /// A recorded `handle_timeout(at)` call.
    fn fire_timer(&mut self, at: Instant, expected: Option<Expected<'_>>) -> Result<(), Violation> {
        self.step += 1;
        self.calls += 1;
        self.timers += 1;
        self.clock = self.clock.max(at);
        self.trace.push(self.clock, "TIMER".into());
        let hub = &mut self.hub;
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| hub.handle_timeout(at))) {
            return Err(self.violation(Invariant::NoPanic, format!("the hub panicked: {}", panic_text(&panic))));
        }
        self.drain(expected.map(|e| (e, format!("handle_timeout({})", at.0))))
    }

    /// Fire every timer due up to `until` (all of them when `None`), draining after each.
    fn fire_timers_until(&mut self, until: Option<Instant>) -> Result<(), Violation> {
        let mut fired = 0u64;
        while let Some(deadline) = self.hub.poll_timeout() {
            if until.is_some_and(|u| deadline > u) {
                break;
            }
            fired += 1;
            if until.is_none() && fired > MAX_TIMERS_AFTER_END {
                let detail = format!("timers still fire after {MAX_TIMERS_AFTER_END} firings past the end");
                return Err(self.violation(Invariant::Drains, detail));
            }
            self.step += 1;
            self.timers += 1;
            self.clock = self.clock.max(deadline);
            self.trace.push(self.clock, "TIMER".into());
            let (hub, now) = (&mut self.hub, self.clock);
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| hub.handle_timeout(now))) {
                return Err(self.violation(Invariant::NoPanic, format!("the hub panicked: {}", panic_text(&panic))));
            }
            self.drain(None)?;
        }
        Ok(())
    }

    /// Take the outputs of the call just made; compare them with the recorded ones (when
    /// given, with a description of the call), then check them against the invariants.
    fn drain(&mut self, expected: Option<(Expected<'_>, String)>) -> Result<(), Violation> {
        let outputs: Vec<Output> = std::iter::from_fn(|| self.hub.poll_output()).collect();
        if let Some((expected, call)) = expected {
            self.compare(&outputs, expected, &call)?;
        }
        for output in outputs {
            self.outputs += 1;
            self.trace.push(self.clock, output_line(&output));
            self.check(&output).map_err(|(invariant, detail)| self.violation(invariant, detail))?;
        }
        Ok(())
    }

    /// The outputs of one call, byte for byte as recorded, or the first call that differs.
    fn compare(&mut self, outputs: &[Output], expected: Expected<'_>, call: &str) -> Result<(), Violation> {
        self.compared += 1;
        let actual: Vec<String> = outputs
            .iter()
            .map(|o| serde_json::to_string(o).unwrap_or_else(|e| format!("(unserializable: {e})")))
            .collect();
        let recorded: Vec<&str> = expected.outputs.iter().map(|o| o.get()).collect();
        let Some(first) = (0..actual.len().max(recorded.len()))
            .find(|&i| actual.get(i).map(String::as_str) != recorded.get(i).copied())
        else {
            return Ok(());
        };
        let since_start = Duration::from_nanos(self.clock.0.saturating_sub(self.start.0));
        let mut detail = format!(
            "the outputs differ from the recording's at call {} (line {} of the file), at_ns {} (+{:.6}s): {}\n\
             first difference: output {first} ({} recorded, {} replayed)",
            self.calls,
            expected.line,
            self.clock.0,
            since_start.as_secs_f64(),
            call,
            recorded.len(),
            actual.len(),
        );
        for (side, lines) in
            [("expected (recorded)", recorded), ("actual (replayed)", actual.iter().map(String::as_str).collect())]
        {
            detail.push_str(&format!("\n--- {side} ---"));
            for (i, line) in lines.iter().enumerate() {
                let mark = if i == first { ">" } else { " " };
                detail.push_str(&format!("\n{mark}{i}: {line}"));
            }
        }
        Err(self.violation(Invariant::SameOutputs, detail))
    }

    fn book(&mut self, exchange: ExchangeId, what: &str) -> Result<&mut Book, (Invariant, String)> {
        match self.books.get_mut(&exchange) {
            None => Err((Invariant::KnownParty, format!("{what} on {exchange}, which no request opened"))),
            Some(b) if b.closed => Err((Invariant::OneResponse, format!("{what} on {exchange} after its client left"))),
            Some(b) if b.ended => Err((Invariant::OneResponse, format!("{what} on {exchange}, already answered"))),
            Some(b) => Ok(b),
        }
    }

    fn check(&mut self, output: &Output) -> Result<(), (Invariant, String)> {
        match output {
            Output::Respond { exchange, response } => {
                let book = self.book(*exchange, "a response")?;
                if book.stream_open {
                    return Err((Invariant::OneResponse, format!("a plain response on {exchange}'s open stream")));
                }
                book.ended = true;
                if response.status == 200 && book.rpc_id.is_some() {
                    answer(book, *exchange, &response.body)?;
                }
            }
            Output::OpenStream { exchange, .. } => {
                let book = self.book(*exchange, "a stream")?;
                if book.stream_open {
                    return Err((Invariant::OneResponse, format!("a second stream on {exchange}")));
                }
                book.stream_open = true;
            }
            Output::PushEvent { exchange, event } => {
                let book = self.book(*exchange, "an event")?;
                if !book.stream_open {
                    return Err((Invariant::KnownParty, format!("an event on {exchange}, which has no stream")));
                }
                let message: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
                let is_response = message.get("method").is_none()
                    && (message.get("result").is_some() || message.get("error").is_some());
                if is_response && book.rpc_id.is_some() {
                    answer(book, *exchange, &event.data)?;
                }
            }
            Output::CloseStream { exchange } => {
                let book = self.book(*exchange, "a stream close")?;
                if !book.stream_open {
                    return Err((Invariant::KnownParty, format!("closing {exchange}, which has no stream")));
                }
                book.ended = true;
                if book.rpc_id.is_some() && book.answers == 0 {
                    return Err((Invariant::OneResponse, format!("{exchange}'s stream closed without its answer")));
                }
            }
            Output::SpawnBackend { backend, generation, .. } => {
                if *generation <= self.newest_generation {
                    return Err((
                        Invariant::OneGeneration,
                        format!("{backend} spawned as {generation}, not newer than {}", self.newest_generation),
                    ));
                }
                self.newest_generation = *generation;
            }
            Output::WriteBackend { .. } | Output::StopBackend { .. } => {}
        }
        Ok(())
    }

    /// After the end: every exchange finished or abandoned, every table empty.
    fn check_settled(&self) -> Result<(), Violation> {
        for (exchange, book) in &self.books {
            if !(book.ended || book.closed) {
                let detail = format!("{exchange} (request id {:?}) was never answered", book.rpc_id);
                return Err(self.violation(Invariant::OneResponse, detail));
            }
        }
        let stats = self.hub.stats();
        let drained = stats.sessions == 0
            && stats.open_exchanges == 0
            && stats.pending_backend_requests == 0
            && stats.timers == 0
            && stats.starting_backends == 0;
        if !drained {
            return Err(self.violation(Invariant::Drains, format!("after shutdown the hub still holds {stats:?}")));
        }
        Ok(())
    }
}

/// One JSON-RPC answer on an exchange that carried a request: its id, exactly once.
fn answer(book: &mut Book, exchange: ExchangeId, body: &str) -> Result<(), (Invariant, String)> {
    book.answers += 1;
    if book.answers > 1 {
        return Err((Invariant::OneResponse, format!("{exchange} was answered {} times", book.answers)));
    }
    let message: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if message.get("id") != book.rpc_id.as_ref() {
        return Err((
            Invariant::Attribution,
            format!("{exchange} asked with id {:?} but was answered {body}", book.rpc_id),
        ));
    }
    if message.get("result").is_some() == message.get("error").is_some() {
        return Err((Invariant::OneResponse, format!("{exchange} got neither or both of result and error: {body}")));
    }
    Ok(())
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use onemcp_core::HttpRequest;
    use serde_json::json;

    fn recording(inputs: &[(u64, Input)]) -> String {
        let header = json!({"header": {"hub_config": HubConfig::default(), "seed": vec![1u8; 32], "at_ns": 0}});
        let mut text = format!("{header}\n");
        for (at, input) in inputs {
            text.push_str(&json!({"at_ns": at, "input": input}).to_string());
            text.push('\n');
        }
        text
    }

    fn post(exchange: u64, body: Value) -> Input {
        Input::HttpRequest {
            exchange: ExchangeId(exchange),
            request: HttpRequest {
                method: Some(HttpMethod::Post),
                path: "/mcp".into(),
                host: Some("127.0.0.1:3050".into()),
                accept: Some("application/json, text/event-stream".into()),
                content_type: Some("application/json".into()),
                body: body.to_string().into_bytes(),
                ..HttpRequest::default()
            },
        }
    }

    #[test]
    fn a_session_with_no_servers_replays_and_drains() {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
        let text = recording(&[(1_000, post(1, init)), (2_000, Input::Shutdown)]);
        let report = replay_reader(text.as_bytes()).unwrap();
        assert_eq!((report.inputs, report.rpc_requests, report.rpc_answered), (2, 1, 1));
        assert!(!report.appended_shutdown);
        assert_eq!(report.settled, HubStats::default());
    }

    /// Drive a hub as the daemon's driver does and write what `serve --record` writes: the
    /// header, `Hub::new`'s outputs, then each call (`None`: `handle_timeout`) with its outputs.
    fn exact_recording(config: &HubConfig, calls: Vec<(u64, Option<Input>)>) -> String {
        fn outputs(hub: &mut Hub) -> String {
            let outputs: Vec<String> =
                std::iter::from_fn(|| hub.poll_output()).map(|o| serde_json::to_string(&o).unwrap()).collect();
            format!(",\"outputs\":[{}]}}\n", outputs.join(","))
        }
        let mut hub = Hub::new(Instant(0), config.clone(), [1; 32]);
        let header = json!({"header": {"hub_config": config, "seed": vec![1u8; 32], "at_ns": 0, "exact": true}});
        let mut text = format!("{header}\n{{\"at_ns\":0,\"start\":true{}", outputs(&mut hub));
        for (at, input) in calls {
            match input {
                Some(input) => {
                    text.push_str(&format!("{{\"at_ns\":{at},\"input\":{}", serde_json::to_string(&input).unwrap()));
                    hub.handle(Instant(at), input);
                }
                None => {
                    text.push_str(&format!("{{\"at_ns\":{at},\"timeout\":true"));
                    hub.handle_timeout(Instant(at));
                }
            }
            text.push_str(&outputs(&mut hub));
        }
        text
    }

    #[test]
    fn an_exact_recording_replays_its_calls_at_their_instants_and_names_the_first_difference() {
        let config = HubConfig { session_idle_timeout: Some(Duration::from_secs(1)), ..HubConfig::default() };
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
        // The sweep is due 1 s after the session's last use; the daemon woke 7 ms late, and
        // once more for nothing.
        let calls = vec![
            (1_000, Some(post(1, init))),
            (1_007_001_000, None),
            (1_500_000_000, None),
            (2_000_000_000, Some(Input::Shutdown)),
        ];
        let text = exact_recording(&config, calls);
        let report = replay_reader(text.as_bytes()).unwrap();
        assert_eq!(report.compared, Some(5), "Hub::new and four calls: {report:?}");
        assert_eq!((report.timers, report.rpc_answered), (2, 1), "{report:?}");
        // The session id the seeded RNG made is in the recorded outputs and in the replay's.
        assert!(text.contains("mcp-session-id") || text.contains("Mcp-Session-Id"), "{text}");

        // The client's request id altered in the input: the replay answers it, the recording
        // has the other id, and the report names that call.
        let altered = text.replacen("\\\"id\\\":0", "\\\"id\\\":7", 1);
        assert_ne!(altered, text);
        let violation = replay_reader(altered.as_bytes()).unwrap_err();
        assert_eq!(violation.invariant, Invariant::SameOutputs, "{violation}");
        assert_eq!(violation.step, 1, "{violation}");
        assert!(violation.detail.contains("call 1 (line 3 of the file), at_ns 1000"), "{violation}");
        assert!(violation.detail.contains("--- expected (recorded) ---"), "{violation}");
        assert!(violation.detail.contains("--- actual (replayed) ---"), "{violation}");

        // An output the replay does not make is a difference too (here on the late timer).
        let lines: Vec<&str> = text.lines().collect();
        let phantom = lines[3].replace("\"outputs\":[]", "\"outputs\":[{\"type\":\"close_stream\",\"exchange\":9}]");
        let extra = [&lines[..3], &[phantom.as_str()], &lines[4..]].concat().join("\n");
        let violation = replay_reader(extra.as_bytes()).unwrap_err();
        assert_eq!((violation.invariant, violation.step), (Invariant::SameOutputs, 2), "{violation}");
    }

    #[test]
    fn bad_recordings_are_reported_not_panicked_on() {
        let no_header = format!("{}\n", json!({"at_ns": 1, "input": {"type": "shutdown"}}));
        assert_eq!(replay_reader(no_header.as_bytes()).unwrap_err().invariant, Invariant::Replayable);
        let mut backwards = recording(&[(5, Input::Shutdown)]);
        backwards.push_str(&format!("{}\n", json!({"at_ns": 1, "input": {"type": "shutdown"}})));
        assert_eq!(replay_reader(backwards.as_bytes()).unwrap_err().invariant, Invariant::Replayable);
        let twice = recording(&[(1, post(1, json!({}))), (2, post(1, json!({})))]);
        assert_eq!(replay_reader(twice.as_bytes()).unwrap_err().invariant, Invariant::Replayable);
    }
}
