//! Deterministic simulation of the 1mcp core.
//!
//! [`run`] builds a seeded world around the real [`onemcp_core::Hub`]: scripted clients that
//! initialize and call tools, scripted stdio backends that answer after random delays, a
//! virtual clock, and faults drawn per seed (crashes, hangs, garbage, duplicate and unknown-id
//! responses, slow answers, spawn failures, disconnects, cancellations, session deletes).
//! Servers carry tags and some clients open their session with a view (`?tags=a`,
//! `?tag-filter=a%20and%20not%20b`); some seeds run with authentication on, each client
//! presenting its own credential. Some seeds mix in stateless clients (2026-07-28: no session,
//! `_meta` on every request) and servers that ask their client something mid-call, so that
//! stateless calls cross the bridge (`input_required`, a sealed `requestState`, retries, some of
//! them tampered, replayed or never sent). After every step it checks DESIGN.md's routing rules 1-6 and the stateless ones; a breach comes back as a
//! [`Violation`] carrying `SEED=<n> step=<k>` and the last trace lines. One seed is one run:
//! running it again reproduces the same trace byte for byte.
//!
//! The run has three phases: safety (faults on, `steps` steps), liveness (faults off, clients
//! stop issuing, time runs until every timer fired: all tables must be empty), and an optional
//! shutdown (every session and backend released).

pub mod args;
pub mod fake_backend;
pub mod fake_client;
pub mod faults;
pub mod http_link;
pub mod invariants;
pub mod oauth_client;
pub mod replay;
pub mod shrink;
pub mod sweep;
pub mod trace;
pub mod world;

pub use fake_backend::BackendShape;
pub use faults::{BackendFaults, BridgeFaults, ClientFaults, FaultPlan, WorldFaults};
pub use invariants::{BridgeCounts, CallOutcome, CallResult, Invariant};
pub use replay::{ReplayReport, replay, replay_reader};
pub use world::{ConfigChange, World};

use onemcp_core::HubStats;
use std::fmt;
use std::time::Duration;

/// Where a run's faults come from.
#[derive(Clone, Debug, Default, PartialEq)]
// One per run, read at the start: a box would save nothing worth its noise at every plan.
#[allow(clippy::large_enum_variant)]
pub enum Faults {
    /// Drawn from the seed (swarm testing).
    #[default]
    Swarm,
    /// None at all.
    Off,
    /// Exactly these probabilities.
    Plan(FaultPlan),
}

/// Knobs of one run; `None` fields are drawn from the seed.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOptions {
    /// Steps in the safety phase.
    pub steps: u64,
    /// Most steps the liveness (and shutdown) phase may take to settle.
    pub liveness_steps: u64,
    /// Number of backends (1..=4).
    pub backends: Option<usize>,
    /// Number of clients.
    pub clients: Option<usize>,
    /// Whether clients reuse each other's JSON-RPC ids.
    pub colliding_ids: Option<bool>,
    /// Fault source.
    pub faults: Faults,
    /// `requestTimeout` of every server, in milliseconds.
    pub request_timeout_ms: u64,
    /// `connectionTimeout` of every server, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Trace lines kept for a violation report.
    pub trace_lines: usize,
    /// Keep the whole trace in the report (for determinism checks and `run --trace`).
    pub full_trace: bool,
    /// End with `Shutdown` and check everything is released.
    pub shutdown: bool,
    /// Let hang and partial-answer faults hit the list requests the hub sends a ready server
    /// after `notifications/tools/list_changed` (on by default). Off reproduces the sweeps from
    /// before cf970f7, when those requests had no timeout and a silent server left them
    /// pending forever; they time out now, and the sweeps run with this on.
    pub faulty_relists: bool,
    /// Let clients disconnect while a per-session server is in play (on by default; it was
    /// held back while a request queued for a starting instance ignored its client's
    /// disconnect, fixed in the core since).
    pub per_session_disconnects: bool,
    /// Configuration changes at fixed instants (milliseconds), whatever the faults.
    pub script: Vec<(u64, ConfigChange)>,
    /// Calls (and lists) each client makes before going quiet; `None` for no limit.
    pub max_calls: Option<u64>,
    /// Latest instant a client starts, in milliseconds.
    pub client_start_ms: u64,
    /// Every backend's shape, instead of one drawn from the seed.
    pub shape: Option<BackendShape>,
    /// Give servers tags and some clients a view (`?tags=`, `?tag-filter=`), checking rule 4;
    /// `None`: on for swarm faults, off for fixed plans (whose scenarios assert outcomes).
    pub views: Option<bool>,
    /// Let some servers ask for roots (`roots/list`) and some clients declare and answer
    /// them, checking that roots stay with their client; `None`: drawn per seed for swarm
    /// faults (from a stream of its own), off for fixed plans.
    pub roots: Option<bool>,
    /// Run the hub with authentication on: every client presents a credential (mostly a live
    /// token, tag-bound or not; some none, unknown, malformed, revoked, expired, expiring
    /// mid-run, or in the URL) and some probe other clients' sessions; `None`: drawn per seed
    /// for swarm faults (from a stream of its own), off for fixed plans.
    pub auth: Option<bool>,
    /// Make some clients stateless (2026-07-28) and let servers ask, log and report progress
    /// mid-call (the plan's `bridge` faults), checking the stateless rules and the bridge;
    /// `None`: drawn per seed for swarm faults (from a stream of its own), off for fixed plans.
    pub stateless: Option<bool>,
    /// A stateless client's retry carries a progress token of its own, not its call's first
    /// one (off by default: the hub keeps reporting a resumed call's progress under the first
    /// request's token, see `sim/tests/swarm.rs`, `a_retry_hears_progress_under_its_own_token`).
    pub fresh_retry_tokens: bool,
    /// Fault kinds turned off whatever the plan says (names of [`FaultPlan::kinds`]: `crash`,
    /// `alpha.hang`, `bridge.tamper`, `world.reload_every_ms`, ...): a sweep can step around a
    /// known failure and look for others.
    pub without: Vec<String>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            steps: 1500,
            liveness_steps: 20_000,
            backends: None,
            clients: None,
            colliding_ids: None,
            faults: Faults::Swarm,
            request_timeout_ms: 2000,
            connect_timeout_ms: 3000,
            trace_lines: 50,
            full_trace: false,
            shutdown: true,
            faulty_relists: true,
            per_session_disconnects: true,
            script: Vec::new(),
            max_calls: None,
            client_start_ms: 1500,
            shape: None,
            views: None,
            roots: None,
            auth: None,
            stateless: None,
            fresh_retry_tokens: false,
            without: Vec::new(),
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, PartialEq)]
pub struct SimReport {
    /// The seed.
    pub seed: u64,
    /// Steps taken (events plus timer firings).
    pub steps: u64,
    /// Events handled.
    pub events: u64,
    /// Trace lines (hub inputs and outputs).
    pub trace_lines: u64,
    /// HTTP requests the clients sent.
    pub requests: u64,
    /// Responses they received.
    pub responses: u64,
    /// Faults injected by backends and clients.
    pub faults_injected: u64,
    /// `notifications/cancelled` the backends received.
    pub cancels_seen_by_backends: u64,
    /// Calls a backend died on (`crash` faults).
    pub crashes: u64,
    /// Virtual time at the end.
    pub virtual_time: Duration,
    /// Hub counters after the liveness phase.
    pub settled: HubStats,
    /// Digest of the whole trace.
    pub trace_hash: u64,
    /// Every `tools/call` and its fate.
    pub outcomes: Vec<CallOutcome>,
    /// The whole trace, when [`SimOptions::full_trace`] was set.
    pub trace: Vec<String>,
    /// Clients in the world.
    pub clients: usize,
    /// Backends in the world.
    pub backends: usize,
    /// The hub ran with authentication on.
    pub auth: bool,
    /// Clients that spoke the stateless revision.
    pub stateless_clients: usize,
    /// What the stateless side did: bridge crossings, refused and resumed retries.
    pub bridge: BridgeCounts,
}

impl fmt::Display for SimReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SEED={} ok: {} clients, {} backends, {} steps, {} events, {} trace lines, {} requests, {} responses, \
             {} faults, {} cancels at backends, ",
            self.seed,
            self.clients,
            self.backends,
            self.steps,
            self.events,
            self.trace_lines,
            self.requests,
            self.responses,
            self.faults_injected,
            self.cancels_seen_by_backends,
        )?;
        if self.stateless_clients > 0 {
            let b = &self.bridge;
            write!(
                f,
                "{} stateless clients, {} input-required ({} retries resumed, {} refused), ",
                self.stateless_clients, b.input_required, b.resumed, b.refused
            )?;
        }
        write!(f, "{:.3}s virtual, trace {:016x}", self.virtual_time.as_secs_f64(), self.trace_hash)
    }
}

/// A broken invariant, with what is needed to reproduce and understand it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The seed that reproduces it.
    pub seed: u64,
    /// The step at which it was detected.
    pub step: u64,
    /// The rule broken.
    pub invariant: Invariant,
    /// What was seen.
    pub detail: String,
    /// The last trace lines before detection.
    pub trace: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "SEED={} step={}: {} broken: {}", self.seed, self.step, self.invariant, self.detail)?;
        writeln!(f, "--- last {} trace lines ---", self.trace.len())?;
        for line in &self.trace {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violation {}

/// Run one seeded simulation and check every invariant along the way.
pub fn run(seed: u64, options: &SimOptions) -> Result<SimReport, Violation> {
    World::new(seed, options).run(options)
}

/// `options` with every dimension `seed` draws (backends, clients, colliding ids, the fault
/// plan, views, roots, authentication, stateless clients) fixed to the drawn value: running `seed` with them is
/// the same run, and each one can now be reduced on its own.
pub fn pin(seed: u64, options: &SimOptions) -> SimOptions {
    World::new(seed, options).pinned(options)
}
