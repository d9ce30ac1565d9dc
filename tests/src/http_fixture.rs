//! A fixture MCP server serving streamable HTTP on 127.0.0.1, for HTTP-backend tests.

use crate::bounded;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Starts `bin --http <port>` (0: any free port) and waits for its `listening on <url>` line;
/// returns the child (killed on drop) and the URL.
pub async fn start_http_fixture(bin: &str, port: u16) -> (tokio::process::Child, String) {
    start_http_fixture_with_env(bin, port, &[]).await
}

/// [`start_http_fixture`] with extra environment variables.
pub async fn start_http_fixture_with_env(
    bin: &str,
    port: u16,
    env: &[(&str, &std::path::Path)],
) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(bin)
        .args(["--http", &port.to_string()])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    bounded("the fixture's `listening on` line", stdout.read_line(&mut line)).await.expect("read stdout");
    let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected: {line:?}"));
    (child, url.to_owned())
}
