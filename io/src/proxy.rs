//! `1mcp proxy`: a stdio client of a daemon that is already running, so clients that only
//! speak stdio share one daemon (and its backends) instead of each starting their own.

use crate::Limits;
use crate::bridge::http_client::HttpTransport;
use crate::bridge::{self, BridgeConfig, Ended, ViewQuery};
use std::time::Duration;

pub use crate::bridge::http_client::UrlError;

/// What the proxy connects to and asks for.
#[derive(Clone, Debug)]
pub struct ProxySettings {
    /// The daemon's MCP endpoint, `http://host:port/mcp`.
    pub url: String,
    /// Bound on connecting and on the daemon's first answer (`--timeout`).
    pub timeout: Duration,
    /// Which servers the session sees.
    pub view: ViewQuery,
    /// The bearer token to present, if the daemon wants one.
    pub token: Option<String>,
}

/// Why the proxy stopped with a failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The URL cannot be used.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// Nothing answers `/health/live` there.
    #[error("no 1mcp daemon answers at {url}: {why}")]
    NoDaemon {
        /// Where we looked.
        url: String,
        /// What went wrong.
        why: String,
    },
    /// The daemon went away while we were bridging.
    #[error("lost the connection to the 1mcp daemon at {url}: {why}")]
    Lost {
        /// The daemon's URL.
        url: String,
        /// What went wrong.
        why: String,
    },
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
}

/// Checks that a daemon answers at `url` (its `/health/live`), within `timeout`.
pub async fn probe(url: &str, timeout: Duration) -> Result<(), ProxyError> {
    let transport = HttpTransport::new(url, timeout, Limits::default().max_line_bytes)?;
    transport.probe().await.map_err(|why| ProxyError::NoDaemon { url: transport.url(), why })
}

/// Bridges stdin/stdout to the daemon until stdin ends or a signal arrives (then the session
/// is ended politely and this returns `Ok`), or the daemon goes away (every request in flight
/// is answered with an error first).
pub async fn run(settings: ProxySettings) -> Result<(), ProxyError> {
    use tokio::signal::unix::{SignalKind, signal};
    let limits = Limits::default();
    let mut transport = HttpTransport::new(&settings.url, settings.timeout, limits.max_line_bytes)?;
    if let Some(token) = &settings.token {
        transport = transport.with_token(token)?;
    }
    let url = transport.url();
    transport.probe().await.map_err(|why| ProxyError::NoDaemon { url: url.clone(), why })?;
    for ignored in settings.view.ignored() {
        tracing::warn!("{ignored} is ignored: only one of --preset, --filter and --tags applies");
    }
    let mut term = signal(SignalKind::terminate()).map_err(ProxyError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ProxyError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(ProxyError::Signals)?;
    let stop = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {}
        }
    };
    let config = BridgeConfig {
        query: settings.view.to_query(),
        // The daemon refuses larger bodies anyway; refusing here saves the round trip.
        max_line_bytes: limits.max_body_bytes,
        drain: settings.timeout.min(DRAIN),
    };
    tracing::info!("proxying stdio to {url}");
    match bridge::run(transport, config, tokio::io::stdin(), tokio::io::stdout(), stop).await {
        Ok(ended) => {
            let how = match ended {
                Ended::InputClosed => "stdin closed",
                Ended::OutputClosed => "stdout closed",
                Ended::Stopped => "stopped by a signal",
            };
            tracing::info!("proxy finished: {how}");
            Ok(())
        }
        Err(gone) => Err(ProxyError::Lost { url, why: gone.0 }),
    }
}

/// Longest wait, once stdin has ended, for answers still in flight.
const DRAIN: Duration = Duration::from_secs(5);
