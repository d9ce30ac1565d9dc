//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, server mode), run
//! against the Rust conformance fixture directly over HTTP, and through `1mcp` fronting that
//! fixture, for both suite versions: 0.1.16 `--suite all` and 0.2.0-alpha.12 `--requirements
//! 2025-11-25`. The fixture alone must also score the frozen `--requirements 2026-07-28` set, and
//! speak both protocol eras over stdio and on one HTTP endpoint (those tests need no Node).
//!
//! The fixture must pass every scenario; the proxy must reproduce the fixture's outcome scenario
//! by scenario (a per-scenario direct-vs-proxy table is printed either way). `1mcp` runs with
//! authentication on, as `1mcp serve` starts by default: the suite has no way of its own to send
//! a token (its server mode takes only `--url`; its clients are built without headers), so
//! `tests/js/bearer-preload.mjs` adds the harness token to each of its requests to the daemon.
//! Needs the tooling from `tests/js/setup.sh`; without it these tests skip loudly (fail under
//! `CI=true`).

use onemcp_tests::js::{
    ConformanceSuite, SuiteResults, node_binary, outcome_table, pass_map, require_tool, run_conformance,
    run_conformance_with_token,
};
use onemcp_tests::{Daemon, STEP_TIMEOUT, SseStream, bounded};
use serde_json::{Value, json};

const FIXTURE: &str = env!("CARGO_BIN_EXE_conformance-server");

/// The conformance fixture serving streamable HTTP on 127.0.0.1; killed (by PID) when dropped.
struct HttpFixture {
    url: String,
    _child: tokio::process::Child,
}

impl HttpFixture {
    async fn start() -> HttpFixture {
        let (child, url) = onemcp_tests::start_http_fixture(FIXTURE, 0).await;
        HttpFixture { url, _child: child }
    }
}

/// `Some(())` when Node and the requested suite are installed (see `require_tool`).
fn tooling(test: &str, suite: ConformanceSuite) -> Option<()> {
    require_tool(test, &[&node_binary(), &suite.cli()])
}

/// The suite directly against the fixture over HTTP.
async fn direct_results(suite: ConformanceSuite) -> SuiteResults {
    let fixture = HttpFixture::start().await;
    run_conformance(suite, &fixture.url).await
}

fn assert_all_pass(suite: ConformanceSuite, results: &SuiteResults) {
    let failing: Vec<String> = results
        .iter()
        .filter(|(_, outcome)| !outcome.passed)
        .map(|(name, outcome)| format!("{name}: {}", outcome.failures.join(" | ")))
        .collect();
    assert!(
        failing.is_empty(),
        "the conformance fixture fails {} scenario(s) of {}:\n{}",
        failing.len(),
        suite.label(),
        failing.join("\n")
    );
}

/// Runs `suite` directly against the fixture and through `1mcp` configured with `backend`
/// (its only server, names unprefixed); prints the table, asserts equal outcomes.
async fn proxy_matches_fixture(suite: ConformanceSuite, leg: &str, backend: serde_json::Value) {
    let direct = direct_results(suite).await;
    let daemon = Daemon::start(&json!({"mcpServers": {"conformance": backend}})).await;
    daemon.wait_ready().await;
    let proxy = run_conformance_with_token(suite, &daemon.url, daemon.token.as_deref()).await;
    let table = outcome_table(&format!("{} — direct vs 1mcp ({leg})", suite.label()), &direct, &proxy);
    eprintln!("{table}");
    assert_all_pass(suite, &direct);
    assert_eq!(pass_map(&proxy), pass_map(&direct), "1mcp ({leg}) changes conformance outcomes:{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_passes_the_stable_suite_directly() {
    let suite = ConformanceSuite::Stable;
    if tooling("fixture_passes_the_stable_suite_directly", suite).is_none() {
        return;
    }
    let results = direct_results(suite).await;
    assert_all_pass(suite, &results);
    assert!(results.len() >= 30, "expected the whole suite, got {} scenarios: {:?}", results.len(), results.keys());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_passes_the_2025_11_25_requirements_directly() {
    let suite = ConformanceSuite::Next20251125;
    if tooling("fixture_passes_the_2025_11_25_requirements_directly", suite).is_none() {
        return;
    }
    let results = direct_results(suite).await;
    assert_all_pass(suite, &results);
    assert!(results.len() >= 30, "expected the whole set, got {} scenarios: {:?}", results.len(), results.keys());
}

fn stdio_backend() -> serde_json::Value {
    json!({"command": FIXTURE, "args": [], "prefix": false})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_with_a_stdio_backend_matches_the_fixture_on_the_stable_suite() {
    let suite = ConformanceSuite::Stable;
    if tooling("proxy_with_a_stdio_backend_matches_the_fixture_on_the_stable_suite", suite).is_none() {
        return;
    }
    proxy_matches_fixture(suite, "stdio backend", stdio_backend()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_with_a_stdio_backend_matches_the_fixture_on_the_2025_11_25_requirements() {
    let suite = ConformanceSuite::Next20251125;
    if tooling("proxy_with_a_stdio_backend_matches_the_fixture_on_the_2025_11_25_requirements", suite).is_none() {
        return;
    }
    proxy_matches_fixture(suite, "stdio backend", stdio_backend()).await;
}

/// The fixture over HTTP as 1mcp's backend (a second fixture process; the direct run uses its
/// own), held to a session: the stdio legs ask the fixture its era (the default) and find the
/// stateless revision, so between them both eras of backend serve the session-based suites.
async fn http_backend_leg(suite: ConformanceSuite) {
    let backend = HttpFixture::start().await;
    let config = json!({"type": "http", "url": backend.url, "prefix": false, "protocol": "legacy"});
    proxy_matches_fixture(suite, "HTTP backend", config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_with_an_http_backend_matches_the_fixture_on_the_stable_suite() {
    let suite = ConformanceSuite::Stable;
    if tooling("proxy_with_an_http_backend_matches_the_fixture_on_the_stable_suite", suite).is_none() {
        return;
    }
    http_backend_leg(suite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_with_an_http_backend_matches_the_fixture_on_the_2025_11_25_requirements() {
    let suite = ConformanceSuite::Next20251125;
    if tooling("proxy_with_an_http_backend_matches_the_fixture_on_the_2025_11_25_requirements", suite).is_none() {
        return;
    }
    http_backend_leg(suite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_with_a_session_based_backend_passes_every_server_stateless_check() {
    let suite = ConformanceSuite::Stateless20260728;
    if tooling("proxy_with_a_session_based_backend_passes_every_server_stateless_check", suite).is_none() {
        return;
    }
    let daemon = Daemon::start(&json!({"mcpServers": {"conformance": stdio_backend()}})).await;
    daemon.wait_ready().await;
    let results = run_conformance_with_token(suite, &daemon.url, daemon.token.as_deref()).await;
    let outcome = results.get("server-stateless").expect("the server-stateless scenario ran");
    eprintln!(
        "server-stateless through 1mcp, legacy backend: {} checks, failing: {:?}",
        outcome.checks, outcome.failures
    );
    assert!(outcome.checks >= 28, "the scenario ran its checks: {outcome:?}");
    assert!(
        outcome.failures.is_empty(),
        "a stateless client of a session-based backend must get everything server-stateless checks \
         (discovery, _meta, refusals, removed methods, logs only at its level, -32021 with 400, listen): {:#?}",
        outcome.failures
    );
}

/// The scored scenarios of the 2026-07-28 requirement set that did not pass, with why.
fn failing_scored(suite: ConformanceSuite, results: &SuiteResults) -> Vec<String> {
    let scored = suite.scored_scenarios().expect("the suite's frozen 2026-07-28 requirement set");
    assert_eq!(scored.len(), 37, "the frozen 2026-07-28 server set changed: {scored:?}");
    scored
        .iter()
        .filter_map(|name| match results.get(name) {
            Some(outcome) if outcome.passed => None,
            Some(outcome) => Some(format!("{name}: {}", outcome.failures.join(" | "))),
            None => Some(format!("{name}: did not run")),
        })
        .collect()
}

/// The 2026-07-28 requirement set directly against the fixture and through 1mcp with the
/// fixture as a stateless backend (`backend`): every scored scenario passes both ways, and no
/// scenario at all (scored, pending or extension) comes out differently through 1mcp.
async fn stateless_leg(leg: &str, backend: Value) {
    let suite = ConformanceSuite::Modern20260728;
    let direct = direct_results(suite).await;
    let daemon = Daemon::start(&json!({"mcpServers": {"conformance": backend}})).await;
    daemon.wait_ready().await;
    let proxy = run_conformance_with_token(suite, &daemon.url, daemon.token.as_deref()).await;
    let table = outcome_table(&format!("{} — direct vs 1mcp ({leg})", suite.label()), &direct, &proxy);
    eprintln!("{table}");
    assert_eq!(failing_scored(suite, &direct), Vec::<String>::new(), "the fixture itself");
    assert_eq!(failing_scored(suite, &proxy), Vec::<String>::new(), "every scored scenario through 1mcp ({leg})");
    assert_eq!(pass_map(&proxy), pass_map(&direct), "1mcp ({leg}) changes conformance outcomes:{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_with_a_stateless_stdio_backend_scores_what_the_fixture_scores_on_the_2026_07_28_requirements() {
    let test = "proxy_with_a_stateless_stdio_backend_scores_what_the_fixture_scores_on_the_2026_07_28_requirements";
    if tooling(test, ConformanceSuite::Modern20260728).is_none() {
        return;
    }
    let mut backend = stdio_backend();
    backend["protocol"] = json!("2026-07-28");
    stateless_leg("stateless stdio backend", backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_with_a_stateless_http_backend_scores_what_the_fixture_scores_on_the_2026_07_28_requirements() {
    let test = "proxy_with_a_stateless_http_backend_scores_what_the_fixture_scores_on_the_2026_07_28_requirements";
    if tooling(test, ConformanceSuite::Modern20260728).is_none() {
        return;
    }
    let fixture = HttpFixture::start().await;
    let backend = json!({"type": "http", "url": fixture.url, "prefix": false, "protocol": "2026-07-28"});
    stateless_leg("stateless HTTP backend", backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_passes_the_2026_07_28_requirements_directly() {
    let suite = ConformanceSuite::Modern20260728;
    if tooling("fixture_passes_the_2026_07_28_requirements_directly", suite).is_none() {
        return;
    }
    let results = direct_results(suite).await;
    let failing = failing_scored(suite, &results);
    let scored = suite.scored_scenarios().unwrap_or_default();
    let unscored: Vec<String> = results
        .iter()
        .filter(|(name, _)| !scored.contains(name))
        .map(|(name, outcome)| format!("{name}: {}", if outcome.passed { "pass" } else { "FAIL" }))
        .collect();
    eprintln!("not scored for 2026-07-28 (extension or pending): {unscored:?}");
    assert!(
        failing.is_empty(),
        "the conformance fixture fails {} of the {} scored scenarios of {}:\n{}",
        failing.len(),
        scored.len(),
        suite.label(),
        failing.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The fixture in both protocol eras without the suite: over stdio (how 1mcp runs it), where the
// first line decides the era, and on one HTTP endpoint serving a legacy session and modern
// requests at the same time.
// ---------------------------------------------------------------------------------------------

/// A modern (2026-07-28) request's params: `params` with the per-request `_meta`.
fn modern(mut params: Value, capabilities: Value) -> Value {
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": "onemcp-tests", "version": "1"}
    });
    if let Some(map) = params.as_object_mut() {
        map.insert("_meta".to_owned(), meta);
    }
    params
}

/// `params` with `_meta.io.modelcontextprotocol/logLevel` set.
fn with_log_level(mut params: Value, level: &str) -> Value {
    params["_meta"]["io.modelcontextprotocol/logLevel"] = json!(level);
    params
}

fn text_of(response: &Value) -> &str {
    response["result"]["content"][0]["text"].as_str().unwrap_or_default()
}

/// The conformance fixture on stdio, one JSON-RPC message per line; killed (by PID) when dropped.
struct StdioFixture {
    _child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl StdioFixture {
    fn start() -> StdioFixture {
        let mut child = tokio::process::Command::new(FIXTURE)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {FIXTURE}: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        StdioFixture {
            _child: child,
            stdin,
            lines: tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout)),
        }
    }

    async fn send(&mut self, message: &Value) {
        let line = format!("{message}\n");
        bounded("writing to the fixture", tokio::io::AsyncWriteExt::write_all(&mut self.stdin, line.as_bytes()))
            .await
            .expect("the fixture reads stdin");
    }

    /// The next message the fixture writes.
    async fn next(&mut self, what: &str) -> Value {
        let line = bounded(what, self.lines.next_line()).await.expect("read the fixture's stdout");
        let line = line.unwrap_or_else(|| panic!("{what}: the fixture's stdout ended"));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {line}"))
    }

    /// Sends a request; returns what the fixture wrote before its response, and the response.
    async fn request(&mut self, id: Value, method: &str, params: Value) -> (Vec<Value>, Value) {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        let mut before = Vec::new();
        for _ in 0..50 {
            let message = self.next(&format!("the response to {method} {id}")).await;
            if message.get("method").is_none() && message["id"] == id {
                return (before, message);
            }
            before.push(message);
        }
        panic!("no response to {method} {id} among 50 messages: {before:#?}");
    }
}

fn methods(messages: &[Value]) -> Vec<&str> {
    messages.iter().filter_map(|m| m["method"].as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_serves_the_2026_07_28_revision_over_stdio() {
    let mut fixture = StdioFixture::start();
    // A modern client's first line: discovery, no initialize.
    let (_, discovered) = fixture.request(json!(1), "server/discover", modern(json!({}), json!({}))).await;
    let versions = &discovered["result"]["supportedVersions"];
    assert!(versions.as_array().is_some_and(|v| v.contains(&json!("2026-07-28"))), "{discovered}");
    assert!(versions.as_array().is_some_and(|v| v.contains(&json!("2025-11-25"))), "dual-era: {discovered}");

    // MRTR over two rounds; each round's requestState is sealed and bound to the call.
    let elicitation = json!({"elicitation": {}});
    let call = |extra: Value| {
        let mut params = json!({"name": "test_input_required_result_multi_round", "arguments": {}});
        if let (Some(params), Some(extra)) = (params.as_object_mut(), extra.as_object()) {
            params.extend(extra.clone());
        }
        modern(params, elicitation.clone())
    };
    let (_, first) = fixture.request(json!(2), "tools/call", call(json!({}))).await;
    assert_eq!(first["result"]["resultType"], "input_required", "{first}");
    assert_eq!(first["result"]["inputRequests"]["step1"]["method"], "elicitation/create", "{first}");
    let state = first["result"]["requestState"].as_str().expect("a requestState").to_owned();
    let name = json!({"step1": {"action": "accept", "content": {"name": "Ann"}}});
    let tampered = format!("{state}x");
    let (_, refused) =
        fixture.request(json!(3), "tools/call", call(json!({"inputResponses": name, "requestState": tampered}))).await;
    assert_eq!(refused["error"]["code"], -32602, "a tampered requestState: {refused}");
    let (_, second) =
        fixture.request(json!(4), "tools/call", call(json!({"inputResponses": name, "requestState": state}))).await;
    assert_eq!(second["result"]["inputRequests"]["step2"]["method"], "elicitation/create", "{second}");
    let next_state = second["result"]["requestState"].as_str().expect("a second requestState").to_owned();
    assert_ne!(next_state, state, "the state moves on with the answers");
    let color = json!({"step2": {"action": "accept", "content": {"color": "blue"}}});
    let (_, done) = fixture
        .request(json!(5), "tools/call", call(json!({"inputResponses": color, "requestState": next_state})))
        .await;
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(text_of(&done), "Ann's favorite color is blue", "{done}");

    // An input kind the request did not declare is refused, never asked for.
    let missing = modern(json!({"name": "test_missing_capability", "arguments": {}}), json!({}));
    let (before, refused) = fixture.request(json!(6), "tools/call", missing).await;
    assert_eq!(refused["error"]["code"], -32021, "{refused}");
    assert!(refused["error"]["data"]["requiredCapabilities"]["sampling"].is_object(), "{refused}");
    assert!(before.is_empty(), "no server-to-client request on 2026-07-28: {before:?}");

    // Log lines only for a request that names a logLevel, and only at or above it.
    let logging = modern(json!({"name": "test_logging_tool", "arguments": {}}), json!({}));
    let (silent, _) = fixture.request(json!(7), "tools/call", logging.clone()).await;
    let (info, _) = fixture.request(json!(8), "tools/call", with_log_level(logging.clone(), "info")).await;
    let (error, _) = fixture.request(json!(9), "tools/call", with_log_level(logging, "error")).await;
    assert!(!methods(&silent).contains(&"notifications/message"), "{silent:?}");
    assert_eq!(methods(&info), ["notifications/message"; 3], "{info:?}");
    assert!(!methods(&error).contains(&"notifications/message"), "{error:?}");

    // A listen stream: acknowledged first, then only the list changes it asked for, tagged.
    let listen = modern(json!({"notifications": {"toolsListChanged": true}}), json!({}));
    fixture.send(&json!({"jsonrpc": "2.0", "id": "listen", "method": "subscriptions/listen", "params": listen})).await;
    let ack = fixture.next("the listen acknowledgement").await;
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged", "{ack}");
    assert_eq!(ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "listen", "{ack}");
    let trigger = |name: &str| modern(json!({"name": name, "arguments": {}}), json!({}));
    let (unasked, _) = fixture.request(json!(10), "tools/call", trigger("test_trigger_prompt_change")).await;
    assert!(unasked.is_empty(), "the stream did not ask for prompt changes: {unasked:?}");
    let (changes, response) = fixture.request(json!(11), "tools/call", trigger("test_trigger_tool_change")).await;
    assert_eq!(methods(&changes), ["notifications/tools/list_changed"], "{changes:?}");
    assert_eq!(changes[0]["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "listen", "{changes:?}");
    assert_eq!(text_of(&response), "Tools list change announced to 1 listen stream(s)", "{response}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_serves_legacy_sessions_over_stdio() {
    let mut fixture = StdioFixture::start();
    let initialize = json!({
        "protocolVersion": "2025-11-25",
        "capabilities": {"elicitation": {}},
        "clientInfo": {"name": "onemcp-tests", "version": "1"}
    });
    let (_, initialized) = fixture.request(json!(1), "initialize", initialize).await;
    assert_eq!(initialized["result"]["protocolVersion"], "2025-11-25", "{initialized}");
    fixture.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;

    // The same tool a 2026-07-28 client gets an InputRequiredResult from asks a legacy session
    // with a server-to-client request, and answers in the same call.
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "test_input_required_result_elicitation", "arguments": {}}});
    fixture.send(&call).await;
    let asked = fixture.next("the elicitation request").await;
    assert_eq!(asked["method"], "elicitation/create", "{asked}");
    assert_eq!(asked["params"]["message"], "What is your name?", "{asked}");
    let answer = json!({"action": "accept", "content": {"name": "Ann"}});
    fixture.send(&json!({"jsonrpc": "2.0", "id": asked["id"], "result": answer})).await;
    let done = fixture.next("the tool result").await;
    assert_eq!(done["id"], 2, "{done}");
    assert_eq!(text_of(&done), "Hello, Ann!", "{done}");
    assert!(done["result"].get("resultType").is_none(), "legacy results keep their old shape: {done}");

    // A capability the session did not declare is not used: a tool error, no request.
    let (before, refused) =
        fixture.request(json!(3), "tools/call", json!({"name": "test_missing_capability", "arguments": {}})).await;
    assert!(before.is_empty(), "{before:?}");
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    assert!(text_of(&refused).contains("sampling"), "{refused}");
}

/// The JSON-RPC messages of a `text/event-stream` response, read as they arrive.
struct EventMessages {
    response: reqwest::Response,
    buffer: String,
}

impl EventMessages {
    /// The next message carried in a `data:` field (priming events and comments are skipped).
    async fn next(&mut self, what: &str) -> Value {
        bounded(what, async {
            loop {
                while let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let data: Vec<&str> =
                        block.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
                    if let Ok(message) = serde_json::from_str::<Value>(&data.join("\n")) {
                        return message;
                    }
                }
                match self.response.chunk().await {
                    Ok(Some(chunk)) => self.buffer.push_str(&String::from_utf8_lossy(&chunk).replace('\r', "")),
                    Ok(None) => panic!("{what}: the event stream ended"),
                    Err(e) => panic!("{what}: {e}"),
                }
            }
        })
        .await
    }
}

/// POSTs `message` to the fixture; `headers` are added to the two `Accept`ed media types.
async fn post(url: &str, message: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(message.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    bounded("a POST to the fixture", request.send()).await.expect("the fixture answers")
}

/// The first message of a response, whether it came as JSON or as an event stream.
async fn first_message(response: reqwest::Response, what: &str) -> Value {
    let json = response.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json {
        let body = bounded(what, response.text()).await.expect("a body");
        return serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body}"));
    }
    EventMessages { response, buffer: String::new() }.next(what).await
}

/// A 2026-07-28 request over HTTP: the standard headers and per-request `_meta`.
async fn post_modern(url: &str, id: Value, method: &str, params: Value, name: Option<&str>) -> reqwest::Response {
    let message =
        json!({"jsonrpc": "2.0", "id": id, "method": method, "params": modern(params, json!({"elicitation": {}}))});
    let mut headers = vec![("mcp-protocol-version", "2026-07-28"), ("mcp-method", method)];
    headers.extend(name.map(|name| ("mcp-name", name)));
    post(url, &message, &headers).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_http_endpoint_serves_a_legacy_session_and_modern_requests_at_once() {
    let fixture = HttpFixture::start().await;
    let url = fixture.url.as_str();
    let listen = post_modern(
        url,
        json!("listen"),
        "subscriptions/listen",
        json!({"notifications": {"toolsListChanged": true}}),
        None,
    )
    .await;
    assert_eq!(listen.status(), 200);
    let mut stream = EventMessages { response: listen, buffer: String::new() };
    let ack = stream.next("the listen acknowledgement").await;
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged", "{ack}");

    // A legacy session on the same endpoint while the listen stream stays open.
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "onemcp-tests", "version": "1"}}});
    let opened = post(url, &initialize, &[]).await;
    let session = opened.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let session = session.expect("a legacy initialize opens a session");
    let initialized = first_message(opened, "the initialize response").await;
    assert_eq!(initialized["result"]["protocolVersion"], "2025-11-25", "{initialized}");
    let in_session = [("mcp-session-id", session.as_str()), ("mcp-protocol-version", "2025-11-25")];
    let notified = post(url, &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}), &in_session).await;
    assert_eq!(notified.status(), 202);

    // The session's trigger reaches the session (on its standalone GET stream: the change is
    // not part of the call) and the modern listen stream.
    let port: u16 = url.rsplit(':').next().and_then(|rest| rest.split('/').next()?.parse().ok()).expect("a port");
    let (status, mut session_events) =
        bounded("the session's GET stream", SseStream::open(port, "/mcp", &in_session)).await.expect("a GET stream");
    assert_eq!(status, 200);
    let trigger = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "test_trigger_tool_change", "arguments": {}}});
    let triggered = post(url, &trigger, &in_session).await;
    let result = first_message(triggered, "the trigger's result").await;
    assert_eq!(text_of(&result), "Tools list change announced to 1 listen stream(s)", "{result}");
    let mut in_session_change = Value::Null;
    for _ in 0..5 {
        let event = session_events.next_event(STEP_TIMEOUT).await.expect("an event on the session's GET stream");
        in_session_change = serde_json::from_str(&event.data).unwrap_or(Value::Null);
        if in_session_change.get("method").is_some() {
            break;
        }
    }
    assert_eq!(in_session_change["method"], "notifications/tools/list_changed", "{in_session_change}");
    let change = stream.next("the list change on the listen stream").await;
    assert_eq!(change["method"], "notifications/tools/list_changed", "{change}");
    assert_eq!(change["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "listen", "{change}");

    // And a modern call in between gets MRTR, not a server-to-client request.
    let name = "test_input_required_result_elicitation";
    let asked = post_modern(url, json!(3), "tools/call", json!({"name": name, "arguments": {}}), Some(name)).await;
    let asked = first_message(asked, "the InputRequiredResult").await;
    assert_eq!(asked["result"]["resultType"], "input_required", "{asked}");
    assert_eq!(asked["result"]["inputRequests"]["user_name"]["method"], "elicitation/create", "{asked}");
}
