//! The simulated world: the real hub, fake clients and backends, a virtual clock and one
//! event queue. Single-threaded and seeded: the same seed replays the same run exactly.
//!
//! A step is one queued event (or one hub deadline) delivered, then every hub output drained
//! and checked; the cheap bounds of invariant 5 are checked after every step too.

use crate::fake_backend::{BackendAct, BackendShape, FakeBackend, Fired, MS, Scheduled};
use crate::fake_client::{ClientAction, ClientState, FakeClient, ModernProfile, ModernStep};
use crate::faults::{BridgeFaults, FaultPlan, below, between, chance, pick};
use crate::invariants::{Asked, Breach, Invariant, Ledger, ReloadScope, server_of};
use crate::trace::{Trace, input_line, output_line};
use crate::{Faults, SimOptions, SimReport, Violation};
use onemcp_core::auth::{Credential, TokenGrant};
use onemcp_core::config::{McpConfig, PerSessionConfig, RestartConfig, ServerConfig, TransportConfig};
use onemcp_core::view::{Presets, parse_view_query};
use onemcp_core::{BackendKey, ExchangeId, Gen, Hub, HubConfig, Input, Instant, Output};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde_json::Value;
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::Duration;

/// Server names, in the order backends are added.
pub const BACKEND_NAMES: [&str; 4] = ["alpha", "beta", "gamma", "delta"];

/// The tags servers draw theirs from (when views are on).
pub const TAGS: [&str; 3] = ["a", "b", "c"];

/// The views clients draw from (when views are on): URL queries of `/mcp`.
pub const VIEW_QUERIES: [&str; 8] = [
    "tags=a",
    "tags=b,c",
    "tags=c&app=sim",
    "tag-filter=a%20and%20not%20b",
    "tag-filter=b+or+c",
    "tag-filter=not%20a",
    "filter=a,c",
    "tag-filter=%28a%20or%20b%29%20and%20not%20c",
];

/// The hub's wall clock at virtual time 0 when authentication is on (Unix ms).
pub const WALL_EPOCH_MS: u64 = 1_764_683_731_000;

/// Something scheduled to happen.
#[derive(Debug)]
pub enum Event {
    /// An input reaches the hub; `who` labels it in the trace.
    Deliver {
        /// The input (boxed: a request is much larger than the other events).
        input: Box<Input>,
        /// Which client sent it (`-` for none).
        who: String,
    },
    /// A client decides what to do next.
    Wake(usize),
    /// The configuration file changes: this change, or one drawn from the seed.
    Reload(Option<ConfigChange>),
    /// A backend process does something.
    Backend {
        /// Server name.
        backend: String,
        /// Incarnation.
        generation: Gen,
        /// What.
        act: BackendAct,
    },
}

/// One edit of the configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigChange {
    /// A new server (one of [`BACKEND_NAMES`]).
    Add(String),
    /// A server is deleted from the file.
    Remove(String),
    /// A server's command changes: it must restart.
    Command(String),
    /// Only a server's tags change: nothing may restart.
    Tags(String),
    /// The file is saved broken: nothing may change.
    Invalid,
}

/// Queue entry wrapper: ordering is decided by (time, seq), which is unique, so the event
/// itself is never compared.
#[derive(Debug)]
pub struct Queued(pub Event);

impl PartialEq for Queued {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, _: &Self) -> Ordering {
        Ordering::Equal
    }
}

/// The whole simulated world.
pub struct World {
    /// The real core under test.
    pub hub: Hub,
    /// Scripted clients.
    pub clients: Vec<FakeClient>,
    /// Scripted servers by name.
    pub backends: BTreeMap<String, FakeBackend>,
    /// Virtual time.
    pub clock: Instant,
    /// The only source of randomness.
    pub rng: ChaCha8Rng,
    /// Pending events by (time, tie-breaking sequence number).
    pub queue: BinaryHeap<Reverse<(Instant, u64, Queued)>>,
    seq: u64,
    seed: u64,
    plan: FaultPlan,
    ledger: Ledger,
    trace: Trace,
    faults_on: bool,
    issuing: bool,
    next_exchange: u64,
    max_latency_ms: u64,
    steps: u64,
    events: u64,
    requests: u64,
    /// The configuration the hub runs now.
    config: McpConfig,
    /// Edits so far (command versions and tags are numbered by it).
    reloads: u64,
    request_timeout_ms: u64,
    connect_timeout_ms: u64,
    /// Servers have tags and some clients views; drawn from `view_rng`, a stream of its own,
    /// so turning views on or off leaves every other draw of the seed where it was.
    views: bool,
    view_rng: ChaCha8Rng,
    /// Some servers ask for roots and some clients have them; every draw about roots comes
    /// from `roots_rng`, a stream of its own, so the seed's other draws stay where they were.
    roots: bool,
    roots_rng: ChaCha8Rng,
    /// Authentication is on; every draw about credentials and probes of other clients'
    /// sessions comes from `auth_rng`, a stream of its own.
    auth: bool,
    auth_rng: ChaCha8Rng,
    /// Probes of other clients' sessions so far (numbers their payloads).
    probes: u64,
    /// Clients reuse each other's JSON-RPC ids.
    colliding: bool,
    /// Some clients speak the stateless revision and servers ask mid-call; every draw about
    /// them (the bridge's faults, which clients, their profiles, their decisions, the servers'
    /// questions) comes from `stateless_rng`, a stream of its own.
    stateless: bool,
    stateless_rng: ChaCha8Rng,
}

/// A client's credential (and whether it also puts a token in its URL), from `auth_rng`:
/// mostly a live token, some bound to tags (sometimes spelt in capitals), some refused.
/// Each client has a token of its own (`tok-<index>`): no two clients are the same principal.
fn draw_credential(rng: &mut ChaCha8Rng, client: usize) -> (Credential, bool) {
    let with_audience =
        |tags: Option<Vec<String>>, expires_at_ms: Option<u64>, revoked: bool, audience: Option<&str>| {
            Credential::Token(Box::new(TokenGrant {
                id: format!("tok-{client}"),
                name: format!("client-{client}"),
                tags,
                expires_at_ms,
                revoked,
                audience: audience.map(str::to_owned),
            }))
        };
    let token = |tags, expires_at_ms, revoked| with_audience(tags, expires_at_ms, revoked, None);
    let roll = below(rng, 100);
    match roll {
        0..60 => {
            // Bound to no tag at all, now and then: it may open a session that sees nothing.
            let tags = chance(rng, 0.5).then(|| {
                let upper = chance(rng, 0.2);
                let tags = if chance(rng, 0.05) { vec![] } else { draw_tags(rng) };
                tags.into_iter().map(|t| if upper { t.to_uppercase() } else { t }).collect()
            });
            let expires = chance(rng, 0.3).then_some(WALL_EPOCH_MS + 3_600_000);
            // An OAuth token names the resource it was issued for: one of this server's.
            let audience = chance(rng, 0.3).then(|| OUR_RESOURCES[below(rng, OUR_RESOURCES.len() as u64) as usize]);
            (with_audience(tags, expires, false, audience), false)
        }
        60..72 => {
            let tags = chance(rng, 0.5).then(|| draw_tags(rng));
            (token(tags, Some(WALL_EPOCH_MS + between(rng, 1, 5000)), false), false)
        }
        72..78 => (Credential::None, false),
        78..82 => (Credential::Malformed, false),
        82..87 => (Credential::Unknown, false),
        87..90 => (token(None, None, true), false),
        90..92 => {
            let elsewhere = OTHER_RESOURCES[below(rng, OTHER_RESOURCES.len() as u64) as usize];
            (with_audience(None, None, false, Some(elsewhere)), false)
        }
        92..97 => (token(None, Some(WALL_EPOCH_MS - below(rng, 2)), false), false),
        _ => (token(None, None, false), true),
    }
}

/// Resources of the simulated hub (its default front end), as clients spell them.
const OUR_RESOURCES: [&str; 4] =
    ["http://127.0.0.1:3050", "http://127.0.0.1:3050/mcp", "http://127.0.0.1:3050/mcp/", "http://127.0.0.1:3050/sse"];
/// Resources of other servers: a token issued for one of them is refused (RFC 8707).
const OTHER_RESOURCES: [&str; 4] = [
    "https://elsewhere.example/mcp",
    "http://127.0.0.1:3051/mcp",
    "http://127.0.0.1:3050/other",
    "http://127.0.0.1:3050.evil.example/mcp",
];

/// One or two distinct tags from [`TAGS`].
fn draw_tags(rng: &mut ChaCha8Rng) -> Vec<String> {
    let first = below(rng, TAGS.len() as u64) as usize;
    let mut tags = vec![TAGS[first].to_owned()];
    if chance(rng, 0.4) {
        tags.push(TAGS[(first + 1 + below(rng, TAGS.len() as u64 - 1) as usize) % TAGS.len()].to_owned());
    }
    tags
}

fn server_config(request_timeout_ms: u64, connect_timeout_ms: u64) -> ServerConfig {
    ServerConfig {
        connection_timeout: Some(Duration::from_millis(connect_timeout_ms)),
        request_timeout: Some(Duration::from_millis(request_timeout_ms)),
        ..ServerConfig::stdio("fake-server")
    }
}

impl World {
    /// Build the world for `seed`: draw its shape and faults, start the hub.
    pub fn new(seed: u64, options: &SimOptions) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Every dimension is drawn whether or not the options fix it: an option replaces the
        // draw instead of skipping it, so fixing a dimension to the value the seed drew replays
        // the very same run (the shrinker starts from there).
        let drawn_backends = between(&mut rng, 1, 4) as usize;
        let n_backends = options.backends.unwrap_or(drawn_backends).clamp(1, BACKEND_NAMES.len());
        let drawn_clients = between(&mut rng, 1, 5) as usize;
        let n_clients = options.clients.unwrap_or(drawn_clients).max(1);
        let drawn_colliding = chance(&mut rng, 0.7);
        let colliding = options.colliding_ids.unwrap_or(drawn_colliding);
        let names: Vec<String> = BACKEND_NAMES[..n_backends].iter().map(|s| (*s).to_owned()).collect();
        let drawn_plan = FaultPlan::swarm(&mut rng, &names);
        let mut plan = match &options.faults {
            Faults::Swarm => drawn_plan,
            Faults::Off => FaultPlan::default(),
            Faults::Plan(plan) => plan.clone(),
        };
        for kind in &options.without {
            plan = plan.without(kind);
        }
        if plan.world.per_session.is_some() && !options.per_session_disconnects {
            plan.clients.disconnect = 0.0;
        }
        let max_latency_ms = between(&mut rng, 1, 120);
        let swarm = matches!(options.faults, Faults::Swarm);
        let views = options.views.unwrap_or(swarm);
        let mut view_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7669_6577_7669_6577);
        let mut roots_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x726f_6f74_726f_6f74);
        let mut auth_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6175_7468_6175_7468);
        let drawn_auth = chance(&mut auth_rng, 0.35);
        let auth = options.auth.unwrap_or(swarm && drawn_auth);
        let drawn_roots = chance(&mut roots_rng, 0.5);
        let roots = options.roots.unwrap_or(swarm && drawn_roots);
        let mut stateless_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7374_6174_656c_6573);
        let drawn_stateless = chance(&mut stateless_rng, 0.5);
        let stateless = options.stateless.unwrap_or(swarm && drawn_stateless);
        let drawn_bridge = BridgeFaults::swarm(&mut stateless_rng);
        if swarm {
            // Servers ask mid-call only in worlds with stateless clients, unless a plan says so.
            plan.bridge = if stateless { drawn_bridge } else { BridgeFaults::default() };
        }
        let mut ledger = Ledger::new(names.clone());
        if auth {
            ledger.enable_auth();
        }
        let mut mcp = McpConfig::default();
        let mut backends = BTreeMap::new();
        for name in &names {
            let mut server =
                world_server(&mut rng, &plan, name, options.request_timeout_ms, options.connect_timeout_ms);
            if views {
                server.tags = draw_tags(&mut view_rng);
            }
            mcp.servers.insert(name.clone(), server);
            let mut fake = fake_backend(&mut rng, &plan, name, options);
            if roots {
                draw_roots_asks(&mut roots_rng, &mut fake);
            }
            draw_bridge(&mut stateless_rng, &plan, &mut fake);
            backends.insert(name.clone(), fake);
        }
        ledger.set_tags(tags_of(&mcp));
        let clients = (0..n_clients)
            .map(|i| {
                let mut client = FakeClient::new(i, chance(&mut rng, plan.clients.sse), colliding);
                client.max_calls = options.max_calls;
                if stateless && chance(&mut stateless_rng, 0.5) {
                    client.make_modern(ModernProfile::swarm(&mut stateless_rng));
                    if let Some(side) = &mut client.modern {
                        side.fresh_retry_tokens = options.fresh_retry_tokens;
                    }
                }
                if roots && chance(&mut roots_rng, 0.6) && client.modern.is_none() {
                    client.roots = true;
                    ledger.set_roots(i, client.capabilities());
                }
                if client.modern.as_ref().is_some_and(|m| m.profile.roots) {
                    ledger.set_roots(i, client.modern_capabilities());
                }
                if views && chance(&mut view_rng, 0.5) {
                    client.query = pick(&mut view_rng, &VIEW_QUERIES).map(|q| (*q).to_owned()).unwrap_or_default();
                    let spec = parse_view_query(&client.query, &Presets::default());
                    if let Some(filter) = spec.ok().and_then(|v| v.filter) {
                        ledger.set_view(i, filter);
                    }
                }
                if auth {
                    let (credential, query_token) = draw_credential(&mut auth_rng, i);
                    if query_token {
                        let sep = if client.query.is_empty() { "" } else { "&" };
                        client.query = format!("{}{sep}access_token=sim-secret", client.query);
                    }
                    ledger.set_credential(i, credential.clone(), query_token);
                    client.credential = credential;
                }
                client
            })
            .collect();
        let mut hub_seed = [0u8; 32];
        rng.fill_bytes(&mut hub_seed);
        let mut hub_config = HubConfig { mcp: mcp.clone(), ..HubConfig::default() };
        if auth {
            hub_config.auth_enabled = true;
            hub_config.wall_epoch_ms = WALL_EPOCH_MS;
        }
        let hub = Hub::new(Instant(0), hub_config, hub_seed);
        let mut world = World {
            hub,
            clients,
            backends,
            clock: Instant(0),
            rng,
            queue: BinaryHeap::new(),
            seq: 0,
            seed,
            plan,
            ledger,
            trace: Trace::new(options.trace_lines, options.full_trace),
            faults_on: true,
            issuing: true,
            next_exchange: 0,
            max_latency_ms,
            steps: 0,
            events: 0,
            requests: 0,
            config: mcp,
            reloads: 0,
            request_timeout_ms: options.request_timeout_ms,
            connect_timeout_ms: options.connect_timeout_ms,
            views,
            view_rng,
            roots,
            roots_rng,
            auth,
            auth_rng,
            probes: 0,
            colliding,
            stateless,
            stateless_rng,
        };
        for i in 0..n_clients {
            let at = between(&mut world.rng, 0, options.client_start_ms) * MS;
            world.schedule(at, Event::Wake(i));
        }
        for (at_ms, change) in &options.script {
            world.schedule(at_ms * MS, Event::Reload(Some(change.clone())));
        }
        if world.plan.world.reload_every_ms > 0 {
            let at = between(&mut world.rng, 1, 2 * world.plan.world.reload_every_ms) * MS;
            world.schedule(at, Event::Reload(None));
        }
        world
    }

    /// `options` with every dimension this world drew from its seed fixed to what was drawn:
    /// the same seed with these options builds this very world.
    pub fn pinned(&self, options: &SimOptions) -> SimOptions {
        SimOptions {
            backends: Some(self.backends.len()),
            clients: Some(self.clients.len()),
            colliding_ids: Some(self.colliding),
            faults: Faults::Plan(self.plan.clone()),
            views: Some(self.views),
            roots: Some(self.roots),
            auth: Some(self.auth),
            stateless: Some(self.stateless),
            ..options.clone()
        }
    }

    fn schedule(&mut self, delay_ns: u64, event: Event) {
        self.seq += 1;
        let at = Instant(self.clock.0.saturating_add(delay_ns));
        self.queue.push(Reverse((at, self.seq, Queued(event))));
    }

    fn schedule_backend(&mut self, backend: &str, generation: Gen, acts: Vec<Scheduled>) {
        for s in acts {
            self.schedule(s.delay, Event::Backend { backend: backend.to_owned(), generation, act: s.act });
        }
    }

    fn violation(&self, breach: Breach) -> Violation {
        // With a full trace on (`run --trace`), show all of it: the cause may be far back.
        let trace = self.trace.full().map(<[String]>::to_vec).unwrap_or_else(|| self.trace.recent());
        Violation { seed: self.seed, step: self.steps, invariant: breach.invariant, detail: breach.detail, trace }
    }

    /// Drain the hub's outputs produced by the start (the spawns), as step 0.
    pub fn start(&mut self) -> Result<(), Violation> {
        let mut plan = format!("{:?}", self.plan);
        if self.plan.bridge == BridgeFaults::default() {
            // Worlds without the stateless side trace exactly as they did before it existed.
            plan = plan.replace(&format!(", bridge: {:?}", self.plan.bridge), "");
        }
        self.trace.push(self.clock, format!("seed {} faults {plan}", self.seed));
        self.drain().map_err(|b| self.violation(b))
    }

    /// Run one step; `Ok(false)` when nothing is left to happen.
    pub fn step(&mut self) -> Result<bool, Violation> {
        let next_event = self.queue.peek().map(|Reverse((at, _, _))| *at);
        let deadline = self.hub.poll_timeout();
        self.steps += 1;
        self.ledger.end_step();
        let outcome = match (next_event, deadline) {
            (None, None) => {
                self.steps -= 1;
                return Ok(false);
            }
            (event, Some(deadline)) if event.is_none_or(|e| deadline <= e) => {
                self.clock = self.clock.max(deadline);
                self.trace.push(self.clock, "TIMER".into());
                self.hub.handle_timeout(self.clock);
                Ok(())
            }
            _ => match self.queue.pop() {
                Some(Reverse((at, _, Queued(event)))) => {
                    self.clock = self.clock.max(at);
                    self.handle_event(event)
                }
                None => Ok(()),
            },
        };
        self.events += 1;
        outcome
            .and_then(|()| self.drain())
            .and_then(|()| self.ledger.check_step(&self.hub.stats()))
            .map_err(|b| self.violation(b))?;
        Ok(true)
    }

    fn deliver(&mut self, mut input: Input, who: &str) {
        // io looks a token up when its request arrives: a request sent before its token was
        // revoked but arriving after presents a revoked token.
        if let Input::HttpRequest { request, .. } = &mut input
            && let Credential::Token(grant) = &mut request.credential
            && let Some(i) = who.strip_prefix('c').and_then(|i| i.parse::<usize>().ok())
            && self.clients.get(i).is_some_and(|c| matches!(&c.credential, Credential::Token(g) if g.revoked))
        {
            grant.revoked = true;
        }
        match &input {
            Input::HttpRequest { exchange, .. } => {
                if self.auth {
                    // The door decides by the hub's wall clock at the very step it handles this.
                    self.ledger.set_wall_ms(WALL_EPOCH_MS + self.clock.0 / 1_000_000);
                }
                self.ledger.handle_delivered(*exchange);
                if let Some(c) =
                    who.strip_prefix('c').and_then(|i| i.parse::<usize>().ok()).and_then(|i| self.clients.get_mut(i))
                {
                    c.handle_delivered(*exchange);
                }
            }
            Input::ExchangeClosed { exchange } => self.ledger.handle_closed(*exchange),
            Input::BackendExited { backend, generation, .. } => {
                self.ledger.handle_backend_exit(&backend.to_string(), *generation);
            }
            Input::CredentialsRevoked { principals } => {
                for client in principals.iter().filter_map(|p| p.strip_prefix("tok-")?.parse::<usize>().ok()) {
                    self.ledger.revoke(client);
                    if let Some(Credential::Token(grant)) = self.clients.get_mut(client).map(|c| &mut c.credential) {
                        grant.revoked = true;
                    }
                }
            }
            _ => {}
        }
        self.trace.push(self.clock, input_line(&input, who));
        self.hub.handle(self.clock, input);
    }

    fn handle_event(&mut self, event: Event) -> Result<(), Breach> {
        match event {
            Event::Deliver { input, who } => self.deliver(*input, &who),
            Event::Wake(i) => self.wake(i),
            Event::Reload(change) => self.reload(change),
            Event::Backend { backend, generation, act } => {
                let Some(fake) = self.backends.get_mut(server_of(&backend)) else { return Ok(()) };
                let fired = fake.fire(generation, &act);
                if fired != Fired::Dropped {
                    self.ledger.begin_source(&backend);
                }
                match (&fired, &act) {
                    (Fired::Exit(_), _) | (Fired::Deliver, BackendAct::SpawnFailed) => {
                        self.ledger.begin_failure(server_of(&backend));
                    }
                    (Fired::Deliver, BackendAct::Line { line, .. } | BackendAct::MidCall { line, .. }) => {
                        self.ledger.handle_backend_line(&backend, line)
                    }
                    _ => {}
                }
                let backend = BackendKey::parse(&backend);
                let input = match (fired, act) {
                    (Fired::Dropped, _) => return Ok(()),
                    (Fired::Exit(status), _) => Input::BackendExited { backend, generation, status },
                    (Fired::Deliver, BackendAct::Spawned) => {
                        Input::BackendSpawned { backend, generation, pid: Some(1000 + generation.0 as u32) }
                    }
                    (Fired::Deliver, BackendAct::SpawnFailed) => Input::BackendSpawnFailed {
                        backend,
                        generation,
                        error: "No such file or directory (os error 2)".into(),
                    },
                    (Fired::Deliver, BackendAct::Line { line, .. } | BackendAct::MidCall { line, .. }) => {
                        Input::BackendLine { backend, generation, line }
                    }
                    (Fired::Deliver, BackendAct::Crash | BackendAct::Exit) => return Ok(()),
                };
                self.deliver(input, "-");
            }
        }
        Ok(())
    }

    fn wake(&mut self, i: usize) {
        if !self.issuing {
            return;
        }
        let names: Vec<String> = self.config.servers.keys().cloned().collect();
        let Some(client) = self.clients.get_mut(i) else { return };
        let actions = if client.modern.is_some() {
            let faults = (&self.plan.clients, &self.plan.bridge);
            client.wake_modern(&mut self.stateless_rng, faults, &names, &mut self.next_exchange)
        } else {
            client.wake(&mut self.rng, &self.plan.clients, &names, &mut self.next_exchange)
        };
        let done = client.is_done();
        for action in actions {
            let latency = self.latency();
            self.dispatch(i, action, latency);
        }
        // Now and then a client's roots change (drawn apart from the rest, see `roots_rng`).
        if self.roots
            && self.clients.get(i).is_some_and(|c| c.roots)
            && chance(&mut self.roots_rng, 0.03)
            && let Some(action) = self.clients.get_mut(i).and_then(|c| c.roots_changed(&mut self.next_exchange))
        {
            let latency = self.roots_latency();
            self.dispatch(i, action, latency);
        }
        // Now and then a client names another client's session under its own token.
        if self.auth && chance(&mut self.auth_rng, 0.05) {
            self.probe(i, &names);
        }
        // Rarely, the operator revokes a client's token mid-run (`1mcp token revoke`, RFC 7009):
        // io tells the hub, which must end that principal's sessions and streams.
        if self.auth && chance(&mut self.auth_rng, 0.004) {
            let latency = between(&mut self.auth_rng, 0, self.max_latency_ms) * MS;
            let input = Box::new(Input::CredentialsRevoked { principals: vec![format!("tok-{i}")] });
            self.schedule(latency, Event::Deliver { input, who: "-".into() });
        }
        if !done {
            let next = between(&mut self.rng, 5, 400) * MS;
            self.schedule(next, Event::Wake(i));
        }
    }

    /// Send what client `i` does, `latency` from now.
    fn dispatch(&mut self, i: usize, action: ClientAction, latency: u64) {
        match action {
            ClientAction::Send { exchange, request, asked } => {
                self.requests += 1;
                self.ledger.issue(exchange, i, asked);
                self.schedule(
                    latency,
                    Event::Deliver {
                        input: Box::new(Input::HttpRequest { exchange, request: *request }),
                        who: format!("c{i}"),
                    },
                );
            }
            ClientAction::SendModern { exchange, request, asked, modern } => {
                self.requests += 1;
                self.ledger.issue_modern(exchange, i, asked, *modern);
                let input = Box::new(Input::HttpRequest { exchange, request: *request });
                self.schedule(latency, Event::Deliver { input, who: format!("c{i}") });
            }
            ClientAction::Close(exchange) => {
                self.schedule(
                    latency,
                    Event::Deliver { input: Box::new(Input::ExchangeClosed { exchange }), who: format!("c{i}") },
                );
            }
        }
    }

    /// What a stateless client does about an answer: retry after a while, or first let the
    /// process serving its call die (the retry's state has expired then).
    fn modern_steps(&mut self, i: usize, steps: Vec<ModernStep>) {
        for step in steps {
            match step {
                ModernStep::Send { delay, action } => {
                    let latency = between(&mut self.stateless_rng, 0, self.max_latency_ms) * MS;
                    self.dispatch(i, action, delay + latency);
                }
                ModernStep::Crash { delay, payload } => {
                    let Some((backend, generation)) = self.ledger.call_location(&payload) else { continue };
                    self.schedule(delay, Event::Backend { backend, generation, act: BackendAct::Crash });
                }
            }
        }
    }

    /// Client `i` sends a call naming another client's live session with its own credential
    /// (every draw from `auth_rng`); the ledger expects 404, or the door's refusal of the
    /// credential itself.
    fn probe(&mut self, i: usize, names: &[String]) {
        let sessions: Vec<String> = self
            .clients
            .iter()
            .filter(|c| c.index != i)
            .filter_map(|c| match &c.state {
                ClientState::Active { session } => Some(session.clone()),
                _ => None,
            })
            .collect();
        let Some(session) = pick(&mut self.auth_rng, &sessions).cloned() else { return };
        let Some(backend) = pick(&mut self.auth_rng, names).cloned() else { return };
        // Mostly calls; now and then a DELETE or a GET stream of the other's session.
        let kind = [0, 0, 0, 1, 2][below(&mut self.auth_rng, 5) as usize];
        let Some(client) = self.clients.get(i) else { return };
        self.probes += 1;
        self.next_exchange += 1;
        let exchange = ExchangeId(self.next_exchange);
        let (request, asked) = client.probe(session, self.probes, &backend, kind);
        let latency = between(&mut self.auth_rng, 0, self.max_latency_ms) * MS;
        self.requests += 1;
        self.ledger.issue_probe(exchange, i, asked);
        let input = Box::new(Input::HttpRequest { exchange, request: *request });
        self.schedule(latency, Event::Deliver { input, who: format!("c{i}") });
    }

    /// Client-to-hub latency of what clients do about roots (from `roots_rng`).
    fn roots_latency(&mut self) -> u64 {
        between(&mut self.roots_rng, 0, self.max_latency_ms) * MS
    }

    /// Deliver a configuration change (scripted, or drawn from the seed and rescheduled);
    /// the ledger learns first what it may and may not touch.
    fn reload(&mut self, change: Option<ConfigChange>) {
        let scripted = change.is_some();
        if !self.faults_on && !scripted {
            return;
        }
        let change = change.unwrap_or_else(|| self.draw_change());
        if !scripted {
            let next = between(&mut self.rng, 1, 2 * self.plan.world.reload_every_ms) * MS;
            self.schedule(next, Event::Reload(None));
        }
        self.reloads += 1;
        let old = self.config.clone();
        let mut new = old.clone();
        let mut changed = BTreeSet::new();
        match &change {
            ConfigChange::Invalid => {}
            ConfigChange::Add(name) => {
                if !self.backends.contains_key(name) {
                    let options = SimOptions { request_timeout_ms: self.request_timeout_ms, ..SimOptions::default() };
                    let mut fake = fake_backend(&mut self.rng, &self.plan, name, &options);
                    if self.roots {
                        draw_roots_asks(&mut self.roots_rng, &mut fake);
                    }
                    draw_bridge(&mut self.stateless_rng, &self.plan, &mut fake);
                    self.backends.insert(name.clone(), fake);
                }
                let mut server =
                    world_server(&mut self.rng, &self.plan, name, self.request_timeout_ms, self.connect_timeout_ms);
                if self.views {
                    server.tags = draw_tags(&mut self.view_rng);
                }
                new.servers.insert(name.clone(), server);
                changed.insert(name.clone());
            }
            ConfigChange::Remove(name) => {
                new.servers.remove(name);
                changed.insert(name.clone());
            }
            ConfigChange::Command(name) => {
                if let Some(TransportConfig::Stdio(spec)) = new.servers.get_mut(name).map(|s| &mut s.transport) {
                    spec.command = format!("fake-server-v{}", self.reloads);
                    changed.insert(name.clone());
                }
            }
            ConfigChange::Tags(name) => {
                if let Some(server) = new.servers.get_mut(name) {
                    server.tags =
                        if self.views { draw_tags(&mut self.view_rng) } else { vec![format!("t{}", self.reloads)] };
                }
            }
        }
        let untouched: BTreeSet<String> = old.servers.keys().filter(|n| !changed.contains(*n)).cloned().collect();
        let removed: BTreeSet<String> = old.servers.keys().filter(|n| !new.servers.contains_key(*n)).cloned().collect();
        let scope = ReloadScope { untouched, invalid: change == ConfigChange::Invalid, what: format!("{change:?}") };
        if change != ConfigChange::Invalid {
            // The hub re-decides every view with the new tags at this very step.
            self.ledger.set_tags(tags_of(&new));
        }
        self.ledger.begin_reload(scope, new.servers.keys().cloned().collect(), removed);
        let input = if change == ConfigChange::Invalid {
            Input::ConfigInvalid { errors: vec![format!("mcp.json:1: edit {} is not JSON", self.reloads)] }
        } else {
            self.config = new.clone();
            Input::ConfigChanged { config: new }
        };
        self.deliver(input, "-");
    }

    /// A random edit: invalid with the plan's probability, else add, remove, restart or retag.
    fn draw_change(&mut self) -> ConfigChange {
        if chance(&mut self.rng, self.plan.world.invalid) {
            return ConfigChange::Invalid;
        }
        let configured: Vec<String> = self.config.servers.keys().cloned().collect();
        let absent: Vec<String> =
            BACKEND_NAMES.iter().map(|n| (*n).to_owned()).filter(|n| !self.config.servers.contains_key(n)).collect();
        let any = pick(&mut self.rng, &configured).cloned().unwrap_or_default();
        match below(&mut self.rng, 4) {
            0 if !absent.is_empty() => ConfigChange::Add(pick(&mut self.rng, &absent).cloned().unwrap_or_default()),
            1 if configured.len() > 1 => ConfigChange::Remove(any),
            2 => ConfigChange::Command(any),
            _ => ConfigChange::Tags(any),
        }
    }

    /// Client-to-hub latency: usually small, sometimes a spike.
    fn latency(&mut self) -> u64 {
        let spike = chance(&mut self.rng, 0.02);
        let max = if spike { self.max_latency_ms * 10 } else { self.max_latency_ms };
        between(&mut self.rng, 0, max) * MS
    }

    fn drain(&mut self) -> Result<(), Breach> {
        // What clients do about roots in answer to these outputs, sent once they are drained.
        let mut roots_acts = vec![];
        let mut modern_acts = vec![];
        while let Some(output) = self.hub.poll_output() {
            self.trace.push(self.clock, output_line(&output));
            if let Some(done) = self.ledger.handle_output(&output)?
                && let Some(c) = self.clients.get_mut(done.client)
            {
                c.handle_response(done.exchange, &done.asked, done.status, &done.headers);
                // A stateless client goes on with a call its server asked something, whatever
                // the phase (misbehaving only while faults are on).
                if c.modern.is_some() {
                    let (rng, bridge) = (&mut self.stateless_rng, &self.plan.bridge);
                    let answer = done.answer.as_ref();
                    let steps = c.handle_modern_answer(
                        rng,
                        bridge,
                        self.faults_on,
                        done.exchange,
                        answer,
                        &mut self.next_exchange,
                    );
                    modern_acts.push((done.client, steps));
                }
                // A client with roots opens its stream as soon as it has a session.
                if done.asked == Asked::Initialize
                    && self.issuing
                    && let Some(action) = c.open_roots_stream(&mut self.next_exchange)
                {
                    roots_acts.push((done.client, action));
                }
            }
            // A client answers the roots question that reached it, whatever the phase.
            if let Output::PushEvent { exchange, event } = &output
                && let Ok(message) = serde_json::from_str::<Value>(&event.data)
                && message.get("method").and_then(Value::as_str) == Some("roots/list")
                && let (Some(id), Some(i)) = (message.get("id"), self.ledger.client_of(*exchange))
                && let Some(action) = self.clients.get_mut(i).and_then(|c| c.answer_roots(id, &mut self.next_exchange))
            {
                roots_acts.push((i, action));
            }
            match output {
                Output::SpawnBackend { backend, generation, .. } => {
                    let backend = backend.to_string();
                    let on = self.faults_on;
                    let acts = match self.backends.get_mut(server_of(&backend)) {
                        Some(fake) => fake.handle_spawn(&mut self.rng, on, generation),
                        None => vec![],
                    };
                    self.schedule_backend(&backend, generation, acts);
                }
                Output::WriteBackend { backend, generation, line } => {
                    let backend = backend.to_string();
                    let on = self.faults_on;
                    let acts = match self.backends.get_mut(server_of(&backend)) {
                        Some(fake) => fake.handle_line(&mut self.rng, on, generation, &line),
                        None => vec![],
                    };
                    self.schedule_backend(&backend, generation, acts);
                }
                Output::StopBackend { backend, generation } => {
                    let backend = backend.to_string();
                    let acts = match self.backends.get_mut(server_of(&backend)) {
                        Some(fake) => fake.handle_stop(&mut self.rng, generation),
                        None => vec![],
                    };
                    self.schedule_backend(&backend, generation, acts);
                }
                Output::Respond { .. }
                | Output::OpenStream { .. }
                | Output::PushEvent { .. }
                | Output::CloseStream { .. } => {}
            }
        }
        for (i, action) in roots_acts {
            let latency = self.roots_latency();
            self.dispatch(i, action, latency);
        }
        for (i, steps) in modern_acts {
            self.modern_steps(i, steps);
        }
        Ok(())
    }

    /// Run until nothing is left to happen or `max_steps` more steps were taken.
    fn run_to_quiescence(&mut self, max_steps: u64, phase: &str) -> Result<(), Violation> {
        for _ in 0..max_steps {
            if !self.step()? {
                return Ok(());
            }
        }
        let stats = self.hub.stats();
        let detail = format!(
            "{phase}: still busy after {max_steps} more steps at {} ({} events queued, next deadline {:?}, {stats:?})",
            crate::trace::stamp(self.clock),
            self.queue.len(),
            self.hub.poll_timeout()
        );
        Err(self.violation(Breach { invariant: Invariant::Drains, detail }))
    }

    /// The whole run: safety phase with faults, liveness phase without, optional shutdown.
    pub fn run(mut self, options: &SimOptions) -> Result<SimReport, Violation> {
        self.start()?;
        for _ in 0..options.steps {
            if !self.step()? {
                break;
            }
        }
        // Liveness: faults off, no new requests; everything in flight must settle.
        self.faults_on = false;
        self.issuing = false;
        self.trace.push(self.clock, "--- liveness: faults off, clients quiet ---".into());
        self.run_to_quiescence(options.liveness_steps, "liveness")?;
        let settled = self.hub.stats();
        self.ledger.check_quiescent(&settled).map_err(|b| self.violation(b))?;
        self.ledger.check_sessions(&settled).map_err(|b| self.violation(b))?;
        if options.shutdown {
            self.trace.push(self.clock, "--- shutdown ---".into());
            self.schedule(MS, Event::Deliver { input: Box::new(Input::Shutdown), who: "-".into() });
            self.run_to_quiescence(options.liveness_steps, "shutdown")?;
            let stats = self.hub.stats();
            self.ledger.check_quiescent(&stats).map_err(|b| self.violation(b))?;
            if stats.sessions != 0 || stats.ready_backends != 0 || self.ledger.open_streams() != 0 {
                let detail = format!("after shutdown the hub still has {stats:?}");
                return Err(self.violation(Breach { invariant: Invariant::Drains, detail }));
            }
        }
        Ok(self.report(settled))
    }

    fn report(self, settled: onemcp_core::HubStats) -> SimReport {
        let backend_faults: u64 = self.backends.values().map(|b| b.faults_injected).sum();
        let client_faults: u64 = self.clients.iter().map(|c| c.faults_injected).sum::<u64>() + self.probes;
        SimReport {
            seed: self.seed,
            steps: self.steps,
            events: self.events,
            trace_lines: self.trace.len(),
            requests: self.requests,
            responses: self.ledger.responses,
            faults_injected: backend_faults + client_faults,
            cancels_seen_by_backends: self.backends.values().map(|b| b.cancels_received).sum(),
            crashes: self.backends.values().map(|b| b.crashes).sum(),
            virtual_time: Duration::from_nanos(self.clock.0),
            settled,
            trace_hash: self.trace.hash(),
            outcomes: self.ledger.outcomes(),
            trace: self.trace.full().map(<[String]>::to_vec).unwrap_or_default(),
            clients: self.clients.len(),
            backends: self.backends.len(),
            auth: self.auth,
            stateless_clients: self.clients.iter().filter(|c| c.modern.is_some()).count(),
            bridge: self.ledger.bridge_counts(),
        }
    }
}

/// Every configured server's tags.
fn tags_of(config: &McpConfig) -> BTreeMap<String, Vec<String>> {
    config.servers.iter().map(|(name, server)| (name.clone(), server.tags.clone())).collect()
}

/// A server's configuration in this world: per-session and storm servers get their settings.
fn world_server(
    rng: &mut ChaCha8Rng,
    plan: &FaultPlan,
    name: &str,
    request_timeout_ms: u64,
    connect_timeout_ms: u64,
) -> ServerConfig {
    let mut server = server_config(request_timeout_ms, connect_timeout_ms);
    if plan.world.per_session.as_deref() == Some(name) {
        let idle = Duration::from_millis(between(rng, 300, 5000));
        server.per_session = Some(PerSessionConfig { max_instances: 8, idle_timeout: idle, only_with_sessions: false });
    }
    if plan.world.storm.as_deref() == Some(name) {
        server.restart = RestartConfig {
            restart_on_exit: true,
            max_restarts: between(rng, 1, 4) as u32,
            restart_delay: Duration::from_millis(between(rng, 50, 400)),
        };
    }
    server
}

/// Whether a server asks for roots, and its own stream of roots draws.
fn draw_roots_asks(roots_rng: &mut ChaCha8Rng, fake: &mut FakeBackend) {
    fake.asks_roots = chance(roots_rng, 0.5);
    fake.roots_rng = ChaCha8Rng::seed_from_u64(roots_rng.next_u64());
}

/// What a server asks, logs and reports mid-call (the plan's bridge profile), and its own
/// stream of those draws.
fn draw_bridge(stateless_rng: &mut ChaCha8Rng, plan: &FaultPlan, fake: &mut FakeBackend) {
    fake.bridge = plan.bridge.clone();
    fake.bridge_rng = ChaCha8Rng::seed_from_u64(stateless_rng.next_u64());
}

/// The scripted server behind `name`.
fn fake_backend(rng: &mut ChaCha8Rng, plan: &FaultPlan, name: &str, options: &SimOptions) -> FakeBackend {
    let drawn = BackendShape::swarm(rng, options.request_timeout_ms);
    let shape = options.shape.clone().unwrap_or(drawn);
    let mut fake = FakeBackend::new(name.to_owned(), shape, plan.backend(name));
    fake.faulty_relists = options.faulty_relists;
    fake.storm = plan.world.storm.as_deref() == Some(name);
    fake
}
