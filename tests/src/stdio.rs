//! A `1mcp` process spoken to over its stdin/stdout (`serve --transport stdio`, `proxy`), one
//! JSON-RPC message per line. Every wait is bounded; the process is stopped by pid on drop.

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::daemon::remove_onemcp_env;
use crate::{STEP_TIMEOUT, onemcp_binary};

/// How long the process gets to exit after SIGTERM (on drop) before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running `1mcp` with piped stdin/stdout/stderr.
#[derive(Debug)]
pub struct StdioProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    stdout_log: Arc<Mutex<Vec<String>>>,
    stderr_log: Arc<Mutex<String>>,
    /// The pipe readers, done once the process (and anything sharing its pipes) closed them.
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl StdioProcess {
    /// Starts `1mcp args…` (no `ONE_MCP_*` from the environment).
    pub fn spawn(args: &[&str]) -> StdioProcess {
        let mut command = std::process::Command::new(onemcp_binary());
        command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        remove_onemcp_env(&mut command);
        let mut child = Command::from(command).spawn().expect("spawn 1mcp");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout_log = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&stdout_log);
        let stdout_reader = tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                log.lock().unwrap_or_else(PoisonError::into_inner).push(line.clone());
                let _ = tx.send(line);
            }
        });
        let stderr_log = Arc::new(Mutex::new(String::new()));
        let log = Arc::clone(&stderr_log);
        let stderr_reader = tokio::spawn(async move {
            let mut stderr = stderr;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                log.lock().unwrap_or_else(PoisonError::into_inner).push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        StdioProcess { child, stdin, lines, stdout_log, stderr_log, readers: vec![stdout_reader, stderr_reader] }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or_default()
    }

    /// Writes `line` and a newline to stdin.
    pub async fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is still open");
        let write = async {
            stdin.write_all(line.as_bytes()).await?;
            stdin.write_all(b"\n").await?;
            stdin.flush().await
        };
        match tokio::time::timeout(STEP_TIMEOUT, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("writing to 1mcp's stdin: {e}\n{}", self.describe()),
            Err(_) => panic!("writing to 1mcp's stdin timed out\n{}", self.describe()),
        }
    }

    /// Writes one JSON message.
    pub async fn send(&mut self, message: &Value) {
        self.send_line(&message.to_string()).await;
    }

    /// The next stdout line as JSON (bounded by [`STEP_TIMEOUT`]); panics on timeout, end of
    /// output or a line that is not JSON.
    pub async fn recv(&mut self, what: &str) -> Value {
        match tokio::time::timeout(STEP_TIMEOUT, self.lines.recv()).await {
            Ok(Some(line)) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("{what}: stdout line is not JSON ({e}): {line}\n{}", self.describe())),
            Ok(None) => panic!("{what}: stdout ended\n{}", self.describe()),
            Err(_) => panic!("{what}: nothing on stdout within {STEP_TIMEOUT:?}\n{}", self.describe()),
        }
    }

    /// Reads until the response to request `id` (skipping notifications and server requests).
    pub async fn response(&mut self, id: &Value) -> Value {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let message = self.recv(&format!("response to id {id}")).await;
            if message.get("method").is_none() && message.get("id") == Some(id) {
                return message;
            }
            assert!(Instant::now() < deadline, "no response to id {id} within {STEP_TIMEOUT:?}\n{}", self.describe());
        }
    }

    /// Sends request `method` with `id` and `params`, returns its response.
    pub async fn request(&mut self, id: Value, method: &str, params: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        self.response(&id).await
    }

    /// `initialize` (id `"init"`) then `notifications/initialized`; returns the initialize response.
    pub async fn initialize(&mut self) -> Value {
        let params = json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "onemcp-tests-stdio", "version": "1"},
        });
        let response = self.request(json!("init"), "initialize", params).await;
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        response
    }

    /// Lists tools (ids `"list-<n>"`) until every name in `wanted` is there (backends start
    /// asynchronously); returns the names. Panics after [`STEP_TIMEOUT`].
    pub async fn tools_once_listed(&mut self, wanted: &[&str]) -> Vec<String> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        for attempt in 0.. {
            let response = self.request(json!(format!("list-{attempt}")), "tools/list", json!({})).await;
            let names: Vec<String> = response["result"]["tools"]
                .as_array()
                .map(|tools| tools.iter().filter_map(|t| t["name"].as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            if wanted.iter().all(|w| names.iter().any(|n| n == w)) {
                return names;
            }
            assert!(Instant::now() < deadline, "tools/list never showed {wanted:?}; last: {response}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        unreachable!("the loop only ends by returning or panicking")
    }

    /// Calls tool `name` with `arguments` as request `id`; returns the text of its result.
    pub async fn call_tool_text(&mut self, id: Value, name: &str, arguments: Value) -> String {
        let response = self.request(id, "tools/call", json!({"name": name, "arguments": arguments})).await;
        let text = response["result"]["content"]
            .as_array()
            .map(|blocks| blocks.iter().filter_map(|b| b["text"].as_str()).collect::<String>());
        text.unwrap_or_else(|| panic!("tools/call {name}: no text result: {response}"))
    }

    /// Panics unless every stdout line so far is a JSON-RPC 2.0 message.
    pub fn assert_only_json_rpc(&self) {
        for line in self.stdout_lines() {
            let message: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            assert_eq!(message["jsonrpc"], "2.0", "stdout carried something else: {line:?}\n{}", self.describe());
        }
    }

    /// Closes stdin (end of file for the process).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits (bounded by `limit`) for the process to exit, then (briefly) for its last output to
    /// be read; `None` if it is still running.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let status = tokio::time::timeout(limit, self.child.wait()).await.ok().and_then(Result::ok)?;
        for reader in std::mem::take(&mut self.readers) {
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
        Some(status)
    }

    /// Every stdout line so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout_log.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr_log.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Stdout and stderr so far, for assertion messages.
    pub fn describe(&self) -> String {
        format!("--- stdout ---\n{}\n--- stderr ---\n{}", self.stdout_lines().join("\n"), self.stderr())
    }
}

impl Drop for StdioProcess {
    fn drop(&mut self) {
        // SIGTERM alone: closing stdin as well would make a stdio daemon's shutdown a forced one.
        if matches!(self.child.try_wait(), Ok(None))
            && let Some(pid) =
                self.child.id().and_then(|p| i32::try_from(p).ok()).and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.start_kill();
        }
        if std::thread::panicking() {
            eprintln!("--- 1mcp (stdio) output ---\n{}\n--- end ---", self.describe());
        }
    }
}
