//! Authentication on, as `1mcp serve` starts by default: MCP endpoints need a bearer token
//! from `1mcp token create`, a token's tags bound what it sees, a session belongs to its
//! token, revoked and expired tokens stop working at once, no token ever reaches the log,
//! and `1mcp proxy` gets in by itself through the config directory.
//!
//! The embedded OAuth 2.1 authorization server under attack (each attack prints an
//! `ATTACK | what | status` row): redirect-URI mismatch, missing or plain PKCE, a wrong
//! verifier, code reuse (its grant revoked), refresh-token reuse (the family revoked, newer
//! tokens included), revocation (RFC 7009), consent without the operator cookie or with a wrong
//! CSRF token, an operator link used twice, tampered access tokens, a token for another resource
//! (RFC 8707) or signed with another config dir's secret, Client ID Metadata Document URLs at
//! private addresses; and a whole flow whose secrets are all looked for in the log.

use std::time::Duration;

use onemcp_tests::{Daemon, HttpRequest, StdioProcess, fixture_backend, initialize_request, mcp_config, run_onemcp};
use serde_json::{Value, json};

/// `1mcp token create -d DIR extra...`: the token printed on stdout.
fn create_token(daemon: &Daemon, extra: &[&str]) -> String {
    let dir = daemon.dir.path().to_string_lossy().into_owned();
    let mut args = vec!["token", "create", "-d", &dir];
    args.extend_from_slice(extra);
    let run = run_onemcp(&args, Duration::from_secs(10));
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let token = run.stdout.trim().to_owned();
    assert!(token.starts_with("1mcp_pat_"), "{}", run.describe());
    token
}

fn with_token(request: HttpRequest, token: &str) -> HttpRequest {
    request.header("Authorization", &format!("Bearer {token}"))
}

/// Opens a session with `token` (and `query`); the session id, or the refusal's status.
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

async fn tool_names(daemon: &Daemon, token: &str, session: &str) -> Vec<String> {
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let response = daemon.http(&with_token(HttpRequest::mcp_post(Some(session), &list), token)).await.expect("listed");
    let message = response.json_rpc_message().unwrap_or_else(|| panic!("no message: {}", response.describe()));
    let tools = message["result"]["tools"].as_array().cloned().unwrap_or_default();
    tools.iter().filter_map(|t| t["name"].as_str().map(str::to_owned)).collect()
}

fn two_tagged_servers() -> Value {
    let fixture = env!("CARGO_BIN_EXE_fixture-server");
    mcp_config([("alpha", fixture_backend(fixture, "alpha", &[])), ("beta", fixture_backend(fixture, "beta", &[]))])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_door_admits_live_tokens_only_and_bounds_what_they_see() {
    let daemon = Daemon::start_with_auth(&two_tagged_servers(), &[]).await;
    daemon.wait_ready().await;
    let full = create_token(&daemon, &["--name", "laptop"]);
    let scoped = create_token(&daemon, &["--name", "ci", "--tags", "alpha"]);

    // No token, a foreign scheme, an unknown token, a token in the URL.
    let anonymous = daemon.http(&HttpRequest::mcp_post(None, &initialize_request("2025-11-25"))).await.expect("answer");
    assert_eq!(anonymous.status, 401, "{}", anonymous.describe());
    let challenge = anonymous.header("WWW-Authenticate").unwrap_or_default().to_owned();
    assert!(challenge.starts_with("Bearer resource_metadata=\"http://127.0.0.1:"), "{challenge}");
    let metadata_path = challenge.split("resource_metadata=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("");
    let metadata_path = metadata_path.split_once("://").and_then(|(_, r)| r.find('/').map(|i| r[i..].to_owned()));
    let (status, metadata) = daemon.get_json(metadata_path.as_deref().unwrap_or("/")).await;
    assert_eq!(status, 200);
    assert_eq!(metadata["resource"], json!(format!("http://127.0.0.1:{}/mcp", daemon.port)));
    for (header, why) in [("Basic Zm9vOmJhcg==", "not a bearer token"), ("Bearer 1mcp_pat_00", "unknown token")] {
        let r = daemon
            .http(&HttpRequest::mcp_post(None, &initialize_request("2025-11-25")).header("Authorization", header))
            .await
            .expect("answer");
        assert_eq!(r.status, 401, "{why}: {}", r.describe());
        assert!(r.header("WWW-Authenticate").is_some_and(|c| c.contains("error=\"invalid_token\"")), "{why}");
    }
    let in_url =
        HttpRequest::mcp_post(None, &initialize_request("2025-11-25")).at(&format!("/mcp?access_token={full}"));
    assert_eq!(daemon.http(&in_url).await.expect("answer").status, 400);

    // A full token sees both servers; a token bound to `alpha` sees alpha only, and a view
    // past its tags is refused with the scope it lacks.
    let mine = open(&daemon, &full, "").await.expect("full token gets in");
    let names = tool_names(&daemon, &full, &mine).await;
    assert!(["alpha_1mcp_echo", "beta_1mcp_echo"].iter().all(|w| names.iter().any(|n| n == w)), "{names:?}");
    let theirs = open(&daemon, &scoped, "").await.expect("scoped token gets in");
    let names = tool_names(&daemon, &scoped, &theirs).await;
    assert!(!names.is_empty() && names.iter().all(|n| n.starts_with("alpha_1mcp_")), "{names:?}");
    let (status, why) = open(&daemon, &scoped, "?tags=beta").await.expect_err("beta is beyond the token");
    assert_eq!(status, 403, "{why}");
    assert!(why.contains("insufficient_scope") && why.contains("tag:beta"), "{why}");

    // A session belongs to its token.
    let list = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"});
    let stolen = daemon.http(&with_token(HttpRequest::mcp_post(Some(&mine), &list), &scoped)).await.expect("answer");
    assert_eq!(stolen.status, 404, "another token's session does not exist: {}", stolen.describe());

    // Revoked: refused from the next request on.
    let dir = daemon.dir.path().to_string_lossy().into_owned();
    let run = run_onemcp(&["token", "revoke", "-d", &dir, "ci"], Duration::from_secs(10));
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let after = daemon.http(&with_token(HttpRequest::mcp_post(Some(&theirs), &list), &scoped)).await.expect("answer");
    assert_eq!(after.status, 401, "{}", after.describe());
    let listed = run_onemcp(&["token", "list", "-d", &dir], Duration::from_secs(10));
    assert!(listed.stdout.lines().any(|l| l.contains("revoked") && l.contains("ci")), "{}", listed.describe());
    assert!(!listed.stdout.contains(&full) && !listed.stdout.contains(&scoped), "list never shows tokens");

    // Expired: a token with a one-second lifetime stops working.
    let brief = create_token(&daemon, &["--name", "brief", "--ttl", "1s"]);
    assert!(open(&daemon, &brief, "").await.is_ok());
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let (status, why) = open(&daemon, &brief, "").await.expect_err("expired");
    assert!(status == 401 && why.contains("expired"), "{status} {why}");

    // /health: status only for strangers (server names, commands and errors need a token).
    let stranger = daemon.http(&HttpRequest::get("/health")).await.expect("health");
    let body = stranger.json().expect("JSON");
    assert_eq!(stranger.status, 200);
    assert!(body.get("servers").is_none() && body["status"] == "healthy", "{body}");
    let (_, detailed) = daemon.get_json("/health").await;
    assert_eq!(detailed["servers"]["total"], 2, "with a token: {detailed}");

    // No token, however it was used, is in the log; the store keeps only hashes.
    let log = daemon.stderr();
    let store = std::fs::read_to_string(daemon.dir.path().join("tokens.json")).expect("token store");
    for token in [&full, &scoped, &brief] {
        assert!(!log.contains(token.as_str()), "a token reached the log");
        assert!(!store.contains(token.as_str()), "a token is stored in clear");
    }
    assert!(log.contains("authentication is on"), "start-up says how clients get in");
    let refusals: Vec<&str> = log.lines().filter(|l| l.contains("refused a request")).collect();
    assert!(
        !refusals.is_empty() && refusals.iter().all(|l| l.contains("127.0.0.1")),
        "refusals name the peer: {refusals:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_gets_in_by_itself_through_the_config_dir() {
    let daemon = Daemon::start_with_auth(&two_tagged_servers(), &[]).await;
    daemon.wait_ready().await;
    let dir = daemon.dir.path().to_string_lossy().into_owned();
    let mut proxy = StdioProcess::spawn(&["proxy", "-d", &dir]);
    let init = proxy.initialize().await;
    assert_eq!(init["result"]["serverInfo"]["name"], "1mcp", "{init}");
    let names = proxy.tools_once_listed(&["alpha_1mcp_echo", "beta_1mcp_echo"]).await;
    assert!(names.len() >= 2, "{names:?}");
    proxy.close_stdin();
    let status = proxy.wait_exit(Duration::from_secs(15)).await;
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{}", proxy.describe());
    // A proxy with a view gets a token bound to that view's tags: the daemon enforces the view
    // for the token too.
    let mut tagged = StdioProcess::spawn(&["proxy", "-d", &dir, "--tags", "alpha"]);
    assert_eq!(tagged.initialize().await["result"]["serverInfo"]["name"], "1mcp");
    tagged.tools_once_listed(&["alpha_1mcp_echo"]).await;
    tagged.close_stdin();
    assert!(tagged.wait_exit(Duration::from_secs(15)).await.is_some_and(|s| s.success()), "{}", tagged.describe());
    let listed = onemcp_tests::run_onemcp(&["token", "list", "-d", &dir], Duration::from_secs(10));
    let proxy_tokens: Vec<&str> = listed.stdout.lines().filter(|l| l.contains("1mcp proxy")).collect();
    assert_eq!(proxy_tokens.len(), 2, "one unbound, one bound to alpha: {}", listed.stdout);
    assert!(proxy_tokens.iter().any(|l| l.contains("alpha")), "{}", listed.stdout);
    // An explicit --url is not this config dir's daemon as far as the proxy knows: no token.
    let mut stranger = StdioProcess::spawn(&["proxy", "-u", &daemon.url]);
    let refused = stranger.initialize().await;
    assert!(refused.get("error").is_some(), "no token, no session: {refused}");
}

/// No token passthrough: an HTTP backend sees the credential its config gives 1mcp for it, on
/// every request, and never the token the client presented to 1mcp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_token_never_reaches_a_backend() {
    let record = tempfile::tempdir().expect("tempdir");
    let log = record.path().join("requests.log");
    let (_fixture, url) = onemcp_tests::start_http_fixture_with_env(
        env!("CARGO_BIN_EXE_conformance-server"),
        0,
        &[("CONFORMANCE_SERVER_REQUEST_LOG", &log)],
    )
    .await;
    let config = json!({"mcpServers": {"remote": {"type": "http", "url": url,
        "headers": {"Authorization": "Bearer credential-for-the-backend"}}}});
    let daemon = Daemon::start_with_auth(&config, &[]).await;
    daemon.wait_ready().await;
    let token = create_token(&daemon, &["--name", "client"]);
    let session = open(&daemon, &token, "").await.expect("a session");
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "remote_1mcp_test_simple_text", "arguments": {}}});
    let response =
        daemon.http(&with_token(HttpRequest::mcp_post(Some(&session), &call), &token)).await.expect("called");
    let message = response.json_rpc_message().unwrap_or_else(|| panic!("no message: {}", response.describe()));
    assert!(message["result"]["content"][0]["text"].as_str().is_some_and(|t| t.contains("simple text")), "{message}");
    let seen = std::fs::read_to_string(&log).expect("the backend's request log");
    let posts = seen.lines().filter(|l| l.starts_with("POST")).count();
    assert!(posts >= 3, "the era question, a list and the call at least: {seen}");
    for line in seen.lines() {
        assert!(line.ends_with("authorization=Bearer credential-for-the-backend"), "{line}");
    }
    assert!(!seen.contains(&token) && !seen.contains("1mcp_pat_"), "the client's token reached the backend: {seen}");
}

// ---------------------------------------------------------------------------------------------
// The embedded OAuth 2.1 authorization server under attack, end to end (real binary, raw HTTP).
// Each test has its own daemon: the OAuth endpoints allow a budget of requests per address,
// and a battery sharing one daemon could run into it.
// ---------------------------------------------------------------------------------------------

/// RFC 7636 Appendix B: a code verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// A loopback redirect URI the clients below register (never contacted: the tests read the
/// code from the 303's `Location`).
const REDIRECT: &str = "http://127.0.0.1:47123/callback";

/// One row of the attack table (printed; the asserts next to it are what the test checks).
fn seen(attack: &str, status: u16) {
    eprintln!("ATTACK | {attack} | {status}");
}

/// `application/x-www-form-urlencoded` of `pairs`.
fn form(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://form.invalid/").expect("a URL");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_owned()
}

/// The query parameters of a URL.
fn query_of(url: &str) -> std::collections::BTreeMap<String, String> {
    let parsed = reqwest::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    parsed.query_pairs().into_owned().collect()
}

fn post_form(path: &str, pairs: &[(&str, &str)]) -> HttpRequest {
    HttpRequest::post(path).header("Content-Type", "application/x-www-form-urlencoded").body(form(pairs).into_bytes())
}

/// The daemon's public base URL, which is its authorization server's issuer (`authIssuer` in
/// `server.pid`): `http://127.0.0.1:PORT`, or its `--external-url`.
fn base(daemon: &Daemon) -> String {
    let pid_file = std::fs::read_to_string(daemon.dir.path().join("server.pid")).expect("server.pid");
    let record: Value = serde_json::from_str(&pid_file).expect("server.pid is JSON");
    record["authIssuer"].as_str().unwrap_or_else(|| panic!("no authIssuer in {record}")).to_owned()
}

/// A fresh operator link from `1mcp auth link` for the running daemon.
fn operator_link(daemon: &Daemon) -> String {
    let config = daemon.config_path().to_string_lossy().into_owned();
    let run = run_onemcp(&["auth", "link", "-c", &config], Duration::from_secs(10));
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let link = run.stdout.trim().to_owned();
    assert!(link.starts_with(&format!("{}/oauth/operator?code=", base(daemon))), "{link}");
    link
}

/// The path and query of a URL on the daemon.
fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find('/').map_or_else(|| "/".to_owned(), |i| rest[i..].to_owned())
}

/// Follows a fresh operator link; the `name=value` of the cookie it sets.
async fn sign_in(daemon: &Daemon) -> String {
    let link = operator_link(daemon);
    let response = daemon.http(&HttpRequest::get(&path_of(&link))).await.expect("operator link answered");
    assert_eq!(response.status, 303, "{}", response.describe());
    let cookie = response.header("Set-Cookie").unwrap_or_else(|| panic!("no cookie: {}", response.describe()));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    cookie.split(';').next().unwrap_or_default().to_owned()
}

/// `POST /register` with `metadata`; the registration (201) or a panic.
async fn register(daemon: &Daemon, metadata: Value) -> Value {
    let request = HttpRequest::post("/register")
        .header("Content-Type", "application/json")
        .body(metadata.to_string().into_bytes());
    let response = daemon.http(&request).await.expect("register answered");
    assert_eq!(response.status, 201, "{}", response.describe());
    response.json().expect("registration JSON")
}

/// A public client (PKCE, no secret) with [`REDIRECT`]; its client_id.
async fn public_client(daemon: &Daemon) -> String {
    let registered = register(
        daemon,
        json!({"client_name": "attack-test", "redirect_uris": [REDIRECT],
               "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    registered["client_id"].as_str().expect("client_id").to_owned()
}

/// `GET /authorize` with the usual parameters for `client_id`, overridden or extended by
/// `extra` (an empty value drops a parameter).
async fn authorize(
    daemon: &Daemon,
    cookie: Option<&str>,
    client_id: &str,
    extra: &[(&str, &str)],
) -> onemcp_tests::HttpResponse {
    let resource = format!("{}/mcp", base(daemon));
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "st-1"),
        ("resource", &resource),
    ];
    for (name, value) in extra {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    let mut request = HttpRequest::get(&format!("/authorize?{}", form(&params)));
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    daemon.http(&request).await.expect("authorize answered")
}

/// The value of the hidden input `name` of a consent page.
fn hidden(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    page[start..].split('"').next().map(str::to_owned)
}

/// `POST /oauth/consent` with `cookie` (if any) and these fields.
async fn consent(daemon: &Daemon, cookie: Option<&str>, fields: &[(&str, &str)]) -> onemcp_tests::HttpResponse {
    let mut request = post_form("/oauth/consent", fields);
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    daemon.http(&request).await.expect("consent answered")
}

/// Authorize and approve (every server); the code from the redirect.
async fn code_for(daemon: &Daemon, cookie: &str, client_id: &str, extra: &[(&str, &str)]) -> String {
    code_narrowed(daemon, cookie, client_id, extra, None).await
}

/// Authorize and approve, the operator ticking `tags` only (`None`: every server); the code
/// from the redirect.
async fn code_narrowed(
    daemon: &Daemon,
    cookie: &str,
    client_id: &str,
    extra: &[(&str, &str)],
    tags: Option<&[&str]>,
) -> String {
    let page = authorize(daemon, Some(cookie), client_id, extra).await;
    assert_eq!(page.status, 200, "consent page: {}", page.describe());
    let text = page.text();
    let (request, csrf) = (hidden(&text, "request").expect("request"), hidden(&text, "csrf").expect("csrf"));
    let mut fields = vec![("request", request.as_str()), ("csrf", csrf.as_str()), ("decision", "approve")];
    match tags {
        None => fields.push(("everything", "1")),
        Some(tags) => fields.extend(tags.iter().map(|t| ("tag", *t))),
    }
    let answer = consent(daemon, Some(cookie), &fields).await;
    assert_eq!(answer.status, 303, "{}", answer.describe());
    let location = answer.header("Location").expect("Location").to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    let params = query_of(&location);
    assert_eq!(params.get("iss"), Some(&base(daemon)), "RFC 9207 iss: {location}");
    params.get("code").cloned().unwrap_or_else(|| panic!("no code: {location}"))
}

/// `POST /token`; status and JSON body.
async fn token(daemon: &Daemon, pairs: &[(&str, &str)]) -> (u16, Value) {
    let response = daemon.http(&post_form("/token", pairs)).await.expect("token answered");
    let body = response.json().unwrap_or_else(|_| json!({"raw": response.text()}));
    (response.status, body)
}

/// Redeems `code` as the public client `client_id` with [`VERIFIER`] and [`REDIRECT`].
async fn redeem(daemon: &Daemon, client_id: &str, code: &str) -> (u16, Value) {
    let resource = format!("{}/mcp", base(daemon));
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id),
        ("code_verifier", VERIFIER),
        ("resource", &resource),
    ];
    token(daemon, &pairs).await
}

/// A whole grant for `client_id`: the token response (access and refresh token).
async fn grant(daemon: &Daemon, cookie: &str, client_id: &str) -> Value {
    let code = code_for(daemon, cookie, client_id, &[]).await;
    let (status, body) = redeem(daemon, client_id, &code).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().is_some_and(|t| t.starts_with("1mcp_at_")), "{body}");
    body
}

fn text_of(body: &Value, key: &str) -> String {
    body[key].as_str().unwrap_or_else(|| panic!("no {key} in {body}")).to_owned()
}

/// `POST /token` refreshing `refresh` for `client_id`.
async fn refresh(daemon: &Daemon, client_id: &str, refresh: &str) -> (u16, Value) {
    token(daemon, &[("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", client_id)]).await
}

/// The status of a `tools/list` in `session` with `token`.
async fn list_status(daemon: &Daemon, token: &str, session: &str) -> u16 {
    let list = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"});
    daemon.http(&with_token(HttpRequest::mcp_post(Some(session), &list), token)).await.expect("answered").status
}

fn oauth_daemon_config() -> Value {
    two_tagged_servers()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_codes_are_single_use_bound_to_pkce_and_the_exact_redirect() {
    let daemon = Daemon::start_with_auth(&oauth_daemon_config(), &[]).await;
    let client_id = public_client(&daemon).await;
    let cookie = sign_in(&daemon).await;

    // Redirect-URI mismatch: an error page, never a redirect to where the attacker wants.
    for (attack, uri) in [
        ("redirect_uri not registered (foreign host)", "https://evil.example/callback"),
        ("redirect_uri not registered (longer path)", "http://127.0.0.1:47123/callback/evil"),
        ("redirect_uri not registered (localhost for 127.0.0.1)", "http://localhost:47123/callback"),
    ] {
        let r = authorize(&daemon, Some(&cookie), &client_id, &[("redirect_uri", uri)]).await;
        seen(attack, r.status);
        assert_eq!(r.status, 400, "{attack}: {}", r.describe());
        assert!(r.header("Location").is_none() && !r.text().contains("evil.example"), "{attack}: {}", r.describe());
        assert!(hidden(&r.text(), "csrf").is_none(), "{attack}: no consent form");
    }
    // PKCE is mandatory, S256 only: refused back to the (registered) client, with no code.
    for (attack, extra) in [
        ("authorize without code_challenge", vec![("code_challenge", ""), ("code_challenge_method", "")]),
        ("authorize with code_challenge_method=plain", vec![("code_challenge_method", "plain")]),
    ] {
        let r = authorize(&daemon, Some(&cookie), &client_id, &extra).await;
        seen(attack, r.status);
        let location = r.header("Location").unwrap_or_default().to_owned();
        assert_eq!(r.status, 303, "{attack}: {}", r.describe());
        let params = query_of(&location);
        assert!(location.starts_with(REDIRECT) && params["error"] == "invalid_request", "{attack}: {location}");
        assert!(!params.contains_key("code"), "{attack}: {location}");
    }

    let code = code_for(&daemon, &cookie, &client_id, &[]).await;
    let resource = format!("{}/mcp", base(&daemon));
    // PKCE mismatch: another verifier, or none at all.
    let wrong_verifier = "x".repeat(43);
    let (status, body) = token(
        &daemon,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            ("code_verifier", &wrong_verifier),
            ("resource", &resource),
        ],
    )
    .await;
    seen("token with a wrong PKCE code_verifier", status);
    assert!(status == 400 && body["error"] == "invalid_grant" && body.get("access_token").is_none(), "{status} {body}");
    let (status, body) = token(
        &daemon,
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT), ("client_id", &client_id)],
    )
    .await;
    seen("token without a code_verifier", status);
    assert!(status == 400 && body.get("access_token").is_none(), "{status} {body}");
    // Redirect-URI mismatch at the token endpoint.
    let (status, body) = token(
        &daemon,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:47123/other"),
            ("client_id", &client_id),
            ("code_verifier", VERIFIER),
            ("resource", &resource),
        ],
    )
    .await;
    seen("token with another redirect_uri than the authorization request", status);
    assert!(status == 400 && body["error"] == "invalid_grant" && body.get("access_token").is_none(), "{status} {body}");
    // Another client presenting the code.
    let thief = public_client(&daemon).await;
    let (status, body) = redeem(&daemon, &thief, &code).await;
    seen("token: another client redeems the code", status);
    assert!(status == 400 && body.get("access_token").is_none(), "{status} {body}");

    // The rightful redemption works; its token opens a session.
    let (status, tokens) = redeem(&daemon, &client_id, &code).await;
    assert_eq!(status, 200, "{tokens}");
    let access = text_of(&tokens, "access_token");
    let refresh_token = text_of(&tokens, "refresh_token");
    let session = open(&daemon, &access, "").await.expect("the fresh token opens a session");
    assert_eq!(list_status(&daemon, &access, &session).await, 200);

    // Code reuse: refused, and the grant it made is revoked (access and refresh token).
    let (status, body) = redeem(&daemon, &client_id, &code).await;
    seen("authorization code presented a second time", status);
    assert!(status == 400 && body["error"] == "invalid_grant" && body.get("access_token").is_none(), "{status} {body}");
    let after = list_status(&daemon, &access, &session).await;
    seen("access token of a replayed code, next /mcp request", after);
    assert_eq!(after, 401, "the replayed code's grant is revoked");
    let (status, body) = refresh(&daemon, &client_id, &refresh_token).await;
    seen("refresh token of a replayed code", status);
    assert!(status == 400 && body["error"] == "invalid_grant", "{status} {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_refresh_reuse_revokes_the_family_and_revocation_closes_the_door() {
    let daemon = Daemon::start_with_auth(&oauth_daemon_config(), &[]).await;
    let client_id = public_client(&daemon).await;
    let cookie = sign_in(&daemon).await;

    // Rotation: each refresh token works once and yields a new one.
    let first = grant(&daemon, &cookie, &client_id).await;
    let (access1, refresh1) = (text_of(&first, "access_token"), text_of(&first, "refresh_token"));
    let (status, second) = refresh(&daemon, &client_id, &refresh1).await;
    assert_eq!(status, 200, "{second}");
    let (access2, refresh2) = (text_of(&second, "access_token"), text_of(&second, "refresh_token"));
    assert_ne!(refresh1, refresh2, "rotated");
    let session = open(&daemon, &access2, "").await.expect("the refreshed token opens a session");
    assert_eq!(list_status(&daemon, &access2, &session).await, 200);
    // Another client cannot use this client's refresh token.
    let stranger = public_client(&daemon).await;
    let (status, body) = refresh(&daemon, &stranger, &refresh2).await;
    seen("refresh token presented by another client", status);
    assert!(status == 400 && body.get("access_token").is_none(), "{status} {body}");

    // Reuse of the spent refresh token: refused, and the whole family ends, including the
    // newer refresh and access tokens, on the very next /mcp request.
    let (status, body) = refresh(&daemon, &client_id, &refresh1).await;
    seen("spent refresh token presented again", status);
    assert!(status == 400 && body["error"] == "invalid_grant" && body.get("access_token").is_none(), "{status} {body}");
    let after = list_status(&daemon, &access2, &session).await;
    seen("newer access token after refresh reuse, next /mcp request", after);
    assert_eq!(after, 401);
    let (status, reopen) = open(&daemon, &access1, "").await.expect_err("the older access token is revoked too");
    seen("older access token after refresh reuse", status);
    assert_eq!(status, 401, "{reopen}");
    let (status, body) = refresh(&daemon, &client_id, &refresh2).await;
    seen("newer refresh token after refresh reuse", status);
    assert!(status == 400 && body["error"] == "invalid_grant", "{status} {body}");

    // RFC 7009: revoking the access token ends the grant; the next request in an open session
    // is refused.
    let granted = grant(&daemon, &cookie, &client_id).await;
    let (access, refresh_token) = (text_of(&granted, "access_token"), text_of(&granted, "refresh_token"));
    let session = open(&daemon, &access, "").await.expect("session");
    assert_eq!(list_status(&daemon, &access, &session).await, 200);
    let revoke = |token: String| {
        let daemon = &daemon;
        let client_id = client_id.clone();
        async move {
            daemon
                .http(&post_form("/revoke", &[("token", &token), ("client_id", &client_id)]))
                .await
                .expect("revoke answered")
        }
    };
    let r = revoke(access.clone()).await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let after = list_status(&daemon, &access, &session).await;
    seen("revoked access token (RFC 7009), next /mcp request in its session", after);
    assert_eq!(after, 401);
    let (status, body) = refresh(&daemon, &client_id, &refresh_token).await;
    seen("refresh token of a revoked grant", status);
    assert!(status == 400 && body["error"] == "invalid_grant", "{status} {body}");

    // Revoking by the refresh token ends the access token too; a stranger's revocation of
    // someone else's token is answered 200 (RFC 7009) but changes nothing.
    let granted = grant(&daemon, &cookie, &client_id).await;
    let (access, refresh_token) = (text_of(&granted, "access_token"), text_of(&granted, "refresh_token"));
    let session = open(&daemon, &access, "").await.expect("session");
    let by_stranger = daemon
        .http(&post_form("/revoke", &[("token", &refresh_token), ("client_id", &stranger)]))
        .await
        .expect("answered");
    assert_eq!(by_stranger.status, 200);
    let still = list_status(&daemon, &access, &session).await;
    seen("revocation of another client's token (answered 200, no effect): the owner's next request", still);
    assert_eq!(still, 200, "another client cannot revoke this grant");
    assert_eq!(revoke(refresh_token).await.status, 200);
    let after = list_status(&daemon, &access, &session).await;
    seen("access token after its refresh token was revoked, next /mcp request", after);
    assert_eq!(after, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_consent_is_the_operators_alone() {
    let daemon = Daemon::start_with_auth(&oauth_daemon_config(), &[]).await;
    let client_id = public_client(&daemon).await;

    // An operator link works once.
    let link = operator_link(&daemon);
    let first = daemon.http(&HttpRequest::get(&path_of(&link))).await.expect("answered");
    assert_eq!(first.status, 303, "{}", first.describe());
    let cookie = first.header("Set-Cookie").and_then(|c| c.split(';').next()).expect("cookie").to_owned();
    let again = daemon.http(&HttpRequest::get(&path_of(&link))).await.expect("answered");
    seen("operator link used a second time", again.status);
    assert!(again.status == 403 && again.header("Set-Cookie").is_none(), "{}", again.describe());
    let forged = format!("{}x", path_of(&link));
    let r = daemon.http(&HttpRequest::get(&forged)).await.expect("answered");
    seen("operator link with an altered code", r.status);
    assert!(r.status == 403 && r.header("Set-Cookie").is_none(), "{}", r.describe());

    // Without the operator cookie (or with a forged one) there is no consent form.
    let r = authorize(&daemon, None, &client_id, &[]).await;
    seen("authorize without the operator cookie", r.status);
    assert!(
        r.status == 401 && hidden(&r.text(), "csrf").is_none() && r.header("Location").is_none(),
        "{}",
        r.describe()
    );
    let r = authorize(&daemon, Some("1mcp_operator=AAAA.BBBB"), &client_id, &[]).await;
    seen("authorize with a forged operator cookie", r.status);
    assert!(r.status == 401 && hidden(&r.text(), "csrf").is_none(), "{}", r.describe());

    // A genuine consent page, and what an attacker could do with its fields.
    let page = authorize(&daemon, Some(&cookie), &client_id, &[]).await;
    assert_eq!(page.status, 200, "{}", page.describe());
    assert_eq!(page.header("X-Frame-Options"), Some("DENY"));
    assert!(page.header("Content-Security-Policy").is_some_and(|c| c.contains("frame-ancestors 'none'")));
    let text = page.text();
    let (request, csrf) = (hidden(&text, "request").expect("request"), hidden(&text, "csrf").expect("csrf"));
    let approve = |request: &str, csrf: &str| {
        vec![
            ("request".to_owned(), request.to_owned()),
            ("csrf".to_owned(), csrf.to_owned()),
            ("decision".to_owned(), "approve".to_owned()),
            ("everything".to_owned(), "1".to_owned()),
        ]
    };
    let send = |cookie: Option<String>, fields: Vec<(String, String)>| {
        let daemon = &daemon;
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            consent(daemon, cookie.as_deref(), &pairs).await
        }
    };
    let no_code = |r: &onemcp_tests::HttpResponse| r.header("Location").is_none() && !r.text().contains("code=");

    let r = send(None, approve(&request, &csrf)).await;
    seen("consent POST without the operator cookie", r.status);
    assert!(r.status == 403 && no_code(&r), "{}", r.describe());
    let r = send(Some(cookie.clone()), approve(&request, &"0".repeat(csrf.len()))).await;
    seen("consent POST with a wrong csrf", r.status);
    assert!(r.status == 403 && no_code(&r), "{}", r.describe());
    let r = send(Some(cookie.clone()), approve(&request, "")).await;
    seen("consent POST with an empty csrf", r.status);
    assert!(r.status == 403 && no_code(&r), "{}", r.describe());
    let mut without_csrf = approve(&request, &csrf);
    without_csrf.retain(|(k, _)| k != "csrf");
    let r = send(Some(cookie.clone()), without_csrf).await;
    seen("consent POST without a csrf field", r.status);
    assert!(r.status == 403 && no_code(&r), "{}", r.describe());
    // The csrf token is bound to the operator session it was shown to.
    let other_cookie = sign_in(&daemon).await;
    let r = send(Some(other_cookie), approve(&request, &csrf)).await;
    seen("consent POST with another operator session's csrf", r.status);
    assert!(r.status == 403 && no_code(&r), "{}", r.describe());
    // The sealed request cannot be altered (e.g. to swap in another redirect).
    let mut tampered = request.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ASCII");
    let r = send(Some(cookie.clone()), approve(&tampered, &csrf)).await;
    seen("consent POST with a tampered request", r.status);
    assert!(r.status == 403 && no_code(&r), "{}", r.describe());
    // A cross-site form post (foreign Origin) is refused before anything else.
    let pairs = approve(&request, &csrf);
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let cross = daemon
        .http(&post_form("/oauth/consent", &pairs).header("Cookie", &cookie).header("Origin", "https://evil.example"))
        .await
        .expect("answered");
    seen("consent POST from a foreign Origin", cross.status);
    assert!(cross.status == 403 && no_code(&cross), "{}", cross.describe());

    // The operator's own answers: deny sends the client away without a code; approve gives one.
    let mut deny = approve(&request, &csrf);
    deny.retain(|(k, _)| k != "decision");
    deny.push(("decision".to_owned(), "deny".to_owned()));
    let r = send(Some(cookie.clone()), deny).await;
    let location = r.header("Location").unwrap_or_default().to_owned();
    assert!(r.status == 303 && location.starts_with(REDIRECT), "{}", r.describe());
    let params = query_of(&location);
    assert!(params["error"] == "access_denied" && !params.contains_key("code") && params["state"] == "st-1");
    let r = send(Some(cookie.clone()), approve(&request, &csrf)).await;
    assert_eq!(r.status, 303, "the operator's approval: {}", r.describe());
    assert!(query_of(r.header("Location").unwrap_or_default()).contains_key("code"));
}

/// An access token's sealed claims, decoded (`1mcp_at_<base64url json>.<base64url mac>`).
fn claims_of(access: &str) -> (Value, String) {
    use base64::Engine as _;
    let sealed = access.strip_prefix("1mcp_at_").expect("an access token");
    let (body, mac) = sealed.split_once('.').expect("body.mac");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body).expect("base64url");
    (serde_json::from_slice(&json).expect("JSON claims"), mac.to_owned())
}

/// An access token with `claims` and the given MAC.
fn reseal(claims: &Value, mac: &str) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("1mcp_at_{body}.{mac}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_access_tokens_hold_only_for_their_audience_signature_and_key() {
    let a = Daemon::start_with_auth(&oauth_daemon_config(), &[]).await;
    let client_id = public_client(&a).await;
    let cookie = sign_in(&a).await;
    let code = code_narrowed(&a, &cookie, &client_id, &[], Some(&["alpha"])).await;
    let (status, tokens) = redeem(&a, &client_id, &code).await;
    assert_eq!(status, 200, "{tokens}");
    let access = text_of(&tokens, "access_token");
    assert_eq!(tokens["scope"], "tag:alpha", "the operator narrowed the grant to alpha");
    let session = open(&a, &access, "").await.expect("A accepts its own token");
    let names = tool_names(&a, &access, &session).await;
    assert!(!names.is_empty() && names.iter().all(|n| n.starts_with("alpha_1mcp_")), "{names:?}");

    // Tampered tokens: widened tags, a later expiry, another audience, a MAC moved from another
    // token, no MAC at all.
    let (claims, mac) = claims_of(&access);
    assert_eq!(claims["aud"], json!(format!("{}/mcp", base(&a))), "{claims}");
    let other = grant(&a, &cookie, &client_id).await;
    let (_, other_mac) = claims_of(&text_of(&other, "access_token"));
    let mut widened = claims.clone();
    widened["tags"] = Value::Null;
    let mut later = claims.clone();
    later["exp"] = json!(claims["exp"].as_u64().unwrap_or_default() + 86_400_000);
    let mut moved = claims.clone();
    moved["aud"] = json!("https://mcp.other.example/mcp");
    let sealed = access.strip_prefix("1mcp_at_").unwrap_or_default();
    for (attack, forged) in [
        ("tampered access token: tags widened to every server", reseal(&widened, &mac)),
        ("tampered access token: expiry extended", reseal(&later, &mac)),
        ("tampered access token: audience changed", reseal(&moved, &mac)),
        ("tampered access token: another token's MAC", reseal(&claims, &other_mac)),
        ("tampered access token: MAC removed", format!("1mcp_at_{}", sealed.split('.').next().unwrap_or_default())),
        ("tampered access token: one character of the MAC changed", {
            let mut bytes = access.clone().into_bytes();
            let last = bytes.len() - 2;
            bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
            String::from_utf8(bytes).expect("ASCII")
        }),
    ] {
        let (status, why) = open(&a, &forged, "").await.expect_err(attack);
        seen(attack, status);
        assert!(status == 401 && why.contains("invalid_token"), "{attack}: {status} {why}");
        assert_eq!(list_status(&a, &forged, &session).await, 401, "{attack}: in the session too");
    }

    // RFC 8707 at the authorization server: it issues tokens for itself only.
    let r = authorize(&a, Some(&cookie), &client_id, &[("resource", "https://mcp.other.example/mcp")]).await;
    seen("authorize for another server's resource", r.status);
    let location = r.header("Location").unwrap_or_default().to_owned();
    assert!(r.status == 303 && query_of(&location)["error"] == "invalid_target", "{}", r.describe());
    let code = code_for(&a, &cookie, &client_id, &[]).await;
    let (status, body) = token(
        &a,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            ("code_verifier", VERIFIER),
            ("resource", "https://mcp.other.example/mcp"),
        ],
    )
    .await;
    seen("token for another server's resource", status);
    assert!(status == 400 && body["error"] == "invalid_target" && body.get("access_token").is_none(), "{body}");

    // Three more daemons, each with A's authorization state (oauth.json: clients and grants,
    // hashes only) and differing from A in one thing at a time:
    //  B: A's secret, A's public URL           -> accepts A's token (as daemons sharing A's
    //                                              config dir do: the control)
    //  C: A's secret, another public URL       -> refuses it: wrong audience (RFC 8707)
    //  D: its own secret, A's public URL       -> refuses it: wrong signing key
    let secret = std::fs::read_to_string(a.dir.path().join("operator.secret")).expect("A's operator secret");
    let state = std::fs::read_to_string(a.dir.path().join("oauth.json")).expect("A's oauth.json");
    let a_url = base(&a);
    let b = Daemon::start_with_auth_files(
        &oauth_daemon_config(),
        &["--external-url", &a_url],
        &[("operator.secret", &secret), ("oauth.json", &state)],
    )
    .await;
    let c = Daemon::start_with_auth_files(
        &oauth_daemon_config(),
        &["--external-url", "https://mcp.other.example"],
        &[("operator.secret", &secret), ("oauth.json", &state)],
    )
    .await;
    let d =
        Daemon::start_with_auth_files(&oauth_daemon_config(), &["--external-url", &a_url], &[("oauth.json", &state)])
            .await;
    let on_b = open(&b, &access, "").await.expect("B (A's secret and URL) accepts A's token");
    let names = tool_names(&b, &access, &on_b).await;
    assert!(!names.is_empty() && names.iter().all(|n| n.starts_with("alpha_1mcp_")), "{names:?}");
    // B is also what a restart of A is (a new process on A's secret, state and URL): the
    // refresh token issued before it rotates there, and the new access token works.
    let (status, rotated) = refresh(&b, &client_id, &text_of(&tokens, "refresh_token")).await;
    assert_eq!(status, 200, "a refresh token survives a restart: {rotated}");
    open(&b, &text_of(&rotated, "access_token"), "").await.expect("the refreshed token works after the restart");
    let (status, why) = open(&c, &access, "").await.expect_err("wrong audience");
    seen("access token issued for another resource (daemon with the same key, another URL)", status);
    assert!(status == 401 && why.contains("another resource") && why.contains("invalid_token"), "{why}");
    let (status, why) = open(&d, &access, "").await.expect_err("wrong key");
    seen("access token signed with another config dir's secret", status);
    assert!(status == 401 && why.contains("invalid_token") && why.contains("unknown token"), "{why}");
    // ... and the other way round: D's own token (its key, A's audience) is no good at A.
    let d_cookie = sign_in(&d).await;
    let d_client = public_client(&d).await;
    let d_access = text_of(&grant(&d, &d_cookie, &d_client).await, "access_token");
    assert_eq!(claims_of(&d_access).0["aud"], claims["aud"], "the same audience as A's token");
    open(&d, &d_access, "").await.expect("D accepts its own token");
    let (status, why) = open(&a, &d_access, "").await.expect_err("another key");
    seen("access token from a daemon with another secret (same audience) presented to A", status);
    assert!(status == 401 && why.contains("invalid_token"), "{why}");
}

/// A Client ID Metadata Document host on 127.0.0.1 that counts the requests it gets:
/// `/client.json` (a valid document naming itself) and `/hop.json` (a 302 to the cloud
/// metadata address).
struct DocumentHost {
    port: u16,
    hits: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    server: tokio::task::JoinHandle<()>,
}

impl DocumentHost {
    async fn start() -> DocumentHost {
        use axum::response::IntoResponse;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("address").port();
        let hits = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen_by = hits.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let hits = seen_by.clone();
            async move {
                hits.lock().expect("hits").push(uri.path().to_owned());
                match uri.path() {
                    "/client.json" => {
                        let document = json!({
                            "client_id": format!("http://127.0.0.1:{port}/client.json"),
                            "client_name": "Metadata Document Client",
                            "redirect_uris": [REDIRECT],
                            "grant_types": ["authorization_code", "refresh_token"],
                            "token_endpoint_auth_method": "none",
                        });
                        ([(axum::http::header::CONTENT_TYPE, "application/json")], document.to_string()).into_response()
                    }
                    "/hop.json" => (
                        axum::http::StatusCode::FOUND,
                        [(axum::http::header::LOCATION, "http://169.254.169.254/latest/meta-data/client.json")],
                    )
                        .into_response(),
                    _ => axum::http::StatusCode::NOT_FOUND.into_response(),
                }
            }
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        DocumentHost { port, hits, server }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().expect("hits").clone()
    }
}

impl Drop for DocumentHost {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_client_metadata_documents_are_never_fetched_from_private_addresses() {
    let daemon = Daemon::start_with_auth(&oauth_daemon_config(), &[]).await;
    let cookie = sign_in(&daemon).await;
    let host = DocumentHost::start().await;

    // Private, link-local and unique-local addresses: refused with an error page (no redirect to
    // anywhere), before any connection is attempted (the log says which address rule refused).
    for url in [
        "https://10.0.0.1/c.json",
        "https://169.254.169.254/x",
        "https://192.168.1.1/client.json",
        "https://[fd00::1]/c.json",
        "https://[::ffff:169.254.169.254]/x",
    ] {
        let started = std::time::Instant::now();
        let r = authorize(&daemon, Some(&cookie), url, &[]).await;
        let elapsed = started.elapsed();
        seen(&format!("CIMD client_id {url}"), r.status);
        assert!(r.status == 400 && r.header("Location").is_none(), "{url}: {}", r.describe());
        assert!(hidden(&r.text(), "csrf").is_none(), "{url}: no consent page");
        assert!(elapsed < Duration::from_secs(2), "{url}: answered at once, not after a fetch: {elapsed:?}");
        let (status, body) = token(
            &daemon,
            &[
                ("grant_type", "authorization_code"),
                ("code", "1mcp_code_00"),
                ("client_id", url),
                ("code_verifier", VERIFIER),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
        assert!(status == 401 && body["error"] == "invalid_client", "{url} at /token: {status} {body}");
    }
    let log = daemon.stderr();
    for address in ["10.0.0.1", "169.254.169.254", "192.168.1.1", "fd00::1"] {
        assert!(
            log.lines().any(|l| l.contains("client metadata document refused")
                && l.contains(&format!("{address} is not a public address"))),
            "the refusal of {address} names the address rule:\n{log}"
        );
    }
    // Plain http is for a loopback host only.
    let r = authorize(&daemon, Some(&cookie), "http://10.0.0.1/c.json", &[]).await;
    seen("CIMD client_id http://10.0.0.1/c.json", r.status);
    assert!(r.status == 400 && r.header("Location").is_none(), "{}", r.describe());

    // A document host that redirects to the cloud metadata address: fetched once, not followed.
    let r = authorize(&daemon, Some(&cookie), &host.url("/hop.json"), &[]).await;
    seen("CIMD client_id whose host redirects to 169.254.169.254", r.status);
    assert!(r.status == 400 && r.header("Location").is_none(), "{}", r.describe());
    assert_eq!(host.hits(), ["/hop.json"], "one request, the redirect not followed");

    // The control: a document on loopback (allowed for a loopback daemon) is fetched, and the
    // whole flow works with its URL as client_id.
    let document_client = host.url("/client.json");
    let page = authorize(&daemon, Some(&cookie), &document_client, &[]).await;
    assert_eq!(page.status, 200, "{}", page.describe());
    assert!(page.text().contains("Metadata Document Client"), "the consent page names the document's client");
    assert_eq!(host.hits(), ["/hop.json", "/client.json"]);
    let code = code_for(&daemon, &cookie, &document_client, &[]).await;
    let (status, tokens) = redeem(&daemon, &document_client, &code).await;
    assert_eq!(status, 200, "{tokens}");
    open(&daemon, &text_of(&tokens, "access_token"), "").await.expect("the document client's token works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_of_a_whole_oauth_flow_reaches_the_log() {
    let logs = tempfile::Builder::new().prefix("onemcp-oauth-log-").tempdir().expect("a log directory");
    let log_file = logs.path().join("daemon.log");
    let log_arg = log_file.to_string_lossy().into_owned();
    let daemon = Daemon::start_with_auth(&oauth_daemon_config(), &["--log-file", &log_arg]).await;
    let mut secrets: Vec<(&str, String)> = Vec::new();

    // The operator: the link's code and the cookie it sets.
    let link = operator_link(&daemon);
    secrets.push(("operator link code", query_of(&link)["code"].clone()));
    let landing = daemon.http(&HttpRequest::get(&path_of(&link))).await.expect("answered");
    let cookie = landing.header("Set-Cookie").and_then(|c| c.split(';').next()).expect("cookie").to_owned();
    secrets.push(("operator cookie", cookie.split_once('=').map(|(_, v)| v.to_owned()).unwrap_or_default()));
    assert_eq!(daemon.http(&HttpRequest::get(&path_of(&link))).await.expect("answered").status, 403);

    // A confidential client (secret in the body) and a public one.
    let confidential = register(
        &daemon,
        json!({"client_name": "confidential-app", "redirect_uris": [REDIRECT],
               "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "client_secret_post"}),
    )
    .await;
    let client_id = text_of(&confidential, "client_id");
    let client_secret = text_of(&confidential, "client_secret");
    secrets.push(("client secret", client_secret.clone()));
    let public = public_client(&daemon).await;

    // Consent (its CSRF token and sealed request are secrets too), code, tokens.
    let page = authorize(&daemon, Some(&cookie), &client_id, &[]).await;
    let text = page.text();
    let (request, csrf) = (hidden(&text, "request").expect("request"), hidden(&text, "csrf").expect("csrf"));
    secrets.push(("consent csrf", csrf.clone()));
    secrets.push(("consent request", request.clone()));
    let answer = consent(
        &daemon,
        Some(&cookie),
        &[("request", &request), ("csrf", &csrf), ("decision", "approve"), ("everything", "1")],
    )
    .await;
    let code = query_of(answer.header("Location").expect("Location"))["code"].clone();
    secrets.push(("authorization code", code.clone()));
    let resource = format!("{}/mcp", base(&daemon));
    let code_request = |secret: String| {
        vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.clone()),
            ("redirect_uri".to_owned(), REDIRECT.to_owned()),
            ("client_id".to_owned(), client_id.clone()),
            ("client_secret".to_owned(), secret),
            ("code_verifier".to_owned(), VERIFIER.to_owned()),
            ("resource".to_owned(), resource.clone()),
        ]
    };
    let send_token = |fields: Vec<(String, String)>| {
        let daemon = &daemon;
        async move {
            let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            token(daemon, &refs).await
        }
    };
    let wrong_secret = format!("{client_secret}x");
    secrets.push(("a wrong client secret", wrong_secret.clone()));
    let (status, _) = send_token(code_request(wrong_secret)).await;
    assert_eq!(status, 401, "a wrong client secret is refused");
    let (status, tokens) = send_token(code_request(client_secret.clone())).await;
    assert_eq!(status, 200, "{tokens}");
    let (access, refresh_token) = (text_of(&tokens, "access_token"), text_of(&tokens, "refresh_token"));
    secrets.push(("access token", access.clone()));
    secrets.push(("refresh token", refresh_token.clone()));
    let (status, _) = send_token(code_request(client_secret.clone())).await;
    assert_eq!(status, 400, "code reuse (revokes the grant; logged)");

    // A second grant: used on /mcp, refreshed, its spent refresh token replayed, revoked.
    let page = authorize(&daemon, Some(&cookie), &client_id, &[]).await;
    let text = page.text();
    let (request, csrf) = (hidden(&text, "request").expect("request"), hidden(&text, "csrf").expect("csrf"));
    let answer = consent(
        &daemon,
        Some(&cookie),
        &[("request", &request), ("csrf", &csrf), ("decision", "approve"), ("tag", "alpha")],
    )
    .await;
    let code2 = query_of(answer.header("Location").expect("Location"))["code"].clone();
    secrets.push(("second authorization code", code2.clone()));
    let (status, tokens) = token(
        &daemon,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code2),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            ("client_secret", &client_secret),
            ("code_verifier", VERIFIER),
            ("resource", &resource),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let (access2, refresh2) = (text_of(&tokens, "access_token"), text_of(&tokens, "refresh_token"));
    secrets.push(("second access token", access2.clone()));
    secrets.push(("second refresh token", refresh2.clone()));
    let session = open(&daemon, &access2, "").await.expect("session");
    assert!(!tool_names(&daemon, &access2, &session).await.is_empty());
    let (status, rotated) = token(
        &daemon,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh2),
            ("client_id", &client_id),
            ("client_secret", &client_secret),
        ],
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let (access3, refresh3) = (text_of(&rotated, "access_token"), text_of(&rotated, "refresh_token"));
    secrets.push(("refreshed access token", access3.clone()));
    secrets.push(("rotated refresh token", refresh3.clone()));
    assert_eq!(list_status(&daemon, &access3, &session).await, 200);
    let (status, _) = token(
        &daemon,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh2),
            ("client_id", &client_id),
            ("client_secret", &client_secret),
        ],
    )
    .await;
    assert_eq!(status, 400, "refresh reuse (logged)");
    assert_eq!(list_status(&daemon, &access3, &session).await, 401, "refused (logged)");
    let revoke =
        post_form("/revoke", &[("token", &access), ("client_id", &client_id), ("client_secret", &client_secret)]);
    assert_eq!(daemon.http(&revoke).await.expect("answered").status, 200);
    // A public client's failed redemption of someone else's code, and bearer misuse on /mcp.
    let (status, _) = redeem(&daemon, &public, &code2).await;
    assert_eq!(status, 400);
    let (status, _) = open(&daemon, &access, "").await.expect_err("revoked");
    assert_eq!(status, 401);
    let in_url =
        HttpRequest::mcp_post(None, &initialize_request("2025-11-25")).at(&format!("/mcp?access_token={access3}"));
    assert_eq!(daemon.http(&in_url).await.expect("answered").status, 400);
    let operator_secret = std::fs::read_to_string(daemon.dir.path().join("operator.secret")).expect("secret");
    secrets.push(("operator secret (config dir)", operator_secret.trim().to_owned()));

    // Everything the daemon logged: stderr and the log file (at debug level, as the harness
    // runs it).
    let stderr = daemon.stderr();
    let file = std::fs::read_to_string(&log_file).expect("the --log-file exists");
    assert!(file.contains("issued tokens for an authorization code"), "--log-file is written:\n{file}");
    let log = format!("{stderr}\n{file}");
    for event in [
        "registered an OAuth client",
        "the operator signed in",
        "refused an operator link",
        "the operator approved a client",
        "issued tokens for an authorization code",
        "refused a token request",
        "an authorization code was presented again",
        "a spent refresh token was presented again",
        "revoked a grant",
        "refused a request",
    ] {
        assert!(log.contains(event), "the log records {event:?} (so the grep below has something to grep):\n{log}");
    }
    let lines = log.lines().count();
    for (what, secret) in &secrets {
        assert!(secret.len() >= 16, "{what} looks too short to be a secret: {secret:?}");
        // The whole secret, its part after a `1mcp_xx_` prefix, and any 16-character slice of
        // that (a truncated secret is still a leak). Sealed values (`body.mac`) start with the
        // same JSON opening whatever they hold, so their slices start after it.
        let bare = match secret.strip_prefix("1mcp_") {
            Some(rest) => rest.split_once('_').map_or(rest, |(_, bare)| bare),
            None => secret.as_str(),
        };
        assert!(!log.contains(secret.as_str()) && !log.contains(bare), "the {what} is in the log");
        let skip = if bare.contains('.') { 16 } else { 0 };
        let chars: Vec<char> = bare.chars().skip(skip).collect();
        for window in chars.windows(16).step_by(4) {
            let slice: String = window.iter().collect();
            assert!(!log.contains(&slice), "16 characters of the {what} ({slice}) are in the log");
        }
        eprintln!("not in {lines} log lines: {what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_sessions_belong_to_their_grant_and_the_door_refuses_misuse() {
    let daemon = Daemon::start_with_auth(&oauth_daemon_config(), &[]).await;
    let client_id = public_client(&daemon).await;
    let cookie = sign_in(&daemon).await;
    let first = grant(&daemon, &cookie, &client_id).await;
    let second = grant(&daemon, &cookie, &client_id).await;
    let (access1, refresh1) = (text_of(&first, "access_token"), text_of(&first, "refresh_token"));
    let access2 = text_of(&second, "access_token");
    let session = open(&daemon, &access1, "").await.expect("session of the first grant");

    // Another grant's token (same client, same operator) does not get this session.
    let stolen = list_status(&daemon, &access2, &session).await;
    seen("another grant's access token with this session's id", stolen);
    assert_eq!(stolen, 404);
    // A refreshed token of the same grant keeps it.
    let (status, refreshed) = refresh(&daemon, &client_id, &refresh1).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(list_status(&daemon, &text_of(&refreshed, "access_token"), &session).await, 200);

    // Malformed bearer values and a token in the URL.
    for (attack, header) in [
        ("Authorization: Bearer 1mcp_at_ (empty token)", "Bearer 1mcp_at_".to_owned()),
        ("Authorization: Bearer with a token of spaces and junk", "Bearer 1mcp_at_ x.y".to_owned()),
        ("Authorization: a refresh token as the bearer", format!("Bearer {}", text_of(&refreshed, "refresh_token"))),
    ] {
        let r = daemon
            .http(&HttpRequest::mcp_post(None, &initialize_request("2025-11-25")).header("Authorization", &header))
            .await
            .expect("answered");
        seen(attack, r.status);
        assert!(r.status == 401 || r.status == 400, "{attack}: {}", r.describe());
        assert!(r.header("Mcp-Session-Id").is_none(), "{attack}");
    }
    let in_url =
        HttpRequest::mcp_post(None, &initialize_request("2025-11-25")).at(&format!("/mcp?access_token={access2}"));
    let r = daemon.http(&in_url).await.expect("answered");
    seen("OAuth access token in the query string", r.status);
    assert_eq!(r.status, 400, "{}", r.describe());

    // A foreign Host on the authorization server's endpoints (DNS rebinding).
    for path in ["/.well-known/oauth-authorization-server", "/register", "/token", "/authorize?client_id=x"] {
        let method = if matches!(path, "/register" | "/token") { "POST" } else { "GET" };
        let r = daemon.http(&HttpRequest::new(method, path).header("Host", "evil.example")).await.expect("answered");
        seen(&format!("{method} {path} with Host: evil.example"), r.status);
        assert_eq!(r.status, 403, "{path}: {}", r.describe());
    }
}

/// Found by the battery: io/src/http.rs takes whatever follows the first space of any
/// `Authorization` scheme as an OAuth access token, so `Basic 1mcp_at_...` (or `Token ...`) is
/// admitted where RFC 6750 (and the door for personal tokens, `Credential::Malformed`) wants
/// `Bearer`. Not a way in without the token, but a scheme confusion; un-ignore once the header
/// is read as `Bearer` only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_access_tokens_are_admitted_as_bearer_tokens_only() {
    let daemon = Daemon::start_with_auth(&oauth_daemon_config(), &[]).await;
    let client_id = public_client(&daemon).await;
    let cookie = sign_in(&daemon).await;
    let access = text_of(&grant(&daemon, &cookie, &client_id).await, "access_token");
    open(&daemon, &access, "").await.expect("as a bearer token it works");
    for scheme in ["Basic", "Token", "MAC"] {
        let r = daemon
            .http(
                &HttpRequest::mcp_post(None, &initialize_request("2025-11-25"))
                    .header("Authorization", &format!("{scheme} {access}")),
            )
            .await
            .expect("answered");
        seen(&format!("Authorization: {scheme} <OAuth access token>"), r.status);
        assert_eq!(r.status, 401, "{scheme}: {}", r.describe());
    }
}
