//! I/O driver for the 1mcp core: binds the sans-IO [`Hub`] to tokio, an HTTP front end and
//! backend child processes.
//!
//! One task owns the hub. HTTP handlers and backend pipe readers send it facts over channels;
//! it feeds them to the hub with the current time, sleeps until the hub's next deadline, and
//! carries every output out (responses, event streams, process spawns, stdin writes, stops).
//! The core decides; this crate only moves bytes and makes syscalls.
//!
//! The daemon's client front end is HTTP, or (`serve --transport stdio`) the process's own
//! stdin/stdout bridged in-process as one HTTP client; [`proxy`] is the same bridge to a daemon
//! running elsewhere.

mod backend;
pub mod backend_auth;
mod bridge;
mod clock;
mod driver;
mod exchange;
pub mod files;
mod http;
mod http_backend;
mod idp;
mod jwt;
mod lines;
pub mod listener;
mod mcp_http;
pub mod oauth;
pub mod proxy;
mod record;
mod reload;
mod revocations;
mod sse;
mod stderr;
mod stdio_front;
pub mod tokens;

pub use bridge::ViewQuery;
pub use idp::IdpSettings;
pub use reload::{ConfigSource, ParseConfig};

use clock::Clock;
use onemcp_core::{Hub, HubConfig};
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Everything the daemon needs to run.
#[derive(Debug)]
pub struct DaemonSettings {
    /// Where clients come from.
    pub front: Front,
    /// What the hub runs (`wall_epoch_ms` is filled in by the driver, which owns the clock).
    pub hub_config: HubConfig,
    /// Size limits and timings.
    pub limits: Limits,
    /// The configuration file to reload on change and on SIGHUP, if any.
    pub config_source: Option<ConfigSource>,
    /// Where to record every hub input as JSON lines (`serve --record`), if anywhere.
    pub record: Option<PathBuf>,
    /// The config directory whose token store bearer tokens are looked up in (authentication
    /// on); `None`: requests carry no credential.
    pub token_dir: Option<PathBuf>,
    /// An external identity provider whose JWT access tokens are accepted (beside personal
    /// access tokens); with one, the embedded authorization server is off (see
    /// [`DaemonSettings::serves_embedded_authorization_server`]).
    pub external_idp: Option<IdpSettings>,
    /// Settings of the embedded authorization server (when it runs).
    pub auth_options: oauth::AuthOptions,
    /// `presets.json` to reload on change, if any.
    pub presets_source: Option<ConfigSource>,
    /// The config directory, where 1mcp keeps its authorizations toward protected backends
    /// (with or without authentication at the front); `None`: kept in memory only.
    pub state_dir: Option<PathBuf>,
}

impl DaemonSettings {
    /// HTTP front end on `listener`, default [`Limits`].
    pub fn new(listener: std::net::TcpListener, hub_config: HubConfig) -> Self {
        DaemonSettings {
            front: Front::Http(listener),
            hub_config,
            limits: Limits::default(),
            config_source: None,
            record: None,
            token_dir: None,
            state_dir: None,
            presets_source: None,
            external_idp: None,
            auth_options: oauth::AuthOptions::default(),
        }
    }

    /// One client on stdin/stdout seeing `view`, default [`Limits`]. End of stdin stops the daemon.
    pub fn stdio(view: ViewQuery, hub_config: HubConfig) -> Self {
        DaemonSettings {
            front: Front::Stdio(view),
            hub_config,
            limits: Limits::default(),
            config_source: None,
            record: None,
            token_dir: None,
            state_dir: None,
            presets_source: None,
            external_idp: None,
            auth_options: oauth::AuthOptions::default(),
        }
    }

    /// Reload the configuration from `source` (hot reload).
    pub fn with_config_source(mut self, source: ConfigSource) -> Self {
        self.config_source = Some(source);
        self
    }

    /// Look bearer tokens up in the store of config directory `dir` (authentication on).
    pub fn with_tokens(mut self, dir: impl Into<PathBuf>) -> Self {
        self.token_dir = Some(dir.into());
        self
    }

    /// Reload `presets.json` from `source` on change.
    pub fn with_presets_source(mut self, source: ConfigSource) -> Self {
        self.presets_source = Some(source);
        self
    }

    /// Keep the authorizations toward protected backends in config directory `dir`.
    pub fn with_state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Accept JWT access tokens from the external identity provider `settings` name (and no
    /// longer serve the embedded authorization server).
    pub fn with_external_idp(mut self, settings: IdpSettings) -> Self {
        self.external_idp = Some(settings);
        self
    }

    /// Settings for the embedded authorization server.
    pub fn with_auth_options(mut self, options: oauth::AuthOptions) -> Self {
        self.auth_options = options;
        self
    }

    /// Whether this daemon runs its own OAuth authorization server: authentication on and no
    /// external identity provider (clients are sent to that one instead).
    pub fn serves_embedded_authorization_server(&self) -> bool {
        self.token_dir.is_some() && self.external_idp.is_none()
    }

    /// Record every input the hub is fed to `path` (JSON lines, mode 0600; it holds secrets).
    pub fn with_record(mut self, path: impl Into<PathBuf>) -> Self {
        self.record = Some(path.into());
        self
    }
}

/// The daemon's client side.
#[derive(Debug)]
pub enum Front {
    /// HTTP on an already bound listening socket (bound by the caller so port 0 is resolved
    /// up front).
    Http(std::net::TcpListener),
    /// The process's stdin/stdout as a single client with this view; nothing listens.
    Stdio(ViewQuery),
}

/// Size limits and timings of the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted HTTP request body; larger ones get 413.
    pub max_body_bytes: usize,
    /// Longest backend stdout line; longer ones are discarded and reported.
    pub max_line_bytes: usize,
    /// Longest backend stderr line logged; the rest is cut.
    pub max_stderr_line_bytes: usize,
    /// Silence after which an open event stream gets a keep-alive comment.
    pub keep_alive: Duration,
    /// Time from a shutdown request until remaining backend groups are killed: the core's drain
    /// of calls in flight (3 s) plus the stop ladder (stdin close, TERM).
    pub shutdown_grace: Duration,
    /// Time the HTTP server gets to flush responses once the hub has stopped.
    pub http_drain: Duration,
    /// Bounds on client connections (the cap is lowered to fit the open-files limit).
    pub connections: listener::ConnectionLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 4 * 1024 * 1024,
            max_line_bytes: 16 * 1024 * 1024,
            max_stderr_line_bytes: 8 * 1024,
            keep_alive: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(8),
            http_drain: Duration::from_secs(1),
            connections: listener::ConnectionLimits::default(),
        }
    }
}

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IoError {
    /// The listening socket could not be handed to tokio.
    #[error("cannot use the listening socket: {0}")]
    Listener(#[source] std::io::Error),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    /// The OS random source failed.
    #[error("cannot read OS randomness: {0}")]
    Entropy(#[source] getrandom::Error),
    /// The `--record` file could not be created.
    #[error("cannot create the recording {path}: {source}")]
    Record {
        /// The file.
        path: PathBuf,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
    /// The external identity provider's client could not be set up.
    #[error("cannot set up the identity provider client: {0}")]
    Idp(String),
    /// The authorization server's secret could not be read or made.
    #[error("cannot set up the authorization server: {0}")]
    AuthServer(#[source] std::io::Error),
    /// The hub task panicked.
    #[error("the hub task failed: {0}")]
    Hub(#[source] tokio::task::JoinError),
}

/// Backend events queued for the hub before readers wait (back-pressure on flooding backends).
const BACKEND_QUEUE: usize = 256;

/// Runs the daemon until SIGTERM or SIGINT, then shuts down gracefully: backends are stopped
/// (a second signal skips the wait) and none survives the return. SIGHUP reloads the
/// configuration (1MCP shuts down on it; a reload is what the signal means to daemons).
pub async fn run(settings: DaemonSettings) -> Result<(), IoError> {
    run_announced(settings, || {}).await
}

/// [`run`], calling `ready` once SIGTERM and SIGINT lead to a graceful shutdown: what tells
/// the world the daemon is there (its pid file) belongs here, so a signal sent as soon as it
/// is found never meets the default action (killed, nothing cleaned up).
pub async fn run_announced(settings: DaemonSettings, ready: impl FnOnce()) -> Result<(), IoError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(IoError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(IoError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(IoError::Signals)?;
    ready();
    let (tx, rx) = mpsc::channel(4);
    let (hup_tx, hup_rx) = mpsc::channel(1);
    let stdin_closed = tx.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
                _ = hup.recv() => {
                    // One pending reload is enough: more hangups before it runs change nothing.
                    let _ = hup_tx.try_send(());
                    continue;
                }
            }
            if tx.send(()).await.is_err() {
                return;
            }
        }
    });
    drive(settings, stdin_closed, rx, hup_rx).await
}

/// Runs the daemon until `shutdown` completes, then shuts down as [`run`] does.
pub async fn run_until<F>(settings: DaemonSettings, shutdown: F) -> Result<(), IoError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(2);
    let (_no_hangups, hup_rx) = mpsc::channel(1);
    let stdin_closed = tx.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(()).await;
    });
    drive(settings, stdin_closed, rx, hup_rx).await
}

/// `stdin_closed` is how the stdio front end asks for the same shutdown a signal causes.
async fn drive(
    settings: DaemonSettings,
    stdin_closed: mpsc::Sender<()>,
    shutdown: mpsc::Receiver<()>,
    hangups: mpsc::Receiver<()>,
) -> Result<(), IoError> {
    let embedded_auth = settings.serves_embedded_authorization_server();
    let DaemonSettings {
        front,
        mut hub_config,
        limits,
        mut config_source,
        record,
        token_dir,
        state_dir,
        presets_source,
        external_idp,
        auth_options,
    } = settings;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(IoError::Entropy)?;

    let (front_tx, front_rx) = mpsc::unbounded_channel();
    let (backend_tx, backend_rx) = mpsc::channel(BACKEND_QUEUE);
    let (stop_accepting, accepting) = watch::channel(false);
    // Set once the hub task is over: the stdio front end then winds down.
    let (hub_done, hub_stopped) = watch::channel(false);

    let base = matches!(front, Front::Http(_)).then(|| hub_config.front.public_base());
    let auths = std::sync::Arc::new(backend_auth::registry::Authorizations::new(
        backend_auth::store::GrantStore::open(state_dir.as_deref()),
        base,
        backend_tx.clone(),
    ));
    let store_task = tokio::spawn(std::sync::Arc::clone(&auths).watch_store());
    let mut revocation_task = None;
    let front_task = match front {
        Front::Http(listener) => {
            let listener = tokio_listener(listener)?;
            let auth = match &token_dir {
                Some(dir) if embedded_auth => Some(auth_server(dir, &hub_config, auth_options)?),
                _ => None,
            };
            if let (Some(auth), Some(source)) = (&auth, &mut config_source) {
                offer_reloaded_tags(auth, source);
            }
            if let Some(dir) = &token_dir {
                revocation_task = Some(tokio::spawn(revocations::watch(dir.clone(), auth.clone(), backend_tx.clone())));
            }
            let tokens = token_dir.map(|dir| std::sync::Arc::new(tokens::TokenStore::new(&dir)));
            let idp = external_idp.as_ref().map(start_external_idp).transpose()?;
            let router = http::router(
                http::FrontState::new(front_tx, limits.max_body_bytes, limits.keep_alive, tokens)
                    .with_idp(idp)
                    .with_auth_server(auth)
                    .with_backend_auth(std::sync::Arc::clone(&auths)),
            );
            tokio::spawn(listener::serve(listener, router, connection_limits(limits.connections), accepting))
        }
        Front::Stdio(view) => {
            let front = stdio_front::StdioFront { view, limits, shutting_down: accepting, hub_stopped, stdin_closed };
            tokio::spawn(front.run(front_tx))
        }
    };

    let clock = Clock::start();
    // The wall clock is read once, at the monotonic epoch; the hub derives timestamps from both.
    hub_config.wall_epoch_ms = unix_time_ms();
    let started = clock.now();
    let recorder = record.map(|path| create_recorder(path, &hub_config, seed, started)).transpose()?;
    let hub = Hub::new(started, hub_config, seed);
    let pipe_limits = backend::PipeLimits {
        max_line_bytes: limits.max_line_bytes,
        max_stderr_line_bytes: limits.max_stderr_line_bytes,
    };
    let reload_task = config_source.map(|source| tokio::spawn(reload::run(source, backend_tx.clone(), hangups)));
    // SIGHUP reloads mcp.json; presets.json follows its own changes only.
    let presets_task = presets_source.map(|source| {
        let (_no_hangups, none) = mpsc::channel(1);
        tokio::spawn(reload::run(source, backend_tx.clone(), none))
    });
    let driver =
        driver::Driver::new(hub, clock, backend_tx, pipe_limits, stop_accepting, limits.shutdown_grace, recorder)
            .with_authorizations(auths);
    let inbox = driver::Inbox { front: front_rx, backends: backend_rx, shutdown };
    let result = tokio::spawn(driver.run(inbox)).await;
    let _ = hub_done.send(true);
    for task in reload_task.into_iter().chain(presets_task).chain(revocation_task).chain([store_task]) {
        task.abort();
    }

    // The hub is gone: pending requests got 503, streams ended; give responses a moment to flush.
    let _ = tokio::time::timeout(limits.http_drain, front_task).await;
    result.map_err(IoError::Hub)
}

/// The bound listener, handed to the async runtime.
fn tokio_listener(listener: std::net::TcpListener) -> Result<tokio::net::TcpListener, IoError> {
    listener.set_nonblocking(true).map_err(IoError::Listener)?;
    tokio::net::TcpListener::from_std(listener).map_err(IoError::Listener)
}

/// `wanted`, the connection cap lowered to leave room under the open-files limit (raised to
/// the hard limit first) for the backends' pipes and files.
fn connection_limits(wanted: listener::ConnectionLimits) -> listener::ConnectionLimits {
    let fd_limit = listener::raise_fd_limit();
    let connections = wanted.within_fd_limit(fd_limit);
    tracing::debug!(fd_limit, max_connections = connections.max_connections, "connection limits");
    connections
}

/// The embedded authorization server, keeping its state in `dir`.
fn auth_server(
    dir: &std::path::Path,
    hub_config: &HubConfig,
    options: oauth::AuthOptions,
) -> Result<std::sync::Arc<oauth::AuthServer>, IoError> {
    let tags = oauth_tags(&hub_config.mcp);
    let server =
        oauth::AuthServer::with_options(dir, hub_config.front.clone(), tags, options).map_err(IoError::AuthServer)?;
    Ok(std::sync::Arc::new(server))
}

/// Reloads change the tags the consent page offers: every configuration `source` parses
/// successfully hands `auth` its servers' tags.
fn offer_reloaded_tags(auth: &std::sync::Arc<oauth::AuthServer>, source: &mut ConfigSource) {
    let (auth, parse) = (std::sync::Arc::clone(auth), std::sync::Arc::clone(&source.parse));
    source.parse = std::sync::Arc::new(move |text: &str| {
        let input = parse(text);
        if let onemcp_core::Input::ConfigChanged { config } = &input {
            auth.set_tags(oauth_tags(config));
        }
        input
    });
}

/// The external identity provider's client, fetching its keys in the background now so the
/// first request does not wait for them.
fn start_external_idp(settings: &IdpSettings) -> Result<std::sync::Arc<idp::ExternalIdp>, IoError> {
    let idp = std::sync::Arc::new(idp::ExternalIdp::new(settings).map_err(IoError::Idp)?);
    tokio::spawn(std::sync::Arc::clone(&idp).warm_up());
    Ok(idp)
}

/// `serve --record`: the recording file at `path`, its header written.
fn create_recorder(
    path: PathBuf,
    hub_config: &HubConfig,
    seed: [u8; 32],
    started: onemcp_core::Instant,
) -> Result<record::Recorder, IoError> {
    record::Recorder::create(&path, hub_config, seed, started).map_err(|source| IoError::Record { path, source })
}

/// The tags of the configured servers: the scopes the authorization server offers.
fn oauth_tags(config: &onemcp_core::config::McpConfig) -> std::collections::BTreeSet<String> {
    config.servers.values().flat_map(|s| s.tags.iter().cloned()).collect()
}

/// Unix time now, in milliseconds (0 before 1970, saturating far in the future).
pub fn unix_time_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}
