//! Seeded randomness helpers and the per-seed fault profile (VOPR "swarm testing").
//!
//! Swarm testing: instead of one fixed mix of faults, every seed draws its own probabilities,
//! and many are zero. A run where only "slow" and "duplicate" are on explores corners that a
//! uniform mix would bury under crashes.

use rand_chacha::ChaCha8Rng;
use rand_core::Rng;
use std::collections::BTreeMap;

/// A uniform draw in `0..n` (`0` when `n == 0`); the modulo bias is irrelevant here.
pub fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    if n == 0 { 0 } else { rng.next_u64() % n }
}

/// A uniform draw in `lo..=hi`.
pub fn between(rng: &mut ChaCha8Rng, lo: u64, hi: u64) -> u64 {
    lo + below(rng, hi.saturating_sub(lo).saturating_add(1))
}

/// True with probability `p`. Draws nothing when `p <= 0`, so turning a fault off does not
/// shift every later draw (keeps scenario seeds stable when a knob changes).
pub fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    if p <= 0.0 {
        return false;
    }
    let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    unit < p
}

/// Pick an element uniformly.
pub fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> Option<&'a T> {
    items.get(below(rng, items.len() as u64) as usize)
}

/// Misbehaviour of one fake backend; probabilities are per event named in each field.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BackendFaults {
    /// Per spawn: the process cannot be started.
    pub spawn_fail: f64,
    /// Per request (any method): never answer it.
    pub hang: f64,
    /// Per `tools/call`: exit shortly after receiving it, without answering.
    pub crash: f64,
    /// Per answer: write a non-JSON line first.
    pub garbage: f64,
    /// Per answer: write a truncated or incomplete response instead of the answer.
    pub partial: f64,
    /// Per answer: write it twice.
    pub duplicate: f64,
    /// Per answer: also write a response to an id the hub never used.
    pub unknown_id: f64,
    /// Per answer: answer after the request timeout.
    pub slow: f64,
    /// Per `tools/call`: answer with a JSON-RPC error.
    pub error: f64,
    /// Per answer: also announce `notifications/tools/list_changed` (the hub lists again).
    pub list_changed: f64,
    /// Per answer: also send the hub a `ping` request.
    pub ping: f64,
    /// Per `notifications/cancelled`: stop working on the request (else answer anyway).
    pub honour_cancel: f64,
}

/// Misbehaviour of the fake clients; probabilities are per client wake-up.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientFaults {
    /// Close the connection of one in-flight call.
    pub disconnect: f64,
    /// Send `notifications/cancelled` for one in-flight call.
    pub cancel: f64,
    /// DELETE the session (the client is done afterwards).
    pub delete: f64,
    /// Call a tool no backend has.
    pub unknown_tool: f64,
    /// Ask for `tools/list` instead of calling.
    pub list: f64,
    /// Per client: ask for SSE replies (`Accept: text/event-stream` only).
    pub sse: f64,
    /// Open a standalone `GET /mcp` stream (sometimes a second one, which must be refused).
    pub listen: f64,
}

/// Faults of the world around the servers: configuration reloads and how servers are run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorldFaults {
    /// Mean gap between configuration reloads in milliseconds; 0 for none. A reload adds a
    /// server, removes one, changes one's command (a restart) or only its tags (no restart).
    pub reload_every_ms: u64,
    /// Per reload: the new file is invalid instead (`ConfigInvalid`).
    pub invalid: f64,
    /// A server run per client session (`perSession`), if any.
    pub per_session: Option<String>,
    /// A server that dies right after every start: a restart storm that ends in a crash loop.
    pub storm: Option<String>,
}

/// Every fault probability of one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultPlan {
    /// Per backend name; a backend missing here behaves perfectly.
    pub backends: BTreeMap<String, BackendFaults>,
    /// For all clients.
    pub clients: ClientFaults,
    /// Reloads, per-session servers, restart storms.
    pub world: WorldFaults,
}

/// With probability ~40% a fault is off for the whole run, else drawn up to `max`.
fn maybe(rng: &mut ChaCha8Rng, max: f64) -> f64 {
    if below(rng, 10) < 4 { 0.0 } else { max * (below(rng, 1000) as f64 / 1000.0) }
}

impl BackendFaults {
    /// Draw one backend's profile.
    pub fn swarm(rng: &mut ChaCha8Rng) -> BackendFaults {
        BackendFaults {
            spawn_fail: maybe(rng, 0.3),
            hang: maybe(rng, 0.08),
            crash: maybe(rng, 0.04),
            garbage: maybe(rng, 0.1),
            partial: maybe(rng, 0.05),
            duplicate: maybe(rng, 0.1),
            unknown_id: maybe(rng, 0.1),
            slow: maybe(rng, 0.08),
            error: maybe(rng, 0.1),
            list_changed: maybe(rng, 0.05),
            ping: maybe(rng, 0.05),
            honour_cancel: maybe(rng, 1.0),
        }
    }
}

impl ClientFaults {
    /// Draw the clients' profile.
    pub fn swarm(rng: &mut ChaCha8Rng) -> ClientFaults {
        ClientFaults {
            disconnect: maybe(rng, 0.1),
            cancel: maybe(rng, 0.1),
            delete: maybe(rng, 0.02),
            unknown_tool: maybe(rng, 0.05),
            list: maybe(rng, 0.1),
            sse: maybe(rng, 0.6),
            listen: maybe(rng, 0.1),
        }
    }
}

impl FaultPlan {
    /// Draw a whole plan for `backends`.
    pub fn swarm(rng: &mut ChaCha8Rng, backends: &[String]) -> FaultPlan {
        let names = backends;
        let backends = names.iter().map(|b| (b.clone(), BackendFaults::swarm(rng))).collect();
        let clients = ClientFaults::swarm(rng);
        let world = WorldFaults {
            reload_every_ms: if chance(rng, 0.5) { between(rng, 200, 3000) } else { 0 },
            invalid: maybe(rng, 0.3),
            per_session: if chance(rng, 0.3) { pick(rng, names).cloned() } else { None },
            storm: if chance(rng, 0.15) { pick(rng, names).cloned() } else { None },
        };
        FaultPlan { backends, clients, world }
    }

    /// The faults of one backend (none if unlisted).
    pub fn backend(&self, name: &str) -> BackendFaults {
        self.backends.get(name).cloned().unwrap_or_default()
    }
}
