//! The authorization server driven through `handle`, as the HTTP front end does.

use super::*;
use base64::Engine as _;
use http_body_util::BodyExt;
use std::net::IpAddr;

/// The S256 challenge of `verifier`, computed with ring (the core checks it with sha2).
fn challenge_of(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

const VERIFIER: &str = "a-verifier-that-is-long-enough-for-pkce-0123456789";
const REDIRECT: &str = "http://127.0.0.1:4567/callback";

struct Rig {
    _dir: tempfile::TempDir,
    server: AuthServer,
    cookie: Option<String>,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn location(&self) -> String {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    }

    fn header(&self, name: header::HeaderName) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    }
}

fn query_of(location: &str) -> BTreeMap<String, String> {
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
    serde_urlencoded::from_str(query).unwrap_or_default()
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).map(|i| i + marker.len()).unwrap_or(0);
    page[start..].split('"').next().unwrap_or_default().to_owned()
}

impl Rig {
    fn new() -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        let front = FrontConfig { host: "127.0.0.1".into(), port: 3050, external_url: None };
        let tags = BTreeSet::from(["web".to_owned(), "db".to_owned()]);
        let server = AuthServer::new(dir.path(), front, tags).expect("server");
        Rig { _dir: dir, server, cookie: None }
    }

    async fn send(&self, method: Method, path_and_query: &str, body: &str, extra: &[(&str, &str)]) -> Answer {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:3050"));
        if let Some(cookie) = &self.cookie {
            headers.insert(header::COOKIE, HeaderValue::from_str(cookie).expect("cookie"));
        }
        for (k, v) in extra {
            headers.insert(
                header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        let request = OAuthRequest {
            method: &method,
            path,
            query,
            headers: &headers,
            body: body.as_bytes(),
            peer: Some(IpAddr::from([127, 0, 0, 1])),
        };
        let response = self.server.handle(request).await;
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        Answer { status: parts.status, headers: parts.headers, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    async fn register(&self, extra: Value) -> Value {
        let mut body = json!({"redirect_uris": [REDIRECT], "client_name": "Test <Client>", "grant_types": ["authorization_code", "refresh_token"]});
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        let answer = self.send(Method::POST, "/register", &body.to_string(), &[]).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.json()
    }

    async fn sign_in(&mut self) {
        let link = self.server.operator_link(crate::unix_time_ms());
        let path = link.strip_prefix("http://127.0.0.1:3050").expect("our link");
        let answer = self.send(Method::GET, path, "", &[]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let set_cookie = answer.header(header::SET_COOKIE);
        assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
        self.cookie = set_cookie.split(';').next().map(str::to_owned);
        let again = self.send(Method::GET, path, "", &[]).await;
        assert_eq!(again.status, StatusCode::FORBIDDEN, "a link works once");
    }

    fn authorize_path(&self, client_id: &str, scope: Option<&str>) -> String {
        let mut params = vec![
            ("response_type", "code".to_owned()),
            ("client_id", client_id.to_owned()),
            ("redirect_uri", REDIRECT.to_owned()),
            ("code_challenge", challenge_of(VERIFIER)),
            ("code_challenge_method", "S256".to_owned()),
            ("state", "xyz".to_owned()),
            ("resource", "http://127.0.0.1:3050/mcp".to_owned()),
        ];
        if let Some(scope) = scope {
            params.push(("scope", scope.to_owned()));
        }
        format!("/authorize?{}", serde_urlencoded::to_string(&params).expect("query"))
    }

    /// Consent with `choices` (form pairs besides request/csrf/decision); returns the code.
    async fn approve(&self, client_id: &str, scope: Option<&str>, choices: &[(&str, &str)]) -> String {
        let page = self.send(Method::GET, &self.authorize_path(client_id, scope), "", &[]).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let mut form = vec![
            ("request", hidden(&page.body, "request")),
            ("csrf", hidden(&page.body, "csrf")),
            ("decision", "approve".to_owned()),
        ];
        form.extend(choices.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let body = serde_urlencoded::to_string(&form).expect("form");
        let answer = self.send(Method::POST, "/oauth/consent", &body, &[]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let location = answer.location();
        assert!(location.starts_with(REDIRECT), "{location}");
        let query = query_of(&location);
        assert_eq!(query.get("state").map(String::as_str), Some("xyz"));
        assert_eq!(query.get("iss").map(String::as_str), Some("http://127.0.0.1:3050"), "RFC 9207");
        query.get("code").cloned().expect("a code")
    }

    async fn redeem(&self, client_id: &str, code: &str, verifier: &str) -> Answer {
        let form = serde_urlencoded::to_string([
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
            ("code_verifier", verifier),
            ("resource", "http://127.0.0.1:3050/mcp"),
        ])
        .expect("form");
        self.send(Method::POST, "/token", &form, &[]).await
    }

    async fn refresh(&self, client_id: &str, refresh: &str) -> Answer {
        let form = serde_urlencoded::to_string([
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", client_id),
        ])
        .expect("form");
        self.send(Method::POST, "/token", &form, &[]).await
    }

    fn grant(&self, access: &str) -> TokenGrant {
        match self.server.credential(access) {
            Credential::Token(grant) => *grant,
            other => panic!("not a grant: {other:?}"),
        }
    }
}

#[tokio::test]
async fn metadata_describes_the_server() {
    let rig = Rig::new();
    let answer = rig.send(Method::GET, "/.well-known/oauth-authorization-server", "", &[]).await;
    let metadata = answer.json();
    assert_eq!(metadata["issuer"], "http://127.0.0.1:3050");
    assert_eq!(metadata["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(metadata["authorization_response_iss_parameter_supported"], true);
    assert_eq!(metadata["scopes_supported"], json!(["tag:db", "tag:web"]));
    assert_eq!(answer.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    let oidc = rig.send(Method::GET, "/.well-known/openid-configuration", "", &[]).await;
    assert_eq!(oidc.json(), metadata);
}

#[tokio::test]
async fn a_whole_flow_grants_what_the_operator_approved_and_rotates_refresh_tokens() {
    let mut rig = Rig::new();
    let client = rig.register(json!({})).await;
    let id = client["client_id"].as_str().expect("id").to_owned();
    assert!(client.get("client_secret").is_none(), "a public client");

    let page = rig.send(Method::GET, &rig.authorize_path(&id, Some("tag:web tag:db")), "", &[]).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "no consent without the operator");
    assert!(page.body.contains("1mcp auth link"));

    rig.sign_in().await;
    let page = rig.send(Method::GET, &rig.authorize_path(&id, Some("tag:web tag:db")), "", &[]).await;
    assert!(page.body.contains("Test &lt;Client&gt;") && page.body.contains("127.0.0.1"), "{}", page.body);
    assert_eq!(page.header(header::X_FRAME_OPTIONS), "DENY");
    assert!(page.header(header::CONTENT_SECURITY_POLICY).contains("frame-ancestors 'none'"));

    // The operator unchecks db.
    let code = rig.approve(&id, Some("tag:web tag:db"), &[("tag", "web")]).await;
    let wrong = rig.redeem(&id, &code, "another-verifier-that-is-long-enough-for-pkce-000").await;
    assert_eq!((wrong.status, wrong.json()["error"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_grant")));
    let code = rig.approve(&id, Some("tag:web tag:db"), &[("tag", "web")]).await;
    let tokens = rig.redeem(&id, &code, VERIFIER).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    assert_eq!(tokens.header(header::CACHE_CONTROL), "no-store");
    let tokens = tokens.json();
    assert_eq!(tokens["scope"], "tag:web");
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let grant = rig.grant(&access);
    assert_eq!(grant.tags, Some(vec!["web".to_owned()]));
    assert_eq!(grant.audience.as_deref(), Some("http://127.0.0.1:3050/mcp"));
    assert!(!grant.revoked);

    let replay = rig.redeem(&id, &code, VERIFIER).await;
    assert_eq!(replay.json()["error"], "invalid_grant", "a code works once");
    assert!(rig.grant(&access).revoked, "and presenting it again revokes what it granted");

    let code = rig.approve(&id, None, &[("everything", "1")]).await;
    let tokens = rig.redeem(&id, &code, VERIFIER).await.json();
    assert!(tokens.get("scope").is_none(), "every server: no scope string can say so: {tokens}");
    let first_refresh = tokens["refresh_token"].as_str().expect("refresh").to_owned();
    assert_eq!(rig.grant(tokens["access_token"].as_str().expect("access")).tags, None, "every server");
    let rotated = rig.refresh(&id, &first_refresh).await.json();
    let second_refresh = rotated["refresh_token"].as_str().expect("rotated").to_owned();
    assert_ne!(second_refresh, first_refresh);
    let new_access = rotated["access_token"].as_str().expect("access").to_owned();
    assert!(!rig.grant(&new_access).revoked);
    let reuse = rig.refresh(&id, &first_refresh).await;
    assert_eq!(reuse.json()["error"], "invalid_grant");
    assert!(rig.grant(&new_access).revoked, "reuse revokes the family");
    assert_eq!(rig.refresh(&id, &second_refresh).await.json()["error"], "invalid_grant");

    let state = std::fs::read_to_string(rig._dir.path().join(store::FILE_NAME)).expect("state");
    for secret in [&access, &new_access, &first_refresh, &second_refresh, &code] {
        assert!(!state.contains(secret.as_str()), "secrets are stored hashed");
    }
}

#[tokio::test]
async fn revocation_ends_the_grant_of_either_token() {
    let mut rig = Rig::new();
    rig.sign_in().await;
    let id = rig.register(json!({})).await["client_id"].as_str().expect("id").to_owned();
    for which in ["access_token", "refresh_token"] {
        let code = rig.approve(&id, None, &[("everything", "1")]).await;
        let tokens = rig.redeem(&id, &code, VERIFIER).await.json();
        let token = tokens[which].as_str().expect("token");
        let form = serde_urlencoded::to_string([("token", token), ("client_id", id.as_str())]).expect("form");
        assert_eq!(rig.send(Method::POST, "/revoke", &form, &[]).await.status, StatusCode::OK);
        assert!(rig.grant(tokens["access_token"].as_str().expect("access")).revoked, "{which}");
    }
    let form = serde_urlencoded::to_string([("token", "nonsense"), ("client_id", id.as_str())]).expect("form");
    assert_eq!(rig.send(Method::POST, "/revoke", &form, &[]).await.status, StatusCode::OK, "RFC 7009 §2.2");
}

#[tokio::test]
async fn confidential_clients_prove_their_secret() {
    let mut rig = Rig::new();
    rig.sign_in().await;
    let client = rig.register(json!({"token_endpoint_auth_method": "client_secret_basic"})).await;
    let id = client["client_id"].as_str().expect("id").to_owned();
    let secret = client["client_secret"].as_str().expect("secret").to_owned();
    let code = rig.approve(&id, None, &[("everything", "1")]).await;
    let no_secret = rig.redeem(&id, &code, VERIFIER).await;
    assert_eq!(
        (no_secret.status, no_secret.json()["error"].clone()),
        (StatusCode::UNAUTHORIZED, json!("invalid_client"))
    );
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")));
    let form = serde_urlencoded::to_string([
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ])
    .expect("form");
    let answer = rig.send(Method::POST, "/token", &form, &[("authorization", &basic)]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn consent_needs_the_operator_cookie_and_the_forms_csrf_token() {
    let mut rig = Rig::new();
    rig.sign_in().await;
    let id = rig.register(json!({})).await["client_id"].as_str().expect("id").to_owned();
    let page = rig.send(Method::GET, &rig.authorize_path(&id, None), "", &[]).await;
    let request = hidden(&page.body, "request");
    let csrf = hidden(&page.body, "csrf");
    let post = |csrf: &str| {
        serde_urlencoded::to_string([
            ("request", request.as_str()),
            ("csrf", csrf),
            ("decision", "approve"),
            ("everything", "1"),
        ])
        .expect("form")
    };
    let forged = rig.send(Method::POST, "/oauth/consent", &post("AAAA"), &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "wrong csrf");
    let foreign = rig.send(Method::POST, "/oauth/consent", &post(&csrf), &[("origin", "http://evil.example")]).await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN, "foreign origin");
    let cookie = rig.cookie.take();
    let anonymous = rig.send(Method::POST, "/oauth/consent", &post(&csrf), &[]).await;
    assert_eq!(anonymous.status, StatusCode::FORBIDDEN, "no cookie");
    rig.cookie = cookie;
    let ok = rig.send(Method::POST, "/oauth/consent", &post(&csrf), &[]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let deny =
        serde_urlencoded::to_string([("request", request.as_str()), ("csrf", csrf.as_str()), ("decision", "deny")])
            .expect("form");
    let denied = rig.send(Method::POST, "/oauth/consent", &deny, &[]).await;
    assert_eq!(query_of(&denied.location()).get("error").map(String::as_str), Some("access_denied"));
}

#[tokio::test]
async fn bad_authorization_requests_are_refused_without_redirecting_to_strangers() {
    let mut rig = Rig::new();
    rig.sign_in().await;
    let id = rig.register(json!({})).await["client_id"].as_str().expect("id").to_owned();
    let unknown = rig.send(Method::GET, &rig.authorize_path("1mcp_c_nobody", None), "", &[]).await;
    assert_eq!((unknown.status, unknown.location()), (StatusCode::BAD_REQUEST, String::new()));
    let elsewhere = rig.authorize_path(&id, None).replace("127.0.0.1%3A4567", "evil.example");
    let answer = rig.send(Method::GET, &elsewhere, "", &[]).await;
    assert_eq!((answer.status, answer.location()), (StatusCode::BAD_REQUEST, String::new()), "unregistered redirect");
    let other_port = rig.authorize_path(&id, None).replace("4567", "5999");
    assert_eq!(rig.send(Method::GET, &other_port, "", &[]).await.status, StatusCode::OK, "loopback: any port");
    for (from, to, error) in [
        ("code_challenge_method=S256", "code_challenge_method=plain", "invalid_request"),
        ("response_type=code", "response_type=token", "unsupported_response_type"),
        ("resource=http", "resource=https%3A%2F%2Fother.example%2Fmcp&x=http", "invalid_target"),
    ] {
        let path = rig.authorize_path(&id, None).replace(from, to);
        let answer = rig.send(Method::GET, &path, "", &[]).await;
        let query = query_of(&answer.location());
        assert_eq!(query.get("error").map(String::as_str), Some(error), "{to}: {}", answer.body);
        assert_eq!(query.get("iss").map(String::as_str), Some("http://127.0.0.1:3050"));
    }
    let scoped = rig.send(Method::GET, &rig.authorize_path(&id, Some("admin")), "", &[]).await;
    assert_eq!(query_of(&scoped.location()).get("error").map(String::as_str), Some("invalid_scope"));
    let twice = format!("{}&state=again", rig.authorize_path(&id, None));
    assert_eq!(rig.send(Method::GET, &twice, "", &[]).await.status, StatusCode::BAD_REQUEST, "repeated parameter");
}

#[tokio::test]
async fn registration_refuses_dangerous_or_malformed_metadata() {
    let rig = Rig::new();
    for body in [
        json!({"redirect_uris": ["javascript:alert(1)"]}),
        json!({"redirect_uris": ["http://evil.example/cb"]}),
        json!({"redirect_uris": []}),
        json!({"redirect_uris": [REDIRECT], "grant_types": ["client_credentials"]}),
        json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt"}),
        json!("not an object"),
    ] {
        let answer = rig.send(Method::POST, "/register", &body.to_string(), &[]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(answer.json()["error"].as_str().is_some_and(|e| e.starts_with("invalid_")), "{}", answer.body);
    }
}

#[tokio::test]
async fn access_tokens_from_another_secret_or_tampered_are_unknown() {
    let mut rig = Rig::new();
    rig.sign_in().await;
    let id = rig.register(json!({})).await["client_id"].as_str().expect("id").to_owned();
    let code = rig.approve(&id, None, &[("everything", "1")]).await;
    let access = rig.redeem(&id, &code, VERIFIER).await.json()["access_token"].as_str().expect("access").to_owned();
    let other = Rig::new();
    assert_eq!(other.server.credential(&access), Credential::Unknown, "another daemon's secret");
    let mut tampered = access.clone().into_bytes();
    let middle = ACCESS_PREFIX.len() + 5;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    assert_eq!(rig.server.credential(&String::from_utf8(tampered).expect("utf8")), Credential::Unknown);
    let shared = AuthServer::new(rig._dir.path(), FrontConfig::default(), BTreeSet::new()).expect("second daemon");
    assert!(matches!(shared.credential(&access), Credential::Token(_)), "a daemon sharing the config dir accepts it");
}

/// What checking a credential costs (a benchmark, not a test: run with
/// `cargo test --release -p onemcp-io -- --ignored --nocapture credential_check_cost`).
#[tokio::test]
#[ignore = "benchmark"]
async fn credential_check_cost() {
    let mut rig = Rig::new();
    rig.sign_in().await;
    let id = rig.register(json!({})).await["client_id"].as_str().expect("id").to_owned();
    let code = rig.approve(&id, None, &[("everything", "1")]).await;
    let access = rig.redeem(&id, &code, VERIFIER).await.json()["access_token"].as_str().expect("access").to_owned();
    let (_, pat) = crate::tokens::create(rig._dir.path(), "bench", None, None, 0).expect("pat");
    let store = crate::tokens::TokenStore::new(rig._dir.path());
    let pat_header = format!("Bearer {pat}");
    const N: u32 = 200_000;
    for (name, check) in [
        (
            "oauth access token",
            Box::new(|| matches!(rig.server.credential(&access), Credential::Token(_))) as Box<dyn Fn() -> bool>,
        ),
        ("personal access token", Box::new(|| matches!(store.credential(Some(&pat_header)), Credential::Token(_)))),
    ] {
        let started = std::time::Instant::now();
        for _ in 0..N {
            assert!(check());
        }
        println!("{name}: {:.2} us per check", started.elapsed().as_secs_f64() * 1e6 / f64::from(N));
    }
}

#[tokio::test]
async fn an_address_that_hammers_the_endpoints_is_slowed_but_metadata_stays_readable() {
    let rig = Rig::new();
    let budget = AuthOptions::default().rate_limit_max as usize;
    let mut statuses = Vec::new();
    for _ in 0..budget {
        statuses.push(rig.send(Method::POST, "/token", "grant_type=nonsense", &[]).await.status);
    }
    assert!(statuses.iter().all(|s| *s != StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    let limited = rig.send(Method::POST, "/register", "{}", &[]).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.header(header::RETRY_AFTER).parse::<u64>().is_ok_and(|s| s >= 1));
    let metadata = rig.send(Method::GET, "/.well-known/oauth-authorization-server", "", &[]).await;
    assert_eq!(metadata.status, StatusCode::OK);
}
