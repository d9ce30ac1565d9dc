//! Fault injection into the HTTP-backend link policy ([`onemcp_core::http_link::HttpLink`]).
//!
//! [`run_http_link`] plays io around the real core link: a scripted client side (the hub's
//! `initialize`, in auto mode often after a stateless probe the server refuses, then
//! `notifications/initialized`, then requests), POSTs answered in any order, the
//! session's GET stream, and a seeded fake server that injects faults over a virtual clock:
//! it forgets the session (404) at random points, refuses the `initialize` POST with 400, 404
//! or 405 when it only speaks legacy SSE (or with a JSON-RPC error when it speaks streamable
//! HTTP but refuses us), drops the GET stream, refuses or times out GETs, offers no stream
//! (405), goes down for a while and comes back. A link that ends is replaced by a new one (a
//! new incarnation, as the hub restarts a backend), so one run sees many.
//!
//! As in io, the end of a link reaches the connection task a little later than the task that
//! found it out: for a few steps after a link ends, queued lines are still handed to it and
//! streams still ask it, so a link that ends but keeps handing out its session is caught.
//!
//! After every step the run checks the link's rules ([`LinkRule`]); a breach comes back as a
//! [`LinkViolation`] carrying `SEED=<n> step=<k>` and the last trace lines. One seed is one
//! run: the same seed gives the same run.

use onemcp_core::Instant;
use onemcp_core::config::HttpFlavor;
use onemcp_core::http_link::{
    CONNECT_TIMEOUT, Era, FirstRefusal, HttpLink, LinkEnd, MAX_IN_FLIGHT, MessageKind, PostAnswer, PostHeaders,
    PostVerdict, STREAM_BACKOFF, STREAM_BACKOFF_MAX, STREAM_RETRIES, STREAM_WAIT, SessionHeaders, StreamOpen,
    StreamRequest, StreamStep,
};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde_json::json;
use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::time::Duration;

/// Trace lines kept for a violation report.
const TRACE_LINES: usize = 40;
/// The protocol version the fake server negotiates.
const VERSION: &str = "2025-06-18";

/// A rule of the link policy the simulator checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkRule {
    /// A reopening of the server stream waits at least [`STREAM_BACKOFF`], doubling per failed
    /// connect in a row, and at most [`STREAM_BACKOFF_MAX`].
    Backoff,
    /// [`STREAM_RETRIES`] failed connects in a row make the server unreachable: no fewer, and
    /// no further attempt.
    BoundedRetries,
    /// A 404 to our session ends the link, nothing is sent after it, and nothing else is a
    /// lost session.
    LostSession,
    /// Only a refused `initialize` of an auto link whose transport is not known yet falls back
    /// to legacy SSE (a refused stateless probe before it does not), and a server that only
    /// speaks legacy SSE is always reached that way.
    Fallback,
    /// A reopened server stream resumes after the last event id seen.
    Resumption,
    /// `initialize` goes without a session; every later streamable POST and GET carries the
    /// session the server gave, legacy POSTs none.
    SessionHeaders,
    /// The server stream is opened once, after `notifications/initialized` was accepted.
    StreamOnce,
    /// After `notifications/initialized`, no POST goes until the stream's first GET was answered
    /// or failed, the notification was refused, the link ended, or [`STREAM_WAIT`] passed; and
    /// none waits longer than that.
    StreamFirst,
    /// The session is DELETEd only when the link was stopped, and only if the server gave one.
    EndSession,
    /// A link ends for the reason that ended it, and is reported started exactly once.
    Ends,
}

impl fmt::Display for LinkRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A broken rule, with what reproduces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkViolation {
    /// The seed that reproduces it.
    pub seed: u64,
    /// The step at which it was detected.
    pub step: u64,
    /// The rule broken.
    pub rule: LinkRule,
    /// What was seen.
    pub detail: String,
    /// The last trace lines before detection.
    pub trace: Vec<String>,
}

impl fmt::Display for LinkViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "SEED={} step={}: {} broken: {}", self.seed, self.step, self.rule, self.detail)?;
        writeln!(f, "--- last {} trace lines ---", self.trace.len())?;
        for line in &self.trace {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LinkViolation {}

/// What one run went through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Links started (the first, and one per end).
    pub links: u64,
    /// Links that fell back to legacy SSE.
    pub fallbacks: u64,
    /// POSTs that reached the server.
    pub posts: u64,
    /// Lost sessions the links noticed.
    pub sessions_lost: u64,
    /// Server streams opened.
    pub streams_opened: u64,
    /// Server streams reopened with a `Last-Event-ID`.
    pub resumed: u64,
    /// Failed connects of server streams.
    pub stream_failures: u64,
    /// Links that gave up on an unreachable server.
    pub unreachable: u64,
    /// Links that never started.
    pub failed_starts: u64,
    /// Links stopped by the client side.
    pub stops: u64,
    /// Sessions ended with a DELETE.
    pub deletes: u64,
    /// Stateless probes sent before `initialize` (auto mode).
    pub probes: u64,
    /// Fallbacks to legacy SSE after a refused probe.
    pub fallbacks_after_probe: u64,
    /// Times a POST waited for the session's stream to open.
    pub held: u64,
    /// Virtual time at the end.
    pub virtual_time: Duration,
}

impl LinkStats {
    /// Add another run's counts (the virtual time adds up too).
    pub fn add(&mut self, other: &LinkStats) {
        self.links += other.links;
        self.fallbacks += other.fallbacks;
        self.posts += other.posts;
        self.sessions_lost += other.sessions_lost;
        self.streams_opened += other.streams_opened;
        self.resumed += other.resumed;
        self.stream_failures += other.stream_failures;
        self.unreachable += other.unreachable;
        self.failed_starts += other.failed_starts;
        self.stops += other.stops;
        self.deletes += other.deletes;
        self.probes += other.probes;
        self.fallbacks_after_probe += other.fallbacks_after_probe;
        self.held += other.held;
        self.virtual_time += other.virtual_time;
    }
}

impl fmt::Display for LinkStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} links, {} fallbacks to legacy SSE, {} POSTs, {} sessions lost, {} streams opened, {} resumed, \
             {} stream connects failed, {} unreachable, {} failed starts, {} stops, {} DELETEs, {} stateless \
             probes ({} then fell back), {} POSTs held for the stream, {:.0} s virtual",
            self.links,
            self.fallbacks,
            self.posts,
            self.sessions_lost,
            self.streams_opened,
            self.resumed,
            self.stream_failures,
            self.unreachable,
            self.failed_starts,
            self.stops,
            self.deletes,
            self.probes,
            self.fallbacks_after_probe,
            self.held,
            self.virtual_time.as_secs_f64()
        )
    }
}

/// Runs `steps` steps of seed `seed` against the core's link policy.
pub fn run_http_link(seed: u64, steps: u64) -> Result<LinkStats, LinkViolation> {
    run_with::<HttpLink>(seed, steps)
}

/// The link as the run drives it: the core's [`HttpLink`], or (in tests) a deliberately broken
/// wrapper, which proves the checks bite. The decisions a wrapper may alter go through here.
trait Policy: Sized {
    fn start(flavor: HttpFlavor) -> Self;
    fn link(&self) -> &HttpLink;
    fn link_mut(&mut self) -> &mut HttpLink;
    fn post_headers(&self, kind: MessageKind) -> PostHeaders<'_> {
        self.link().post_headers(kind)
    }
    fn posts_held_until(&self, now: Instant) -> Option<Instant> {
        self.link().posts_held_until(now)
    }
    fn stream_request(&self) -> Option<StreamRequest<'_>> {
        self.link().stream_request()
    }
    fn stream_failed(&mut self, now: Instant, why: &str) -> StreamStep {
        self.link_mut().handle_stream_failed(now, why)
    }
    fn stream_ended(&mut self, now: Instant) -> StreamStep {
        self.link_mut().handle_stream_ended(now)
    }
}

impl Policy for HttpLink {
    fn start(flavor: HttpFlavor) -> Self {
        HttpLink::new(flavor)
    }
    fn link(&self) -> &HttpLink {
        self
    }
    fn link_mut(&mut self) -> &mut HttpLink {
        self
    }
}

/// Fault probabilities of one run (per step, or per request where named), drawn from the seed.
#[derive(Clone, Debug)]
struct Faults {
    /// The server forgets the session.
    forget: f64,
    /// The server goes down (for up to 40 s).
    down: f64,
    /// The GET stream drops.
    drop_stream: f64,
    /// Per GET: no answer within the connect timeout.
    get_timeout: f64,
    /// Per GET: a status that is no stream (500, or 200 without an event stream).
    get_refused: f64,
    /// Per request: 500.
    error: f64,
    /// Per `initialize` of a streamable server: 400 with a JSON-RPC error answering it.
    refuse_initialize: f64,
    /// The client side stops the link.
    stop: f64,
}

/// The fake server.
#[derive(Debug)]
struct Server {
    /// It speaks only the legacy HTTP+SSE transport.
    legacy_only: bool,
    /// It hands out session ids.
    session_ids: bool,
    /// It offers a GET stream (else 405).
    offers_stream: bool,
    /// It numbers its stream events.
    numbers_events: bool,
    /// Down (every connect refused) until then.
    down_until: Option<Instant>,
    /// Sessions it forgot.
    forgotten: BTreeSet<String>,
    next_session: u64,
    next_event: u64,
}

impl Server {
    fn is_down(&self, now: Instant) -> bool {
        self.down_until.is_some_and(|until| now < until)
    }

    fn knows(&self, session: Option<&str>) -> bool {
        session.is_none_or(|id| !self.forgotten.contains(id))
    }
}

/// A POST on its way.
#[derive(Clone, Debug)]
struct Post {
    kind: MessageKind,
    /// The stateless probe an auto link's client side sends before `initialize`.
    probe: bool,
    /// The session id it carried.
    session: Option<String>,
}

/// io's view of the session's GET stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stream {
    /// Not asked for.
    Idle,
    /// To be (re)opened at this instant.
    Due(Instant),
    /// Open.
    Listening,
    /// Not to be opened again.
    Done,
}

/// The client side (the hub) of one link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Handshake {
    /// `initialize` not sent yet.
    Fresh,
    /// A stateless request asks the server's era first (auto mode); `initialize` follows its
    /// answer.
    Probing,
    /// `initialize` sent, unanswered.
    Initializing,
    /// `notifications/initialized` may go.
    Answered,
    /// Requests may go.
    Ready,
}

/// One incarnation's state, as io and the hub hold it.
#[derive(Debug)]
struct Incarnation<P> {
    link: P,
    era: Era,
    handshake: Handshake,
    /// The legacy stream named its endpoint.
    legacy_open: bool,
    /// Lines the hub wrote, not yet taken by a POST task.
    queued: VecDeque<MessageKind>,
    in_flight: Vec<Post>,
    stream: Stream,
    /// Failed connects of the stream in a row (reset when one opens).
    failures: u32,
    /// The last event id delivered from the stream.
    last_event_id: Option<String>,
    /// The session the server gave this link.
    session: Option<String>,
    /// Some POST was answered.
    first_answered: bool,
    /// An `initialize` was answered, or a POST with success: the transport is known.
    transport_known: bool,
    /// The probe is queued, not yet taken by a POST task.
    probe_queued: bool,
    /// A probe was sent.
    probed: bool,
    /// `BackendSpawned` reports.
    announced: u32,
    /// Told the session is lost.
    lost: bool,
    /// The stream was asked for.
    stream_asked: bool,
    /// Steps left before the connection task tears the ended link down.
    closing: Option<u32>,
    /// When `notifications/initialized` was POSTed.
    initialized_at: Option<Instant>,
    /// The stream's first GET was answered or failed, or the notification was refused: POSTs
    /// need not wait any more.
    stream_settled: bool,
}

impl<P: Policy> Incarnation<P> {
    fn new(flavor: HttpFlavor) -> Self {
        let link = P::start(flavor);
        let era = link.link().era();
        Incarnation {
            link,
            era,
            handshake: Handshake::Fresh,
            legacy_open: false,
            queued: VecDeque::new(),
            in_flight: Vec::new(),
            stream: Stream::Idle,
            failures: 0,
            last_event_id: None,
            session: None,
            first_answered: false,
            transport_known: false,
            probe_queued: false,
            probed: false,
            announced: 0,
            lost: false,
            stream_asked: false,
            closing: None,
            initialized_at: None,
            stream_settled: false,
        }
    }
}

/// One run.
struct Run<P> {
    seed: u64,
    step: u64,
    rng: ChaCha8Rng,
    now: Instant,
    flavor: HttpFlavor,
    faults: Faults,
    server: Server,
    link: Incarnation<P>,
    stats: LinkStats,
    trace: VecDeque<String>,
}

type Checked = Result<(), LinkViolation>;

fn run_with<P: Policy>(seed: u64, steps: u64) -> Result<LinkStats, LinkViolation> {
    let mut run = Run::<P>::new(seed);
    for step in 0..steps {
        run.step = step;
        run.step_once()?;
    }
    run.stats.virtual_time = Duration::from_nanos(run.now.0);
    Ok(run.stats)
}

/// A uniform draw in `0..n` (`0` when `n == 0`).
fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    if n == 0 { 0 } else { rng.next_u64() % n }
}

/// True with probability `p`.
fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    unit < p
}

/// A probability that is zero for about a third of the seeds (swarm testing), else up to `max`.
fn knob(rng: &mut ChaCha8Rng, max: f64) -> f64 {
    if below(rng, 3) == 0 { 0.0 } else { max * (below(rng, 1000) as f64 / 1000.0) }
}

/// The pause the `failures`th failed connect in a row must at least wait (doubling from the
/// minimum), and the most any pause may be.
fn least_pause(failures: u32) -> Duration {
    let doubled = STREAM_BACKOFF.saturating_mul(1u32.checked_shl(failures).unwrap_or(u32::MAX));
    doubled.min(STREAM_BACKOFF_MAX)
}

impl<P: Policy> Run<P> {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let flavor =
            [HttpFlavor::Auto, HttpFlavor::Auto, HttpFlavor::Streamable, HttpFlavor::Sse][below(&mut rng, 4) as usize];
        let legacy_only = match flavor {
            HttpFlavor::Sse => true,
            HttpFlavor::Streamable => false,
            HttpFlavor::Auto => below(&mut rng, 3) == 0,
        };
        let faults = Faults {
            forget: knob(&mut rng, 0.05),
            down: knob(&mut rng, 0.03),
            drop_stream: knob(&mut rng, 0.2),
            get_timeout: knob(&mut rng, 0.3),
            get_refused: knob(&mut rng, 0.05),
            error: knob(&mut rng, 0.2),
            refuse_initialize: knob(&mut rng, 0.2),
            stop: knob(&mut rng, 0.01),
        };
        let server = Server {
            legacy_only,
            session_ids: below(&mut rng, 5) != 0,
            offers_stream: below(&mut rng, 6) != 0,
            numbers_events: below(&mut rng, 3) != 0,
            down_until: None,
            forgotten: BTreeSet::new(),
            next_session: 0,
            next_event: 0,
        };
        let mut run = Run {
            seed,
            step: 0,
            rng,
            now: Instant(0),
            flavor,
            faults,
            server,
            link: Incarnation::new(flavor),
            stats: LinkStats { links: 1, ..LinkStats::default() },
            trace: VecDeque::new(),
        };
        run.note(format!("seed {seed}: {flavor:?} link, server {:?}, faults {:?}", run.server, run.faults));
        run
    }

    fn note(&mut self, line: String) {
        if self.trace.len() == TRACE_LINES {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("[{} {:>8}ms] {line}", self.step, self.now.0 / 1_000_000));
    }

    fn violation(&self, rule: LinkRule, detail: impl Into<String>) -> LinkViolation {
        LinkViolation {
            seed: self.seed,
            step: self.step,
            rule,
            detail: detail.into(),
            trace: self.trace.iter().cloned().collect(),
        }
    }

    fn check(&self, ok: bool, rule: LinkRule, detail: impl FnOnce() -> String) -> Checked {
        if ok { Ok(()) } else { Err(self.violation(rule, detail())) }
    }

    /// One step: a fault, the passage of time, or one thing io or the client side does.
    fn step_once(&mut self) -> Checked {
        self.inject_faults()?;
        if let Some(left) = self.link.closing {
            if left == 0 {
                return self.replace_link();
            }
            self.link.closing = Some(left - 1);
        }
        self.start_if_fresh()?;
        match below(&mut self.rng, 6) {
            0 => self.write_line(),
            1 => self.send_queued()?,
            2 => self.answer_one()?,
            3 => self.stream_activity()?,
            4 => self.maybe_stop()?,
            _ => self.tick()?,
        }
        self.after_step()
    }

    fn inject_faults(&mut self) -> Checked {
        if chance(&mut self.rng, self.faults.down) && !self.server.is_down(self.now) {
            let until = self.now.after(Duration::from_millis(1 + below(&mut self.rng, 40_000)));
            self.server.down_until = Some(until);
            self.note(format!("fault: the server is down until {} ms", until.0 / 1_000_000));
        }
        if chance(&mut self.rng, self.faults.forget)
            && let Some(id) = self.link.session.clone()
            && self.server.forgotten.insert(id.clone())
        {
            self.note(format!("fault: the server forgets session {id}"));
            if self.link.stream == Stream::Listening {
                // Its stream goes with it.
                let was_over = self.link.link.link().end().is_some();
                let step = self.link.link.stream_ended(self.now);
                return self.retry_step(step, None, was_over);
            }
        }
        Ok(())
    }

    /// After an end, io tears the link down and the hub starts a new incarnation (after its
    /// restart delay).
    fn replace_link(&mut self) -> Checked {
        let end = self.link.link.link().end().cloned();
        self.now = self.now.after(Duration::from_millis(500 + below(&mut self.rng, 2_500)));
        self.note(format!("link over ({end:?}); a new one starts"));
        self.link = Incarnation::new(self.flavor);
        self.stats.links += 1;
        Ok(())
    }

    /// A fresh link starts: streamable reports started at once and POSTs `initialize`;
    /// legacy opens its stream first.
    fn start_if_fresh(&mut self) -> Checked {
        if self.link.handshake != Handshake::Fresh || self.link.closing.is_some() {
            return Ok(());
        }
        match self.link.era {
            Era::Streamable => {
                self.opened()?;
                if self.flavor == HttpFlavor::Auto && below(&mut self.rng, 2) == 0 {
                    // The era is asked first: a stateless request without a session.
                    self.link.queued.push_back(MessageKind::Other);
                    self.link.probe_queued = true;
                    self.link.handshake = Handshake::Probing;
                } else {
                    self.link.queued.push_back(MessageKind::Initialize);
                    self.link.handshake = Handshake::Initializing;
                }
                self.send_queued()
            }
            Era::LegacySse => self.open_legacy(),
        }
    }

    /// The transport is open: the link says whether to report it started.
    fn opened(&mut self) -> Checked {
        if self.link.link.link_mut().handle_opened() {
            self.link.announced += 1;
        }
        // Streamable links report at once, legacy ones at their endpoint, a fallback not again.
        let announced = self.link.announced;
        self.check(announced == 1, LinkRule::Ends, || format!("started reported {announced} times"))
    }

    /// Opens the legacy stream (a typed legacy link, or after a fallback, with the pending
    /// `initialize`).
    fn open_legacy(&mut self) -> Checked {
        if self.server.is_down(self.now) {
            let why = "cannot reach the server";
            let end = self.link.link.link_mut().handle_start_failed(why);
            self.note(format!("legacy open failed: {end}"));
            self.stats.failed_starts += 1;
            let fell_back = self.flavor == HttpFlavor::Auto;
            let says = end.to_string();
            let ok =
                end.is_failed_start() && says.ends_with(why) && fell_back == says.starts_with("POST answered HTTP");
            self.check(ok, LinkRule::Ends, || format!("a failed legacy start ended as {end:?}"))?;
            return self.closing();
        }
        self.link.legacy_open = true;
        self.opened()?;
        self.note("legacy stream open".to_owned());
        if self.link.handshake == Handshake::Fresh {
            self.link.queued.push_back(MessageKind::Initialize);
            self.link.handshake = Handshake::Initializing;
        }
        self.send_queued()
    }

    /// The link ended: io notices a few steps later.
    fn closing(&mut self) -> Checked {
        if self.link.closing.is_none() {
            self.link.closing = Some(below(&mut self.rng, 4) as u32);
        }
        Ok(())
    }

    /// The hub writes its next line.
    fn write_line(&mut self) {
        let kind = match self.link.handshake {
            Handshake::Answered => {
                self.link.handshake = Handshake::Ready;
                MessageKind::Initialized
            }
            Handshake::Ready => MessageKind::Other,
            Handshake::Fresh | Handshake::Probing | Handshake::Initializing => return,
        };
        if self.link.queued.len() + self.link.in_flight.len() < MAX_IN_FLIGHT {
            self.link.queued.push_back(kind);
        }
    }

    /// A POST task takes the next queued line: the link gives it its session headers, or
    /// nothing once it is over.
    fn send_queued(&mut self) -> Checked {
        if self.link.queued.is_empty() {
            return Ok(());
        }
        if let Some(until) = self.link.link.posts_held_until(self.now) {
            return self.held(until);
        }
        self.check_not_early()?;
        let Some(kind) = self.link.queued.pop_front() else { return Ok(()) };
        self.link.link.link_mut().handle_posting(kind, self.now);
        if kind == MessageKind::Initialized && self.link.initialized_at.is_none() {
            self.link.initialized_at = Some(self.now);
        }
        let headers = self.link.link.post_headers(kind);
        let session = match headers {
            PostHeaders::Ended => {
                return self.check(self.link.link.link().end().is_some(), LinkRule::Ends, || {
                    "the link refused a POST while not over".to_owned()
                });
            }
            PostHeaders::Plain => None,
            PostHeaders::Session(session) => Some(session.clone()),
        };
        self.check_post_headers(kind, session.as_ref())?;
        self.check_sendable("POST")?;
        let session = session.and_then(|s| s.id().map(str::to_owned));
        if self.server.is_down(self.now) {
            return self.post_failed(kind);
        }
        let probe = std::mem::take(&mut self.link.probe_queued);
        if probe {
            self.stats.probes += 1;
            self.link.probed = true;
        }
        self.note(format!("POST {kind:?}{} session {session:?}", if probe { " (probe)" } else { "" }));
        self.stats.posts += 1;
        self.link.in_flight.push(Post { kind, probe, session });
        Ok(())
    }

    /// The link holds the queued lines back until `until`: only while the session's stream is
    /// opening, and no longer than [`STREAM_WAIT`] after `notifications/initialized`.
    fn held(&mut self, until: Instant) -> Checked {
        let over = self.link.link.link().end().is_some();
        let waiting = self.link.initialized_at.filter(|_| !self.link.stream_settled && !over);
        let ok = waiting.is_some_and(|since| until <= since.after(STREAM_WAIT) && self.now < until);
        self.check(ok, LinkRule::StreamFirst, || {
            format!(
                "POSTs held until {} ms (initialized at {:?}, stream settled: {}, over: {over})",
                until.0 / 1_000_000,
                self.link.initialized_at,
                self.link.stream_settled
            )
        })?;
        self.note(format!("POSTs held for the stream until {} ms", until.0 / 1_000_000));
        self.stats.held += 1;
        Ok(())
    }

    /// A POST after `notifications/initialized` goes only once the stream settled, the link
    /// ended, or the wait is over.
    fn check_not_early(&self) -> Checked {
        let Some(since) = self.link.initialized_at else { return Ok(()) };
        if self.link.era != Era::Streamable {
            return Ok(());
        }
        let over = self.link.link.link().end().is_some();
        let ok = self.link.stream_settled || over || self.now >= since.after(STREAM_WAIT);
        self.check(ok, LinkRule::StreamFirst, || {
            format!(
                "a POST went {:?} after notifications/initialized, before the stream's first GET was answered",
                self.now.since(since)
            )
        })
    }

    /// The POST could not be sent: before any answer it means the link never started; later
    /// ones fail alone.
    fn post_failed(&mut self, kind: MessageKind) -> Checked {
        self.note(format!("POST {kind:?}: cannot reach the server"));
        let why = "cannot reach the server";
        let end = match self.link.era {
            // Legacy POSTs go to an endpoint the open stream named: the server was there.
            Era::LegacySse => None,
            Era::Streamable => self.link.link.link_mut().handle_post_failed(why),
        };
        let Some(end) = end else {
            let alone = self.link.first_answered || self.link.era == Era::LegacySse;
            self.check(alone, LinkRule::Ends, || "a POST before any answer failed alone".to_owned())?;
            // The hub gets that request's error; without an answer to `initialize` (or to its
            // probe) it stops.
            let handshake = kind == MessageKind::Initialize || self.link.handshake == Handshake::Probing;
            return if handshake { self.stop() } else { Ok(()) };
        };
        self.stats.failed_starts += 1;
        let ok = !self.link.first_answered && end == LinkEnd::NeverStarted(why.into());
        self.check(ok, LinkRule::Ends, || {
            format!("a failed POST ended the link as {end:?} (an answer came before: {})", self.link.first_answered)
        })?;
        self.closing()
    }

    /// No request may leave once the link was told the session is lost.
    fn check_sendable(&self, what: &str) -> Checked {
        self.check(!self.link.lost, LinkRule::LostSession, || format!("a {what} was sent after the session was lost"))
    }

    fn check_post_headers(&self, kind: MessageKind, session: Option<&SessionHeaders>) -> Checked {
        let legacy = self.link.era == Era::LegacySse;
        let plain = legacy || kind == MessageKind::Initialize;
        self.check(plain == session.is_none(), LinkRule::SessionHeaders, || {
            format!("{kind:?} in {:?} carried {session:?}", self.link.era)
        })?;
        let Some(session) = session else { return Ok(()) };
        let expected_version = self.link.session.as_ref().map(|_| VERSION);
        let ok = session.id() == self.link.session.as_deref()
            && (session.id().is_none() || session.version() == expected_version);
        self.check(ok, LinkRule::SessionHeaders, || {
            format!("{kind:?} carried {session:?}, the server gave {:?}", self.link.session)
        })
    }

    /// The server answers one POST in flight (in any order).
    fn answer_one(&mut self) -> Checked {
        if self.link.in_flight.is_empty() {
            return Ok(());
        }
        let at = below(&mut self.rng, self.link.in_flight.len() as u64) as usize;
        let post = self.link.in_flight.swap_remove(at);
        if self.link.era == Era::LegacySse {
            return self.answer_legacy(post);
        }
        let (status, session_id, event_stream) = self.server_answer(&post);
        let answer = PostAnswer {
            kind: post.kind,
            status,
            with_session: post.session.is_some(),
            event_stream,
            session_id: session_id.as_deref(),
        };
        let unknown = !self.link.transport_known;
        let verdict = self.link.link.link_mut().handle_post_answer(answer);
        self.note(format!("answer {status} to {:?} (session {:?}): {verdict:?}", post.kind, post.session));
        self.link.first_answered = true;
        self.link.transport_known |= post.kind == MessageKind::Initialize || (200..300).contains(&status);
        self.check_fallback(unknown, &post, status, &verdict)?;
        match verdict {
            PostVerdict::PeekBody => self.peek_body(status),
            PostVerdict::Ended(end) => self.session_lost(end, status, post.session.is_some()),
            PostVerdict::DeliverStream | PostVerdict::DeliverBody => self.delivered(&post, status, session_id),
            PostVerdict::Accepted | PostVerdict::Failed => {
                Err(self.violation(LinkRule::Fallback, format!("a streamable POST got the legacy verdict {verdict:?}")))
            }
        }
    }

    /// What the server answers `post`: status, session id, event stream or JSON.
    fn server_answer(&mut self, post: &Post) -> (u16, Option<String>, bool) {
        let event_stream = below(&mut self.rng, 3) == 0;
        if post.probe {
            // No stateless server here: a legacy-only one refuses it as it refuses any POST, a
            // session-based one for want of a session.
            let status = if self.server.legacy_only { [400, 404, 405][below(&mut self.rng, 3) as usize] } else { 400 };
            return (status, None, false);
        }
        if post.kind == MessageKind::Initialize {
            return self.answer_initialize(event_stream);
        }
        if !self.server.knows(post.session.as_deref()) {
            return (404, None, false);
        }
        if chance(&mut self.rng, self.faults.error) {
            // Without sessions a 404 is only an error of that request.
            let status = if post.session.is_none() && below(&mut self.rng, 2) == 0 { 404 } else { 500 };
            return (status, None, false);
        }
        let status = if post.kind == MessageKind::Other { 200 } else { 202 };
        (status, None, event_stream && status == 200)
    }

    fn answer_initialize(&mut self, event_stream: bool) -> (u16, Option<String>, bool) {
        if self.server.legacy_only {
            return ([400, 404, 405][below(&mut self.rng, 3) as usize], None, false);
        }
        if chance(&mut self.rng, self.faults.refuse_initialize) {
            return (400, None, false);
        }
        let id = self.server.session_ids.then(|| {
            self.server.next_session += 1;
            format!("s{}", self.server.next_session)
        });
        (200, id, event_stream)
    }

    /// Only an auto link's `initialize`, while its transport is `unknown`, may be peeked at, and
    /// fall back.
    fn check_fallback(&self, unknown: bool, post: &Post, status: u16, verdict: &PostVerdict) -> Checked {
        let may_peek = unknown
            && post.kind == MessageKind::Initialize
            && self.flavor == HttpFlavor::Auto
            && matches!(status, 400 | 404 | 405);
        let peeked = *verdict == PostVerdict::PeekBody;
        self.check(peeked == may_peek, LinkRule::Fallback, || {
            format!("{verdict:?} for {status} to {:?} (transport unknown: {unknown})", post.kind)
        })
    }

    /// The link wants the refused first POST's body: a legacy-only server's is no JSON-RPC
    /// answer (fall back), a streamable server's refusal answers the request (deliver).
    fn peek_body(&mut self, status: u16) -> Checked {
        let id = json!(0);
        let body = if self.server.legacy_only {
            b"Cannot POST /mcp".to_vec()
        } else {
            json!({"jsonrpc": "2.0", "id": 0, "error": {"code": -32602, "message": "unsupported"}})
                .to_string()
                .into_bytes()
        };
        let refusal = self.link.link.link_mut().handle_first_refusal(status, &body, Some(&id));
        self.note(format!("peeked at the {status}: {refusal:?}"));
        let expected = if self.server.legacy_only { FirstRefusal::FallBack } else { FirstRefusal::Deliver };
        self.check(refusal == expected, LinkRule::Fallback, || format!("{refusal:?}, expected {expected:?}"))?;
        if refusal == FirstRefusal::Deliver {
            return self.initialize_refused();
        }
        self.stats.fallbacks += 1;
        if self.link.probed {
            self.stats.fallbacks_after_probe += 1;
        }
        self.link.era = self.link.link.link().era();
        self.check(self.link.era == Era::LegacySse, LinkRule::Fallback, || {
            "fell back but still streamable".to_owned()
        })?;
        self.link.handshake = Handshake::Fresh;
        self.open_legacy()
    }

    /// The hub got an error for its `initialize`: it stops this incarnation.
    fn initialize_refused(&mut self) -> Checked {
        self.note("initialize refused; the client side stops the link".to_owned());
        self.stop()
    }

    /// The link said the session is lost: it must have been, and the link must be over.
    fn session_lost(&mut self, end: LinkEnd, status: u16, with_session: bool) -> Checked {
        self.check(status == 404 && with_session, LinkRule::LostSession, || {
            format!("{end:?} from a {status} (with session: {with_session})")
        })?;
        let holds = self.link.link.link().end() == Some(&end);
        self.check(holds, LinkRule::LostSession, || {
            format!("told {end:?}, the link says {:?}", self.link.link.link().end())
        })?;
        if end == LinkEnd::SessionLost && !self.link.lost {
            self.link.lost = true;
            self.stats.sessions_lost += 1;
        }
        self.closing()
    }

    /// An answer was delivered (an event stream may have broken off half way).
    fn delivered(&mut self, post: &Post, status: u16, session_id: Option<String>) -> Checked {
        let success = (200..300).contains(&status);
        if post.probe && self.link.handshake == Handshake::Probing {
            // Refused: no stateless server. The client side opens a session instead.
            self.link.queued.push_back(MessageKind::Initialize);
            self.link.handshake = Handshake::Initializing;
        }
        if post.kind == MessageKind::Initialize {
            if !success {
                return self.initialize_refused();
            }
            let body = json!({"jsonrpc": "2.0", "id": 0, "result": {"protocolVersion": VERSION}}).to_string();
            self.link.link.link_mut().handle_answer_data(post.kind, body.as_bytes());
            self.link.session = session_id;
            self.link.handshake = Handshake::Answered;
        }
        let open = self.link.link.link_mut().handle_delivered(post.kind, status);
        if post.kind == MessageKind::Initialized && !success {
            self.link.stream_settled = true;
        }
        let may_open = post.kind == MessageKind::Initialized && success && !self.link.stream_asked;
        let over = self.link.link.link().end().is_some();
        self.check(open == (may_open && !over), LinkRule::StreamOnce, || {
            format!("open the stream: {open}, after {status} to {:?}", post.kind)
        })?;
        if open {
            self.link.stream_asked = true;
            self.link.stream = Stream::Due(self.now);
        }
        Ok(())
    }

    /// Legacy POSTs are accepted (the answer comes on the stream) or fail alone.
    fn answer_legacy(&mut self, post: Post) -> Checked {
        let status = if chance(&mut self.rng, self.faults.error) { 500 } else { 202 };
        let answer = PostAnswer { kind: post.kind, status, with_session: false, event_stream: false, session_id: None };
        let verdict = self.link.link.link_mut().handle_post_answer(answer);
        self.note(format!("legacy answer {status} to {:?}: {verdict:?}", post.kind));
        let expected = if status == 202 { PostVerdict::Accepted } else { PostVerdict::Failed };
        self.check(verdict == expected, LinkRule::Fallback, || format!("legacy {status}: {verdict:?}"))?;
        if post.kind == MessageKind::Initialize && self.link.handshake == Handshake::Initializing {
            if status != 202 {
                return self.initialize_refused();
            }
            self.link.handshake = Handshake::Answered;
        }
        Ok(())
    }

    /// The server stream: events, a drop, or (legacy) the stream's end.
    fn stream_activity(&mut self) -> Checked {
        if self.link.era == Era::LegacySse {
            return self.legacy_stream_activity();
        }
        if self.link.stream != Stream::Listening {
            return Ok(());
        }
        if chance(&mut self.rng, self.faults.drop_stream) {
            self.note("the server stream drops".to_owned());
            let was_over = self.link.link.link().end().is_some();
            let step = self.link.link.stream_ended(self.now);
            return self.retry_step(step, None, was_over);
        }
        self.server.next_event += 1;
        if self.server.numbers_events {
            let id = format!("e{}", self.server.next_event);
            self.link.link.link_mut().handle_stream_event_id(&id);
            self.link.last_event_id = Some(id);
        }
        Ok(())
    }

    fn legacy_stream_activity(&mut self) -> Checked {
        if !self.link.legacy_open || self.link.closing.is_some() || !chance(&mut self.rng, self.faults.drop_stream) {
            return Ok(());
        }
        let broke = (below(&mut self.rng, 2) == 0).then(|| "connection reset".to_owned());
        let before = self.link.link.link().end().cloned();
        let end = self.link.link.link_mut().handle_legacy_stream_end(broke.clone());
        self.note(format!("the legacy stream ends: {end}"));
        let expected = before.unwrap_or(broke.map_or(LinkEnd::StreamClosed, LinkEnd::StreamBroke));
        self.check(end == expected, LinkRule::Ends, || format!("legacy stream end {end:?}, expected {expected:?}"))?;
        self.closing()
    }

    /// Time passes; a stream that is due is opened.
    fn tick(&mut self) -> Checked {
        let pause = Duration::from_millis(1 + below(&mut self.rng, 3_000));
        self.now = self.now.after(pause);
        if let Stream::Due(at) = self.link.stream
            && self.now >= at
        {
            return self.open_stream();
        }
        Ok(())
    }

    /// io opens the server stream, as the link asks.
    fn open_stream(&mut self) -> Checked {
        let Some(request) = self.link.link.stream_request() else {
            self.link.stream = Stream::Done;
            return Ok(());
        };
        let (session, last_event_id) = (request.session.clone(), request.last_event_id.map(str::to_owned));
        self.check_sendable("GET")?;
        self.check(last_event_id == self.link.last_event_id, LinkRule::Resumption, || {
            format!("GET with Last-Event-ID {last_event_id:?}, last seen {:?}", self.link.last_event_id)
        })?;
        self.check(session.id() == self.link.session.as_deref(), LinkRule::SessionHeaders, || {
            format!("GET with {session:?}, the server gave {:?}", self.link.session)
        })?;
        if last_event_id.is_some() {
            self.stats.resumed += 1;
        }
        self.note(format!("GET stream (session {:?}, Last-Event-ID {last_event_id:?})", session.id()));
        if self.server.is_down(self.now) {
            return self.stream_failed("cannot reach the server");
        }
        if chance(&mut self.rng, self.faults.get_timeout) {
            self.now = self.now.after(CONNECT_TIMEOUT);
            return self.stream_failed("the server stream did not open within 10 s");
        }
        let (status, event_stream) = self.stream_status(session.id());
        self.stream_answered(status, event_stream, session.id().is_some())
    }

    fn stream_status(&mut self, session: Option<&str>) -> (u16, bool) {
        if !self.server.knows(session) {
            return (404, false);
        }
        if !self.server.offers_stream {
            return (405, false);
        }
        if chance(&mut self.rng, self.faults.get_refused) {
            return if below(&mut self.rng, 2) == 0 { (500, false) } else { (200, false) };
        }
        (200, true)
    }

    fn stream_answered(&mut self, status: u16, event_stream: bool, with_session: bool) -> Checked {
        let open = self.link.link.link_mut().handle_stream_answer(status, event_stream);
        self.link.stream_settled = true;
        self.note(format!("GET answered {status} (event stream: {event_stream}): {open:?}"));
        match open {
            StreamOpen::Listen => {
                self.check((200..300).contains(&status) && event_stream, LinkRule::StreamOnce, || {
                    format!("listening to a {status}")
                })?;
                self.link.failures = 0;
                self.link.stream = Stream::Listening;
                self.stats.streams_opened += 1;
                Ok(())
            }
            StreamOpen::Ended(end) => {
                self.link.stream = Stream::Done;
                self.session_lost(end, status, with_session)
            }
            StreamOpen::NotOffered | StreamOpen::Refused => {
                self.link.stream = Stream::Done;
                self.check(status != 404 || !with_session, LinkRule::LostSession, || {
                    format!("a 404 to our session's GET was taken as {open:?}")
                })
            }
        }
    }

    /// A GET failed: the link says when to retry, or that the server is unreachable.
    fn stream_failed(&mut self, why: &str) -> Checked {
        self.stats.stream_failures += 1;
        self.link.failures += 1;
        self.link.stream_settled = true;
        let was_over = self.link.link.link().end().is_some();
        let step = self.link.link.stream_failed(self.now, why);
        self.note(format!("GET failed ({why}), {} in a row: {step:?}", self.link.failures));
        self.retry_step(step, Some(why), was_over)
    }

    /// Checks and follows what the link said after the stream ended (`why` is `None`) or
    /// failed to open; `over`: the link had ended before.
    fn retry_step(&mut self, step: StreamStep, why: Option<&str>, over: bool) -> Checked {
        let failures = if why.is_some() { self.link.failures } else { 0 };
        let must_give_up = failures >= STREAM_RETRIES && !over;
        match step {
            StreamStep::RetryAt(at) => {
                self.check(!must_give_up, LinkRule::BoundedRetries, || {
                    format!("still retrying after {failures} failed connects in a row")
                })?;
                self.check_pause(at, failures)?;
                self.link.stream = Stream::Due(at);
                Ok(())
            }
            StreamStep::Ended(end) => {
                self.check(must_give_up, LinkRule::BoundedRetries, || {
                    format!("gave up ({end:?}) after {failures} failed connects in a row")
                })?;
                let expected = LinkEnd::Unreachable(why.unwrap_or_default().to_owned());
                self.check(end == expected, LinkRule::Ends, || format!("ended {end:?}, expected {expected:?}"))?;
                self.stats.unreachable += 1;
                self.link.stream = Stream::Done;
                self.closing()
            }
            StreamStep::Stop => {
                self.check(over, LinkRule::Ends, || "stopped listening to a live link".to_owned())?;
                self.link.stream = Stream::Done;
                Ok(())
            }
        }
    }

    /// The pause before a reopening: at least the doubled minimum, at most the maximum.
    fn check_pause(&self, at: Instant, failures: u32) -> Checked {
        let pause = at.since(self.now);
        let least = least_pause(failures);
        self.check(pause >= least && pause <= STREAM_BACKOFF_MAX, LinkRule::Backoff, || {
            format!("a pause of {pause:?} after {failures} failed connects in a row (at least {least:?}, at most {STREAM_BACKOFF_MAX:?})")
        })
    }

    /// Now and then the client side stops the link.
    fn maybe_stop(&mut self) -> Checked {
        if self.link.closing.is_some() || !chance(&mut self.rng, self.faults.stop) {
            return Ok(());
        }
        self.stop()
    }

    /// The client side stops the link; a streamable session the server gave is DELETEd.
    fn stop(&mut self) -> Checked {
        let before = self.link.link.link().end().cloned();
        let end = self.link.link.link_mut().handle_stop();
        self.stats.stops += 1;
        let expected = before.clone().unwrap_or(LinkEnd::Stopped);
        self.check(end == expected, LinkRule::Ends, || format!("stop ended {end:?} after {before:?}"))?;
        let delete = self.link.link.link().session_to_end().cloned();
        let due = end == LinkEnd::Stopped && self.link.era == Era::Streamable && self.link.session.is_some();
        self.check(delete.is_some() == due, LinkRule::EndSession, || {
            format!("DELETE {delete:?} after {end:?} (session {:?})", self.link.session)
        })?;
        if let Some(session) = delete {
            self.check_sendable("DELETE")?;
            self.check(session.id() == self.link.session.as_deref(), LinkRule::EndSession, || {
                format!("DELETE of {session:?}, the server gave {:?}", self.link.session)
            })?;
            self.note(format!("DELETE session {:?}", session.id()));
            self.stats.deletes += 1;
        }
        self.closing()
    }

    /// Whole-link checks after every step.
    fn after_step(&mut self) -> Checked {
        let end = self.link.link.link().end().cloned();
        if let Some(end) = &end {
            self.closing()?;
            if end.is_failed_start() {
                return Ok(());
            }
        }
        self.check(!self.link.lost || end == Some(LinkEnd::SessionLost), LinkRule::LostSession, || {
            format!("the session was lost but the link ended {end:?}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEEDS: u64 = 300;
    const STEPS: u64 = 400;

    fn sum(seeds: std::ops::Range<u64>, run: fn(u64, u64) -> Result<LinkStats, LinkViolation>) -> LinkStats {
        let mut total = LinkStats::default();
        for seed in seeds {
            let stats = run(seed, STEPS).unwrap_or_else(|violation| panic!("{violation}"));
            total.links += stats.links;
            total.fallbacks += stats.fallbacks;
            total.posts += stats.posts;
            total.sessions_lost += stats.sessions_lost;
            total.streams_opened += stats.streams_opened;
            total.resumed += stats.resumed;
            total.stream_failures += stats.stream_failures;
            total.unreachable += stats.unreachable;
            total.failed_starts += stats.failed_starts;
            total.stops += stats.stops;
            total.deletes += stats.deletes;
            total.held += stats.held;
            total.probes += stats.probes;
            total.fallbacks_after_probe += stats.fallbacks_after_probe;
        }
        total
    }

    #[test]
    fn hundreds_of_seeds_break_no_rule_and_reach_every_fault() {
        let total = sum(0..SEEDS, run_http_link);
        // The faults were not only drawn but hit the link.
        for (what, count) in [
            ("fallbacks", total.fallbacks),
            ("lost sessions", total.sessions_lost),
            ("opened streams", total.streams_opened),
            ("resumed streams", total.resumed),
            ("failed stream connects", total.stream_failures),
            ("unreachable servers", total.unreachable),
            ("failed starts", total.failed_starts),
            ("stops", total.stops),
            ("DELETEs", total.deletes),
            ("POSTs held for the stream", total.held),
            ("stateless probes", total.probes),
            ("fallbacks after a refused probe", total.fallbacks_after_probe),
        ] {
            assert!(count > 0, "no {what} in {SEEDS} seeds: {total:?}");
        }
    }

    #[test]
    fn a_seed_is_one_run() {
        for seed in [1, 7, 42] {
            let once = run_http_link(seed, STEPS);
            assert_eq!(once, run_http_link(seed, STEPS));
        }
    }

    /// The first violation of `P` in the first seeds.
    fn caught<P: Policy>() -> LinkViolation {
        (0..SEEDS).find_map(|seed| run_with::<P>(seed, STEPS).err()).expect("a broken policy is caught")
    }

    /// Reopens the stream at once, whatever the link says.
    struct SkipsBackoff(HttpLink);

    impl Policy for SkipsBackoff {
        fn start(flavor: HttpFlavor) -> Self {
            SkipsBackoff(HttpLink::new(flavor))
        }
        fn link(&self) -> &HttpLink {
            &self.0
        }
        fn link_mut(&mut self) -> &mut HttpLink {
            &mut self.0
        }
        fn stream_failed(&mut self, now: Instant, why: &str) -> StreamStep {
            match self.0.handle_stream_failed(now, why) {
                StreamStep::RetryAt(_) => StreamStep::RetryAt(now),
                other => other,
            }
        }
    }

    #[test]
    fn a_policy_that_skips_the_backoff_is_caught() {
        let violation = caught::<SkipsBackoff>();
        assert_eq!(violation.rule, LinkRule::Backoff, "{violation}");
        assert!(violation.to_string().contains(&format!("SEED={} step=", violation.seed)));
    }

    /// Keeps reconnecting an unreachable server.
    struct NeverGivesUp(HttpLink);

    impl Policy for NeverGivesUp {
        fn start(flavor: HttpFlavor) -> Self {
            NeverGivesUp(HttpLink::new(flavor))
        }
        fn link(&self) -> &HttpLink {
            &self.0
        }
        fn link_mut(&mut self) -> &mut HttpLink {
            &mut self.0
        }
        fn stream_failed(&mut self, now: Instant, why: &str) -> StreamStep {
            match self.0.handle_stream_failed(now, why) {
                StreamStep::Ended(_) => StreamStep::RetryAt(now.after(STREAM_BACKOFF_MAX)),
                other => other,
            }
        }
    }

    #[test]
    fn a_policy_that_never_gives_up_is_caught() {
        assert_eq!(caught::<NeverGivesUp>().rule, LinkRule::BoundedRetries);
    }

    /// Hands out the session after the server lost it.
    struct KeepsLostSession(HttpLink);

    impl Policy for KeepsLostSession {
        fn start(flavor: HttpFlavor) -> Self {
            KeepsLostSession(HttpLink::new(flavor))
        }
        fn link(&self) -> &HttpLink {
            &self.0
        }
        fn link_mut(&mut self) -> &mut HttpLink {
            &mut self.0
        }
        fn post_headers(&self, kind: MessageKind) -> PostHeaders<'_> {
            match self.0.post_headers(kind) {
                PostHeaders::Ended if self.0.end() == Some(&LinkEnd::SessionLost) => {
                    PostHeaders::Session(self.0.session())
                }
                other => other,
            }
        }
    }

    #[test]
    fn a_policy_that_keeps_a_lost_session_is_caught() {
        assert_eq!(caught::<KeepsLostSession>().rule, LinkRule::LostSession);
    }

    /// Reopens the stream from the start, ignoring the event ids.
    struct ForgetsEventIds(HttpLink);

    impl Policy for ForgetsEventIds {
        fn start(flavor: HttpFlavor) -> Self {
            ForgetsEventIds(HttpLink::new(flavor))
        }
        fn link(&self) -> &HttpLink {
            &self.0
        }
        fn link_mut(&mut self) -> &mut HttpLink {
            &mut self.0
        }
        fn stream_request(&self) -> Option<StreamRequest<'_>> {
            self.0.stream_request().map(|request| StreamRequest { last_event_id: None, ..request })
        }
    }

    #[test]
    fn a_policy_that_does_not_resume_is_caught() {
        assert_eq!(caught::<ForgetsEventIds>().rule, LinkRule::Resumption);
    }

    /// Sends every POST at once, stream or no stream.
    struct NeverWaits(HttpLink);

    impl Policy for NeverWaits {
        fn start(flavor: HttpFlavor) -> Self {
            NeverWaits(HttpLink::new(flavor))
        }
        fn link(&self) -> &HttpLink {
            &self.0
        }
        fn link_mut(&mut self) -> &mut HttpLink {
            &mut self.0
        }
        fn posts_held_until(&self, _: Instant) -> Option<Instant> {
            None
        }
    }

    #[test]
    fn a_policy_that_does_not_wait_for_the_stream_is_caught() {
        assert_eq!(caught::<NeverWaits>().rule, LinkRule::StreamFirst);
    }

    /// Holds POSTs back until the stream's first GET is answered, however long that takes.
    struct IgnoresTheBound(HttpLink);

    impl Policy for IgnoresTheBound {
        fn start(flavor: HttpFlavor) -> Self {
            IgnoresTheBound(HttpLink::new(flavor))
        }
        fn link(&self) -> &HttpLink {
            &self.0
        }
        fn link_mut(&mut self) -> &mut HttpLink {
            &mut self.0
        }
        fn posts_held_until(&self, now: Instant) -> Option<Instant> {
            // Asked at the dawn of time, the link says whether it still waits, deadline aside.
            self.0.posts_held_until(Instant(0)).map(|_| now.after(STREAM_WAIT))
        }
    }

    #[test]
    fn a_policy_that_waits_past_the_bound_is_caught() {
        assert_eq!(caught::<IgnoresTheBound>().rule, LinkRule::StreamFirst);
    }
}
