//! `/health` and `/health/ready`: what each backend is doing, shaped like 1MCP's answers.

use crate::backend::{Backend, BackendState};
use crate::config::TransportConfig;
use crate::hub::HubConfig;
use crate::registry::Collision;
use crate::time::Instant;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// `GET /health`: overall status (200 healthy/degraded, 503 unhealthy) and per-backend detail.
pub(crate) fn overall<'a>(
    now: Instant,
    config: &HubConfig,
    backends: impl Iterator<Item = &'a Backend>,
    collisions: &[Collision],
    config_errors: Option<&[String]>,
) -> (u16, Value) {
    let all: Vec<&Backend> = backends.collect();
    // Per-session instances are part of their server, not servers of their own.
    let backends: Vec<&Backend> = all.iter().copied().filter(|b| !b.key.is_instance()).collect();
    let enabled = backends.iter().filter(|b| b.state != BackendState::Disabled).count();
    let ready = count(&backends, "ready");
    let failed = count(&backends, "failed") + count(&backends, "crash-loop") + count(&backends, "restarting");
    let status = if ready == enabled && config_errors.is_none() {
        "healthy"
    } else if enabled > 0 && failed * 2 >= enabled {
        "unhealthy"
    } else {
        "degraded"
    };
    let details: Vec<Value> = backends
        .iter()
        .map(|b| {
            let ready_instances = all
                .iter()
                .filter(|i| i.key.is_instance() && i.server() == b.server())
                .filter(|i| i.state == BackendState::Ready);
            detail(now, b, ready_instances.count())
        })
        .collect();
    let mut body = json!({
        "status": status,
        "timestamp": timestamp(config, now),
        "version": crate::hub::SERVER_VERSION,
        "servers": {
            "total": backends.len(),
            "healthy": ready,
            "unhealthy": failed,
            "details": details,
        },
        "configuration": {
            "loaded": true,
            "serverCount": backends.len(),
            "enabledCount": enabled,
            "disabledCount": backends.len() - enabled,
            "authEnabled": config.auth_enabled,
            "transport": "http",
        },
        "collisions": collisions,
    });
    if let Some(errors) = config_errors {
        // Still serving the last good configuration; this is why the new one was not applied.
        body["configuration"]["reloadErrors"] = errors.into();
    }
    (if status == "unhealthy" { 503 } else { 200 }, body)
}

/// How much of the health documents a caller without a token sees while authentication is on
/// (1MCP's `--health-info-level`); token holders, and everyone with authentication off, see
/// them whole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InfoLevel {
    /// Status and time only.
    #[default]
    Minimal,
    /// Also the version, server counts, and each server's name and state (no commands, URLs,
    /// tags or errors).
    Basic,
    /// Everything.
    Full,
}

impl InfoLevel {
    /// `body` cut to this level.
    pub fn apply(self, body: Value) -> Value {
        match self {
            InfoLevel::Full => body,
            InfoLevel::Minimal => json!({"status": body["status"], "timestamp": body["timestamp"]}),
            InfoLevel::Basic => {
                let mut basic = json!({"status": body["status"], "timestamp": body["timestamp"]});
                for key in ["version", "waitingFor"] {
                    if let Some(value) = body.get(key) {
                        basic[key] = value.clone();
                    }
                }
                if let Some(servers) = body.get("servers") {
                    let names: Vec<Value> = servers["details"]
                        .as_array()
                        .map(|details| {
                            details.iter().map(|d| json!({"name": d["name"], "status": d["status"]})).collect()
                        })
                        .unwrap_or_default();
                    basic["servers"] = json!({
                        "total": servers["total"], "healthy": servers["healthy"], "unhealthy": servers["unhealthy"],
                        "details": names,
                    });
                }
                basic
            }
        }
    }
}

/// `GET /health/ready`: ready (200) once 1mcp can serve: every enabled server has become ready
/// or has failed its first attempt, else 503 naming the servers still on their first attempt.
/// Failed, restarting and crash-looping servers do not hold readiness back: the daemon serves
/// everything else, and `/health` says what is down.
pub(crate) fn readiness<'a>(
    now: Instant,
    config: &HubConfig,
    backends: impl Iterator<Item = &'a Backend>,
) -> (u16, Value) {
    let backends: Vec<&Backend> = backends.filter(|b| !b.key.is_instance()).collect();
    let starting = count(&backends, "starting");
    let restarting = count(&backends, "restarting");
    let waiting: Vec<&str> = backends
        .iter()
        .filter(|b| b.state != BackendState::Disabled && !b.first_attempt_over)
        .map(|b| b.server())
        .collect();
    let ready = waiting.is_empty();
    let mut body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "timestamp": timestamp(config, now),
        "servers": {
            "total": backends.len(),
            "ready": count(&backends, "ready"),
            "starting": starting,
            "restarting": restarting,
            "crashLoop": count(&backends, "crash-loop"),
            "failed": count(&backends, "failed"),
            "disabled": count(&backends, "disabled"),
        },
    });
    if !ready {
        body["waitingFor"] = waiting.into();
    }
    (if ready { 200 } else { 503 }, body)
}

fn count(backends: &[&Backend], label: &str) -> usize {
    backends.iter().filter(|b| b.state.label() == label).count()
}

fn detail(now: Instant, b: &Backend, ready_instances: usize) -> Value {
    let mut d = json!({
        "name": b.server(),
        "status": b.state.label(),
        "healthy": b.state == BackendState::Ready,
        "transport": match b.config.transport { TransportConfig::Stdio(_) => "stdio", TransportConfig::Http(_) => "http" },
        "tags": b.config.tags,
        "sinceMs": now.since(b.since).as_millis() as u64,
    });
    add_down_details(&mut d, now, b);
    if b.per_session().is_some() || !b.instances.is_empty() {
        d["sessionInstances"] = b.instances.len().into();
        d["sessionInstancesReady"] = ready_instances.into();
    }
    if b.asks_for_roots {
        d["asksForRoots"] = true.into();
    }
    if let Some(info) = &b.info {
        // The revision this incarnation speaks: a session's negotiated one, or 2026-07-28.
        d["protocol"] = info.protocol_version.clone().into();
    }
    if b.state == BackendState::Ready {
        d["tools"] = b.catalog.tools.len().into();
        d["prompts"] = b.catalog.prompts.len().into();
        d["resources"] = b.catalog.resources.len().into();
    }
    d
}

/// What says why `b` is down or fragile: the reason, restarts, an open circuit, and where to
/// authorize it when its server waits for the user.
fn add_down_details(d: &mut Value, now: Instant, b: &Backend) {
    if let Some(reason) = b.state.reason() {
        d["error"] = Value::String(reason.to_owned());
    }
    if b.restarts > 0 {
        d["restarts"] = b.restarts.into();
    }
    if let Some(until) = b.circuit.open_until(now) {
        d["circuit"] = json!({"open": true, "retryInMs": until.since(now).as_millis() as u64});
    }
    if matches!(b.state, BackendState::AwaitingAuthorization(_)) {
        d["authorize"] = crate::oauth_client::authorize_path(b.server()).into();
    }
}

/// RFC 3339 UTC time of `now`, from the driver-provided wall-clock epoch.
pub fn timestamp(config: &HubConfig, now: Instant) -> String {
    crate::time::rfc3339_utc_ms(config.wall_epoch_ms + now.0 / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let config = HubConfig { wall_epoch_ms: 1_764_683_731_123, ..HubConfig::default() };
        assert_eq!(timestamp(&config, Instant(0)), "2025-12-02T13:55:31.123Z");
        assert_eq!(timestamp(&config, Instant(2_000_000_000)), "2025-12-02T13:55:33.123Z");
        let leap = HubConfig { wall_epoch_ms: 951_782_400_000, ..HubConfig::default() };
        assert_eq!(timestamp(&leap, Instant(0)), "2000-02-29T00:00:00.000Z");
    }
}
