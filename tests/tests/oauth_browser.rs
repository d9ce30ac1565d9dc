//! The OAuth 2.1 login of 1mcp's embedded authorization server in a real browser: Debian's
//! chromium (headless, driven by puppeteer-core from `tests/js/oauth-browser.mjs`) signs the
//! operator in through the link `1mcp auth link` prints and clicks the consent page, while the
//! script plays an MCP client: 401 -> protected resource metadata -> authorization server
//! metadata -> dynamic registration -> PKCE S256 -> consent -> callback (code, state, iss) ->
//! token -> `tools/list` bounded by the approved tag -> refresh rotation, reuse detection,
//! revocation. A second test checks the refusals: /authorize without the operator's cookie,
//! consent without it or with a forged csrf (no code issued; the same POST with both is
//! honoured), a wrong PKCE verifier, and the consent page inside a frame.
//!
//! The second test runs the official conformance suite's `authorization` scenarios
//! (0.2.0-alpha.12) against the daemon's issuer; the suite prints an authorization URL and waits
//! on its own callback server, so the script approves that URL in chromium as the operator would.
//!
//! Needs the tooling from `tests/js/setup.sh` (Node 22, puppeteer-core, Debian chromium); without
//! it these tests skip loudly (fail under `CI=true`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use onemcp_tests::js::{
    ClientCheck, ConformanceSuite, client_table, js_dir, node_binary, read_checks_prefixed, require_tool, run_bounded,
};
use onemcp_tests::{Daemon, fixture_backend, mcp_config, run_onemcp, workspace_root};
use serde_json::{Value, json};

/// Longest one script run may take (every step inside is bounded to 20 s, the script to 150 s).
const SCRIPT_LIMIT: Duration = Duration::from_secs(180);

fn script() -> PathBuf {
    workspace_root().join("tests/js/oauth-browser.mjs")
}

/// Debian's chromium (or `$ONEMCP_CHROMIUM`).
fn chromium() -> PathBuf {
    match std::env::var_os("ONEMCP_CHROMIUM") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from("/usr/bin/chromium"),
    }
}

fn puppeteer() -> PathBuf {
    js_dir().join("node_modules/puppeteer-core/package.json")
}

/// Two fixture servers, each tagged with its own name only, so a tag scope picks exactly one.
fn two_tagged_servers() -> Value {
    let fixture = env!("CARGO_BIN_EXE_fixture-server");
    let tagged = |name: &str| {
        let mut entry = fixture_backend(fixture, name, &[]);
        entry["tags"] = json!([name]);
        entry
    };
    mcp_config([("alpha", tagged("alpha")), ("beta", tagged("beta"))])
}

/// `1mcp auth link --config-dir DIR`: the one-time operator sign-in URL it prints.
fn operator_link(daemon: &Daemon) -> String {
    let dir = daemon.dir.path().to_string_lossy().into_owned();
    let run = run_onemcp(&["auth", "link", "--config-dir", &dir], Duration::from_secs(10));
    assert_eq!(run.code, Some(0), "1mcp auth link: {}", run.describe());
    let link = run.stdout.trim().to_owned();
    let prefix = format!("http://127.0.0.1:{}/oauth/operator?code=", daemon.port);
    assert!(link.starts_with(&prefix) && !link.contains('\n'), "auth link prints one operator URL: {}", run.describe());
    link
}

/// What the script reported: its checks, timings and notes.
struct Report {
    checks: Vec<ClientCheck>,
    timings: Value,
    notes: Vec<String>,
}

/// Runs the script with `settings` (its chromium profile under `scratch`), bounded; kills any
/// chromium it left behind; panics with its output if it reported nothing.
async fn run_script(what: &str, settings: Value, scratch: &Path) -> Report {
    let mut command = tokio::process::Command::new(node_binary());
    command.arg(script()).arg(settings.to_string()).env("ONEMCP_JS_DIR", js_dir());
    let started = std::time::Instant::now();
    let output = run_bounded(command, scratch, SCRIPT_LIMIT).await;
    eprintln!("{what}: ran in {:.1}s (exit {:?})", started.elapsed().as_secs_f64(), output.code);
    // Chromium leads a process group of its own, out of reach of run_bounded's group kill;
    // anything still running on this test's profile goes, by pid.
    kill_processes_using(&settings["profileDir"].as_str().map(PathBuf::from).unwrap_or_default());
    let line = output.stdout.lines().rev().find(|line| line.trim_start().starts_with('{'));
    let report: Value = line.and_then(|line| serde_json::from_str(line).ok()).unwrap_or(Value::Null);
    let checks: Vec<ClientCheck> = report["checks"]
        .as_array()
        .map(|checks| {
            checks
                .iter()
                .map(|c| ClientCheck {
                    client: c["client"].as_str().unwrap_or("?").to_owned(),
                    check: c["check"].as_str().unwrap_or("?").to_owned(),
                    ok: c["ok"].as_bool().unwrap_or(false),
                    detail: c["detail"].as_str().unwrap_or("").to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(!checks.is_empty(), "{what}: no report (timed out: {})\n{}", output.timed_out, output.tail(120));
    let notes =
        report["notes"].as_array().into_iter().flatten().filter_map(|n| n.as_str().map(str::to_owned)).collect();
    if checks.iter().any(|c| !c.ok) {
        eprintln!("{what}: script output\n{}", output.tail(120));
    }
    Report { checks, timings: report["timings"].clone(), notes }
}

/// SIGKILLs every process whose command line names `dir` (a chromium profile of this test).
fn kill_processes_using(dir: &Path) {
    let needle = dir.to_string_lossy().into_owned();
    if needle.is_empty() {
        return;
    }
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

fn tooling(test: &str, extra: &[&Path]) -> Option<()> {
    let mut paths = vec![node_binary(), puppeteer(), chromium()];
    paths.extend(extra.iter().map(|p| p.to_path_buf()));
    require_tool(test, &paths.iter().map(PathBuf::as_path).collect::<Vec<_>>())
}

fn settings(mode: &str, daemon: &Daemon, scratch: &Path) -> Value {
    let profile = scratch.join("chromium-profile");
    std::fs::create_dir_all(&profile).expect("create the chromium profile dir");
    json!({
        "mode": mode,
        "mcpUrl": daemon.url,
        "operatorLink": operator_link(daemon),
        "chromium": chromium(),
        "profileDir": profile,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_client_logs_in_through_the_browser_and_gets_only_what_the_operator_approved() {
    if tooling("an_mcp_client_logs_in_through_the_browser_and_gets_only_what_the_operator_approved", &[]).is_none() {
        return;
    }
    let daemon = Daemon::start_with_auth(&two_tagged_servers(), &[]).await;
    daemon.wait_ready().await;
    let scratch = tempfile::Builder::new().prefix("onemcp-oauth-browser-").tempdir().expect("create a scratch dir");
    let report = run_script("OAuth login in chromium", settings("flow", &daemon, scratch.path()), scratch.path()).await;
    let table = client_table("OAuth 2.1 login through 1mcp's authorization server, in chromium", &report.checks);
    eprintln!("{table}");
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    if let Some(ms) = report.timings["first401ToFirstToolCallMs"].as_u64() {
        eprintln!(
            "login time: {ms} ms from the first 401 to the first successful tool call (discovery, registration, consent in chromium, token)"
        );
    }
    assert!(report.checks.iter().all(|c| c.ok), "the browser login failed some checks:{table}");
    assert!(report.timings["first401ToFirstToolCallMs"].is_u64(), "the login never reached a tool call");
    // Nothing the client was given reaches the daemon's log.
    let log = daemon.stderr();
    assert!(!log.contains("1mcp_at_") && !log.contains("1mcp_rt_"), "a token reached the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_needs_the_operators_cookie_and_csrf_and_never_renders_in_a_frame() {
    if tooling("consent_needs_the_operators_cookie_and_csrf_and_never_renders_in_a_frame", &[]).is_none() {
        return;
    }
    // A daemon of its own: the authorization server limits requests per address, and these
    // checks are many.
    let daemon = Daemon::start_with_auth(&two_tagged_servers(), &[]).await;
    daemon.wait_ready().await;
    let scratch = tempfile::Builder::new().prefix("onemcp-oauth-refusals-").tempdir().expect("create a scratch dir");
    let report =
        run_script("OAuth refusals in chromium", settings("refusals", &daemon, scratch.path()), scratch.path()).await;
    let table = client_table("what the authorization server refuses, in chromium", &report.checks);
    eprintln!("{table}");
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    assert!(report.checks.iter().all(|c| c.ok), "some refusals did not hold:{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conformance_suite_authorization_scenarios_pass_with_the_operator_approving_in_chromium() {
    let suite = ConformanceSuite::Next20251125;
    let test = "the_conformance_suite_authorization_scenarios_pass_with_the_operator_approving_in_chromium";
    if tooling(test, &[&suite.cli()]).is_none() {
        return;
    }
    let daemon = Daemon::start_with_auth(&two_tagged_servers(), &[]).await;
    daemon.wait_ready().await;
    let scratch = tempfile::Builder::new().prefix("onemcp-oauth-conformance-").tempdir().expect("create a scratch dir");
    let out_dir = scratch.path().join("results");
    let mut settings = settings("conformance", &daemon, scratch.path());
    settings["node"] = json!(node_binary());
    settings["conformanceCli"] = json!(suite.cli());
    settings["outDir"] = json!(out_dir);
    let report = run_script("conformance authorization", settings, scratch.path()).await;
    eprintln!("{}", client_table("conformance authorization: the operator's part, in chromium", &report.checks));
    for note in &report.notes {
        eprintln!("note: {note}");
    }

    let results = read_checks_prefixed(&out_dir, "authorization-server-");
    let mut table = String::from("\n== conformance 0.2.0-alpha.12 `authorization` against 1mcp's issuer\n");
    for (scenario, outcome) in &results {
        table.push_str(&format!(
            "{scenario:<42} {} ({} checks){}\n",
            if outcome.passed { "pass" } else { "FAIL" },
            outcome.checks,
            if outcome.failures.is_empty() { String::new() } else { format!("  {}", outcome.failures.join(" | ")) }
        ));
    }
    for (id, status, message) in check_statuses(&out_dir) {
        table.push_str(&format!("  {id:<44} {status:<8} {message}\n"));
    }
    eprintln!("{table}");
    assert!(report.checks.iter().all(|c| c.ok), "the operator's part failed:{table}");
    for scenario in ["authorization-server-metadata-endpoint", "authorization-code-grant"] {
        assert!(results.get(scenario).is_some_and(|o| o.passed), "{scenario} does not pass:{table}");
    }
}

/// `(check id, status, errorMessage)` of every check the suite wrote under `dir`.
fn check_statuses(dir: &Path) -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return rows };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("checks.json")).collect();
    paths.sort();
    for path in paths {
        let checks: Vec<Value> =
            std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
        for c in checks {
            let text = |key: &str| c[key].as_str().unwrap_or("").to_owned();
            rows.push((text("id"), text("status"), text("errorMessage")));
        }
    }
    rows
}
