//! One backend: a configured server or one of its per-session instances. Its lifecycle and
//! what it told us at `initialize` are plain data; what has rules of its own is owned by a
//! type of its own: the requests it owes answers to ([`InFlight`]), its circuit breaker
//! ([`Circuit`]), its list fetches ([`ListRefresh`]) and its resource subscribers
//! ([`Subscribers`]).

mod circuit;
mod in_flight;
mod lists;

pub(crate) use circuit::{Circuit, THRESHOLD as CIRCUIT_THRESHOLD};
pub(crate) use in_flight::{ClientCall, InFlight, ListFetch, Pending, Relay};
pub(crate) use lists::{ListKind, ListRefresh};

use crate::config::{PerSessionConfig, ServerConfig};
use crate::ids::{BackendKey, Gen, SessionId};
use crate::registry::Catalog;
use crate::time::Instant;
use crate::timer::TimerKey;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Where a backend is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BackendState {
    /// `disabled: true` in the config.
    Disabled,
    /// Spawn requested, process not confirmed yet.
    Spawning,
    /// `initialize` sent, waiting for its result.
    Initializing,
    /// Initialized; fetching its lists before serving.
    Listing,
    /// Serving.
    Ready,
    /// Could not start or died; the reason says why.
    Failed(String),
    /// Died and will be started again (after a backoff delay).
    Restarting {
        /// Why the last incarnation failed.
        reason: String,
        /// Which consecutive restart is next (1 for the first).
        attempt: u32,
    },
    /// Restarted `maxRestarts` times in a row without staying up: given up on.
    CrashLoop(String),
    /// Its server needs the user to authorize 1mcp (OAuth); not restarted until they have.
    AwaitingAuthorization(String),
    /// Stopped on purpose (shutdown).
    Stopped,
}

impl BackendState {
    /// The short name shown in `/health`.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            BackendState::Disabled => "disabled",
            BackendState::Spawning | BackendState::Initializing | BackendState::Listing => "starting",
            BackendState::Ready => "ready",
            BackendState::Failed(_) => "failed",
            BackendState::Restarting { .. } => "restarting",
            BackendState::CrashLoop(_) => "crash-loop",
            BackendState::AwaitingAuthorization(_) => "awaiting-authorization",
            BackendState::Stopped => "stopped",
        }
    }

    /// Why it is down, when it is.
    pub(crate) fn reason(&self) -> Option<&str> {
        match self {
            BackendState::Failed(r)
            | BackendState::CrashLoop(r)
            | BackendState::AwaitingAuthorization(r)
            | BackendState::Restarting { reason: r, .. } => Some(r),
            _ => None,
        }
    }

    /// Still coming up.
    pub(crate) fn is_starting(&self) -> bool {
        self.label() == "starting"
    }

    /// Has a live process (or is getting one).
    pub(crate) fn is_running(&self) -> bool {
        !matches!(
            self,
            BackendState::Disabled
                | BackendState::Failed(_)
                | BackendState::Stopped
                | BackendState::Restarting { .. }
                | BackendState::CrashLoop(_)
                | BackendState::AwaitingAuthorization(_)
        )
    }
}

/// What a backend said about itself in `initialize`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ServerInfo {
    /// Negotiated protocol version.
    pub(crate) protocol_version: String,
    /// Its server capabilities.
    pub(crate) capabilities: Map<String, Value>,
    /// Its `instructions`, if any.
    pub(crate) instructions: Option<String>,
}

/// Which era of the protocol a backend incarnation is spoken to in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Era {
    /// A session (`initialize`).
    Sessions,
    /// The stateless revision.
    Stateless,
    /// Not known yet: `server/discover` was sent to find out.
    Asking,
}

/// A backend and everything the hub tracks about it.
#[derive(Debug)]
pub(crate) struct Backend {
    /// Which backend this is.
    pub(crate) key: BackendKey,
    /// Its configuration.
    pub(crate) config: ServerConfig,
    /// Current incarnation.
    pub(crate) generation: Gen,
    /// Lifecycle state.
    pub(crate) state: BackendState,
    /// When the state last changed.
    pub(crate) since: Instant,
    /// What it declared at `initialize`.
    pub(crate) info: Option<ServerInfo>,
    /// The era this incarnation is spoken to in.
    pub(crate) era: Era,
    /// What asking (`protocol: "auto"`) found, kept across incarnations.
    pub(crate) learned: Option<Era>,
    /// A stateless backend's caching hints for each of its lists, as its last fetch gave them:
    /// the smallest `ttlMs` over the pages, and whether any page was `private`.
    pub(crate) list_hints: BTreeMap<ListKind, (u64, bool)>,
    /// A stateless backend's listen streams following one resource each, by URI.
    pub(crate) resource_listens: BTreeMap<String, crate::ids::ProxyId>,
    /// Its lists, as last fetched.
    pub(crate) catalog: Catalog,
    /// Which lists are being fetched.
    pub(crate) lists: ListRefresh,
    /// Requests sent and not yet answered.
    pub(crate) in_flight: InFlight,
    /// Whether calls go through or fail fast.
    pub(crate) circuit: Circuit,
    /// Startup deadline.
    pub(crate) connect_timer: Option<TimerKey>,
    /// Lines that were not JSON-RPC (counted, logged, skipped).
    pub(crate) garbage_lines: u64,
    /// Who is subscribed to which of its resources.
    pub(crate) subscribers: Subscribers,
    /// The log level last sent with `logging/setLevel`.
    pub(crate) log_level: Option<crate::session::LogLevel>,
    /// Consecutive restarts (forgotten once it stays ready for the stable period).
    pub(crate) restarts: u32,
    /// When the pending restart fires.
    pub(crate) restart_timer: Option<TimerKey>,
    /// The session a per-session instance belongs to.
    pub(crate) owner: Option<SessionId>,
    /// A `perSession` server's instances, by session.
    pub(crate) instances: BTreeMap<SessionId, BackendKey>,
    /// When an idle per-session instance is stopped.
    pub(crate) idle_timer: Option<TimerKey>,
    /// The server has asked a client for its roots (learned, kept across restarts): sessions
    /// that declare roots get an instance of their own, since a shared one holds nobody's.
    pub(crate) asks_for_roots: bool,
    /// A per-session instance that is initialized but not serving until its session has
    /// answered its roots question, so no call reaches it before it knows its client's roots.
    pub(crate) awaiting_roots: bool,
    /// Its first attempt is over: it became ready or failed once. Readiness waits for this,
    /// never for a failed server's restarts.
    pub(crate) first_attempt_over: bool,
}

impl Backend {
    /// A backend in its initial state.
    pub(crate) fn new(key: BackendKey, config: ServerConfig, now: Instant) -> Backend {
        let state = if config.disabled { BackendState::Disabled } else { BackendState::Spawning };
        Backend {
            key,
            config,
            generation: Gen(0),
            state,
            since: now,
            info: None,
            era: Era::Sessions,
            learned: None,
            list_hints: BTreeMap::new(),
            resource_listens: BTreeMap::new(),
            catalog: Catalog::default(),
            lists: ListRefresh::default(),
            in_flight: InFlight::default(),
            circuit: Circuit::default(),
            connect_timer: None,
            garbage_lines: 0,
            subscribers: Subscribers::default(),
            log_level: None,
            restarts: 0,
            restart_timer: None,
            owner: None,
            instances: BTreeMap::new(),
            idle_timer: None,
            asks_for_roots: false,
            awaiting_roots: false,
            first_attempt_over: false,
        }
    }

    /// The configured server it runs.
    pub(crate) fn server(&self) -> &str {
        self.key.server_name()
    }

    /// Move to `state`, stamping the time.
    pub(crate) fn set_state(&mut self, now: Instant, state: BackendState) {
        self.state = state;
        self.since = now;
    }

    /// Whether 1mcp speaks the stateless revision to this incarnation (configured, or found
    /// by asking).
    pub(crate) fn is_stateless(&self) -> bool {
        self.era == Era::Stateless
    }

    /// The limits of the instances this server runs per client session, if it does: its
    /// `perSession`, unless that is only the HTTP default and the server speaks the stateless
    /// revision (it has no sessions to keep apart).
    pub(crate) fn per_session(&self) -> Option<&PerSessionConfig> {
        self.config.per_session.as_ref().filter(|limits| !(limits.only_with_sessions && self.is_stateless()))
    }

    /// The era to speak to the next incarnation: as configured, or what asking found before
    /// (a server is asked once, not at every restart), or ask.
    pub(crate) fn era_to_start(&self) -> Era {
        match (self.config.protocol, self.learned) {
            (crate::config::Protocol::Sessions, _) => Era::Sessions,
            (crate::config::Protocol::Stateless, _) => Era::Stateless,
            (crate::config::Protocol::Auto, Some(era)) => era,
            (crate::config::Protocol::Auto, None) => Era::Asking,
        }
    }

    /// How long its `kind` list may be reused, and whether only by the caller: a stateless
    /// backend's own hints; a session-based backend gives none, so nothing may be reused.
    pub(crate) fn list_hint(&self, kind: ListKind) -> (u64, bool) {
        self.list_hints.get(&kind).copied().filter(|_| self.is_stateless()).unwrap_or((0, false))
    }

    /// Whether the backend declared a server capability.
    pub(crate) fn has_capability(&self, name: &str) -> bool {
        self.info.as_ref().is_some_and(|i| i.capabilities.contains_key(name))
    }

    /// The instructions to show clients (`instructionOverride` wins; `""` suppresses).
    pub(crate) fn effective_instructions(&self) -> Option<&str> {
        match &self.config.instruction_override {
            Some(text) => Some(text.as_str()),
            None => self.info.as_ref().and_then(|i| i.instructions.as_deref()),
        }
        .filter(|t| !t.trim().is_empty())
    }
}

/// How many sessions are subscribed to each of a shared backend's resources: the backend
/// itself is subscribed once, while at least one is.
#[derive(Debug, Default)]
pub(crate) struct Subscribers(BTreeMap<String, usize>);

impl Subscribers {
    /// One more session subscribes to `uri`; true if it is the first (subscribe the backend).
    pub(crate) fn add(&mut self, uri: &str) -> bool {
        let count = self.0.entry(uri.to_owned()).or_default();
        *count += 1;
        *count == 1
    }

    /// One session fewer; true if it was the last (unsubscribe the backend).
    pub(crate) fn remove(&mut self, uri: &str) -> bool {
        let Some(count) = self.0.get_mut(uri) else { return false };
        *count = count.saturating_sub(1);
        if *count > 0 {
            return false;
        }
        self.0.remove(uri);
        true
    }

    /// Whether anyone follows `uri`.
    pub(crate) fn has(&self, uri: &str) -> bool {
        self.0.contains_key(uri)
    }

    /// The backend went away, and its subscriptions with it.
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backend_is_subscribed_by_the_first_and_released_by_the_last() {
        let mut subscribers = Subscribers::default();
        assert!(subscribers.add("file:///a"));
        assert!(!subscribers.add("file:///a"));
        assert!(subscribers.add("file:///b"));
        assert!(!subscribers.remove("file:///a"));
        assert!(subscribers.remove("file:///a"));
        assert!(!subscribers.remove("file:///a"), "never subscribed any more: nothing to release");
        subscribers.clear();
        assert!(subscribers.add("file:///b"), "after a restart the first subscriber subscribes again");
    }
}
