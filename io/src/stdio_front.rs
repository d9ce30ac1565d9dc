//! `serve --transport stdio`: the process's own stdin/stdout are the daemon's one client,
//! bridged in-process as an HTTP client of the hub. Nothing but JSON-RPC goes to stdout; the
//! end of stdin stops the daemon exactly as SIGTERM does.

use crate::Limits;
use crate::bridge::hub_client::HubTransport;
use crate::bridge::{self, BridgeConfig, Ended, ViewQuery};
use crate::exchange::FrontMsg;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Longest wait, once stdin has ended, for answers still in flight before shutting down.
const DRAIN: Duration = Duration::from_secs(2);

/// The stdio front end's wiring.
pub(crate) struct StdioFront {
    /// Which servers the client sees.
    pub(crate) view: ViewQuery,
    pub(crate) limits: Limits,
    /// True once a shutdown is under way (a signal, or our own request).
    pub(crate) shutting_down: watch::Receiver<bool>,
    /// True once the hub task is over.
    pub(crate) hub_stopped: watch::Receiver<bool>,
    /// Asks for the graceful shutdown.
    pub(crate) stdin_closed: mpsc::Sender<()>,
}

impl StdioFront {
    /// Bridges stdin/stdout to the hub until stdin ends (then asks for shutdown) or the hub stops.
    pub(crate) async fn run(self, front: mpsc::UnboundedSender<FrontMsg>) {
        let StdioFront { view, limits, shutting_down, mut hub_stopped, stdin_closed } = self;
        for ignored in view.ignored() {
            tracing::warn!("{ignored} is ignored: only one of --preset, --filter and --tags applies");
        }
        let config = BridgeConfig { query: view.to_query(), max_line_bytes: limits.max_body_bytes, drain: DRAIN };
        let stop = async move {
            let _ = hub_stopped.wait_for(|stopped| *stopped).await;
        };
        tracing::info!("serving one client on stdin/stdout");
        let result = bridge::run(HubTransport::new(front), config, tokio::io::stdin(), tokio::io::stdout(), stop).await;
        match result {
            Ok(Ended::InputClosed | Ended::OutputClosed) => {
                // A shutdown already under way must not be turned into a forced one.
                if !*shutting_down.borrow() {
                    tracing::info!("stdio client is gone; shutting down");
                    let _ = stdin_closed.try_send(());
                }
            }
            Ok(Ended::Stopped) => {}
            Err(gone) => tracing::info!("stdio bridge ended: {gone}"),
        }
    }
}
