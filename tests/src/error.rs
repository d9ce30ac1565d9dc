//! The one error type of the harness.

use std::fmt;
use std::time::Duration;

/// Why a harness step failed.
#[derive(Debug)]
pub enum HarnessError {
    /// A socket or process operation failed.
    Io(std::io::Error),
    /// A step did not finish within its bound.
    Timeout { what: String, after: Duration },
    /// The peer sent bytes that are not valid HTTP.
    MalformedHttp(String),
    /// The MCP client could not complete the handshake.
    McpHandshake(String),
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::Io(e) => write!(f, "i/o error: {e}"),
            HarnessError::Timeout { what, after } => write!(f, "timed out after {after:?}: {what}"),
            HarnessError::MalformedHttp(why) => write!(f, "malformed HTTP response: {why}"),
            HarnessError::McpHandshake(why) => write!(f, "MCP handshake failed: {why}"),
        }
    }
}

impl std::error::Error for HarnessError {}

impl From<std::io::Error> for HarnessError {
    fn from(e: std::io::Error) -> Self {
        HarnessError::Io(e)
    }
}
