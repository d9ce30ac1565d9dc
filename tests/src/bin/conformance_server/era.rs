//! Which protocol era a request belongs to: the fixture serves both on one endpoint (and one
//! stdio process), and answers a few things differently in each.

use rmcp::RoleServer;
use rmcp::model::{ClientCapabilities, LoggingLevel, LoggingMessageNotificationParam};
use rmcp::service::RequestContext;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// `initialize`-based sessions (2025-11-25 and earlier).
    Legacy,
    /// Per-request `_meta`, no sessions (2026-07-28 and later).
    Modern,
}

impl Era {
    /// The era of the request `context` belongs to: the version its own `_meta` names, else the
    /// one its session negotiated.
    pub fn of(context: &RequestContext<RoleServer>) -> Era {
        match context.protocol_version() {
            Some(version) if !version.has_initialize() => Era::Modern,
            _ => Era::Legacy,
        }
    }
}

/// What the client declared: in this request's `_meta` (modern) or at `initialize` (legacy).
pub fn client_capabilities(context: &RequestContext<RoleServer>) -> ClientCapabilities {
    context.client_capabilities().unwrap_or_default()
}

/// Severity order of the log levels (RFC 5424, least severe first).
fn severity(level: LoggingLevel) -> u8 {
    level as u8
}

/// Sends a `notifications/message` for the request `context` belongs to. A legacy session gets
/// every line; a modern request only those at or above the `logLevel` its `_meta` names, and
/// none without one (2026-07-28, server/utilities/logging). A closed peer only loses the line.
pub async fn log(context: &RequestContext<RoleServer>, level: LoggingLevel, text: &str) {
    if Era::of(context) == Era::Modern {
        match context.meta.log_level() {
            Some(threshold) if severity(level) >= severity(threshold) => {}
            _ => return,
        }
    }
    let param = LoggingMessageNotificationParam::new(level, json!(text)).with_logger("conformance-test-server");
    let _ = context.peer.notify_logging_message(param).await;
}
