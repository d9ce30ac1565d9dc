//! Harness for the end-to-end tests: runs the real `1mcp` daemon against fixture MCP backends
//! (the `fixture-server` binary of this package) and drives it with rmcp's streamable-HTTP
//! client and a minimal raw HTTP/1.1 client.
//!
//! Every wait is bounded; a daemon is killed when its [`Daemon`] guard drops, and its stderr is
//! printed if the test is failing.

mod binaries;
mod cli_run;
mod daemon;
mod error;
mod http_fixture;
pub mod js;
mod mcp;
mod procfs;
mod raw_http;
mod sse_stream;
mod stdio;

pub use binaries::{onemcp_binary, workspace_root};
pub use cli_run::{CliRun, run_onemcp};
pub use daemon::Daemon;
pub use error::HarnessError;
pub use http_fixture::{start_http_fixture, start_http_fixture_with_env};
pub use mcp::{
    McpClient, call_args, fixture_backend, json_rpc_error, mcp_client, mcp_client_with_token, mcp_client_with_version,
    mcp_config, tool_text,
};
pub use procfs::{children_of, is_alive};
pub use raw_http::{HttpRequest, HttpResponse, initialize_request, raw_http, raw_http_head, raw_http_to};
pub use sse_stream::{SseEvent, SseStream};
pub use stdio::StdioProcess;

use std::future::Future;
use std::time::Duration;

/// Upper bound for any single step a test waits on (a request, a list, a handshake).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// Path of the fixture MCP server binary; expands in the integration test that uses it.
#[macro_export]
macro_rules! fixture_server_bin {
    () => {
        env!("CARGO_BIN_EXE_fixture-server")
    };
}

/// Awaits `future` for at most [`STEP_TIMEOUT`], panicking with `what` if it takes longer.
pub async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(STEP_TIMEOUT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {STEP_TIMEOUT:?}: {what}"),
    }
}
