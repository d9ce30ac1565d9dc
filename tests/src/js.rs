//! The pinned non-Rust tooling `tests/js/setup.sh` installs under `target/` (Node 22, the official
//! conformance suite, server-everything, the TypeScript and Python SDKs), and bounded runs of it.
//!
//! A test that needs the tooling calls [`require_tool`]: when the tooling is missing it fails
//! under `CI=true` and otherwise skips loudly (run `tests/js/setup.sh` to install it).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::workspace_root;

/// `target/js` (or `$ONEMCP_JS_DIR`): the npm install of `tests/js/package.json`.
pub fn js_dir() -> PathBuf {
    match std::env::var_os("ONEMCP_JS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("target").join("js"),
    }
}

/// The Node 22 binary from the npm package `node@22` (or `$ONEMCP_NODE`).
pub fn node_binary() -> PathBuf {
    match std::env::var_os("ONEMCP_NODE") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => js_dir().join("node_modules").join(".bin").join("node"),
    }
}

/// The Python of the `target/py` venv that holds the official `mcp` SDK (or `$ONEMCP_PYTHON`).
pub fn python_binary() -> PathBuf {
    match std::env::var_os("ONEMCP_PYTHON") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => workspace_root().join("target").join("py").join("bin").join("python"),
    }
}

/// server-everything's entry point inside `target/js`.
pub fn server_everything_js() -> PathBuf {
    js_dir().join("node_modules/@modelcontextprotocol/server-everything/dist/index.js")
}

/// The entry points of the TypeScript SDK v2 split packages in `target/js` that speak the stateless
/// 2026-07-28 revision: `@modelcontextprotocol/server`, `client` and `node` (the HTTP adapter).
pub fn sdk_v2_packages() -> [PathBuf; 3] {
    ["server", "client", "node"]
        .map(|package| js_dir().join("node_modules/@modelcontextprotocol").join(package).join("dist/index.mjs"))
}

/// `tests/js/modern-server.mjs`: a stateless-only TypeScript SDK v2 server (refuses `initialize`)
/// with a plain tool and one that elicits through an InputRequiredResult.
pub fn modern_server_js() -> PathBuf {
    workspace_root().join("tests/js/modern-server.mjs")
}

/// `tests/js/modern-client.mjs`: the TypeScript SDK v2 client pinned to 2026-07-28 (or the 1.x
/// client in a legacy session), driven by a JSON plan, reporting checks.
pub fn modern_client_js() -> PathBuf {
    workspace_root().join("tests/js/modern-client.mjs")
}

/// `tests/py/modern_client.py`: the Python SDK client in the 2026-07-28 revision, same plan and
/// report as [`modern_client_js`].
pub fn modern_client_py() -> PathBuf {
    workspace_root().join("tests/py/modern_client.py")
}

/// [`modern_server_js`] serving streamable HTTP on 127.0.0.1; killed when dropped. What it was
/// sent (one JSON line per request, on its stderr) is printed if the test is failing.
#[derive(Debug)]
pub struct ModernServer {
    /// `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    _child: tokio::process::Child,
    log: tempfile::NamedTempFile,
}

impl ModernServer {
    /// Starts the server and waits (bounded) for its `listening on <url>` line.
    pub async fn start() -> ModernServer {
        let log = tempfile::Builder::new().prefix("onemcp-modern-server-").tempfile().expect("create a log file");
        let stderr = log.reopen().expect("reopen the log file");
        let mut child = tokio::process::Command::new(node_binary())
            .arg(modern_server_js())
            .env("ONEMCP_JS_DIR", js_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn modern-server.mjs");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        let mut reader = tokio::io::BufReader::new(stdout);
        let read = tokio::io::AsyncBufReadExt::read_line(&mut reader, &mut line);
        crate::bounded("modern-server.mjs's `listening on` line", read).await.expect("read its stdout");
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            let log = std::fs::read_to_string(log.path()).unwrap_or_default();
            panic!("modern-server.mjs did not start: stdout {line:?}, stderr:\n{log}");
        };
        ModernServer { url: url.to_owned(), _child: child, log }
    }

    /// Everything the server logged so far: the requests it saw and what it refused.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for ModernServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- modern-server.mjs ({}) saw ---\n{}--- end ---", self.url, self.log());
        }
    }
}

fn running_in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// `Some(())` when every one of `paths` exists. Otherwise panics under `CI=true`, or prints a
/// loud skip notice naming `test` and returns `None` so the caller returns early.
pub fn require_tool(test: &str, paths: &[&Path]) -> Option<()> {
    let missing: Vec<String> = paths.iter().filter(|p| !p.exists()).map(|p| p.display().to_string()).collect();
    if missing.is_empty() {
        return Some(());
    }
    let message = format!(
        "{test}: test tooling missing ({}); run tests/js/setup.sh (it installs Node 22, the conformance suite \
         and the MCP SDKs under target/)",
        missing.join(", ")
    );
    if running_in_ci() {
        panic!("{message} -- CI=true, so this is a failure, not a skip");
    }
    eprintln!("\n{}\nSKIPPED {message}\n{}\n", "!".repeat(100), "!".repeat(100));
    None
}

/// What a bounded child process left behind.
#[derive(Debug)]
pub struct BoundedOutput {
    /// Exit code, `None` if it was killed (timeout or signal).
    pub code: Option<i32>,
    /// True when the time limit ran out and the process group was killed.
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl BoundedOutput {
    /// The last `lines` lines of stderr and stdout, for failure messages.
    pub fn tail(&self, lines: usize) -> String {
        let tail = |text: &str| {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        };
        format!("--- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}", tail(&self.stdout), tail(&self.stderr))
    }
}

/// Runs `command` in its own process group with stdout/stderr captured in files under `scratch`,
/// for at most `limit`; on timeout the group is killed by its id.
pub async fn run_bounded(mut command: tokio::process::Command, scratch: &Path, limit: Duration) -> BoundedOutput {
    let stdout_path = scratch.join("stdout.txt");
    let stderr_path = scratch.join("stderr.txt");
    let stdout = std::fs::File::create(&stdout_path).expect("create the stdout capture file");
    let stderr = std::fs::File::create(&stderr_path).expect("create the stderr capture file");
    command.stdin(Stdio::null()).stdout(stdout).stderr(stderr).process_group(0).kill_on_drop(true);
    let mut child = command.spawn().unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
    let pid = child.id();
    let (code, timed_out) = match tokio::time::timeout(limit, child.wait()).await {
        Ok(Ok(status)) => (status.code(), false),
        Ok(Err(e)) => panic!("wait for {command:?}: {e}"),
        Err(_) => (None, true),
    };
    // The group may hold helpers the main process started (e.g. backends of a direct run); they
    // go too, by the group's id, whether the main process timed out or not.
    if let Some(pid) = pid.and_then(|pid| rustix::process::Pid::from_raw(pid as i32)) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    if timed_out {
        let _ = child.kill().await;
    }
    BoundedOutput {
        code,
        timed_out,
        stdout: std::fs::read_to_string(&stdout_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    }
}

/// The two versions of the official conformance suite the tests run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConformanceSuite {
    /// `@modelcontextprotocol/conformance@0.1.16 server --suite all` (legacy wire, pending included).
    Stable,
    /// `0.2.0-alpha.12 server --requirements 2025-11-25` (the frozen 2025-11-25 set plus its
    /// not-scored scenarios).
    Next20251125,
    /// `0.2.0-alpha.12 server --scenario server-stateless`: the 2026-07-28 revision's
    /// stateless wire (per-request `_meta`, discovery, the header and method refusals).
    Stateless20260728,
    /// `0.2.0-alpha.12 server --requirements 2026-07-28`: the frozen 2026-07-28 set (stateless
    /// wire, MRTR, caching hints) plus its not-scored scenarios (tasks extension, pending).
    Modern20260728,
}

impl ConformanceSuite {
    /// A short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            ConformanceSuite::Stable => "0.1.16 --suite all",
            ConformanceSuite::Next20251125 => "0.2.0-alpha.12 --requirements 2025-11-25",
            ConformanceSuite::Stateless20260728 => "0.2.0-alpha.12 --scenario server-stateless",
            ConformanceSuite::Modern20260728 => "0.2.0-alpha.12 --requirements 2026-07-28",
        }
    }

    /// The suite's CLI entry point inside `target/js`.
    pub fn cli(self) -> PathBuf {
        let package = match self {
            ConformanceSuite::Stable => "@modelcontextprotocol/conformance",
            ConformanceSuite::Next20251125 | ConformanceSuite::Stateless20260728 | ConformanceSuite::Modern20260728 => {
                "conformance-next"
            }
        };
        js_dir().join("node_modules").join(package).join("dist").join("index.js")
    }

    /// The frozen requirement set a `--requirements` run is scored against (the `server:` list
    /// of the package's `requirements/<revision>.yaml`); `None` for the other selections.
    pub fn scored_scenarios(self) -> Option<Vec<String>> {
        let revision = match self {
            ConformanceSuite::Next20251125 => "2025-11-25",
            ConformanceSuite::Modern20260728 => "2026-07-28",
            ConformanceSuite::Stable | ConformanceSuite::Stateless20260728 => return None,
        };
        let package = self.cli().parent()?.parent()?.to_path_buf();
        let text = std::fs::read_to_string(package.join("requirements").join(format!("{revision}.yaml"))).ok()?;
        Some(server_requirements(&text))
    }

    fn selection_args(self) -> &'static [&'static str] {
        match self {
            ConformanceSuite::Stable => &["--suite", "all"],
            ConformanceSuite::Next20251125 => &["--requirements", "2025-11-25", "--timeout", "20000"],
            ConformanceSuite::Stateless20260728 => &["--scenario", "server-stateless", "--timeout", "20000"],
            ConformanceSuite::Modern20260728 => &["--requirements", "2026-07-28", "--timeout", "20000"],
        }
    }
}

/// The entries of the top-level `server:` list of a requirements file (a YAML block sequence of
/// plain scenario names; the files have nothing more elaborate).
fn server_requirements(yaml: &str) -> Vec<String> {
    let mut lines = yaml.lines().skip_while(|line| line.trim_end() != "server:").skip(1);
    let mut names = Vec::new();
    for line in lines.by_ref() {
        match line.trim().strip_prefix("- ") {
            Some(name) if line.starts_with(' ') => names.push(name.trim().to_owned()),
            _ if line.trim().is_empty() || line.trim_start().starts_with('#') => continue,
            _ => break,
        }
    }
    names
}

/// One scenario's result: it passes when none of its checks is a FAILURE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioOutcome {
    pub passed: bool,
    /// How many checks the scenario reported.
    pub checks: usize,
    /// `name: errorMessage` of each failed check.
    pub failures: Vec<String>,
}

/// Scenario name -> outcome, in name order.
pub type SuiteResults = BTreeMap<String, ScenarioOutcome>;

/// Longest a whole suite run may take (every scenario is bounded by the suite too).
pub const SUITE_LIMIT: Duration = Duration::from_secs(300);

/// `tests/js/bearer-preload.mjs`: loaded with `node --import`, it adds a bearer token to every
/// request a Node program sends to one origin (for clients with no option of their own for it).
pub fn bearer_preload_js() -> PathBuf {
    workspace_root().join("tests/js/bearer-preload.mjs")
}

/// Runs `suite` in server mode against `url` and returns each scenario's outcome, read from the
/// `checks.json` files it writes. Panics (with the suite's output) if it produced none.
pub async fn run_conformance(suite: ConformanceSuite, url: &str) -> SuiteResults {
    run_conformance_with_token(suite, url, None).await
}

/// Like [`run_conformance`]; with `token`, every request the suite sends to `url`'s origin
/// carries `Authorization: Bearer <token>`. The suite has no option for that (its server mode
/// takes only a URL, and its scenarios' clients are built without headers), so
/// [`bearer_preload_js`] adds the header below it, in undici's global dispatcher.
pub async fn run_conformance_with_token(suite: ConformanceSuite, url: &str, token: Option<&str>) -> SuiteResults {
    let scratch = tempfile::Builder::new().prefix("onemcp-conformance-").tempdir().expect("create a scratch directory");
    let results_dir = scratch.path().join("results");
    let mut command = tokio::process::Command::new(node_binary());
    if let Some(token) = token {
        let origin = url.split('/').take(3).collect::<Vec<_>>().join("/");
        command.arg("--import").arg(bearer_preload_js());
        command.env("ONEMCP_JS_DIR", js_dir()).env("ONEMCP_TOKEN", token).env("ONEMCP_BEARER_ORIGIN", origin);
    }
    command.arg(suite.cli()).args(["server", "--url", url]).args(suite.selection_args()).arg("-o").arg(&results_dir);
    let started = std::time::Instant::now();
    let output = run_bounded(command, scratch.path(), SUITE_LIMIT).await;
    let results = read_checks(&results_dir);
    eprintln!(
        "conformance {} against {url}{}: {} scenarios in {:.1}s (exit {:?}{})",
        suite.label(),
        if token.is_some() { " with a bearer token" } else { "" },
        results.len(),
        started.elapsed().as_secs_f64(),
        output.code,
        if output.timed_out { ", TIMED OUT" } else { "" }
    );
    assert!(
        !results.is_empty(),
        "conformance {} against {url} produced no checks.json (timed out: {})\n{}",
        suite.label(),
        output.timed_out,
        output.tail(60)
    );
    results
}

/// Reads `DIR/server-<scenario>-<timestamp>/checks.json` files.
pub fn read_checks(results_dir: &Path) -> SuiteResults {
    read_checks_prefixed(results_dir, "server-")
}

/// Reads `DIR/<prefix><scenario>-<timestamp>/checks.json` files (`server-` for server mode,
/// `authorization-server-` for the `authorization` command).
pub fn read_checks_prefixed(results_dir: &Path, prefix: &str) -> SuiteResults {
    let mut results = SuiteResults::new();
    let Ok(entries) = std::fs::read_dir(results_dir) else {
        return results;
    };
    for entry in entries.flatten() {
        let dir_name = entry.file_name().to_string_lossy().into_owned();
        let Some(scenario) = scenario_of(&dir_name, prefix) else { continue };
        let Ok(text) = std::fs::read_to_string(entry.path().join("checks.json")) else { continue };
        let checks: Vec<Value> = serde_json::from_str(&text).unwrap_or_default();
        let failures: Vec<String> = checks
            .iter()
            .filter(|check| check["status"] == "FAILURE")
            .map(|check| {
                let name = check["name"].as_str().or(check["id"].as_str()).unwrap_or("?");
                format!("{name}: {}", check["errorMessage"].as_str().unwrap_or("(no message)"))
            })
            .collect();
        results.insert(scenario, ScenarioOutcome { passed: failures.is_empty(), checks: checks.len(), failures });
    }
    results
}

/// `server-tools-list-2026-12-02T14-37-57-854Z` (prefix `server-`) -> `tools-list`.
fn scenario_of(dir_name: &str, prefix: &str) -> Option<String> {
    let rest = dir_name.strip_prefix(prefix)?;
    // The suffix is "-YYYY-MM-DDTHH-MM-SS-mmmZ": 25 characters.
    let cut = rest.len().checked_sub(25)?;
    let (name, stamp) = rest.split_at(cut);
    let stamp = stamp.as_bytes();
    (stamp.first() == Some(&b'-') && stamp.get(11) == Some(&b'T') && stamp.last() == Some(&b'Z') && !name.is_empty())
        .then(|| name.to_owned())
}

/// A table of each scenario's outcome directly against the fixture and through the proxy.
pub fn outcome_table(title: &str, direct: &SuiteResults, proxy: &SuiteResults) -> String {
    let mut names: Vec<&String> = direct.keys().chain(proxy.keys()).collect();
    names.sort();
    names.dedup();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(8).max(8);
    let cell = |outcome: Option<&ScenarioOutcome>| match outcome {
        Some(o) if o.passed => format!("pass ({})", o.checks),
        Some(o) => format!("FAIL ({}/{})", o.failures.len(), o.checks),
        None => "missing".to_owned(),
    };
    let mut table =
        format!("\n== {title}\n{:<width$}  {:<12}  {:<12}  proxy failures\n", "scenario", "direct", "proxy");
    let mut differ = 0;
    for name in names {
        let d = direct.get(name.as_str());
        let p = proxy.get(name.as_str());
        let same = d.map(|o| o.passed) == p.map(|o| o.passed);
        if !same {
            differ += 1;
        }
        let why = p.map(|o| o.failures.join(" | ")).unwrap_or_default();
        let why: String = why.chars().take(160).collect();
        let _ =
            writeln!(table, "{name:<width$}  {:<12}  {:<12}  {}{why}", cell(d), cell(p), if same { "" } else { "<> " });
    }
    let _ = writeln!(table, "{differ} scenario(s) differ between direct and proxy");
    table
}

/// Scenario -> passed, the part of the outcome the proxy must reproduce.
pub fn pass_map(results: &SuiteResults) -> BTreeMap<&str, bool> {
    results.iter().map(|(name, outcome)| (name.as_str(), outcome.passed)).collect()
}

/// One check reported by an SDK client script (`tests/js/sdk-clients.mjs`, `tests/py/sdk_clients.py`).
#[derive(Debug, Clone)]
pub struct ClientCheck {
    pub client: String,
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

/// Parses the JSON report an SDK client script prints as its last stdout line.
pub fn parse_client_report(stdout: &str) -> Option<Vec<ClientCheck>> {
    let line = stdout.lines().rev().find(|line| line.trim_start().starts_with('{'))?;
    let report: Value = serde_json::from_str(line).ok()?;
    let checks = report["checks"].as_array()?;
    Some(
        checks
            .iter()
            .map(|c| ClientCheck {
                client: c["client"].as_str().unwrap_or("?").to_owned(),
                check: c["check"].as_str().unwrap_or("?").to_owned(),
                ok: c["ok"].as_bool().unwrap_or(false),
                detail: c["detail"].as_str().unwrap_or("").to_owned(),
            })
            .collect(),
    )
}

/// A readable table of SDK client checks.
pub fn client_table(title: &str, checks: &[ClientCheck]) -> String {
    let mut table = format!("\n== {title}\n");
    for c in checks {
        let detail: String = c.detail.replace('\n', " ").chars().take(150).collect();
        let _ = writeln!(table, "{:<6} {:<2} {:<24} {detail}", if c.ok { "pass" } else { "FAIL" }, c.client, c.check);
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    let _ = writeln!(table, "{failed} of {} check(s) failed", checks.len());
    table
}

// ---- Client mode: 1mcp as the client under test ---------------------------------------------

/// `tests/js/client-conformance-harness.mjs`: the `--command` of the suite's client mode. It
/// starts `1mcp serve` (auth on, a minted token) with the scenario's mock server as its only
/// backend, drives it with an official TypeScript SDK client as the scenario asks, and stops it.
pub fn client_conformance_harness_js() -> PathBuf {
    workspace_root().join("tests/js/client-conformance-harness.mjs")
}

/// `tests/js/loopback-preload.mjs`: loaded with `node --import` into the suite, it makes the
/// mock servers that `listen` without a host listen on 127.0.0.1 only.
pub fn loopback_preload_js() -> PathBuf {
    workspace_root().join("tests/js/loopback-preload.mjs")
}

/// The client scenarios a spec revision requires, as the suite's frozen
/// `requirements/<revision>.yaml` lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientRequirements {
    /// The scored scenarios (the top-level `client:` list).
    pub scored: Vec<String>,
    /// `(scenario, reason)` of the `not_scored` entries whose leg is `client`.
    pub not_scored: Vec<(String, String)>,
}

impl ClientRequirements {
    /// The frozen set of `revision` (`2025-11-25`, `2026-07-28`) in the installed
    /// 0.2.0-alpha.12 suite; `None` if it cannot be read.
    pub fn of(revision: &str) -> Option<ClientRequirements> {
        let package = ConformanceSuite::Next20251125.cli().parent()?.parent()?.to_path_buf();
        let text = std::fs::read_to_string(package.join("requirements").join(format!("{revision}.yaml"))).ok()?;
        Some(Self::parse(&text))
    }

    fn parse(yaml: &str) -> ClientRequirements {
        ClientRequirements { scored: requirement_list(yaml, "client"), not_scored: not_scored_entries(yaml, "client") }
    }

    /// Every scenario the set runs, scored or not.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        self.scored.iter().map(String::as_str).chain(self.not_scored.iter().map(|(name, _)| name.as_str()))
    }
}

/// The plain entries of the top-level list `key:` of a requirements file.
fn requirement_list(yaml: &str, key: &str) -> Vec<String> {
    let header = format!("{key}:");
    let mut names = Vec::new();
    for line in yaml.lines().skip_while(|line| line.trim_end() != header).skip(1) {
        match line.trim().strip_prefix("- ") {
            Some(name) if line.starts_with(' ') => names.push(name.trim().to_owned()),
            _ if line.trim().is_empty() || line.trim_start().starts_with('#') => continue,
            _ => break,
        }
    }
    names
}

/// `(scenario, reason)` of the `not_scored:` entries (`- scenario:`, `leg:`, `reason:`, ...)
/// whose leg is `leg`.
fn not_scored_entries(yaml: &str, leg: &str) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String, String)> = Vec::new();
    for line in yaml.lines().skip_while(|line| line.trim_end() != "not_scored:").skip(1) {
        let trimmed = line.trim();
        if !line.starts_with(' ') && !trimmed.is_empty() && !trimmed.starts_with('#') {
            break;
        }
        if let Some(name) = trimmed.strip_prefix("- scenario:") {
            entries.push((name.trim().to_owned(), String::new(), String::new()));
        } else if let (Some(entry), Some(value)) = (entries.last_mut(), trimmed.strip_prefix("leg:")) {
            entry.1 = value.trim().to_owned();
        } else if let (Some(entry), Some(value)) = (entries.last_mut(), trimmed.strip_prefix("reason:")) {
            entry.2 = value.trim().to_owned();
        }
    }
    entries.into_iter().filter(|(_, l, _)| l == leg).map(|(name, _, reason)| (name, reason)).collect()
}

/// The suite's authorization scenarios (its `auth` suite, the 2025-03-26 back-compat ones and
/// the authorization extensions) are the ones named `auth/...`.
pub fn is_auth_scenario(name: &str) -> bool {
    name.starts_with("auth/")
}

/// One client-mode scenario's result: the mock server's checks and what the harness said.
#[derive(Debug, Clone)]
pub struct ClientScenario {
    /// Passed when no check is a FAILURE (as the suite scores it).
    pub outcome: ScenarioOutcome,
    /// `name: errorMessage` of each WARNING check (a SHOULD the client missed).
    pub warnings: Vec<String>,
    /// The harness's verdict: `ok`, `failed`, `not-attempted`, or `silent` when it printed none.
    pub harness: String,
    /// Why, in the harness's words.
    pub harness_detail: String,
    /// The end of the harness's stderr (its steps, then 1mcp's log), for failure messages.
    pub stderr_tail: String,
    /// Which of the mock authorization server's secrets (its access tokens `test-token-...`,
    /// its client secret, its authorization code) appear anywhere in that stderr: 1mcp logs at
    /// debug level there, and must log none.
    pub leaked: Vec<&'static str>,
}

/// What the suite's mock authorization server hands out: none may reach a log.
const MOCK_SECRETS: [&str; 3] = ["test-token-", "test-client-secret", "test-auth-code"];

/// Scenario -> result, in name order.
pub type ClientResults = BTreeMap<String, ClientScenario>;

/// Per-scenario time limit given to the suite (`--timeout`); the harness keeps within
/// [`CLIENT_HARNESS_BUDGET`] so it always stops 1mcp itself.
const CLIENT_SCENARIO_TIMEOUT: Duration = Duration::from_secs(60);
/// What the harness may spend on one scenario (`ONEMCP_HARNESS_BUDGET_MS`).
const CLIENT_HARNESS_BUDGET: Duration = Duration::from_secs(25);

/// Runs the 0.2.0-alpha.12 suite's client mode for the requirement set of `revision`, with
/// [`client_conformance_harness_js`] as the client under test and `env` added to its
/// environment (e.g. `ONEMCP_HARNESS_PROTOCOL`). The suite runs every scenario of the set at
/// once, each against its own mock server (bound to loopback by [`loopback_preload_js`]).
/// With `ONEMCP_KEEP_CONFORMANCE_RESULTS` set, the suite's result directory is kept (its path is
/// printed): each scenario's checks and the harness's stdout and stderr, 1mcp's log included.
pub async fn run_client_conformance(revision: &str, env: &[(&str, &str)]) -> ClientResults {
    run_client_selection(ConformanceSuite::Next20251125, &["--requirements", revision], env).await
}

/// Runs the 0.1.16 suite's client mode for its `auth` suite (`client --suite auth`), with the
/// harness as the client under test, as [`run_client_conformance`] does.
pub async fn run_client_auth_suite_stable(env: &[(&str, &str)]) -> ClientResults {
    run_client_selection(ConformanceSuite::Stable, &["--suite", "auth"], env).await
}

/// Runs `suite`'s client mode for the scenarios `selection` picks, with the harness.
async fn run_client_selection(suite: ConformanceSuite, selection: &[&str], env: &[(&str, &str)]) -> ClientResults {
    let scratch =
        tempfile::Builder::new().prefix("onemcp-client-conformance-").tempdir().expect("create a scratch directory");
    let results_dir = scratch.path().join("results");
    let (node, harness) = (node_binary(), client_conformance_harness_js());
    // The suite splits --command on spaces and runs it through a shell.
    let client_command = format!("{} {}", node.display(), harness.display());
    assert!(
        client_command.split(' ').count() == 2 && !client_command.contains(['\'', '"', '$', '\\']),
        "the harness command must have no spaces or shell characters in its paths: {client_command}"
    );
    let mut command = tokio::process::Command::new(&node);
    command
        .arg("--import")
        .arg(loopback_preload_js())
        .arg(suite.cli())
        .args(["client", "--command", &client_command])
        .args(selection)
        .arg("--timeout")
        .arg(CLIENT_SCENARIO_TIMEOUT.as_millis().to_string())
        .arg("-o")
        .arg(&results_dir)
        .env("ONEMCP_BIN", crate::onemcp_binary())
        .env("ONEMCP_JS_DIR", js_dir())
        .env("ONEMCP_HARNESS_BUDGET_MS", CLIENT_HARNESS_BUDGET.as_millis().to_string())
        .envs(env.iter().copied());
    let started = std::time::Instant::now();
    let output = run_bounded(command, scratch.path(), SUITE_LIMIT).await;
    let results = read_client_results(&results_dir);
    eprintln!(
        "conformance client {} {env:?}: {} scenarios in {:.1}s (exit {:?}{})",
        selection.join(" "),
        results.len(),
        started.elapsed().as_secs_f64(),
        output.code,
        if output.timed_out { ", TIMED OUT" } else { "" }
    );
    if std::env::var_os("ONEMCP_KEEP_CONFORMANCE_RESULTS").is_some() {
        eprintln!("results kept in {}", scratch.keep().join("results").display());
    }
    assert!(
        !results.is_empty(),
        "conformance client {} produced no checks.json (timed out: {})\n{}",
        selection.join(" "),
        output.timed_out,
        output.tail(60)
    );
    results
}

/// Reads client-mode results: `DIR/<scenario>-<timestamp>/` and, for `auth/...` scenarios,
/// `DIR/auth/<name>-<timestamp>/`, each with `checks.json` and the command's `stdout.txt` and
/// `stderr.txt`.
pub fn read_client_results(results_dir: &Path) -> ClientResults {
    let mut results = ClientResults::new();
    for (subdir, prefix) in [("", ""), ("auth", "auth/")] {
        let dir = results_dir.join(subdir);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Some(name) = scenario_of(&entry.file_name().to_string_lossy(), "") else { continue };
            if let Some(scenario) = read_client_scenario(&entry.path()) {
                results.insert(format!("{prefix}{name}"), scenario);
            }
        }
    }
    results
}

fn read_client_scenario(dir: &Path) -> Option<ClientScenario> {
    let checks: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(dir.join("checks.json")).ok()?).ok()?;
    let with_status = |status: &str| -> Vec<String> {
        checks
            .iter()
            .filter(|check| check["status"] == status)
            .map(|check| {
                let name = check["name"].as_str().or(check["id"].as_str()).unwrap_or("?");
                format!("{name}: {}", check["errorMessage"].as_str().unwrap_or("(no message)"))
            })
            .collect()
    };
    let failures = with_status("FAILURE");
    let stdout = std::fs::read_to_string(dir.join("stdout.txt")).unwrap_or_default();
    let verdict: Value = stdout
        .lines()
        .rev()
        .find(|line| line.starts_with("{\"harness\""))
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or(Value::Null);
    let stderr = std::fs::read_to_string(dir.join("stderr.txt")).unwrap_or_default();
    let lines: Vec<&str> = stderr.lines().collect();
    Some(ClientScenario {
        outcome: ScenarioOutcome { passed: failures.is_empty(), checks: checks.len(), failures },
        warnings: with_status("WARNING"),
        harness: verdict["harness"].as_str().unwrap_or("silent").to_owned(),
        harness_detail: verdict["detail"].as_str().unwrap_or_default().to_owned(),
        stderr_tail: lines[lines.len().saturating_sub(200)..].join("\n"),
        leaked: MOCK_SECRETS.into_iter().filter(|secret| stderr.contains(secret)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::{ClientRequirements, scenario_of, server_requirements};

    #[test]
    fn requirement_sets_list_their_server_scenarios() {
        let yaml = "# comment\nserver:\n  - server-stateless\n  # aside\n  - caching\n\nclient:\n  - tools_call\n";
        assert_eq!(server_requirements(yaml), ["server-stateless", "caching"]);
        assert!(server_requirements("client:\n  - tools_call\n").is_empty());
    }

    #[test]
    fn scenario_names_come_from_result_directories() {
        let server = |dir: &str| scenario_of(dir, "server-");
        assert_eq!(server("server-tools-list-2026-12-02T14-37-57-854Z").as_deref(), Some("tools-list"));
        assert_eq!(server("server-ping-2026-12-02T14-37-57-854Z").as_deref(), Some("ping"));
        assert_eq!(server("client-initialize-2026-12-02T14-37-57-854Z"), None);
        assert_eq!(server("server-2026-12-02T14-37-57-854Z"), None);
        assert_eq!(
            scenario_of(
                "authorization-server-authorization-code-grant-2026-12-07T12-00-00-000Z",
                "authorization-server-"
            )
            .as_deref(),
            Some("authorization-code-grant")
        );
    }

    #[test]
    fn client_requirements_list_scored_and_not_scored_client_scenarios() {
        let yaml = r"server:
  - ping

client:
  - initialize
  # aside
  - auth/metadata-default

not_scored:
  - scenario: auth/dpop
    leg: client
    reason: extension
  - scenario: json-schema-2020-12
    leg: server
    reason: pending
    note: >-
      why
  - scenario: json-schema-2020-12-preservation
    leg: client
    reason: added-after-release
";
        let set = ClientRequirements::parse(yaml);
        assert_eq!(set.scored, ["initialize", "auth/metadata-default"]);
        assert_eq!(
            set.not_scored,
            [
                ("auth/dpop".to_owned(), "extension".to_owned()),
                ("json-schema-2020-12-preservation".to_owned(), "added-after-release".to_owned())
            ]
        );
        assert_eq!(set.all().count(), 4);
    }

    #[test]
    fn client_scenario_names_come_from_result_directories() {
        assert_eq!(scenario_of("tools_call-2026-12-07T18-02-52-696Z", "").as_deref(), Some("tools_call"));
        assert_eq!(scenario_of("auth", ""), None);
    }
}
