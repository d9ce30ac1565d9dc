//! The hub: every client session and backend, and the routing between them.
//!
//! Call order: [`Hub::new`], then any sequence of [`Hub::handle`] / [`Hub::handle_timeout`],
//! draining [`Hub::poll_output`] to `None` after each. The hub never panics on peer input:
//! a malformed message from a client or a backend becomes a JSON-RPC error or a log line.
//!
//! The outputs are a function of the config, the seed and the sequence of calls with their
//! instants: no clock of its own (every path gets `now` from the call it serves), entropy only
//! from the seeded RNG, and ordered maps only. That is what lets a `serve --record` recording
//! (every call, timer firings included) replay byte for byte in `onemcp-sim replay`.

mod availability;
mod backends;
mod bridge;
mod calls;
mod clients;
mod door;
mod instances;
mod legacy;
mod listen;
mod relay;
mod reload;
mod sessions;
mod stateless;
mod subscriptions;
pub use clients::{SERVER_NAME, SERVER_VERSION};
mod http;

use crate::backend::{Backend, BackendState, ListKind};
use crate::config::McpConfig;
use crate::cursor::CursorKey;
use crate::event::{HttpResponse, Input, Output, SseEvent};
use crate::front::ReplyMode;
use crate::ids::{BackendKey, ExchangeId, Gen, ProxyId, SessionId};
use crate::registry::Registry;
use crate::server_requests::ServerRequests;
use crate::session::{Session, Viewer};
use crate::time::Instant;
use crate::timer::TimerTable;
use crate::view::Presets;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Everything the hub needs to know at start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
// Recordings carry a HubConfig; fields added later must not make older recordings unreadable.
#[serde(default)]
pub struct HubConfig {
    /// The servers to run.
    pub mcp: McpConfig,
    /// How the front end is reached.
    pub front: FrontConfig,
    /// Unix time in milliseconds at `Instant(0)`, for wall-clock timestamps in `/health`.
    pub wall_epoch_ms: u64,
    /// Most concurrent client sessions; more are refused with 503.
    pub max_sessions: usize,
    /// Most concurrent sessions one principal (token or grant) may hold; more are refused
    /// with 429, so one client cannot take every session from the others.
    pub max_sessions_per_principal: usize,
    /// Whether the front end requires authentication (reported in `/health`).
    pub auth_enabled: bool,
    /// What callers without a token see of `/health` with authentication on.
    pub health_info_level: crate::health::InfoLevel,
    /// The authorization server clients are sent to (RFC 9728 `authorization_servers`): an
    /// external identity provider's issuer; `None`: the one this daemon embeds.
    pub auth_issuer: Option<String>,
    /// The audience tokens must carry (`--auth-audience`); `None`: any of this server's own
    /// resource URIs (its base URL, `/mcp`, `/sse`, `/messages`).
    pub auth_audience: Option<String>,
    /// `presets.json` from the config directory, as text, if there is one.
    pub presets: Option<PresetsFile>,
    /// Entries per page of a paginated list (`?pagination=true`).
    pub page_size: usize,
    /// How long a shutdown waits for calls in flight before failing them.
    pub drain_grace: Duration,
    /// Ping backends idle this long; one that does not answer within [`PING_TIMEOUT`] is
    /// restarted. `None` (the default here; the daemon sets 30 s) never pings.
    pub ping_interval: Option<Duration>,
    /// End sessions without an open stream or a call in flight after this long unused
    /// (clients rarely send DELETE). `None` (the default here; the daemon sets 24 h, 1MCP's
    /// session TTL) keeps them until `max_sessions` refuses new ones.
    pub session_idle_timeout: Option<Duration>,
}

/// How long a backend has to answer a liveness ping.
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// The text of a presets file and where it came from (for messages).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresetsFile {
    /// Path, for messages.
    pub source: String,
    /// Contents.
    pub text: String,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            mcp: McpConfig::default(),
            front: FrontConfig::default(),
            wall_epoch_ms: 0,
            max_sessions: 10_000,
            max_sessions_per_principal: 1_000,
            auth_enabled: false,
            health_info_level: crate::health::InfoLevel::Minimal,
            auth_issuer: None,
            auth_audience: None,
            presets: None,
            page_size: 100,
            drain_grace: Duration::from_secs(3),
            ping_interval: None,
            session_idle_timeout: None,
        }
    }
}

/// The listening address, used for `Host`/`Origin` validation and advertised URLs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrontConfig {
    /// Host the daemon is bound to (e.g. `127.0.0.1`).
    pub host: String,
    /// Port actually bound.
    pub port: u16,
    /// Public URL when behind a proxy (`--external-url`).
    pub external_url: Option<String>,
}

impl FrontConfig {
    /// The base URL clients reach this server at (no trailing slash): `--external-url`, else
    /// the bound address (a wildcard bind is reached at `127.0.0.1`). Tokens are issued for it,
    /// and it is the embedded authorization server's issuer.
    pub fn public_base(&self) -> String {
        if let Some(url) = &self.external_url {
            return url.trim_end_matches('/').to_owned();
        }
        let host = if matches!(self.host.as_str(), "0.0.0.0" | "::" | "") { "127.0.0.1" } else { self.host.as_str() };
        let host = if host.contains(':') { format!("[{host}]") } else { host.to_owned() };
        format!("http://{host}:{}", self.port)
    }
}

impl Default for FrontConfig {
    fn default() -> Self {
        FrontConfig { host: "127.0.0.1".into(), port: 3050, external_url: None }
    }
}

/// How long a backend may take to start and initialize when its config says nothing.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a forwarded request may take when the config says nothing (the SDKs' default).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A stateless backend's listen stream that ends sooner than this is not opened again: the
/// backend would only end the next one too.
pub const LISTEN_MIN_LIFE: Duration = Duration::from_secs(10);

/// A deadline the hub is waiting for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Timer {
    /// A backend must finish starting by then.
    Connect { backend: BackendKey, generation: Gen },
    /// A forwarded request must be answered by then.
    Request { backend: BackendKey, generation: Gen, id: ProxyId },
    /// A failed backend is due to be started again.
    Restart { backend: BackendKey, generation: Gen },
    /// A per-session instance may have been idle long enough to stop.
    Idle { backend: BackendKey, generation: Gen },
    /// The shutdown drain is out of time.
    Drain,
    /// Time to check that an idle backend still answers.
    Ping { backend: BackendKey, generation: Gen },
    /// Time to end sessions nobody has used for `session_idle_timeout`.
    SessionSweep,
}

/// An exchange the hub holds open.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Exchange {
    /// Waiting for a backend's answer to a forwarded request. `streaming` once it has turned
    /// into an SSE stream (to carry progress or a server request before the result).
    Call { backend: BackendKey, id: ProxyId, mode: ReplyMode, sse_ok: bool, streaming: bool },
    /// A session's standalone `GET` stream.
    Stream { session: SessionId },
}

/// The proxy state machine.
pub struct Hub {
    config: HubConfig,
    rng: ChaCha20Rng,
    backends: BTreeMap<BackendKey, Backend>,
    sessions: BTreeMap<SessionId, Session>,
    exchanges: BTreeMap<ExchangeId, Exchange>,
    registry: Registry,
    timers: TimerTable<Timer>,
    outputs: VecDeque<Output>,
    next_generation: u64,
    /// Backends' requests forwarded to clients and not answered yet.
    server_requests: ServerRequests,
    shutting_down: bool,
    presets: Presets,
    cursor_key: CursorKey,
    /// Signs the `requestState` of calls parked for a stateless client's answers.
    state_key: CursorKey,
    /// Bumped whenever a merged list changes, so cursors into an older list are refused.
    list_generation: u64,
    /// Requests waiting for a per-session instance to finish starting, by instance.
    queued: BTreeMap<BackendKey, Vec<instances::Waiting>>,
    next_instance: u64,
    /// Why the last configuration change was rejected, until a valid one arrives.
    config_error: Option<Vec<String>>,
    /// Set while a shutdown waits for calls in flight.
    drain_timer: Option<crate::timer::TimerKey>,
    /// The pending idle-session sweep, if sessions exist to sweep.
    sweep_timer: Option<crate::timer::TimerKey>,
    /// Principals already told (in the log) that they hit their session quota.
    quota_logged: std::collections::BTreeSet<String>,
    /// Stateless requests being served, by the exchange that carries each: its record ends
    /// when the exchange does.
    stateless: BTreeMap<ExchangeId, SessionId>,
    /// Stateless requests served so far (numbers their records).
    stateless_served: u64,
}

impl Hub {
    /// A hub that starts every enabled backend in its first outputs.
    pub fn new(now: Instant, config: HubConfig, seed: [u8; 32]) -> Hub {
        let backends = config
            .mcp
            .servers
            .iter()
            .map(|(name, server)| {
                let key = BackendKey::server(name.clone());
                (key.clone(), Backend::new(key, server.clone(), now))
            })
            .collect();
        let mut hub = Hub {
            config,
            rng: ChaCha20Rng::from_seed(seed),
            backends,
            sessions: BTreeMap::new(),
            exchanges: BTreeMap::new(),
            registry: Registry::default(),
            timers: TimerTable::default(),
            outputs: VecDeque::new(),
            next_generation: 0,
            server_requests: ServerRequests::default(),
            shutting_down: false,
            presets: Presets::default(),
            cursor_key: CursorKey::new([0; 32]),
            state_key: CursorKey::new([0; 32]),
            list_generation: 0,
            queued: BTreeMap::new(),
            next_instance: 0,
            config_error: None,
            drain_timer: None,
            sweep_timer: None,
            quota_logged: std::collections::BTreeSet::new(),
            stateless: BTreeMap::new(),
            stateless_served: 0,
        };
        hub.cursor_key = CursorKey::new(hub.random_bytes());
        hub.state_key = crate::cursor::derive_key(&hub.cursor_key, b"1mcp requestState");
        if let Some(file) = hub.config.presets.take() {
            hub.handle_presets_changed(file);
        }
        let names: Vec<BackendKey> = hub.backends.keys().cloned().collect();
        for name in names {
            hub.start_backend(now, &name);
        }
        hub
    }

    /// Feed one fact.
    pub fn handle(&mut self, now: Instant, input: Input) {
        let answered_from = self.outputs.len();
        match input {
            Input::HttpRequest { exchange, request } => self.handle_http(now, exchange, request),
            Input::ExchangeClosed { exchange } => self.handle_exchange_closed(now, exchange),
            Input::BackendSpawned { backend, generation, pid } => self.handle_spawned(now, &backend, generation, pid),
            Input::BackendSpawnFailed { backend, generation, error } => {
                self.handle_spawn_failed(now, &backend, generation, &error)
            }
            Input::BackendLine { backend, generation, line } => {
                self.handle_backend_line(now, &backend, generation, &line)
            }
            Input::BackendLineTooLong { backend, generation, len } => {
                tracing::warn!(server = %backend, len, "discarded an over-long line from the server");
                let _ = generation;
            }
            Input::BackendExited { backend, generation, status } => {
                self.handle_exited(now, &backend, generation, &status.to_string())
            }
            Input::ConfigChanged { config } => self.handle_config_changed(now, config),
            Input::ConfigInvalid { errors } => self.handle_config_invalid(errors),
            Input::PresetsChanged { presets } => self.handle_presets_changed(presets),
            Input::CredentialsRevoked { principals } => self.handle_credentials_revoked(now, &principals),
            Input::BackendNeedsAuthorization { backend, generation, why } => {
                self.handle_needs_authorization(now, &backend, generation, why)
            }
            Input::BackendAuthorized { server } => self.handle_authorized(now, &server),
            Input::Shutdown => self.handle_shutdown(now),
        }
        self.end_answered_stateless(now, answered_from);
    }

    /// Fire every timer due at or before `now`; spurious calls are no-ops.
    pub fn handle_timeout(&mut self, now: Instant) {
        let answered_from = self.outputs.len();
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::Connect { backend, generation } => self.handle_connect_timeout(now, &backend, generation),
                Timer::Request { backend, generation, id } => {
                    self.handle_request_timeout(now, &backend, generation, id)
                }
                Timer::Restart { backend, generation } => self.handle_restart_due(now, &backend, generation),
                Timer::Idle { backend, generation } => self.handle_idle_due(now, &backend, generation),
                Timer::Ping { backend, generation } => self.handle_ping_due(now, &backend, generation),
                Timer::SessionSweep => self.handle_session_sweep(now),
                Timer::Drain => {
                    self.drain_timer = None;
                    tracing::warn!("shutdown grace is over; failing the calls still in flight");
                    self.finish_shutdown(now);
                }
            }
        }
        self.end_answered_stateless(now, answered_from);
    }

    /// Next imperative, if any. Drain until `None` after every `handle*`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Earliest deadline at which [`Hub::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Counters for tests and the simulator: what is still held.
    pub fn stats(&self) -> HubStats {
        HubStats {
            sessions: self.sessions.len(),
            open_exchanges: self.exchanges.len(),
            pending_backend_requests: self.backends.values().map(|b| b.in_flight.len()).sum(),
            timers: self.timers.len(),
            ready_backends: self.backends.values().filter(|b| b.state == BackendState::Ready).count(),
            starting_backends: self.backends.values().filter(|b| b.state.is_starting()).count(),
        }
    }

    fn random_bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut bytes = [0u8; N];
        self.rng.fill_bytes(&mut bytes);
        bytes
    }

    /// Re-merge the ready backends' lists; every session whose view of a list changed hears
    /// about it (a list it cannot see changing is none of its business).
    fn rebuild_registry(&mut self) {
        let ready = self.backends.values().filter(|b| b.state == BackendState::Ready && !b.key.is_instance());
        let registry = Registry::build(ready.map(|b| (b.server(), &b.config, &b.catalog)));
        for c in registry.collisions() {
            tracing::warn!(name = %c.name, kept_by = %c.kept_by, server = %c.server, "name collision: {}", c.resolution);
        }
        let old = std::mem::replace(&mut self.registry, registry);
        if ListKind::ALL.iter().all(|k| old.items(*k) == self.registry.items(*k)) {
            return;
        }
        self.list_generation += 1;
        let changed: Vec<(SessionId, std::collections::BTreeSet<ListKind>)> = self
            .sessions
            .values()
            .filter(|s| !s.id.is_stateless() || s.listen.is_some())
            .map(|s| {
                let (viewer, registry) = (s.viewer(), &self.registry);
                let kinds =
                    ListKind::ALL.into_iter().filter(|k| visible(viewer, &old, *k) != visible(viewer, registry, *k));
                (s.id.clone(), kinds.collect())
            })
            .filter(|(_, kinds): &(SessionId, std::collections::BTreeSet<ListKind>)| !kinds.is_empty())
            .collect();
        for (session, kinds) in changed {
            self.notify_list_changed(&session, &kinds);
        }
    }

    fn respond(&mut self, exchange: ExchangeId, status: u16, body: &Value, headers: Vec<(String, String)>) {
        self.outputs.push_back(Output::Respond {
            exchange,
            response: HttpResponse {
                status,
                content_type: Some("application/json".into()),
                headers,
                body: body.to_string(),
            },
        });
    }

    fn respond_empty(&mut self, exchange: ExchangeId, status: u16, headers: Vec<(String, String)>) {
        self.outputs.push_back(Output::Respond {
            exchange,
            response: HttpResponse { status, content_type: None, headers, body: String::new() },
        });
    }

    /// Answer an MCP request in the form the client asked for.
    fn reply(&mut self, exchange: ExchangeId, mode: ReplyMode, message: &Value, headers: Vec<(String, String)>) {
        match mode {
            ReplyMode::Json => self.respond(exchange, 200, message, headers),
            ReplyMode::Legacy { stream } => self.push_event(stream, message),
            ReplyMode::Sse => {
                self.outputs.push_back(Output::OpenStream { exchange, headers });
                self.outputs.push_back(Output::PushEvent {
                    exchange,
                    event: SseEvent { event: Some("message".into()), data: message.to_string() },
                });
                self.outputs.push_back(Output::CloseStream { exchange });
            }
        }
    }
}

/// The entries of a list a viewer admits.
fn visible<'r>(viewer: Viewer<'_>, registry: &'r Registry, kind: ListKind) -> Vec<&'r crate::registry::Listed> {
    registry.items(kind).iter().filter(|l| viewer.admits(&l.tags)).collect()
}

/// What the hub is holding right now; all zero but `ready_backends` after quiescence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HubStats {
    /// Live client sessions.
    pub sessions: usize,
    /// Exchanges awaiting an answer or streaming.
    pub open_exchanges: usize,
    /// Requests sent to backends and not yet answered.
    pub pending_backend_requests: usize,
    /// Scheduled timers.
    pub timers: usize,
    /// Backends serving.
    pub ready_backends: usize,
    /// Backends still starting.
    pub starting_backends: usize,
}

#[cfg(test)]
mod tests;
