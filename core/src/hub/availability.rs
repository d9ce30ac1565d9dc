//! Why a server cannot take a call right now, told to the client the way an operator would
//! want to read it: which server, in which state, since when, and when it is tried again.
//! A call to a server that is starting or down is not an "Unknown tool".

use super::Hub;
use crate::backend::{Backend, BackendState};
use crate::health;
use crate::ids::{BackendKey, SessionId};
use crate::registry::{Kind, SEPARATOR};
use crate::time::Instant;
use serde_json::{Value, json};

impl Hub {
    /// The configured server (not a per-session instance) that is not serving now and would
    /// own `name` if it were: by its `<server>_1mcp_` prefix, or, for `prefix: false`
    /// servers, by the names it listed in its last incarnation. Only servers the session's
    /// view admits count, so a view never learns of servers outside it.
    pub(super) fn down_owner(&self, session: &SessionId, kind: Kind, name: &str) -> Option<&BackendKey> {
        self.backends
            .values()
            .filter(|b| !b.key.is_instance() && b.state != BackendState::Ready && self.sees(session, &b.key))
            .find(|b| {
                if b.config.prefix_names {
                    name.strip_prefix(b.server()).and_then(|rest| rest.strip_prefix(SEPARATOR)).is_some()
                } else {
                    let listed = if kind == Kind::Tool { &b.catalog.tools } else { &b.catalog.prompts };
                    listed.iter().any(|item| item.get("name").and_then(Value::as_str) == Some(name))
                }
            })
            .map(|b| &b.key)
    }

    /// The server down (not serving) whose last resource list had `uri`, within the view.
    pub(super) fn down_resource_owner(&self, session: &SessionId, uri: &str) -> Option<&BackendKey> {
        self.backends
            .values()
            .filter(|b| !b.key.is_instance() && b.state != BackendState::Ready && self.sees(session, &b.key))
            .find(|b| b.catalog.resources.iter().any(|r| r.get("uri").and_then(Value::as_str) == Some(uri)))
            .map(|b| &b.key)
    }

    /// The error message and `data` for a call that `server` cannot take now.
    pub(super) fn unavailable(&self, now: Instant, server: &BackendKey) -> (String, Value) {
        let Some(b) = self.backends.get(server) else {
            return (format!("server '{server}' is not configured"), json!({"server": server.to_string()}));
        };
        let mut data = json!({
            "server": b.server(),
            "state": b.state.label(),
            "since": health::timestamp(&self.config, b.since),
            "sinceMs": now.since(b.since).as_millis() as u64,
        });
        if let Some(reason) = b.state.reason() {
            data["reason"] = reason.into();
        }
        if b.restarts > 0 {
            data["restarts"] = b.restarts.into();
        }
        let retry_in = restart_in(b, now);
        if let Some(ms) = retry_in {
            data["retryInMs"] = ms.into();
        }
        let name = b.server();
        let since = seconds(now.since(b.since).as_millis() as u64);
        let message = match &b.state {
            BackendState::Spawning | BackendState::Initializing | BackendState::Listing => {
                format!("server '{name}' is starting (for {since}); call again once it is ready")
            }
            BackendState::Restarting { reason, attempt } => format!(
                "server '{name}' is restarting (attempt {attempt}, next start in {}): it failed: {reason}",
                seconds(retry_in.unwrap_or_default())
            ),
            BackendState::CrashLoop(reason) => format!(
                "server '{name}' is in a crash loop (down for {since}; fix it and save the config to retry): {reason}"
            ),
            BackendState::Failed(reason) => format!("server '{name}' is unavailable (down for {since}): {reason}"),
            BackendState::AwaitingAuthorization(reason) => format!(
                "server '{name}' needs authorization: open {} on this daemon and sign in ({reason})",
                crate::oauth_client::authorize_path(name)
            ),
            BackendState::Disabled => format!("server '{name}' is disabled in the configuration"),
            BackendState::Stopped => format!("server '{name}' is stopped"),
            BackendState::Ready => format!("server '{name}' is ready"),
        };
        (message, data)
    }
}

/// Milliseconds until a restarting backend's next start.
fn restart_in(b: &Backend, now: Instant) -> Option<u64> {
    let at = b.restart_timer?.deadline();
    Some(if at > now { at.since(now).as_millis() as u64 } else { 0 })
}

/// `1.2 s` / `340 ms`, for messages.
fn seconds(ms: u64) -> String {
    if ms < 1000 { format!("{ms} ms") } else { format!("{}.{} s", ms / 1000, ms % 1000 / 100) }
}
