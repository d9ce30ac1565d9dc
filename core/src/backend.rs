//! One backend server: its lifecycle, what it told us at `initialize`, and its in-flight table.

use crate::config::ServerConfig;
use crate::ids::{ExchangeId, Gen};
use crate::jsonrpc::RequestId;
use crate::registry::Catalog;
use crate::time::Instant;
use crate::timer::TimerKey;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Where a backend is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendState {
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
    /// Stopped on purpose (shutdown).
    Stopped,
}

impl BackendState {
    /// The short name shown in `/health`.
    pub fn label(&self) -> &'static str {
        match self {
            BackendState::Disabled => "disabled",
            BackendState::Spawning | BackendState::Initializing | BackendState::Listing => "starting",
            BackendState::Ready => "ready",
            BackendState::Failed(_) => "failed",
            BackendState::Restarting { .. } => "restarting",
            BackendState::CrashLoop(_) => "crash-loop",
            BackendState::Stopped => "stopped",
        }
    }

    /// Why it is down, when it is.
    pub fn reason(&self) -> Option<&str> {
        match self {
            BackendState::Failed(r) | BackendState::CrashLoop(r) | BackendState::Restarting { reason: r, .. } => {
                Some(r)
            }
            _ => None,
        }
    }

    /// Still coming up.
    pub fn is_starting(&self) -> bool {
        self.label() == "starting"
    }

    /// Has a live process (or is getting one).
    pub fn is_running(&self) -> bool {
        !matches!(
            self,
            BackendState::Disabled
                | BackendState::Failed(_)
                | BackendState::Stopped
                | BackendState::Restarting { .. }
                | BackendState::CrashLoop(_)
        )
    }
}

/// The four lists a backend can offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ListKind {
    /// `tools/list`
    Tools,
    /// `prompts/list`
    Prompts,
    /// `resources/list`
    Resources,
    /// `resources/templates/list`
    Templates,
}

impl ListKind {
    /// Every kind, in listing order.
    pub const ALL: [ListKind; 4] = [ListKind::Tools, ListKind::Prompts, ListKind::Resources, ListKind::Templates];

    /// The JSON-RPC method that lists it.
    pub fn method(self) -> &'static str {
        match self {
            ListKind::Tools => "tools/list",
            ListKind::Prompts => "prompts/list",
            ListKind::Resources => "resources/list",
            ListKind::Templates => "resources/templates/list",
        }
    }

    /// The member of the result holding the items.
    pub fn result_key(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Prompts => "prompts",
            ListKind::Resources => "resources",
            ListKind::Templates => "resourceTemplates",
        }
    }

    /// The server capability that announces it.
    pub fn capability(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Prompts => "prompts",
            ListKind::Resources | ListKind::Templates => "resources",
        }
    }

    /// The catalog slot it fills.
    pub fn slot(self, catalog: &mut Catalog) -> &mut Vec<Map<String, Value>> {
        match self {
            ListKind::Tools => &mut catalog.tools,
            ListKind::Prompts => &mut catalog.prompts,
            ListKind::Resources => &mut catalog.resources,
            ListKind::Templates => &mut catalog.templates,
        }
    }
}

/// A request the proxy sent to a backend and is waiting on.
#[derive(Debug)]
pub enum Pending {
    /// The `initialize` handshake.
    Initialize,
    /// One page of a list; `items` holds the pages fetched so far.
    List(ListFetch),
    /// A client's request, forwarded.
    Client(ClientCall),
    /// A request the proxy makes on its own behalf (`logging/setLevel`, a last unsubscribe);
    /// its answer only matters for the log.
    Internal {
        /// The method, for the log.
        method: String,
        /// Its deadline.
        timer: TimerKey,
    },
}

/// A list being fetched page by page.
#[derive(Debug)]
pub struct ListFetch {
    /// Which list.
    pub kind: ListKind,
    /// Items gathered from earlier pages.
    pub items: Vec<Map<String, Value>>,
    /// Pages fetched so far (bounded against a backend that never stops paging).
    pub pages: u32,
    /// Deadline for the page in flight, so a silent backend cannot hold the fetch forever.
    pub timer: TimerKey,
}

impl Pending {
    /// The deadline attached to this request, if it has its own.
    pub fn timer(&self) -> Option<TimerKey> {
        match self {
            Pending::Initialize => None,
            Pending::List(fetch) => Some(fetch.timer),
            Pending::Client(call) => Some(call.timer),
            Pending::Internal { timer, .. } => Some(*timer),
        }
    }
}

/// A forwarded client request: who to answer and how.
#[derive(Debug)]
pub struct ClientCall {
    /// The HTTP exchange awaiting the answer.
    pub exchange: ExchangeId,
    /// The session it came from.
    pub session: String,
    /// The id the client used.
    pub client_id: RequestId,
    /// The method (for error messages).
    pub method: String,
    /// Its timeout.
    pub timer: TimerKey,
    /// The client's `progressToken`, replaced by the backend-side id on the way out.
    pub progress_token: Option<Value>,
    /// Progress extends the timeout, but never past this.
    pub hard_deadline: Instant,
}

/// What a backend said about itself in `initialize`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerInfo {
    /// Negotiated protocol version.
    pub protocol_version: String,
    /// Its server capabilities.
    pub capabilities: Map<String, Value>,
    /// Its `instructions`, if any.
    pub instructions: Option<String>,
}

/// A configured server and everything the hub tracks about it.
#[derive(Debug)]
pub struct Backend {
    /// Server name.
    pub name: String,
    /// Its configuration.
    pub config: ServerConfig,
    /// Current incarnation.
    pub generation: Gen,
    /// Lifecycle state.
    pub state: BackendState,
    /// When the state last changed.
    pub since: Instant,
    /// What it declared at `initialize`.
    pub info: Option<ServerInfo>,
    /// Its lists, as last fetched.
    pub catalog: Catalog,
    /// Lists still being fetched during startup.
    pub lists_outstanding: u8,
    /// Lists with a fetch running.
    pub lists_in_flight: BTreeSet<ListKind>,
    /// Lists announced as changed while their fetch was running: fetch again when it ends.
    pub lists_stale: BTreeSet<ListKind>,
    /// Requests sent and not yet answered, by backend-side id.
    pub pending: BTreeMap<u64, Pending>,
    /// Next backend-side request id.
    pub next_id: u64,
    /// Startup deadline.
    pub connect_timer: Option<TimerKey>,
    /// Lines that were not JSON-RPC (counted, logged, skipped).
    pub garbage_lines: u64,
    /// Sessions subscribed to each resource URI (the backend is subscribed while > 0).
    pub subscribers: BTreeMap<String, usize>,
    /// Its requests forwarded to a client, by its id (as JSON text): (session, client-side id).
    pub server_requests: BTreeMap<String, (String, String)>,
    /// The log level last sent with `logging/setLevel`.
    pub log_level: Option<crate::session::LogLevel>,
    /// Consecutive restarts (forgotten once it stays ready for the stable period).
    pub restarts: u32,
    /// When the pending restart fires.
    pub restart_timer: Option<TimerKey>,
    /// The configured server this runs (its own name, unless it is a per-session instance).
    pub server: String,
    /// The session a per-session instance belongs to.
    pub owner: Option<String>,
    /// A `perSession` server's instances, by session.
    pub instances: BTreeMap<String, String>,
    /// When an idle per-session instance is stopped.
    pub idle_timer: Option<TimerKey>,
    /// Requests that timed out in a row (any answer resets it).
    pub timeouts_in_a_row: u32,
    /// While set and in the future, requests fail fast instead of waiting on a stuck server.
    pub circuit_open_until: Option<Instant>,
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
    pub fn new(name: String, config: ServerConfig, now: Instant) -> Backend {
        let state = if config.disabled { BackendState::Disabled } else { BackendState::Spawning };
        Backend {
            server: name.clone(),
            owner: None,
            instances: BTreeMap::new(),
            idle_timer: None,
            timeouts_in_a_row: 0,
            circuit_open_until: None,
            asks_for_roots: false,
            awaiting_roots: false,
            first_attempt_over: false,
            name,
            config,
            generation: Gen(0),
            state,
            since: now,
            info: None,
            catalog: Catalog::default(),
            lists_outstanding: 0,
            lists_in_flight: BTreeSet::new(),
            lists_stale: BTreeSet::new(),
            pending: BTreeMap::new(),
            next_id: 0,
            connect_timer: None,
            garbage_lines: 0,
            subscribers: BTreeMap::new(),
            server_requests: BTreeMap::new(),
            log_level: None,
            restarts: 0,
            restart_timer: None,
        }
    }

    /// Allocate a backend-side request id.
    pub fn allocate_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Move to `state`, stamping the time.
    pub fn set_state(&mut self, now: Instant, state: BackendState) {
        self.state = state;
        self.since = now;
    }

    /// Whether the backend declared a server capability.
    pub fn has_capability(&self, name: &str) -> bool {
        self.info.as_ref().is_some_and(|i| i.capabilities.contains_key(name))
    }

    /// The instructions to show clients (`instructionOverride` wins; `""` suppresses).
    pub fn effective_instructions(&self) -> Option<&str> {
        match &self.config.instruction_override {
            Some(text) => Some(text.as_str()),
            None => self.info.as_ref().and_then(|i| i.instructions.as_deref()),
        }
        .filter(|t| !t.trim().is_empty())
    }
}
