//! I/O driver for the 1mcp core: binds the sans-IO [`Hub`] to tokio, an HTTP front end and
//! backend child processes.
//!
//! One task owns the hub. HTTP handlers and backend pipe readers send it facts over channels;
//! it feeds them to the hub with the current time, sleeps until the hub's next deadline, and
//! carries every output out (responses, event streams, process spawns, stdin writes, stops).
//! The core decides; this crate only moves bytes and makes syscalls.

mod backend;
mod clock;
mod driver;
mod exchange;
mod http;
mod lines;
mod sse;
mod stderr;

use clock::Clock;
use onemcp_core::{Hub, HubConfig};
use std::future::Future;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Everything the daemon needs to run.
#[derive(Debug)]
pub struct DaemonSettings {
    /// Already bound listening socket (bound by the caller so port 0 is resolved up front).
    pub listener: std::net::TcpListener,
    /// What the hub runs (`wall_epoch_ms` is filled in by the driver, which owns the clock).
    pub hub_config: HubConfig,
    /// Size limits and timings.
    pub limits: Limits,
}

impl DaemonSettings {
    /// Settings with default [`Limits`].
    pub fn new(listener: std::net::TcpListener, hub_config: HubConfig) -> Self {
        DaemonSettings { listener, hub_config, limits: Limits::default() }
    }
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
    /// Time backends get to stop after a shutdown request before their groups are killed.
    pub shutdown_grace: Duration,
    /// Time the HTTP server gets to flush responses once the hub has stopped.
    pub http_drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 4 * 1024 * 1024,
            max_line_bytes: 16 * 1024 * 1024,
            max_stderr_line_bytes: 8 * 1024,
            keep_alive: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(4),
            http_drain: Duration::from_secs(1),
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
    /// The hub task panicked.
    #[error("the hub task failed: {0}")]
    Hub(#[source] tokio::task::JoinError),
}

/// Backend events queued for the hub before readers wait (back-pressure on flooding backends).
const BACKEND_QUEUE: usize = 256;

/// Runs the daemon until SIGTERM, SIGINT or SIGHUP, then shuts down gracefully: backends are
/// stopped (a second signal skips the wait) and none survives the return.
pub async fn run(settings: DaemonSettings) -> Result<(), IoError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(IoError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(IoError::Signals)?;
    // 1MCP treats SIGHUP as a shutdown too; without a handler it would kill us uncleanly.
    let mut hup = signal(SignalKind::hangup()).map_err(IoError::Signals)?;
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
                _ = hup.recv() => {}
            }
            if tx.send(()).await.is_err() {
                return;
            }
        }
    });
    drive(settings, rx).await
}

/// Runs the daemon until `shutdown` completes, then shuts down as [`run`] does.
pub async fn run_until<F>(settings: DaemonSettings, shutdown: F) -> Result<(), IoError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(()).await;
    });
    drive(settings, rx).await
}

async fn drive(settings: DaemonSettings, shutdown: mpsc::Receiver<()>) -> Result<(), IoError> {
    let DaemonSettings { listener, mut hub_config, limits } = settings;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(IoError::Entropy)?;
    listener.set_nonblocking(true).map_err(IoError::Listener)?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(IoError::Listener)?;

    let (front_tx, front_rx) = mpsc::unbounded_channel();
    let (backend_tx, backend_rx) = mpsc::channel(BACKEND_QUEUE);
    let (stop_accepting, mut accepting) = watch::channel(false);

    let router = http::router(http::FrontState::new(front_tx, limits.max_body_bytes, limits.keep_alive));
    let server = tokio::spawn(async move {
        let stopped = async move {
            let _ = accepting.wait_for(|stop| *stop).await;
        };
        if let Err(error) = axum::serve(listener, router).with_graceful_shutdown(stopped).await {
            tracing::error!(%error, "HTTP server failed");
        }
    });

    let clock = Clock::start();
    // The wall clock is read once, at the monotonic epoch; the hub derives timestamps from both.
    hub_config.wall_epoch_ms = unix_time_ms();
    let hub = Hub::new(clock.now(), hub_config, seed);
    let pipe_limits = backend::PipeLimits {
        max_line_bytes: limits.max_line_bytes,
        max_stderr_line_bytes: limits.max_stderr_line_bytes,
    };
    let driver = driver::Driver::new(hub, clock, backend_tx, pipe_limits, stop_accepting, limits.shutdown_grace);
    let inbox = driver::Inbox { front: front_rx, backends: backend_rx, shutdown };
    let result = tokio::spawn(driver.run(inbox)).await;

    // The hub is gone: pending requests got 503, streams ended; give responses a moment to flush.
    let _ = tokio::time::timeout(limits.http_drain, server).await;
    result.map_err(IoError::Hub)
}

fn unix_time_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}
