//! 1mcp as a resource server for an external identity provider (`--auth-issuer`,
//! `--auth-audience`), against real OpenID providers: npm `oidc-provider` (the certified Node
//! implementation, `tests/js/oidc-provider.mjs`) issuing signed JWT access tokens (RFC 9068)
//! through the client_credentials grant. Shown: a real token admits and its `tag:` scopes bound
//! what it sees; another resource's token, a tampered one, another provider's, and an expired
//! one (past the 60 s leeway) get 401; a session follows the token's subject; the protected
//! resource metadata names the provider; a key rotation at the provider is picked up by
//! refetching the key set (at most once per 30 s); no token reaches the log.

use std::process::Stdio;
use std::time::{Duration, Instant};

use onemcp_tests::js::{js_dir, node_binary, require_tool};
use onemcp_tests::{
    Daemon, HttpRequest, fixture_backend, initialize_request, mcp_config, raw_http, run_onemcp, workspace_root,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The resource 1mcp serves (its `--auth-audience`), and another one the providers know.
const AUDIENCE: &str = "https://mcp.example.test/mcp";
const OTHER_AUDIENCE: &str = "https://other.example.test/mcp";

/// Two providers (different keys, so different issuers) in one Node process, killed (by its
/// PID) when dropped; it also exits when its stdin closes.
struct Providers {
    issuers: Vec<String>,
    _child: tokio::process::Child,
}

impl Providers {
    /// `None` (a loud skip, or a failure under CI) when the Node tooling is not installed.
    async fn start(test: &str) -> Option<Providers> {
        let script = workspace_root().join("tests/js/oidc-provider.mjs");
        let provider = js_dir().join("node_modules/oidc-provider/package.json");
        require_tool(test, &[&node_binary(), &provider])?;
        let mut child = tokio::process::Command::new(node_binary())
            .arg(&script)
            .args([AUDIENCE, OTHER_AUDIENCE])
            .env("ONEMCP_JS_DIR", js_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn oidc-provider.mjs");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        onemcp_tests::bounded("the providers' start line", stdout.read_line(&mut line)).await.expect("read stdout");
        let started: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("start line {line:?}: {e}"));
        let issuers: Vec<String> =
            started["issuers"].as_array().into_iter().flatten().filter_map(|i| i.as_str().map(str::to_owned)).collect();
        assert_eq!(issuers.len(), 2, "{line}");
        Some(Providers { issuers, _child: child })
    }
}

fn port_of(issuer: &str) -> u16 {
    issuer.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no port in {issuer}"))
}

/// `application/x-www-form-urlencoded` of `pairs`.
fn form(pairs: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// A signed JWT access token from `issuer`'s token endpoint (client_credentials) for
/// `resource`, asking for `scope` (none: no scope parameter).
async fn mint(issuer: &str, client: &str, scope: Option<&str>, resource: &str) -> String {
    let secret = format!("{client}-secret");
    let mut pairs = vec![
        ("grant_type", "client_credentials"),
        ("client_id", client),
        ("client_secret", secret.as_str()),
        ("resource", resource),
    ];
    if let Some(scope) = scope {
        pairs.push(("scope", scope));
    }
    let request = HttpRequest::post("/token")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&pairs).into_bytes());
    let response = raw_http(port_of(issuer), &request).await.expect("token endpoint answered");
    assert_eq!(response.status, 200, "token request: {}", response.describe());
    let body = response.json().expect("token response is JSON");
    let token = body["access_token"].as_str().unwrap_or_else(|| panic!("no access_token: {body}")).to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT: {body}");
    token
}

fn with_token(request: HttpRequest, token: &str) -> HttpRequest {
    request.header("Authorization", &format!("Bearer {token}"))
}

/// Opens a session with `token` (and `query`): its id, or the refusal's status and text.
async fn open(daemon: &Daemon, token: &str, query: &str) -> Result<String, (u16, String)> {
    let request =
        with_token(HttpRequest::mcp_post(None, &initialize_request("2025-11-25")), token).at(&format!("/mcp{query}"));
    let response = daemon.http(&request).await.expect("initialize answered");
    match response.header("Mcp-Session-Id") {
        Some(id) if response.status == 200 => Ok(id.to_owned()),
        _ => {
            Err((response.status, format!("{} {}", response.header("WWW-Authenticate").unwrap_or(""), response.text())))
        }
    }
}

/// `tools/list` in `session` with `token`: the tool names, or the refusal's status.
async fn tool_names(daemon: &Daemon, token: &str, session: &str) -> Result<Vec<String>, u16> {
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let response = daemon.http(&with_token(HttpRequest::mcp_post(Some(session), &list), token)).await.expect("answer");
    if response.status != 200 {
        return Err(response.status);
    }
    let message = response.json_rpc_message().unwrap_or_else(|| panic!("no message: {}", response.describe()));
    let tools = message["result"]["tools"].as_array().cloned().unwrap_or_default();
    Ok(tools.iter().filter_map(|t| t["name"].as_str().map(str::to_owned)).collect())
}

fn two_tagged_servers() -> Value {
    let fixture = env!("CARGO_BIN_EXE_fixture-server");
    mcp_config([("alpha", fixture_backend(fixture, "alpha", &[])), ("beta", fixture_backend(fixture, "beta", &[]))])
}

async fn start_daemon(issuer: &str) -> Daemon {
    let daemon =
        Daemon::start_with_auth(&two_tagged_servers(), &["--auth-issuer", issuer, "--auth-audience", AUDIENCE]).await;
    daemon.wait_ready().await;
    daemon
}

/// A copy of `token` with one character of part `part` (0 header, 1 payload, 2 signature)
/// changed, still base64url.
fn tampered(token: &str, part: usize) -> String {
    let mut parts: Vec<Vec<char>> = token.split('.').map(|p| p.chars().collect()).collect();
    let middle = parts[part].len() / 2;
    let c = &mut parts[part][middle];
    *c = if *c == 'A' { 'B' } else { 'A' };
    parts.iter().map(|p| p.iter().collect::<String>()).collect::<Vec<_>>().join(".")
}

fn key_fetches(log: &str) -> usize {
    log.lines().filter(|l| l.contains("fetched the identity provider's keys")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_providers_tokens_admit_bounded_by_their_scopes_and_forgeries_do_not() {
    let Some(providers) = Providers::start("external identity provider").await else { return };
    let (issuer, stranger) = (&providers.issuers[0], &providers.issuers[1]);
    let started = Instant::now();
    let daemon = start_daemon(issuer).await;

    // The protected resource metadata sends clients to the provider, for our audience.
    let (status, metadata) = daemon.get_json("/.well-known/oauth-protected-resource/mcp").await;
    assert_eq!(status, 200);
    assert_eq!(metadata["authorization_servers"], json!([issuer]), "{metadata}");
    assert_eq!(metadata["resource"], json!(AUDIENCE), "{metadata}");

    // tag:alpha sees alpha only, and a view past it is refused naming the scope it lacks.
    let alpha = mint(issuer, "tester", Some("tag:alpha"), AUDIENCE).await;
    let session = open(&daemon, &alpha, "").await.expect("a real token gets in");
    let names = tool_names(&daemon, &alpha, &session).await.expect("listed");
    assert!(!names.is_empty() && names.iter().all(|n| n.starts_with("alpha_1mcp_")), "{names:?}");
    let (status, why) = open(&daemon, &alpha, "?tags=beta").await.expect_err("beta is beyond the token");
    assert!(status == 403 && why.contains("insufficient_scope") && why.contains("tag:beta"), "{status} {why}");

    // Both tags: both servers. No tag: scope at all: admitted, but sees no server.
    let both = mint(issuer, "tester", Some("tag:alpha tag:beta"), AUDIENCE).await;
    let names = tool_names(&daemon, &both, &open(&daemon, &both, "").await.expect("in")).await.expect("listed");
    assert!(["alpha_1mcp_echo", "beta_1mcp_echo"].iter().all(|w| names.iter().any(|n| n == w)), "{names:?}");
    let bare = mint(issuer, "tester", None, AUDIENCE).await;
    let names = tool_names(&daemon, &bare, &open(&daemon, &bare, "").await.expect("in")).await.expect("listed");
    assert!(names.is_empty(), "a token without tag: scopes sees nothing: {names:?}");

    // A session belongs to the token's subject: a fresh token of the same client continues it
    // (as after a refresh); another client's token does not find it.
    assert!(tool_names(&daemon, &both, &session).await.is_ok(), "same subject, new token: same principal");
    let other_client = mint(issuer, "brief", Some("tag:alpha"), AUDIENCE).await;
    assert_eq!(tool_names(&daemon, &other_client, &session).await, Err(404));

    // Refused with 401 invalid_token: another resource's token, tampered ones, another
    // provider's (its own keys, its own issuer), garbage shaped like a JWT.
    let elsewhere = mint(issuer, "tester", Some("tag:alpha"), OTHER_AUDIENCE).await;
    let foreign = mint(stranger, "tester", Some("tag:alpha"), AUDIENCE).await;
    let refused = [
        ("another resource's token", elsewhere.clone()),
        ("tampered header", tampered(&alpha, 0)),
        ("tampered payload", tampered(&alpha, 1)),
        ("tampered signature", tampered(&alpha, 2)),
        ("another provider's token", foreign.clone()),
        ("alg none", format!("{}.{}.", "eyJhbGciOiJub25lIn0", alpha.split('.').nth(1).unwrap_or_default())),
    ];
    for (what, token) in &refused {
        let (status, why) = open(&daemon, token, "").await.expect_err(what);
        assert_eq!(status, 401, "{what}: {why}");
        assert!(why.contains("invalid_token"), "{what}: {why}");
    }
    let (_, why) = open(&daemon, &elsewhere, "").await.expect_err("another resource");
    assert!(why.contains("another resource"), "{why}");
    // Personal access tokens keep working beside the provider's.
    let pat = daemon.token.clone().expect("harness token");
    assert!(open(&daemon, &pat, "").await.is_ok());

    // Key rotation: the provider signs with a new key (the old one stays published). Tokens
    // naming the new kid get in once the key set is refetched: at most once per 30 s, so
    // the many unknown-kid requests until then cause no extra fetch.
    let fetches_before = key_fetches(&daemon.stderr());
    assert!(fetches_before >= 1, "keys fetched at start:\n{}", daemon.stderr());
    let rotate = raw_http(port_of(issuer), &HttpRequest::post("/test/rotate")).await.expect("rotated");
    let new_kid = rotate.json().expect("JSON")["kid"].as_str().unwrap_or_default().to_owned();
    let rotated = mint(issuer, "tester", Some("tag:beta"), AUDIENCE).await;
    assert!(rotated.split('.').next().is_some_and(|h| h != alpha.split('.').next().unwrap_or("")), "a new header");
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut attempts = 0;
    let admitted_after = loop {
        attempts += 1;
        match open(&daemon, &rotated, "").await {
            Ok(_) => break started.elapsed(),
            Err((401, _)) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(500)).await,
            Err(other) => {
                panic!("a token signed with the new key {new_kid} never got in: {other:?}\n{}", daemon.stderr())
            }
        }
    };
    eprintln!("rotated key {new_kid}: admitted {admitted_after:?} after start, after {attempts} attempt(s)");
    let refetches = key_fetches(&daemon.stderr()) - fetches_before;
    assert_eq!(refetches, 1, "one refetch for {attempts} attempts:\n{}", daemon.stderr());
    assert!(open(&daemon, &alpha, "").await.is_ok(), "tokens of the old key, still published, still work");

    // Nothing of any token reaches the log (the daemon runs at debug level).
    let log = daemon.stderr();
    for token in [&alpha, &both, &bare, &other_client, &elsewhere, &foreign, &rotated] {
        let signature = token.rsplit('.').next().unwrap_or_default();
        assert!(!log.contains(token.as_str()) && !log.contains(signature), "a token reached the log");
    }
    assert!(!log.contains(" 500 ") && !log.contains("panicked"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refused_once_past_the_leeway() {
    let Some(providers) = Providers::start("external identity provider: expiry").await else { return };
    let issuer = &providers.issuers[0];
    let daemon = start_daemon(issuer).await;
    // `brief` tokens live 1 s; 1mcp tolerates 60 s of clock skew past `exp`.
    let minted_at = Instant::now();
    let brief = mint(issuer, "brief", Some("tag:alpha"), AUDIENCE).await;
    let session = open(&daemon, &brief, "").await.expect("a fresh token gets in");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(tool_names(&daemon, &brief, &session).await.is_ok(), "past exp, within the leeway");
    let past_leeway = Duration::from_secs(1 + 60 + 2);
    tokio::time::sleep(past_leeway.saturating_sub(minted_at.elapsed())).await;
    let (status, why) = open(&daemon, &brief, "").await.expect_err("expired");
    assert!(status == 401 && why.contains("expired"), "{status} {why}");
    assert_eq!(tool_names(&daemon, &brief, &session).await, Err(401), "its session is closed to it too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_provider_refuses_its_tokens_and_insecure_issuers_are_refused_at_start() {
    // A provider that is not there: 1mcp starts, JWTs get 401 (never 500), PATs still work.
    let daemon = start_daemon("http://127.0.0.1:9").await;
    let jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjkifQ.c2ln";
    let (status, why) = open(&daemon, jwt, "").await.expect_err("no keys, no admission");
    assert!(status == 401 && why.contains("invalid_token"), "{status} {why}");
    assert!(open(&daemon, &daemon.token.clone().expect("harness token"), "").await.is_ok());
    assert!(daemon.stderr().contains("cannot fetch the identity provider's keys"), "{}", daemon.stderr());

    // Plain http to a remote issuer, or an issuer without an audience: refused before start.
    for args in [
        &["serve", "--auth-issuer", "http://idp.example.test", "--auth-audience", AUDIENCE][..],
        &["serve", "--auth-issuer", "https://idp.example.test"][..],
        &["serve", "--no-auth", "--auth-issuer", "https://idp.example.test", "--auth-audience", AUDIENCE][..],
    ] {
        let run = run_onemcp(args, Duration::from_secs(10));
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.describe());
        assert!(run.stderr.contains("--auth-"), "{}", run.describe());
    }
}
