//! Seeded randomness helpers and the per-seed fault profile (VOPR "swarm testing").
//!
//! Swarm testing: instead of one fixed mix of faults, every seed draws its own probabilities,
//! and many are zero. A run where only "slow" and "duplicate" are on explores corners that a
//! uniform mix would bury under crashes.

use rand_chacha::ChaCha8Rng;
use rand_core::Rng;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

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

/// The stateless (2026-07-28) side of a run: what servers ask, log and report in the middle of
/// a call (so stateless calls cross the bridge), and how stateless clients misbehave when they
/// are asked. Probabilities are per event named in each field.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BridgeFaults {
    /// Per `tools/call` a server gets: ask its client something first (`elicitation/create`,
    /// `sampling/createMessage` or `roots/list`), and answer the call once it has the answer.
    pub ask: f64,
    /// Per answer to such a question: ask another one (one more round, at most three).
    pub again: f64,
    /// Per `tools/call`: log a message about it, at a random level, before answering.
    pub log: f64,
    /// Per `tools/call` carrying a progress token: report progress before answering.
    pub progress: f64,
    /// Per input-required answer: retry first with the state altered (must be refused).
    pub tamper: f64,
    /// Per input-required answer: retry first with a state already used or expired (refused).
    pub replay: f64,
    /// Per input-required answer: retry first with other arguments (refused).
    pub other_args: f64,
    /// Per input-required answer: retry without the answers (must be asked again).
    pub unanswered: f64,
    /// Per input-required answer: never retry (the parked call fails at its timeout).
    pub abandon: f64,
    /// Per input-required answer: the server dies before the retry (the state has expired).
    pub restart: f64,
    /// Per stateless client wake-up: hang up on one of its calls in flight.
    pub disconnect: f64,
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
    /// The stateless clients and the questions servers ask mid-call (in play only in worlds
    /// with stateless clients: see [`crate::SimOptions::stateless`]).
    pub bridge: BridgeFaults,
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

impl BridgeFaults {
    /// Draw the stateless side's profile: servers mostly ask (or the bridge is never crossed),
    /// clients misbehave as in [`ClientFaults::swarm`].
    pub fn swarm(rng: &mut ChaCha8Rng) -> BridgeFaults {
        let often = |rng: &mut ChaCha8Rng, max: f64| {
            if chance(rng, 0.15) { 0.0 } else { max * (between(rng, 100, 1000) as f64 / 1000.0) }
        };
        BridgeFaults {
            ask: often(rng, 0.6),
            again: maybe(rng, 0.5),
            log: maybe(rng, 0.4),
            progress: maybe(rng, 0.4),
            tamper: maybe(rng, 0.3),
            replay: maybe(rng, 0.3),
            other_args: maybe(rng, 0.3),
            unanswered: maybe(rng, 0.3),
            abandon: maybe(rng, 0.2),
            restart: maybe(rng, 0.1),
            disconnect: maybe(rng, 0.1),
        }
    }
}

/// The probabilities of a fault profile by field name, the names its text uses.
macro_rules! probabilities {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl $ty {
            /// Every probability field's name, in declaration order.
            pub const KINDS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// The probability named `kind`, if there is one by that name.
            pub fn get(&self, kind: &str) -> Option<f64> {
                match kind {
                    $(stringify!($field) => Some(self.$field),)*
                    _ => None,
                }
            }

            /// The probability named `kind`, to change it.
            pub fn get_mut(&mut self, kind: &str) -> Option<&mut f64> {
                match kind {
                    $(stringify!($field) => Some(&mut self.$field),)*
                    _ => None,
                }
            }
        }
    };
}

probabilities!(BackendFaults {
    spawn_fail,
    hang,
    crash,
    garbage,
    partial,
    duplicate,
    unknown_id,
    slow,
    error,
    list_changed,
    ping,
    honour_cancel,
});

probabilities!(ClientFaults { disconnect, cancel, delete, unknown_tool, list, sse, listen });

probabilities!(BridgeFaults {
    ask,
    again,
    log,
    progress,
    tamper,
    replay,
    other_args,
    unanswered,
    abandon,
    restart,
    disconnect,
});

/// The non-zero probabilities of a profile as `kind=p,kind=p` (`p` printed exactly).
fn profile_text(kinds: &[&str], get: impl Fn(&str) -> Option<f64>) -> String {
    kinds.iter().filter_map(|k| get(k).filter(|p| *p != 0.0).map(|p| format!("{k}={p}"))).collect::<Vec<_>>().join(",")
}

/// Parse `kind=p,kind=p` into a profile.
fn parse_profile<'a, T: Default>(
    text: &str,
    get_mut: impl for<'t> Fn(&'t mut T, &str) -> Option<&'t mut f64>,
    group: &'a str,
) -> Result<T, String> {
    let mut profile = T::default();
    for pair in text.split(',').filter(|p| !p.is_empty()) {
        let (kind, p) = pair.split_once('=').ok_or_else(|| format!("{group}: {pair:?} is not kind=p"))?;
        let slot = get_mut(&mut profile, kind).ok_or_else(|| format!("{group}: no fault called {kind:?}"))?;
        *slot = p.parse().map_err(|_| format!("{group}: {kind}={p:?} is not a number"))?;
    }
    Ok(profile)
}

impl fmt::Display for FaultPlan {
    /// `alpha:crash=0.04,hang=0.02/clients:disconnect=0.1/world:reload_every_ms=300,storm=beta`:
    /// only what is on, groups joined by `/`; `none` when nothing is. Shell-safe, and
    /// [`FaultPlan::from_str`] reads it back exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut groups = vec![];
        for (name, faults) in &self.backends {
            let text = profile_text(BackendFaults::KINDS, |k| faults.get(k));
            if !text.is_empty() {
                groups.push(format!("{name}:{text}"));
            }
        }
        let clients = profile_text(ClientFaults::KINDS, |k| self.clients.get(k));
        if !clients.is_empty() {
            groups.push(format!("clients:{clients}"));
        }
        let bridge = profile_text(BridgeFaults::KINDS, |k| self.bridge.get(k));
        if !bridge.is_empty() {
            groups.push(format!("bridge:{bridge}"));
        }
        let w = &self.world;
        let mut world = vec![];
        if w.reload_every_ms != 0 {
            world.push(format!("reload_every_ms={}", w.reload_every_ms));
        }
        if w.invalid != 0.0 {
            world.push(format!("invalid={}", w.invalid));
        }
        world.extend(w.per_session.iter().map(|name| format!("per_session={name}")));
        world.extend(w.storm.iter().map(|name| format!("storm={name}")));
        if !world.is_empty() {
            groups.push(format!("world:{}", world.join(",")));
        }
        if groups.is_empty() { f.write_str("none") } else { f.write_str(&groups.join("/")) }
    }
}

impl FromStr for FaultPlan {
    type Err = String;

    /// Read the text [`FaultPlan`]'s `Display` writes.
    fn from_str(text: &str) -> Result<FaultPlan, String> {
        let mut plan = FaultPlan::default();
        for group in text.split('/').filter(|g| !g.is_empty() && *g != "none") {
            let (name, body) = group.split_once(':').ok_or_else(|| format!("{group:?} is not name:kind=p,..."))?;
            match name {
                "clients" => plan.clients = parse_profile(body, ClientFaults::get_mut, name)?,
                "bridge" => plan.bridge = parse_profile(body, BridgeFaults::get_mut, name)?,
                "world" => plan.world = parse_world(body)?,
                _ => {
                    plan.backends.insert(name.to_owned(), parse_profile(body, BackendFaults::get_mut, name)?);
                }
            }
        }
        Ok(plan)
    }
}

fn parse_world(text: &str) -> Result<WorldFaults, String> {
    let mut world = WorldFaults::default();
    for pair in text.split(',').filter(|p| !p.is_empty()) {
        let (kind, value) = pair.split_once('=').ok_or_else(|| format!("world: {pair:?} is not kind=value"))?;
        let number = |what: &str| format!("world: {kind}={value:?} is not {what}");
        match kind {
            "reload_every_ms" => world.reload_every_ms = value.parse().map_err(|_| number("a whole number"))?,
            "invalid" => world.invalid = value.parse().map_err(|_| number("a number"))?,
            "per_session" => world.per_session = Some(value.to_owned()),
            "storm" => world.storm = Some(value.to_owned()),
            _ => return Err(format!("world: no fault called {kind:?}")),
        }
    }
    Ok(world)
}

impl FaultPlan {
    /// Every fault this plan turns on, coarse first: a backend fault kind on every backend
    /// (`crash`), then each backend's own (`alpha.crash`), the clients' (`clients.cancel`), the
    /// stateless side's (`bridge.tamper`) and the world's (`world.storm`). [`FaultPlan::without`]
    /// turns one off.
    pub fn kinds(&self) -> Vec<String> {
        let mut kinds = vec![];
        let on = |f: &BackendFaults, k: &str| f.get(k).is_some_and(|p| p != 0.0);
        for kind in BackendFaults::KINDS {
            if self.backends.values().any(|f| on(f, kind)) {
                kinds.push((*kind).to_owned());
            }
        }
        for (name, faults) in &self.backends {
            kinds.extend(BackendFaults::KINDS.iter().filter(|k| on(faults, k)).map(|k| format!("{name}.{k}")));
        }
        for kind in ClientFaults::KINDS {
            if self.clients.get(kind).is_some_and(|p| p != 0.0) {
                kinds.push(format!("clients.{kind}"));
            }
        }
        for kind in BridgeFaults::KINDS {
            if self.bridge.get(kind).is_some_and(|p| p != 0.0) {
                kinds.push(format!("bridge.{kind}"));
            }
        }
        let w = &self.world;
        let world = [
            ("world.reload_every_ms", w.reload_every_ms != 0),
            ("world.invalid", w.invalid != 0.0),
            ("world.per_session", w.per_session.is_some()),
            ("world.storm", w.storm.is_some()),
        ];
        kinds.extend(world.iter().filter(|(_, on)| *on).map(|(k, _)| (*k).to_owned()));
        kinds
    }

    /// This plan with the fault `kind` (a name from [`FaultPlan::kinds`]) turned off.
    pub fn without(&self, kind: &str) -> FaultPlan {
        let mut plan = self.clone();
        let off = |faults: &mut BackendFaults, k: &str| {
            if let Some(p) = faults.get_mut(k) {
                *p = 0.0;
            }
        };
        match kind.split_once('.') {
            None => plan.backends.values_mut().for_each(|f| off(f, kind)),
            Some(("clients", k)) => {
                if let Some(p) = plan.clients.get_mut(k) {
                    *p = 0.0;
                }
            }
            Some(("bridge", k)) => {
                if let Some(p) = plan.bridge.get_mut(k) {
                    *p = 0.0;
                }
            }
            Some(("world", "reload_every_ms")) => plan.world.reload_every_ms = 0,
            Some(("world", "invalid")) => plan.world.invalid = 0.0,
            Some(("world", "per_session")) => plan.world.per_session = None,
            Some(("world", "storm")) => plan.world.storm = None,
            Some((name, k)) => {
                if let Some(faults) = plan.backends.get_mut(name) {
                    off(faults, k);
                }
            }
        }
        plan
    }

    /// This plan for the first `n` of `names` only: the others' faults, and a per-session or
    /// storm server among them, are gone.
    pub fn only(&self, names: &[&str]) -> FaultPlan {
        let mut plan = self.clone();
        plan.backends.retain(|name, _| names.contains(&name.as_str()));
        let kept = |name: &Option<String>| name.as_deref().is_some_and(|n| names.contains(&n));
        if !kept(&plan.world.per_session) {
            plan.world.per_session = None;
        }
        if !kept(&plan.world.storm) {
            plan.world.storm = None;
        }
        plan
    }

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
        // The bridge's profile is drawn by the world from a stream of its own (see
        // `World::new`), so a seed's other draws stay where they were.
        FaultPlan { backends, clients, world, bridge: BridgeFaults::default() }
    }

    /// The faults of one backend (none if unlisted).
    pub fn backend(&self, name: &str) -> BackendFaults {
        self.backends.get(name).cloned().unwrap_or_default()
    }
}
