//! 1mcp as an OAuth client of a protected backend, the io half: an HTTP agent that does what
//! the core's [`Authorizer`] asks (metadata GETs, the registration and token POSTs) and feeds
//! back what came, until the authorizer needs the user, is ready, or has failed.
//!
//! The URLs come from documents a backend points to, so every request goes through the same
//! guard as the front door's metadata fetches: only addresses the core admits (public ones,
//! loopback when the backend itself is on loopback), checked on the addresses actually
//! connected to; no redirects; [`TIMEOUT`] and [`MAX_DOCUMENT`] at most. Nothing it sends or
//! receives is logged: it carries codes, verifiers, secrets and tokens.
//!
//! The daemon keeps one authorizer per protected server ([`registry`]): its HTTP links send the
//! bearer and hand it refusals, its `/oauth/authorize/<server>` and `/oauth/callback/<server>`
//! routes let the user complete the flow, and what it obtained is kept in [`store`].

pub(crate) mod registry;
pub(crate) mod routes;
pub mod store;

use crate::oauth::cimd::GuardedResolver;
use base64::Engine as _;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use onemcp_core::Instant;
use onemcp_core::oauth as rules;
use onemcp_core::oauth_client::flow::MAX_DOCUMENT;
use onemcp_core::oauth_client::{Action, Authorizer, TokenRequest};
use serde_json::Value;
use std::net::IpAddr;
use std::time::Duration;

/// Bound on each request to an authorization party.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Steps one [`drive`] takes at most (discovery is a handful of fetches, then one POST).
const MAX_STEPS: usize = 16;

type Connector = hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>;

/// Does the authorizer's HTTP.
pub struct Agent {
    client: HyperClient<Connector, Full<Bytes>>,
    loopback_ok: bool,
}

impl Agent {
    /// An agent that may reach loopback addresses when `loopback_ok` (a backend on loopback).
    pub fn new(loopback_ok: bool) -> Result<Agent, String> {
        let mut http = HttpConnector::new_with_resolver(GuardedResolver { loopback_ok });
        http.set_connect_timeout(Some(TIMEOUT));
        http.set_nodelay(true);
        let https = crate::mcp_http::with_tls(http)?;
        Ok(Agent { client: HyperClient::builder(TokioExecutor::new()).build(https), loopback_ok })
    }

    /// Sends one request; its status and body (status 0 and why, if there was no answer).
    async fn send(&self, request: hyper::Request<Full<Bytes>>) -> (u16, Vec<u8>) {
        let host = request.uri().host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        // Literal addresses never reach the resolver: check them here.
        if host.parse::<IpAddr>().is_ok_and(|ip| !rules::fetch_address_allowed(ip, self.loopback_ok)) {
            return (0, format!("{host} is not an address 1mcp may fetch from").into_bytes());
        }
        let work = async {
            let response = self.client.request(request).await.map_err(|e| format!("no answer: {e}"))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_DOCUMENT)
                .collect()
                .await
                .map_err(|_| format!("the answer is larger than {MAX_DOCUMENT} bytes or broke off"))?;
            Ok::<_, String>((status, body.to_bytes().to_vec()))
        };
        match tokio::time::timeout(TIMEOUT, work).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(why)) => (0, why.into_bytes()),
            Err(_) => (0, format!("no answer within {} s", TIMEOUT.as_secs()).into_bytes()),
        }
    }

    fn request(method: hyper::Method, url: &str) -> hyper::http::request::Builder {
        hyper::Request::builder()
            .method(method)
            .uri(url)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, concat!("1mcp/", env!("CARGO_PKG_VERSION")))
    }

    async fn get(&self, url: &str) -> (u16, Vec<u8>) {
        match Self::request(hyper::Method::GET, url).body(Full::default()) {
            Ok(request) => self.send(request).await,
            Err(_) => (0, b"not a valid URL".to_vec()),
        }
    }

    async fn post_json(&self, url: &str, body: &Value) -> (u16, Vec<u8>) {
        let request = Self::request(hyper::Method::POST, url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())));
        match request {
            Ok(request) => self.send(request).await,
            Err(_) => (0, b"not a valid URL".to_vec()),
        }
    }

    async fn post_form(&self, token: &TokenRequest) -> (u16, Vec<u8>) {
        let mut request = Self::request(hyper::Method::POST, &token.url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some((id, secret)) = &token.basic {
            // RFC 6749 §2.3.1: each part form-encoded, then Basic.
            let pair = format!("{}:{}", form_encode(id), form_encode(secret));
            let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair));
            request = request.header(header::AUTHORIZATION, value);
        }
        match request.body(Full::new(Bytes::from(token.body.clone()))) {
            Ok(request) => self.send(request).await,
            Err(_) => (0, b"not a valid URL".to_vec()),
        }
    }
}

/// `application/x-www-form-urlencoded` of one value.
fn form_encode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).map(|pair| pair[1..].to_owned()).unwrap_or_default()
}

/// Carries out `action` and those that follow it, feeding `authorizer` each answer, until it
/// asks for the user ([`Action::AwaitUser`]), is [`Action::Ready`], has [`Action::Failed`], or
/// has nothing to do ([`Action::Wait`]);
/// `now` is read when tokens arrive.
pub async fn drive(
    agent: &Agent,
    authorizer: &mut Authorizer,
    mut action: Action,
    now: impl Fn() -> Instant,
) -> Action {
    for _ in 0..MAX_STEPS {
        action = match action {
            Action::Fetch(url) => {
                let (status, body) = agent.get(&url).await;
                authorizer.handle_fetched(status, &body)
            }
            Action::Register { url, body } => {
                let (status, answer) = agent.post_json(&url, &body).await;
                authorizer.handle_registered(status, &answer)
            }
            Action::Token(request) => {
                let (status, answer) = agent.post_form(&request).await;
                authorizer.handle_token_answer(status, &answer, now())
            }
            done @ (Action::AwaitUser(_) | Action::Ready | Action::Failed(_) | Action::Wait) => return done,
        };
    }
    // Left mid-way, the attempt would make every later refusal wait for it.
    authorizer.forget();
    Action::Failed(format!("authorization took more than {MAX_STEPS} steps"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::{get, post};
    use onemcp_core::oauth_client::{Challenge, Random};
    use serde_json::json;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    /// What the mock authorization server saw: (endpoint, parameters).
    type Seen = Arc<Mutex<Vec<(String, HashMap<String, String>)>>>;

    /// A JSON answer.
    fn json_answer(status: u16, body: &Value) -> axum::response::Response {
        let mut response = axum::response::Response::new(axum::body::Body::from(body.to_string()));
        *response.status_mut() = axum::http::StatusCode::from_u16(status).unwrap_or_default();
        response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
        response
    }

    /// The access token the mock MCP server accepts now.
    type Valid = Arc<Mutex<String>>;

    /// A protected MCP server (`/mcp`, accepting the bearer in `valid`), its resource metadata
    /// and an authorization server on one loopback port, in the shape the conformance suite's
    /// mocks have: dynamic registration, a consent that redirects at once with `code`, `state`
    /// and `iss`, and a token endpoint that checks PKCE and issues `backend-token` with the
    /// refresh token `refresh-1`, which it redeems for `backend-token-2`.
    async fn mock_authorization_server(seen: Seen) -> String {
        mock_protected_server(seen, Valid::default()).await
    }

    async fn mock_protected_server(seen: Seen, valid: Valid) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://127.0.0.1:{}", listener.local_addr().expect("address").port());
        let note = |seen: &Seen, what: &str, params: HashMap<String, String>| {
            seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((what.to_owned(), params));
        };
        let (b1, b2, b3) = (base.clone(), base.clone(), base.clone());
        let (s1, s2, s3, s4) = (Arc::clone(&seen), Arc::clone(&seen), Arc::clone(&seen), Arc::clone(&seen));
        let (b4, b5) = (base.clone(), base.clone());
        let valid_sse = Arc::clone(&valid);
        let app = axum::Router::new()
            .route(
                // A legacy HTTP+SSE server: the stream's GET is what needs the token.
                "/sse",
                get(move |headers: axum::http::HeaderMap| async move {
                    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
                    let wanted = format!("Bearer {}", valid_sse.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
                    if bearer != wanted {
                        let mut refused = json_answer(401, &json!({"error": "invalid_token"}));
                        let challenge = format!("Bearer resource_metadata=\"{b5}/.well-known/oauth-protected-resource/sse\"");
                        let challenge = header::HeaderValue::from_str(&challenge).expect("header");
                        refused.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
                        return refused;
                    }
                    let first = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(Bytes::from_static(
                        b"event: endpoint\ndata: /messages\n\n",
                    ))]);
                    let endless = futures_util::StreamExt::chain(first, futures_util::stream::pending());
                    let mut response = axum::response::Response::new(axum::body::Body::from_stream(endless));
                    let kind = header::HeaderValue::from_static("text/event-stream");
                    response.headers_mut().insert(header::CONTENT_TYPE, kind);
                    response
                }),
            )
            .route(
                "/mcp",
                post(move |headers: axum::http::HeaderMap, body: String| async move {
                    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
                    note(&s4, "mcp", HashMap::from([("authorization".to_owned(), bearer.to_owned())]));
                    let wanted = format!("Bearer {}", valid.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
                    if bearer != wanted {
                        let mut refused = json_answer(401, &json!({"error": "invalid_token"}));
                        let challenge = format!(
                            "Bearer error=\"invalid_token\", resource_metadata=\"{b4}/.well-known/oauth-protected-resource/mcp\""
                        );
                        let challenge = header::HeaderValue::from_str(&challenge).expect("header");
                        refused.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
                        return refused;
                    }
                    let message: Value = serde_json::from_str(&body).unwrap_or_default();
                    match message.get("id") {
                        Some(id) => json_answer(200, &json!({"jsonrpc": "2.0", "id": id, "result": {"protocolVersion": "2025-06-18"}})),
                        None => json_answer(202, &json!({})),
                    }
                }),
            )
            .route(
                "/.well-known/oauth-protected-resource/{path}",
                get(move |axum::extract::Path(path): axum::extract::Path<String>| async move {
                    let document = json!({"resource": format!("{b1}/{path}"), "authorization_servers": [b1],
                        "scopes_supported": ["mcp:read"]});
                    json_answer(200, &document)
                }),
            )
            .route(
                "/.well-known/oauth-authorization-server",
                get(move || async move {
                    let document = json!({"issuer": b2, "authorization_endpoint": format!("{b2}/authorize"),
                        "token_endpoint": format!("{b2}/token"), "registration_endpoint": format!("{b2}/register"),
                        "code_challenge_methods_supported": ["S256"], "authorization_response_iss_parameter_supported": true});
                    json_answer(200, &document)
                }),
            )
            .route(
                "/register",
                post(move |body: String| async move {
                    let body: Value = serde_json::from_str(&body).unwrap_or_default();
                    let redirect = body["redirect_uris"][0].as_str().unwrap_or_default().to_owned();
                    note(&s1, "register", HashMap::from([("redirect_uri".to_owned(), redirect)]));
                    json_answer(201, &json!({"client_id": "dyn-client"}))
                }),
            )
            .route(
                "/authorize",
                get(move |query: axum::extract::RawQuery| async move {
                    let params: HashMap<String, String> =
                        serde_urlencoded::from_str(&query.0.unwrap_or_default()).unwrap_or_default();
                    note(&s2, "authorize", params.clone());
                    let state = params.get("state").cloned().unwrap_or_default();
                    let back = params.get("redirect_uri").cloned().unwrap_or_default();
                    let location = format!("{back}?code=the-code&state={state}&iss={}", form_encode(&b3));
                    let mut response = axum::response::Response::new(axum::body::Body::empty());
                    *response.status_mut() = axum::http::StatusCode::SEE_OTHER;
                    let location = header::HeaderValue::from_str(&location).unwrap_or(header::HeaderValue::from_static("/"));
                    response.headers_mut().insert(header::LOCATION, location);
                    response
                }),
            )
            .route(
                "/token",
                post(move |body: String| async move {
                    let params: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
                    note(&s3, "token", params.clone());
                    let seen = s3.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
                    let authorize = seen.iter().find(|(w, _)| w == "authorize").map(|(_, p)| p.clone()).unwrap_or_default();
                    let verified = rules::pkce_s256_matches(
                        params.get("code_verifier").map_or("", String::as_str),
                        authorize.get("code_challenge").map_or("", String::as_str),
                    );
                    if params.get("grant_type").map(String::as_str) == Some("refresh_token") {
                        if params.get("refresh_token").map(String::as_str) != Some("refresh-1") {
                            return json_answer(400, &json!({"error": "invalid_grant"}));
                        }
                        return json_answer(200, &json!({"access_token": "backend-token-2", "token_type": "Bearer", "expires_in": 3600}));
                    }
                    if !verified || params.get("code").map(String::as_str) != Some("the-code") {
                        return json_answer(400, &json!({"error": "invalid_grant"}));
                    }
                    json_answer(200, &json!({"access_token": "backend-token", "token_type": "Bearer", "expires_in": 3600,
                        "refresh_token": "refresh-1"}))
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    /// Follows the consent link like a browser would, without following the redirect back:
    /// the redirect's query parameters.
    async fn consent(link: &str) -> Vec<(String, String)> {
        let client: HyperClient<HttpConnector, Full<Bytes>> = HyperClient::builder(TokioExecutor::new()).build_http();
        let request = hyper::Request::get(link).body(Full::default()).expect("request");
        let response = client.request(request).await.expect("the authorization endpoint answers");
        let location =
            response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let query = location.split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default();
        serde_urlencoded::from_str(&query).expect("a query")
    }

    #[tokio::test]
    async fn a_401_is_driven_through_discovery_registration_consent_and_the_token_over_http() {
        let seen = Seen::default();
        let base = mock_authorization_server(Arc::clone(&seen)).await;
        let server = format!("{base}/mcp");
        let redirect = "http://127.0.0.1:3050/oauth/callback/remote";
        let agent = Agent::new(true).expect("agent");
        let mut authorizer = Authorizer::new(&server, redirect, None);
        let random = Random { verifier: [5; 32], state: [6; 16] };
        let first = authorizer.handle_refused(401, Challenge::default(), random);
        let Action::AwaitUser(link) = drive(&agent, &mut authorizer, first, || Instant(0)).await else {
            panic!("no consent link")
        };
        assert!(link.starts_with(&format!("{base}/authorize?")), "{link}");
        let params = consent(&link).await;
        let next = authorizer.handle_redirect(&params);
        assert_eq!(drive(&agent, &mut authorizer, next, || Instant(0)).await, Action::Ready);
        assert_eq!(authorizer.access_token(), Some("backend-token"));
        let seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let of = |what: &str| seen.iter().find(|(w, _)| w == what).map(|(_, p)| p.clone()).unwrap_or_default();
        assert_eq!(of("register")["redirect_uri"], redirect);
        assert_eq!(
            (of("authorize")["resource"].as_str(), of("token")["resource"].as_str()),
            (server.as_str(), server.as_str())
        );
        assert_eq!(of("authorize")["scope"], "mcp:read");
        assert_eq!(of("token")["client_id"], "dyn-client");
    }

    #[tokio::test]
    async fn private_and_loopback_addresses_are_refused_unless_allowed() {
        let agent = Agent::new(false).expect("agent");
        for url in
            ["http://127.0.0.1:9/x", "http://10.0.0.1/x", "http://169.254.169.254/latest/meta-data", "http://[::1]:9/x"]
        {
            let (status, why) = agent.get(url).await;
            assert_eq!(status, 0, "{url}");
            assert!(String::from_utf8_lossy(&why).contains("not an address 1mcp may fetch from"), "{url}");
        }
        let (status, _) = agent.get("http://localhost:9/x").await;
        assert_eq!(status, 0, "a name resolving only to loopback is refused too");
    }

    /// The next input the hub would get, within 10 s.
    async fn next(rx: &mut tokio::sync::mpsc::Receiver<onemcp_core::Input>) -> onemcp_core::Input {
        match tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv()).await {
            Ok(Some(input)) => input,
            other => panic!("no input: {other:?}"),
        }
    }

    /// The JSON-RPC message of a backend line.
    fn message(input: onemcp_core::Input) -> Value {
        match input {
            onemcp_core::Input::BackendLine { line, .. } => serde_json::from_str(&line).expect("JSON"),
            other => panic!("expected a line, got {other:?}"),
        }
    }

    /// Connects generation `generation` of server `remote` and sends `initialize`.
    fn open(
        config: &onemcp_core::config::HttpConfig,
        auth: Option<Arc<registry::ServerAuth>>,
        generation: u64,
        tx: &tokio::sync::mpsc::Sender<onemcp_core::Input>,
    ) -> crate::backend::BackendHandle {
        let key = onemcp_core::BackendKey::server("remote");
        let handle = crate::http_backend::connect(&key, onemcp_core::Gen(generation), config, auth, 4096, tx.clone())
            .expect("connects");
        let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}});
        assert_eq!(handle.write(initialize.to_string()), Ok(()));
        handle
    }

    #[tokio::test]
    async fn a_refused_backend_waits_for_the_user_then_carries_its_token_across_refreshes_and_restarts() {
        let (seen, valid) = (Seen::default(), Valid::default());
        *valid.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = "backend-token".into();
        let base = mock_protected_server(Arc::clone(&seen), Arc::clone(&valid)).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let config = onemcp_core::config::HttpConfig {
            url: format!("{base}/mcp"),
            flavor: onemcp_core::config::HttpFlavor::Streamable,
            headers: std::collections::BTreeMap::new(),
            oauth: None,
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let daemon = "http://127.0.0.1:3050".to_owned();
        let auths =
            registry::Authorizations::new(store::GrantStore::open(Some(dir.path())), Some(daemon.clone()), tx.clone());
        let auth = auths.for_server("remote", &config).expect("1mcp authorizes itself");

        // No token: the server refuses, 1mcp registers and asks for the user; the backend
        // waits, saying where (the hub fails the request with that).
        let _first = open(&config, Some(Arc::clone(&auth)), 1, &tx);
        assert!(matches!(next(&mut rx).await, onemcp_core::Input::BackendSpawned { .. }));
        let link = format!("{daemon}/oauth/authorize/remote");
        match next(&mut rx).await {
            onemcp_core::Input::BackendNeedsAuthorization { why, .. } => assert!(why.contains(&link), "{why}"),
            other => panic!("expected the wait for the user, got {other:?}"),
        }

        // The user follows the link and comes back: the hub hears the server is authorized.
        let consent_link = auth.authorization_link().await.expect("a link");
        assert!(consent_link.starts_with(&format!("{base}/authorize?")), "{consent_link}");
        auth.redirected(&consent(&consent_link).await).await.expect("the code is redeemed");
        assert!(matches!(next(&mut rx).await, onemcp_core::Input::BackendAuthorized { server } if server == "remote"));
        assert!(auth.redirected(&consent(&consent_link).await).await.is_err(), "a replayed redirect is refused");

        // The next incarnation sends the token.
        let _second = open(&config, Some(Arc::clone(&auth)), 2, &tx);
        assert!(matches!(next(&mut rx).await, onemcp_core::Input::BackendSpawned { .. }));
        assert_eq!(message(next(&mut rx).await)["result"]["protocolVersion"], "2025-06-18");

        // The server stops taking it (revoked, expired early): 1mcp refreshes and sends the
        // request again; the caller sees an answer, not an error.
        *valid.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = "backend-token-2".into();
        let _third = open(&config, Some(Arc::clone(&auth)), 3, &tx);
        assert!(matches!(next(&mut rx).await, onemcp_core::Input::BackendSpawned { .. }));
        assert_eq!(message(next(&mut rx).await)["result"]["protocolVersion"], "2025-06-18");

        // The store is private, and a restarted daemon starts authorized.
        let path = dir.path().join(store::FILE_NAME);
        let mode = std::fs::metadata(&path).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        let restarted = Arc::new(registry::Authorizations::new(
            store::GrantStore::open(Some(dir.path())),
            Some(daemon),
            tx.clone(),
        ));
        let again = restarted.for_server("remote", &config).expect("authorizes");
        let _fourth = open(&config, Some(Arc::clone(&again)), 4, &tx);
        assert!(matches!(next(&mut rx).await, onemcp_core::Input::BackendSpawned { .. }));
        assert_eq!(message(next(&mut rx).await)["result"]["protocolVersion"], "2025-06-18");

        // `1mcp auth logout` removes the entry: the running daemon forgets the token.
        let watcher = tokio::spawn(Arc::clone(&restarted).watch_store());
        assert!(again.bearer().is_some());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(store::remove(dir.path(), "remote"), Ok(true));
        for _ in 0..100 {
            if again.bearer().is_none() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        watcher.abort();
        assert!(again.bearer().is_none(), "a logout reaches the running daemon");
        let kept = store::read(&path).expect("readable");
        assert!(kept.get("remote").is_some_and(|s| s.issuer().is_none()), "the grant stays gone: {kept:?}");

        let seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let bearers: Vec<String> =
            seen.iter().filter(|(w, _)| w == "mcp").map(|(_, p)| p["authorization"].clone()).collect();
        assert_eq!(
            bearers,
            ["", "Bearer backend-token", "Bearer backend-token", "Bearer backend-token-2", "Bearer backend-token-2"],
            "no token, the token, the refused token then the refreshed one, and the kept one after the restart"
        );
        assert_eq!(seen.iter().filter(|(w, _)| w == "register").count(), 1, "registered once");

        // A server whose config sets Authorization is left to it.
        let mut manual = config.clone();
        manual.headers.insert("Authorization".into(), "Bearer mine".into());
        assert!(auths.for_server("manual", &manual).is_none());
    }

    #[tokio::test]
    async fn a_legacy_sse_server_is_authorized_on_its_streams_get() {
        let (seen, valid) = (Seen::default(), Valid::default());
        *valid.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = "backend-token".into();
        let base = mock_protected_server(Arc::clone(&seen), Arc::clone(&valid)).await;
        let config = onemcp_core::config::HttpConfig {
            url: format!("{base}/sse"),
            flavor: onemcp_core::config::HttpFlavor::Sse,
            headers: std::collections::BTreeMap::new(),
            oauth: None,
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let auths = registry::Authorizations::new(store::GrantStore::open(None), None, tx.clone());
        let auth = auths.for_server("remote", &config).expect("1mcp authorizes itself");
        let key = onemcp_core::BackendKey::server("remote");
        let _first =
            crate::http_backend::connect(&key, onemcp_core::Gen(1), &config, Some(Arc::clone(&auth)), 4096, tx.clone());
        match next(&mut rx).await {
            onemcp_core::Input::BackendNeedsAuthorization { why, .. } => {
                assert!(why.contains("/oauth/authorize/remote"), "{why}");
            }
            other => panic!("expected the wait for the user, got {other:?}"),
        }
        let link = auth.authorization_link().await.expect("a link");
        assert!(
            link.contains(&format!("resource={}", form_encode(&config.url))),
            "the stream's URL is the resource: {link}"
        );
        auth.redirected(&consent(&link).await).await.expect("redeemed");
        assert!(matches!(next(&mut rx).await, onemcp_core::Input::BackendAuthorized { .. }));
        let _second = crate::http_backend::connect(&key, onemcp_core::Gen(2), &config, Some(auth), 4096, tx.clone());
        assert!(
            matches!(next(&mut rx).await, onemcp_core::Input::BackendSpawned { .. }),
            "the stream opens with the token and names its endpoint"
        );
    }
}
