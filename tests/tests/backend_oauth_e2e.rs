//! 1mcp authorizing itself toward a protected backend, end to end against real parts: npm
//! `oidc-provider` (the certified Node implementation) as the authorization server, in front of
//! an MCP server written with the official TypeScript SDK that verifies its JWT access tokens
//! (`tests/js/backend-oauth-e2e.mjs serve`); the consent given in headless chromium by the
//! operator (`tests/js/backend-oauth-e2e.mjs browser`).
//!
//! One daemon (auth on, debug logs) meets the backend's 401 and waits for the user; chromium
//! signs in as the operator, follows `/oauth/authorize/remote` to the provider's login and
//! consent pages and lands on 1mcp's callback; the backend becomes ready and its tool answers.
//! The daemon is stopped and started again on the same config dir: the backend is ready with no
//! browser, no new registration and no new authorization code (the grant was kept in
//! `backend-oauth.json`, 0600). Then the tool is called every 500 ms while the access tokens
//! (5 s) expire several times over, and once the MCP server refuses the token it took so far
//! before it expires (as after a revocation): every call succeeds, the MCP server saw several
//! access tokens, the provider redeemed several (rotating) refresh tokens and refused none.
//! Last, every log of the test (both daemons' output, the node servers', the browser driver's)
//! is searched for every access token, refresh token, authorization code, PKCE verifier, state,
//! client credential the provider issued or received and the operator link's code: none may
//! appear.
//!
//! Needs the tooling from `tests/js/setup.sh` (Node 22, oidc-provider, the TypeScript SDK,
//! puppeteer-core) and Debian's chromium; without it the test skips loudly (fails under `CI=true`).

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use onemcp_tests::js::{ClientCheck, client_table, js_dir, node_binary, require_tool, run_bounded};
use onemcp_tests::{
    Daemon, HttpRequest, McpClient, bounded, call_args, mcp_client_with_token, mcp_config, raw_http, run_onemcp,
    tool_text, workspace_root,
};
use rmcp::model::ProtocolVersion;
use serde_json::{Value, json};

/// How long the provider's access tokens live (1mcp refreshes them half-way).
const ACCESS_TTL: Duration = Duration::from_secs(5);
/// How long the tool is called in a loop: three and a half access token lifetimes.
const CALLING_FOR: Duration = Duration::from_millis(ACCESS_TTL.as_millis() as u64 * 7 / 2);
/// Pause between two calls of that loop.
const CALL_EVERY: Duration = Duration::from_millis(500);
/// The account the operator signs in as at the provider.
const LOGIN: &str = "e2e-operator";
/// The backend's one tool, as 1mcp names it.
const TOOL: &str = "remote_1mcp_whoami";
/// Bound on a daemon's start, its backend becoming ready, the node servers' start line.
const WAIT: Duration = Duration::from_secs(20);
/// Bound on the browser driver.
const BROWSER_LIMIT: Duration = Duration::from_secs(120);

fn script() -> PathBuf {
    workspace_root().join("tests/js/backend-oauth-e2e.mjs")
}

/// Debian's chromium (or `$ONEMCP_CHROMIUM`).
fn chromium() -> PathBuf {
    match std::env::var_os("ONEMCP_CHROMIUM") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from("/usr/bin/chromium"),
    }
}

fn tooling(test: &str) -> Option<()> {
    let modules = js_dir().join("node_modules");
    let paths = [
        node_binary(),
        modules.join("oidc-provider/package.json"),
        modules.join("@modelcontextprotocol/sdk/package.json"),
        modules.join("express/package.json"),
        modules.join("jose/package.json"),
        modules.join("puppeteer-core/package.json"),
        chromium(),
    ];
    require_tool(test, &paths.iter().map(PathBuf::as_path).collect::<Vec<_>>())
}

/// Loopback only: never through a proxy from the environment.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().expect("an HTTP client")
}

/// The provider and the protected MCP server (one node process, killed when dropped; it also
/// exits when its stdin closes). Its stdout and stderr go to files under the scratch dir.
struct Backend {
    mcp: String,
    issuer: String,
    stats_url: String,
    secrets_url: String,
    logs: [PathBuf; 2],
    child: tokio::process::Child,
}

impl Backend {
    async fn start(scratch: &Path) -> Backend {
        let logs = [scratch.join("servers.stdout"), scratch.join("servers.stderr")];
        let mut child = tokio::process::Command::new(node_binary())
            .arg(script())
            .arg("serve")
            .arg(json!({"accessTokenTtl": ACCESS_TTL.as_secs()}).to_string())
            .env("ONEMCP_JS_DIR", js_dir())
            .stdin(Stdio::piped())
            .stdout(File::create(&logs[0]).expect("create the servers' stdout file"))
            .stderr(File::create(&logs[1]).expect("create the servers' stderr file"))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn backend-oauth-e2e.mjs serve");
        let deadline = Instant::now() + WAIT;
        let line = loop {
            let stdout = std::fs::read_to_string(&logs[0]).unwrap_or_default();
            if let Some(line) = stdout.lines().next().filter(|_| stdout.contains('\n')) {
                break line.to_owned();
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("backend-oauth-e2e.mjs serve exited ({status}):\n{}", read(&logs[1]));
            }
            assert!(Instant::now() < deadline, "no start line within {WAIT:?}:\n{}", read(&logs[1]));
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let started: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("start line {line:?}: {e}"));
        let text = |key: &str| started[key].as_str().unwrap_or_else(|| panic!("no {key} in {line}")).to_owned();
        Backend {
            mcp: text("mcp"),
            issuer: text("issuer"),
            stats_url: text("stats"),
            secrets_url: text("secrets"),
            logs,
            child,
        }
    }

    async fn get(&self, url: &str) -> Value {
        let response = http_client().get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        response.json().await.unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
    }

    /// What the provider and the MCP server counted so far.
    async fn stats(&self) -> Value {
        self.get(&self.stats_url).await
    }

    /// Every credential the provider issued or received, by kind.
    async fn secrets(&self) -> Value {
        self.get(&self.secrets_url).await
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- backend-oauth-e2e.mjs serve stderr ---\n{}--- end ---", read(&self.logs[1]));
        }
        // By its pid; kill_on_drop reaps it.
        let _ = self.child.start_kill();
    }
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

/// The first backend detail of `GET /health` on `port` (with the harness token) once `accept`
/// holds for it, polled for at most [`WAIT`]; panics with the last one.
async fn wait_for_backend(port: u16, token: &str, what: &str, accept: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let request = HttpRequest::get("/health").header("Authorization", &format!("Bearer {token}"));
        if let Ok(response) = raw_http(port, &request).await {
            last = response.json().unwrap_or(Value::Null);
            let detail = &last["servers"]["details"][0];
            if accept(detail) {
                return detail.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/health never showed {what} within {WAIT:?}; last body: {last}");
}

/// Calls the tool once; its text, or why it failed.
async fn call(client: &McpClient) -> Result<String, String> {
    match bounded(TOOL, client.call_tool(call_args(TOOL, json!({})))).await {
        Ok(result) if result.is_error != Some(true) => Ok(tool_text(&result)),
        Ok(result) => Err(format!("tool error: {}", tool_text(&result))),
        Err(e) => Err(e.to_string()),
    }
}

/// `1mcp auth link --config-dir DIR`: the one-time operator sign-in URL.
fn operator_link(daemon: &Daemon) -> String {
    let dir = daemon.dir.path().to_string_lossy().into_owned();
    let run = run_onemcp(&["auth", "link", "--config-dir", &dir], Duration::from_secs(10));
    assert_eq!(run.code, Some(0), "1mcp auth link: {}", run.describe());
    let link = run.stdout.trim().to_owned();
    assert!(link.starts_with(&format!("http://127.0.0.1:{}/oauth/operator?code=", daemon.port)), "{link}");
    link
}

/// Runs the browser driver (bounded); its checks, and the paths of its stdout and stderr.
async fn authorize_in_chromium(daemon: &Daemon, link: &str, scratch: &Path) -> (Vec<ClientCheck>, [PathBuf; 2]) {
    let profile = scratch.join("chromium-profile");
    std::fs::create_dir_all(&profile).expect("create the chromium profile dir");
    let settings = json!({
        "operatorLink": link,
        "authorizeUrl": format!("http://127.0.0.1:{}/oauth/authorize/remote", daemon.port),
        "chromium": chromium(),
        "profileDir": profile,
        "login": LOGIN,
    });
    let mut command = tokio::process::Command::new(node_binary());
    command.arg(script()).arg("browser").arg(settings.to_string()).env("ONEMCP_JS_DIR", js_dir());
    let started = Instant::now();
    let output = run_bounded(command, scratch, BROWSER_LIMIT).await;
    eprintln!("browser: ran in {:.1}s (exit {:?})", started.elapsed().as_secs_f64(), output.code);
    // Chromium leads a process group of its own, out of reach of run_bounded's group kill.
    kill_processes_using(&profile);
    let checks = onemcp_tests::js::parse_client_report(&output.stdout).unwrap_or_default();
    assert!(
        !checks.is_empty(),
        "the browser driver reported nothing (timed out: {})\n{}",
        output.timed_out,
        output.tail(80)
    );
    (checks, [scratch.join("stdout.txt"), scratch.join("stderr.txt")])
}

/// SIGKILLs every process whose command line names `dir` (this test's chromium profile).
fn kill_processes_using(dir: &Path) {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    for pid in entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        if String::from_utf8_lossy(&cmdline).contains(&needle)
            && let Some(pid) = rustix::process::Pid::from_raw(pid)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

fn count(stats: &Value, pointer: &str) -> u64 {
    stats.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_authorized_in_chromium_stays_authorized_across_a_restart_and_refreshes_without_a_failed_call() {
    let test = "a_backend_authorized_in_chromium_stays_authorized_across_a_restart_and_refreshes_without_a_failed_call";
    if tooling(test).is_none() {
        return;
    }
    let started = Instant::now();
    let at = || format!("{:.1}s", started.elapsed().as_secs_f64());
    let scratch = tempfile::Builder::new().prefix("onemcp-backend-oauth-e2e-").tempdir().expect("a scratch dir");
    let backend = Backend::start(scratch.path()).await;
    eprintln!("{}: provider {} in front of {}", at(), backend.issuer, backend.mcp);

    // 1. The daemon meets the 401, discovers, registers, and waits for the user.
    let mut daemon = Daemon::start_with_auth(&mcp_config([("remote", json!({"url": backend.mcp}))]), &[]).await;
    let token = daemon.token.clone().expect("the harness token");
    let waiting = wait_for_backend(daemon.port, &token, "remote awaiting authorization", |d| {
        d["status"] == "awaiting-authorization"
    })
    .await;
    eprintln!("{}: remote awaits authorization", at());
    assert_eq!(waiting["authorize"], "/oauth/authorize/remote", "{waiting}");
    let link = format!("http://127.0.0.1:{}/oauth/authorize/remote", daemon.port);
    assert!(waiting["error"].as_str().is_some_and(|e| e.contains(&link)), "the reason names the link: {waiting}");
    let stats = backend.stats().await;
    assert_eq!(count(&stats, "/provider/registrations"), 1, "1mcp registered once: {stats}");
    let registration = &stats["provider"]["registrationRequests"][0];
    assert_eq!(
        registration["redirect_uris"],
        json!([format!("http://127.0.0.1:{}/oauth/callback/remote", daemon.port)]),
        "{registration}"
    );
    assert_eq!(count(&stats, "/mcp/refused/none"), 1, "one request without a token: {stats}");

    // 2. The operator approves in chromium; 1mcp redeems the code and starts the backend.
    let browser_dir = scratch.path().join("browser");
    std::fs::create_dir_all(&browser_dir).expect("create the browser dir");
    let operator = operator_link(&daemon);
    let (checks, browser_logs) = authorize_in_chromium(&daemon, &operator, &browser_dir).await;
    let table = client_table("the operator authorizes 1mcp at oidc-provider, in chromium", &checks);
    eprintln!("{table}");
    assert!(checks.iter().all(|c| c.ok), "the browser step failed:{table}");
    wait_for_backend(daemon.port, &token, "remote ready", |d| d["status"] == "ready").await;
    eprintln!("{}: remote ready", at());
    let stats = backend.stats().await;
    let asked = &stats["provider"]["authorizationRequestParams"][0];
    assert_eq!(
        (&asked["response_type"], &asked["code_challenge_method"], &asked["has_code_challenge"], &asked["resource"]),
        (&json!("code"), &json!("S256"), &json!(true), &json!(backend.mcp)),
        "the authorization request: {asked}"
    );
    assert_eq!(count(&stats, "/provider/redirectsWithIss"), 1, "{stats}");
    assert_eq!(count(&stats, "/provider/grants/authorization_code/ok"), 1, "{stats}");
    {
        let client = daemon.mcp_client().await.expect("an MCP session with the daemon");
        let answer = call(&client).await.expect("the tool answers once authorized");
        assert!(answer.starts_with(&format!("sub={LOGIN} ")), "the token is the operator's: {answer}");
        let _ = bounded("close the session", client.cancel()).await;
    }

    // 3. A restart on the same config dir: ready without any browser step.
    let stopping = Instant::now();
    daemon.signal(rustix::process::Signal::TERM);
    assert!(daemon.wait_exit(Duration::from_secs(15)).await.is_some(), "the daemon stops on SIGTERM");
    eprintln!("{}: the daemon stopped in {:.1}s", at(), stopping.elapsed().as_secs_f64());
    // The connection the server refused before the user authorized ended then; a driver that
    // kept it would wait out the whole shutdown grace (8 s) for it.
    assert!(stopping.elapsed() < Duration::from_secs(5), "no ended connection is waited for at shutdown");
    let store = daemon.dir.path().join("backend-oauth.json");
    let mode = std::fs::metadata(&store).expect("backend-oauth.json exists").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "backend-oauth.json is private");
    daemon.restart().await;
    wait_for_backend(daemon.port, &token, "remote ready after the restart", |d| d["status"] == "ready").await;
    eprintln!("{}: remote ready after the restart", at());
    let client = mcp_client_with_token(&daemon.url, ProtocolVersion::V_2025_11_25, Some(&token))
        .await
        .expect("an MCP session with the restarted daemon");
    let answer = call(&client).await.expect("the tool answers after the restart");
    assert!(answer.starts_with(&format!("sub={LOGIN} ")), "{answer}");
    let stats = backend.stats().await;
    assert_eq!(count(&stats, "/provider/authorizationRequests"), 1, "no new authorization after the restart: {stats}");
    assert_eq!(count(&stats, "/provider/grants/authorization_code/ok"), 1, "no new code redeemed: {stats}");
    assert_eq!(count(&stats, "/provider/registrations"), 1, "no new registration: {stats}");

    // 4. The access token expires several times over while the tool is called every 500 ms;
    // half-way, the MCP server starts refusing the tokens it took so far (a 401 before they
    // expire): no call fails.
    let before = backend.stats().await;
    let mut failures = Vec::new();
    let mut calls = 0u32;
    let mut revoked = false;
    // What 1mcp's client saw: the tool's answers, then /health (1mcp's view of the backend).
    let mut seen_by_client = String::new();
    let loop_started = Instant::now();
    let max_calls = u32::try_from(CALLING_FOR.as_millis() / CALL_EVERY.as_millis()).expect("a small count") + 1;
    while loop_started.elapsed() < CALLING_FOR && calls < max_calls {
        if !revoked && loop_started.elapsed() >= CALLING_FOR / 2 {
            let url = backend.stats_url.replace("/test/stats", "/test/revoke");
            let response = http_client().post(&url).send().await.expect("POST /test/revoke");
            assert!(response.status().is_success(), "POST /test/revoke: {}", response.status());
            revoked = true;
        }
        calls += 1;
        let answer = call(&client).await;
        seen_by_client.push_str(answer.as_ref().unwrap_or_else(|why| why));
        match answer {
            Ok(text) if text.starts_with(&format!("sub={LOGIN} ")) => {}
            Ok(text) => failures.push(format!("call {calls}: unexpected answer {text}")),
            Err(why) => failures.push(format!("call {calls}: {why}")),
        }
        tokio::time::sleep(CALL_EVERY).await;
    }
    let _ = bounded("close the session", client.cancel()).await;
    let after = backend.stats().await;
    let delta = |pointer: &str| count(&after, pointer) - count(&before, pointer);
    let (refreshed, tokens_seen) = (delta("/provider/grants/refresh_token/ok"), delta("/mcp/distinctAccepted"));
    eprintln!(
        "{}: calls for {:.1}s with {}s access tokens: {calls} calls, {} failed; {refreshed} refresh grants, \
         {tokens_seen} new access tokens seen by the MCP server; 401s: {} revoked, {} expired, {} bad, {} without a \
         token; refresh grants refused: {}",
        at(),
        loop_started.elapsed().as_secs_f64(),
        ACCESS_TTL.as_secs(),
        failures.len(),
        delta("/mcp/refused/revoked"),
        delta("/mcp/refused/expired"),
        delta("/mcp/refused/bad"),
        delta("/mcp/refused/none"),
        count(&after, "/provider/grants/refresh_token/failed"),
    );
    assert!(failures.is_empty(), "calls failed while tokens expired and were refreshed: {failures:#?}");
    assert!(calls >= 10 && revoked, "the loop made {calls} calls (revoked: {revoked})");
    let expirations = CALLING_FOR.as_secs() / ACCESS_TTL.as_secs();
    assert!(
        refreshed >= expirations,
        "{refreshed} refresh grants in {CALLING_FOR:?} of {ACCESS_TTL:?} tokens: {after}"
    );
    assert!(tokens_seen >= expirations, "the MCP server saw {tokens_seen} new access tokens: {after}");
    assert!(delta("/mcp/refused/revoked") >= 1, "the revoked token was presented and refused: {after}");
    assert_eq!(count(&after, "/provider/grants/refresh_token/failed"), 0, "a refresh was refused: {after}");
    assert_eq!(count(&after, "/mcp/refused/bad") + count(&after, "/mcp/refused/other"), 0, "{after}");
    assert_eq!(count(&after, "/provider/authorizationRequests"), 1, "no new authorization: {after}");
    let health = HttpRequest::get("/health").header("Authorization", &format!("Bearer {token}"));
    let health = raw_http(daemon.port, &health).await.expect("/health answers");
    seen_by_client.push_str(&String::from_utf8_lossy(&health.body));
    daemon.signal(rustix::process::Signal::TERM);
    assert!(daemon.wait_exit(Duration::from_secs(15)).await.is_some(), "the restarted daemon stops");

    // 5. The store holds the grant (that is where it belongs), privately.
    let secrets = backend.secrets().await;
    let kept = read(&store);
    let mode = std::fs::metadata(&store).expect("backend-oauth.json exists").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "backend-oauth.json stays private");
    for kind in ["accessTokens", "refreshTokens"] {
        assert!(strings(&secrets[kind]).iter().any(|s| kept.contains(s)), "the store keeps one of the {kind}");
    }

    // 6. No log has any secret.
    let mut logs: Vec<PathBuf> = ["daemon.stderr", "daemon.stdout", "restart.stderr", "restart.stdout"]
        .iter()
        .map(|name| daemon.dir.path().join(name))
        .collect();
    logs.extend(backend.logs.iter().cloned());
    logs.extend(browser_logs);
    let mut texts: Vec<(String, String)> = logs
        .iter()
        .map(|path| (path.file_name().unwrap_or_default().to_string_lossy().into_owned(), read(path)))
        .collect();
    // A backend's token never reaches a client either.
    texts.push(("what 1mcp's client saw".to_owned(), seen_by_client));
    for (log, text) in texts.iter().filter(|(log, _)| log.ends_with(".stderr")) {
        assert!(text.contains("remote") || text.contains("provider"), "{log} holds what was logged");
    }
    let operator_code = operator.split_once("code=").map(|(_, code)| code.to_owned()).expect("the link's code");
    let mut searched = vec![("operator link code", operator_code)];
    for (kind, at_least) in [
        ("accessTokens", 3),
        ("refreshTokens", 3),
        ("codes", 1),
        ("verifiers", 1),
        ("states", 1),
        ("clientSecrets", 0),
        ("registrationAccessTokens", 1),
    ] {
        let values = strings(&secrets[kind]);
        assert!(values.len() >= at_least, "the provider recorded {} {kind}, expected {at_least} or more", values.len());
        searched.extend(values.into_iter().map(|v| (kind, v)));
    }
    let mut leaks = Vec::new();
    for (kind, secret) in &searched {
        assert!(secret.len() >= 16, "a {kind} of {} characters would match by chance", secret.len());
        for (log, text) in &texts {
            if text.contains(secret.as_str()) {
                leaks.push(format!("a {kind} is in {log}"));
            }
        }
    }
    eprintln!(
        "{}: searched {} logs ({} bytes) for {} secrets",
        at(),
        texts.len(),
        texts.iter().map(|(_, t)| t.len()).sum::<usize>(),
        searched.len()
    );
    assert!(leaks.is_empty(), "secrets in the logs (values not shown): {leaks:#?}");
}
