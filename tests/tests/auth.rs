//! Authentication on, as `1mcp serve` starts by default: MCP endpoints need a bearer token
//! from `1mcp token create`, a token's tags bound what it sees, a session belongs to its
//! token, revoked and expired tokens stop working at once, no token ever reaches the log,
//! and `1mcp proxy` gets in by itself through the config directory.

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
    // An explicit --url is not this config dir's daemon as far as the proxy knows: no token.
    let mut stranger = StdioProcess::spawn(&["proxy", "-u", &daemon.url]);
    let refused = stranger.initialize().await;
    assert!(refused.get("error").is_some(), "no token, no session: {refused}");
}
