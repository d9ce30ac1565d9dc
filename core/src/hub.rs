//! The hub: every client session and backend, and the routing between them.

use crate::config::McpConfig;
use crate::event::{Input, Output};
use crate::time::Instant;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Everything the hub needs to know at start.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HubConfig {
    /// The servers to run.
    pub mcp: McpConfig,
    /// How the front end is reached.
    pub front: FrontConfig,
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

impl Default for FrontConfig {
    fn default() -> Self {
        FrontConfig { host: "127.0.0.1".into(), port: 3050, external_url: None }
    }
}

/// The proxy state machine.
pub struct Hub {
    outputs: VecDeque<Output>,
}

impl Hub {
    /// A hub that will start every enabled backend on its first outputs.
    pub fn new(now: Instant, config: HubConfig, seed: [u8; 32]) -> Hub {
        let _ = (now, config, seed);
        Hub { outputs: VecDeque::new() }
    }

    /// Feed one fact.
    pub fn handle(&mut self, now: Instant, input: Input) {
        let _ = (now, input);
    }

    /// Fire every timer due at or before `now`; spurious calls are no-ops.
    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
    }

    /// Next imperative, if any. Drain until `None` after every `handle*`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Earliest deadline at which [`Hub::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}
