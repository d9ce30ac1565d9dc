//! `1mcp auth status` and `1mcp auth logout`: what 1mcp holds toward protected HTTP backends
//! (`backend-oauth.json`), shown per server without a secret, and forgotten one server at a
//! time, with what a running daemon says added when there is one.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use onemcp_tests::{CliRun, Daemon, mcp_config, run_onemcp};
use serde_json::{Value, json};
use tempfile::TempDir;

/// One-shot commands are killed after this.
const LIMIT: Duration = Duration::from_secs(10);
/// An unreachable port: `status` does not contact the servers it lists.
const NOWHERE: &str = "http://127.0.0.1:9";
/// The authorization server named in the stored grants.
const ISSUER: &str = "https://as.example.com";

/// Every secret written into the store; none may ever appear in an output.
const SECRETS: [&str; 9] = [
    "ACCESS-alpha-5d1f0c",
    "REFRESH-alpha-93ab7e",
    "CLIENT-SECRET-alpha-e82c41",
    "ACCESS-gamma-0b7d2a",
    "REFRESH-gamma-4c9e11",
    "CLIENT-SECRET-gamma-77f3d0",
    "ACCESS-retired-a61c5b",
    "REFRESH-retired-2e08f9",
    "CLIENT-SECRET-retired-d4b6a3",
];

fn now_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970");
    u64::try_from(since.as_millis()).expect("milliseconds fit")
}

/// A store entry for `server_url` holding a grant from [`ISSUER`] (secrets named after
/// `name`), expiring at `expires_at_ms`.
fn grant_entry(name: &str, server_url: &str, expires_at_ms: u64) -> Value {
    let client = json!({"id": format!("client-{name}"), "secret": format!("CLIENT-SECRET-{name}-{}", suffix(name, 2))});
    json!({
        "serverUrl": server_url,
        "clients": [{"issuer": ISSUER, "client": client}],
        "grant": {
            "found": {
                "resource": server_url,
                "server": {
                    "issuer": ISSUER,
                    "authorization_endpoint": format!("{ISSUER}/authorize"),
                    "token_endpoint": format!("{ISSUER}/token"),
                    "registration_endpoint": format!("{ISSUER}/register"),
                    "scopes_supported": ["mcp:read", "mcp:write"],
                    "token_auth_methods": ["client_secret_basic"],
                    "client_id_metadata_documents": false,
                    "iss_parameter": true
                },
                "scope": "mcp:read"
            },
            "client": client,
            "tokens": {
                "access": format!("ACCESS-{name}-{}", suffix(name, 0)),
                "refresh": format!("REFRESH-{name}-{}", suffix(name, 1)),
                "expires_in": 3600,
                "scope": "mcp:read mcp:write"
            },
            "expiresAtMs": expires_at_ms
        }
    })
}

/// The random-looking tail of `name`'s `which`-th secret in [`SECRETS`].
fn suffix(name: &str, which: usize) -> &'static str {
    let kinds = ["ACCESS-", "REFRESH-", "CLIENT-SECRET-"];
    let prefix = format!("{}{name}-", kinds[which]);
    SECRETS.iter().find_map(|s| s.strip_prefix(prefix.as_str())).expect("a secret of that name")
}

/// A config dir with `mcp.json` (HTTP servers `alpha`, `beta`, `gamma`, stdio `local`) and
/// a 0600 store: a grant for `alpha` (expiring in 42 min), one for `gamma` at a URL it no
/// longer has, and one for `retired`, no longer configured.
struct Setup {
    dir: TempDir,
    alpha_expires_at_ms: u64,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::Builder::new().prefix("onemcp-backend-oauth-").tempdir().expect("a temporary directory");
        let config = mcp_config([
            ("alpha", json!({"url": format!("{NOWHERE}/alpha/mcp")})),
            ("beta", json!({"type": "http", "url": format!("{NOWHERE}/beta/mcp")})),
            ("gamma", json!({"url": format!("{NOWHERE}/gamma/mcp")})),
            ("local", json!({"command": "true"})),
        ]);
        std::fs::write(dir.path().join("mcp.json"), config.to_string()).expect("write mcp.json");
        // Half a minute over 42 min, so the rounding down still reads 42 while the test runs.
        let alpha_expires_at_ms = now_ms() + 42 * 60_000 + 30_000;
        let store = json!({"version": 1, "servers": {
            "alpha": grant_entry("alpha", &format!("{NOWHERE}/alpha/mcp"), alpha_expires_at_ms),
            "gamma": grant_entry("gamma", &format!("{NOWHERE}/old-gamma/mcp"), now_ms() + 3_600_000),
            "retired": grant_entry("retired", &format!("{NOWHERE}/retired/mcp"), now_ms() - 3 * 60_000 - 10_000),
        }});
        let setup = Setup { dir, alpha_expires_at_ms };
        write_private(&setup.store_path(), &serde_json::to_vec_pretty(&store).expect("encode the store"));
        setup
    }

    fn store_path(&self) -> PathBuf {
        self.dir.path().join("backend-oauth.json")
    }

    /// `1mcp auth ARGS... -d DIR`, with every secret checked absent from both outputs.
    fn auth(&self, args: &[&str]) -> CliRun {
        auth_in(self.dir.path(), args)
    }

    fn store(&self) -> Value {
        let text = std::fs::read_to_string(self.store_path()).expect("read the store");
        serde_json::from_str(&text).expect("the store is JSON")
    }
}

fn write_private(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write the store");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

/// `1mcp auth ARGS... -d DIR`; panics if a secret of the store shows in stdout or stderr.
fn auth_in(dir: &Path, args: &[&str]) -> CliRun {
    let dir = dir.to_string_lossy().into_owned();
    let mut command_line = vec!["auth"];
    command_line.extend_from_slice(args);
    command_line.extend_from_slice(&["-d", &dir]);
    let run = run_onemcp(&command_line, LIMIT);
    assert!(!run.timed_out, "{}", run.describe());
    assert_no_secret(&run);
    run
}

fn assert_no_secret(run: &CliRun) {
    for secret in SECRETS {
        assert!(!run.stdout.contains(secret), "stdout shows {secret}: {}", run.describe());
        assert!(!run.stderr.contains(secret), "stderr shows {secret}: {}", run.describe());
    }
}

/// The table line of `server` (its first column), panicking if there is none.
fn line_of<'a>(run: &'a CliRun, server: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|line| line.split_whitespace().next() == Some(server))
        .unwrap_or_else(|| panic!("no line for {server}: {}", run.describe()))
}

/// `--json`'s objects by name.
fn json_rows(run: &CliRun) -> BTreeMap<String, Value> {
    let rows: Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.describe()));
    let rows = rows.as_array().unwrap_or_else(|| panic!("not an array: {}", run.describe()));
    rows.iter().map(|row| (row["name"].as_str().expect("a name").to_owned(), row.clone())).collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("the store exists").permissions().mode() & 0o777
}

#[test]
fn status_shows_each_servers_authorization_and_no_secret() {
    let setup = Setup::new();
    let run = setup.auth(&["status"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());

    let alpha = line_of(&run, "alpha");
    assert!(alpha.contains(&format!("{NOWHERE}/alpha/mcp")), "{alpha}");
    assert!(alpha.contains(&format!("authorized by {ISSUER}")), "{alpha}");
    assert!(alpha.contains("scope \"mcp:read mcp:write\""), "the granted scope: {alpha}");
    assert!(alpha.contains("expires in 42 min"), "{alpha}");
    assert!(alpha.contains(", refreshable") && !alpha.contains("not refreshable"), "{alpha}");

    let beta = line_of(&run, "beta");
    assert!(beta.contains("not authorized") && !beta.contains("authorized by"), "{beta}");

    let gamma = line_of(&run, "gamma");
    assert!(gamma.contains("stored for another URL"), "{gamma}");
    assert!(gamma.contains(&format!("{NOWHERE}/old-gamma/mcp")), "names the URL it was for: {gamma}");
    assert!(!gamma.contains("authorized by"), "an authorization for another URL is not used: {gamma}");

    let retired = line_of(&run, "retired");
    assert!(retired.contains("not in the config"), "{retired}");
    assert!(retired.contains("expired 3 min ago"), "{retired}");

    assert!(run.stdout.lines().all(|l| l.split_whitespace().next() != Some("local")), "stdio servers are not listed");
    assert!(!run.stdout.contains("daemon:"), "no daemon runs: {}", run.describe());
}

#[test]
fn status_json_gives_each_state_and_no_secret() {
    let setup = Setup::new();
    let run = setup.auth(&["status", "--json"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let rows = json_rows(&run);
    let states: BTreeMap<&str, &str> =
        rows.iter().map(|(name, row)| (name.as_str(), row["state"].as_str().unwrap_or("?"))).collect();
    assert_eq!(
        states,
        BTreeMap::from([
            ("alpha", "authorized"),
            ("beta", "not-authorized"),
            ("gamma", "other-url"),
            ("retired", "not-in-config")
        ])
    );
    let alpha = &rows["alpha"];
    assert_eq!(alpha["issuer"], ISSUER);
    assert_eq!(alpha["expiresAtMs"], setup.alpha_expires_at_ms);
    assert_eq!(alpha["refreshable"], true);
    assert_eq!(alpha["registeredAt"], json!([ISSUER]));
    assert_eq!(alpha["url"], format!("{NOWHERE}/alpha/mcp"));
    assert_eq!(rows["gamma"]["storedUrl"], format!("{NOWHERE}/old-gamma/mcp"));
    assert_eq!(rows["retired"]["url"], Value::Null);
    assert_eq!(alpha["daemon"], Value::Null, "no daemon runs");
}

#[test]
fn status_of_one_server_and_of_what_is_not_a_configured_http_server() {
    let setup = Setup::new();
    let run = setup.auth(&["status", "beta"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(line_of(&run, "beta").contains("not authorized"), "{}", run.describe());
    for other in ["alpha", "gamma", "retired"] {
        assert!(run.stdout.lines().all(|l| l.split_whitespace().next() != Some(other)), "{}", run.describe());
    }

    for (server, says) in [("nosuch", "not a server"), ("local", "stdio"), ("retired", "auth logout retired")] {
        let run = setup.auth(&["status", server]);
        assert_eq!(run.code, Some(1), "{server}: {}", run.describe());
        assert!(run.stderr.contains(server) && run.stderr.contains(says), "{server}: {}", run.describe());
        assert!(run.stdout.is_empty(), "{server}: {}", run.describe());
    }
}

#[test]
fn logout_forgets_exactly_that_server_and_says_so_twice() {
    let setup = Setup::new();
    let before = setup.store();
    let run = setup.auth(&["logout", "alpha"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(run.stdout.contains("forgot the authorization of alpha"), "{}", run.describe());
    assert!(run.stdout.contains("asks for authorization again"), "{}", run.describe());

    let after = setup.store();
    let mut expected = before["servers"].as_object().expect("servers").clone();
    assert!(expected.remove("alpha").is_some(), "the setup stored alpha");
    assert_eq!(after["servers"], Value::Object(expected), "the other entries are unchanged");
    assert_eq!(mode(&setup.store_path()), 0o600);
    let text = std::fs::read_to_string(setup.store_path()).expect("read the store");
    for secret in SECRETS.iter().filter(|s| s.contains("-alpha-")) {
        assert!(!text.contains(secret), "{secret} is still in the store");
    }

    let again = setup.auth(&["logout", "alpha"]);
    assert_eq!(again.code, Some(0), "{}", again.describe());
    assert!(again.stdout.contains("alpha holds no authorization"), "{}", again.describe());
    assert_eq!(setup.store(), after, "a logout with nothing to forget changes nothing");

    let status = setup.auth(&["status", "alpha"]);
    assert!(line_of(&status, "alpha").contains("not authorized"), "{}", status.describe());

    // What status lists as no longer configured is forgotten the same way.
    let retired = setup.auth(&["logout", "retired"]);
    assert!(retired.stdout.contains("forgot the authorization of retired"), "{}", retired.describe());
    assert_eq!(
        setup.store()["servers"].as_object().map(|s| s.keys().cloned().collect()),
        Some(vec!["gamma".to_owned()])
    );
}

#[test]
fn a_store_that_cannot_be_read_is_an_error_that_quotes_no_secret() {
    let setup = Setup::new();
    // A secret where the parser expects a number: its error would quote it.
    let mut store = setup.store();
    store["servers"]["alpha"]["grant"]["expiresAtMs"] = json!(SECRETS[0]);
    let broken = serde_json::to_vec_pretty(&store).expect("encode");
    write_private(&setup.store_path(), &broken);
    for args in [&["status"][..], &["logout", "beta"], &["status", "--json"]] {
        let run = setup.auth(args);
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.describe());
        assert!(run.stderr.contains("backend-oauth.json"), "{args:?}: {}", run.describe());
        assert!(run.stderr.contains("line"), "the position is kept: {}", run.describe());
    }
    assert_eq!(std::fs::read(setup.store_path()).expect("read"), broken, "left as it was");
}

#[test]
fn logout_without_a_store_says_there_is_nothing_and_creates_none() {
    let setup = Setup::new();
    std::fs::remove_file(setup.store_path()).expect("remove the store");
    let run = setup.auth(&["logout", "alpha"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(run.stdout.contains("alpha holds no authorization"), "{}", run.describe());
    assert!(!setup.store_path().exists());
    let status = setup.auth(&["status", "--json"]);
    assert_eq!(status.code, Some(0), "{}", status.describe());
    assert!(json_rows(&status).values().all(|r| r["state"] == "not-authorized"), "{}", status.describe());
}

/// A protected MCP server on a loopback port that refuses everything with 401 and names its
/// authorization server (the same port), which registers 1mcp: a daemon reaching it ends up
/// waiting for the user. Returns its MCP URL.
async fn start_protected_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
    let base = format!("http://127.0.0.1:{}", listener.local_addr().expect("address").port());
    let json_answer =
        |status: StatusCode, body: Value| (status, [(header::CONTENT_TYPE, "application/json")], body.to_string());
    let (b1, b2, b3) = (base.clone(), base.clone(), base.clone());
    let app = axum::Router::new()
        .route(
            "/mcp",
            post(move || async move {
                let challenge = format!("Bearer resource_metadata=\"{b1}/.well-known/oauth-protected-resource/mcp\"");
                let mut refused =
                    json_answer(StatusCode::UNAUTHORIZED, json!({"error": "invalid_token"})).into_response();
                refused
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_str(&challenge).expect("header"));
                refused
            }),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(move || async move {
                json_answer(StatusCode::OK, json!({"resource": format!("{b2}/mcp"), "authorization_servers": [b2]}))
            }),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(move || async move {
                let document = json!({"issuer": b3, "authorization_endpoint": format!("{b3}/authorize"),
                    "token_endpoint": format!("{b3}/token"), "registration_endpoint": format!("{b3}/register"),
                    "code_challenge_methods_supported": ["S256"]});
                json_answer(StatusCode::OK, document)
            }),
        )
        .route(
            "/register",
            post(move || async move { json_answer(StatusCode::CREATED, json!({"client_id": "registered-1mcp"})) }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("{base}/mcp")
}

/// `1mcp auth ARGS... -d <daemon dir>` off the async workers.
async fn auth_of(daemon: &Daemon, args: &[&'static str]) -> CliRun {
    let dir = daemon.dir.path().to_path_buf();
    let args = args.to_vec();
    tokio::task::spawn_blocking(move || auth_in(&dir, &args)).await.expect("the command ran")
}

/// A daemon (auth on, `extra` flags) whose one server, `remote`, waits for authorization.
async fn daemon_awaiting_authorization(extra: &[&str]) -> Daemon {
    let url = start_protected_server().await;
    let daemon = Daemon::start_with_auth(&mcp_config([("remote", json!({"url": url}))]), extra).await;
    daemon
        .wait_for_health("remote awaiting authorization", |health| {
            health["servers"]["details"][0]["status"] == "awaiting-authorization"
        })
        .await;
    daemon
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_adds_what_the_running_daemon_says() {
    // A caller without a token sees each server's state at this level (no bypass needed).
    let daemon = daemon_awaiting_authorization(&["--health-info-level", "basic"]).await;

    let run = auth_of(&daemon, &["status"]).await;
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let remote = line_of(&run, "remote");
    assert!(remote.contains("not authorized"), "{remote}");
    let link = format!("daemon: awaiting authorization: open http://127.0.0.1:{}/oauth/authorize/remote", daemon.port);
    assert!(remote.contains(&link), "{remote}");

    let run = auth_of(&daemon, &["status", "--json"]).await;
    let rows = json_rows(&run);
    assert_eq!(rows["remote"]["daemon"]["status"], "awaiting-authorization", "{}", run.describe());
    assert_eq!(
        rows["remote"]["daemon"]["authorize"],
        format!("http://127.0.0.1:{}/oauth/authorize/remote", daemon.port)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_shows_no_detail_without_a_token_is_unknown() {
    let daemon = daemon_awaiting_authorization(&[]).await;
    let run = auth_of(&daemon, &["status"]).await;
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let remote = line_of(&run, "remote");
    assert!(remote.contains("daemon: unknown") && !remote.contains("awaiting"), "{}", run.describe());
    assert!(run.stderr.contains("--health-info-level"), "says why: {}", run.describe());
}
