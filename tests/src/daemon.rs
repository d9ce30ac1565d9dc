//! A running `1mcp serve` daemon in its own temporary directory, stopped when dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use rmcp::model::ProtocolVersion;

use crate::raw_http::{HttpRequest, HttpResponse, raw_http};
use crate::{HarnessError, McpClient, onemcp_binary};

/// How long the daemon may take to write its pid file.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the daemon gets to exit after SIGTERM before it is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long backends may take to settle (ready or failed) after the daemon is up.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause between two polls.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How many trailing stderr lines to print when a test fails.
const STDERR_TAIL_LINES: usize = 400;

/// A `1mcp serve` daemon on a free 127.0.0.1 port, with authentication on (as a user runs it)
/// unless started with [`Daemon::start_without_auth`].
#[derive(Debug)]
pub struct Daemon {
    /// The TCP port the daemon listens on.
    pub port: u16,
    /// The MCP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    /// The daemon's temporary config directory (holds `mcp.json`, `server.pid`, logs).
    pub dir: TempDir,
    /// With authentication on: a token (all servers) minted for the test with `1mcp token
    /// create`, which the client calls below present ([`Daemon::send`], [`Daemon::mcp_client`],
    /// [`Daemon::authorized`], [`Daemon::get_json`], [`Daemon::wait_ready`],
    /// [`Daemon::wait_for_health`]); [`Daemon::http`] sends exactly the request it is given.
    /// `None` with authentication off.
    pub token: Option<String>,
    child: Child,
    stderr_path: PathBuf,
    /// The arguments after `serve` (with `-P 0`) and the extra environment, for a restart.
    serve_args: Vec<std::ffi::OsString>,
    env: Vec<(String, String)>,
}

impl Daemon {
    /// Writes `config` as `mcp.json` and starts the daemon with authentication on (the default
    /// of `1mcp serve`) and a harness token in [`Daemon::token`]; panics (with its stderr) if it
    /// does not come up.
    pub async fn start(config: &Value) -> Daemon {
        Self::start_with_args(config, &[]).await
    }

    /// Like [`Daemon::start`], with extra command-line arguments after the standard ones.
    pub async fn start_with_args(config: &Value, extra_args: &[&str]) -> Daemon {
        Self::start_with(config, extra_args, &[]).await
    }

    /// Like [`Daemon::start`], with extra arguments and extra environment variables.
    pub async fn start_with(config: &Value, extra_args: &[&str], env: &[(&str, &str)]) -> Daemon {
        Self::start_with_files(config, extra_args, env, &[]).await
    }

    /// Like [`Daemon::start_with`], first writing `files` (name, contents) into the config dir.
    pub async fn start_with_files(
        config: &Value,
        extra_args: &[&str],
        env: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> Daemon {
        Self::start_under(&[], config, extra_args, env, files).await
    }

    /// Like [`Daemon::start_with_files`], run through `wrapper` (a program and its arguments
    /// that end by running the command after them, e.g. `prlimit --nofile=1024: --`).
    pub async fn start_under(
        wrapper: &[&str],
        config: &Value,
        extra_args: &[&str],
        env: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> Daemon {
        Self::launch(wrapper, config, extra_args, env, files, true).await
    }

    /// A daemon with authentication on, as `1mcp serve` starts by default (tokens are made
    /// with `1mcp token create -d <daemon.dir>`); the same as [`Daemon::start_with_args`].
    pub async fn start_with_auth(config: &Value, extra_args: &[&str]) -> Daemon {
        Self::start_with_auth_files(config, extra_args, &[]).await
    }

    /// Like [`Daemon::start_with_auth`], first writing `files` (name, contents) into the config
    /// dir (e.g. another daemon's `operator.secret` or `oauth.json`).
    pub async fn start_with_auth_files(config: &Value, extra_args: &[&str], files: &[(&str, &str)]) -> Daemon {
        Self::launch(&[], config, extra_args, &[], files, true).await
    }

    /// A `1mcp serve --no-auth` daemon, no token. Only for tests about what authentication off
    /// does, or whose client cannot present a token: say which at the call.
    pub async fn start_without_auth(config: &Value, extra_args: &[&str]) -> Daemon {
        Self::launch(&[], config, extra_args, &[], &[], false).await
    }

    /// `Bearer <harness token>`, the `Authorization` value the harness presents (`None` with
    /// authentication off).
    pub fn bearer(&self) -> Option<String> {
        self.token.as_ref().map(|token| format!("Bearer {token}"))
    }

    /// `request` with the harness token, unless it has an `Authorization` header already (or
    /// authentication is off).
    pub fn authorized(&self, request: HttpRequest) -> HttpRequest {
        match self.bearer() {
            Some(bearer) if !request.has_header("Authorization") => request.header("Authorization", &bearer),
            _ => request,
        }
    }

    /// Sends `request` as a client holding the harness token would (see [`Daemon::authorized`]);
    /// [`Daemon::http`] sends it as it is, e.g. to check a refusal.
    pub async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, HarnessError> {
        raw_http(self.port, &self.authorized(request.clone())).await
    }

    /// An rmcp client session on [`Daemon::url`], presenting the harness token.
    pub async fn mcp_client(&self) -> Result<McpClient, HarnessError> {
        crate::mcp::connect(&self.url, ProtocolVersion::V_2025_11_25, self.token.as_deref()).await
    }

    /// Like [`Daemon::mcp_client`], offering `protocol_version`.
    pub async fn mcp_client_with_version(&self, protocol_version: ProtocolVersion) -> Result<McpClient, HarnessError> {
        crate::mcp::connect(&self.url, protocol_version, self.token.as_deref()).await
    }

    async fn launch(
        wrapper: &[&str],
        config: &Value,
        extra_args: &[&str],
        env: &[(&str, &str)],
        files: &[(&str, &str)],
        auth: bool,
    ) -> Daemon {
        let dir =
            tempfile::Builder::new().prefix("onemcp-e2e-").tempdir().expect("create the daemon's temporary directory");
        for (name, contents) in files {
            std::fs::write(dir.path().join(name), contents).expect("write a config-dir file");
        }
        let config_path = dir.path().join("mcp.json");
        let config_text = serde_json::to_string_pretty(config).expect("serialise mcp.json");
        std::fs::write(&config_path, config_text).expect("write mcp.json");
        let stderr_path = dir.path().join("daemon.stderr");
        let stdout_path = dir.path().join("daemon.stdout");
        let stderr = File::create(&stderr_path).expect("create the daemon stderr file");
        let stdout = File::create(&stdout_path).expect("create the daemon stdout file");

        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(onemcp_binary());
                command
            }
            None => Command::new(onemcp_binary()),
        };
        let mut serve_args: Vec<std::ffi::OsString> = vec!["serve".into()];
        if !auth {
            serve_args.push("--no-auth".into());
        }
        serve_args.extend(["-P", "0", "-d"].map(Into::into));
        serve_args.push(dir.path().into());
        serve_args.push("-c".into());
        serve_args.push(config_path.into());
        serve_args.extend(["--log-level", "debug"].map(Into::into));
        serve_args.extend(extra_args.iter().map(Into::into));
        command.args(&serve_args).stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        remove_onemcp_env(&mut command);
        command.envs(env.iter().copied());
        let child = command.spawn().expect("spawn the 1mcp daemon");

        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let mut daemon = Daemon { port: 0, url: String::new(), dir, token: None, child, stderr_path, serve_args, env };
        match daemon.wait_for_pid_file().await {
            Ok(port) => {
                daemon.port = port;
                daemon.url = format!("http://127.0.0.1:{port}/mcp");
            }
            Err(why) => panic!("1mcp daemon did not come up: {why}\n--- daemon stderr ---\n{}", daemon.stderr_tail()),
        }
        if auth {
            let dir = daemon.dir.path().to_string_lossy().into_owned();
            let minted = crate::run_onemcp(&["token", "create", "-d", &dir, "--name", "harness"], STARTUP_TIMEOUT);
            assert_eq!(minted.code, Some(0), "minting the harness token: {}", minted.describe());
            daemon.token = Some(minted.stdout.trim().to_owned());
        }
        daemon
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the daemon process.
    pub fn signal(&self, signal: rustix::process::Signal) {
        // The process may already be gone; the caller checks the outcome.
        let _ = rustix::process::kill_process(rustix::process::Pid::from_child(&self.child), signal);
    }

    /// Waits (bounded by `limit`) for the daemon to exit; `None` if it is still running.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the daemon (if it still runs) and starts it again with the same arguments, config
    /// directory, port and token, without a wrapper; its output goes to `restart.stderr` and
    /// `restart.stdout` (the first run's logs stay). Panics if it does not come up.
    pub async fn restart(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(self.dir.path().join("server.pid"));
        let port = self.port.to_string();
        let mut args = self.serve_args.clone();
        if let Some(at) = args.iter().position(|a| a == "-P") {
            args[at + 1] = port.into();
        }
        self.stderr_path = self.dir.path().join("restart.stderr");
        let stderr = File::create(&self.stderr_path).expect("create restart.stderr");
        let stdout = File::create(self.dir.path().join("restart.stdout")).expect("create restart.stdout");
        let mut command = Command::new(onemcp_binary());
        command.args(&args).stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        remove_onemcp_env(&mut command);
        command.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        self.child = command.spawn().expect("spawn the restarted 1mcp daemon");
        match self.wait_for_pid_file().await {
            Ok(port) => assert_eq!(port, self.port, "the restarted daemon listens where the first one did"),
            Err(why) => panic!("the restarted daemon did not come up: {why}\n{}", self.stderr_tail()),
        }
    }

    /// POSTs `message` to `/mcp?{query}` (authorized), in `session` if given: the status, the
    /// `Mcp-Session-Id` answered, and the JSON-RPC message (`Null` if none).
    pub async fn post_at(&self, query: &str, session: Option<&str>, message: &Value) -> (u16, Option<String>, Value) {
        let request = HttpRequest::mcp_post(session, message).at(&format!("/mcp?{query}"));
        let response = self.send(&request).await.expect("POST /mcp");
        let session = response.header("Mcp-Session-Id").map(str::to_owned);
        (response.status, session, response.json_rpc_message().unwrap_or(Value::Null))
    }

    /// The servers whose tools a session opened at `/mcp?{query}` lists, in order (panics if
    /// the session is refused).
    pub async fn servers_seen(&self, query: &str) -> Vec<String> {
        let (status, session, body) = self.post_at(query, None, &crate::initialize_request("2025-11-25")).await;
        assert_eq!(status, 200, "{query}: {body}");
        let session = session.expect("a session");
        let list = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
        let (_, _, body) = self.post_at(query, Some(&session), &list).await;
        let mut servers: Vec<String> = body["result"]["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str()?.split("_1mcp_").next().map(str::to_owned))
            .collect();
        servers.dedup();
        servers
    }

    /// Path of the `mcp.json` the daemon was started with.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("mcp.json")
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Sends a raw HTTP request to the daemon.
    pub async fn http(&self, request: &HttpRequest) -> Result<HttpResponse, HarnessError> {
        raw_http(self.port, request).await
    }

    /// `GET path` on the daemon, body parsed as JSON; panics if it is not JSON.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response =
            self.http(&self.authorized(HttpRequest::get(path))).await.unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let body =
            response.json().unwrap_or_else(|e| panic!("GET {path}: body is not JSON ({e}): {}", response.describe()));
        (response.status, body)
    }

    /// Polls `GET /health/ready` until it answers 200 (bounded); panics with the last answer.
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            match self.http(&self.authorized(HttpRequest::get("/health/ready"))).await {
                Ok(response) if response.status == 200 => return,
                Ok(response) => last = response.describe(),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        panic!("daemon not ready within {READY_TIMEOUT:?}; last /health/ready: {last}");
    }

    /// Polls `GET /health` until `accept(body)` holds (bounded); returns that body or panics
    /// with the last one.
    pub async fn wait_for_health(&self, what: &str, accept: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            if let Ok(response) = self.http(&self.authorized(HttpRequest::get("/health"))).await {
                last = response.json().unwrap_or(Value::Null);
                if accept(&last) {
                    return last;
                }
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        panic!("/health never showed {what} within {READY_TIMEOUT:?}; last body: {last}");
    }

    async fn wait_for_pid_file(&mut self) -> Result<u16, String> {
        let pid_path = self.dir.path().join("server.pid");
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(port) = read_port(&pid_path) {
                return Ok(port);
            }
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    return Err(format!("it exited with {status} before writing server.pid"));
                }
                Ok(None) => {}
                Err(e) => return Err(format!("cannot check the daemon process: {e}")),
            }
            if Instant::now() >= deadline {
                return Err(format!("{} did not appear within {STARTUP_TIMEOUT:?}", pid_path.display()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn stderr_tail(&self) -> String {
        let stderr = self.stderr();
        let lines: Vec<&str> = stderr.lines().collect();
        let skip = lines.len().saturating_sub(STDERR_TAIL_LINES);
        lines[skip..].join("\n")
    }

    /// SIGTERM, then SIGKILL after [`SHUTDOWN_GRACE`].
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = rustix::process::Pid::from_child(&self.child);
        // The process may exit between the check and the signal; that is fine.
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "--- 1mcp daemon stderr (last {STDERR_TAIL_LINES} lines of {}) ---\n{}\n--- end of daemon stderr ---",
                self.stderr_path.display(),
                self.stderr_tail()
            );
        }
    }
}

/// The port recorded in a complete `server.pid` file, if there is one yet.
fn read_port(pid_path: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(pid_path).ok()?;
    let record: Value = serde_json::from_str(&text).ok()?;
    let port = record.get("port")?.as_u64()?;
    u16::try_from(port).ok().filter(|port| *port != 0)
}

/// Keeps the user's `ONE_MCP_*` settings from leaking into the process under test.
pub(crate) fn remove_onemcp_env(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ONE_MCP_") {
            command.env_remove(name);
        }
    }
}
