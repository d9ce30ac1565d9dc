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
//! Public so that the daemon's backend links and the command line's `auth` commands can use it.
//! Neither does yet: wiring it to HTTP backends (401 to awaiting authorization, the callback,
//! the token store) is the next slice of issue 11. Its tests drive it against a mock
//! authorization server.

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

    /// A protected resource's metadata and an authorization server on one loopback port, in
    /// the shape the conformance suite's mocks have: dynamic registration, a consent that
    /// redirects at once with `code`, `state` and `iss`, and a token endpoint that checks PKCE.
    async fn mock_authorization_server(seen: Seen) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://127.0.0.1:{}", listener.local_addr().expect("address").port());
        let note = |seen: &Seen, what: &str, params: HashMap<String, String>| {
            seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((what.to_owned(), params));
        };
        let (b1, b2, b3) = (base.clone(), base.clone(), base.clone());
        let (s1, s2, s3) = (Arc::clone(&seen), Arc::clone(&seen), Arc::clone(&seen));
        let app = axum::Router::new()
            .route(
                "/.well-known/oauth-protected-resource/mcp",
                get(move || async move {
                    let document = json!({"resource": format!("{b1}/mcp"), "authorization_servers": [b1],
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
                    if !verified || params.get("code").map(String::as_str) != Some("the-code") {
                        return json_answer(400, &json!({"error": "invalid_grant"}));
                    }
                    json_answer(200, &json!({"access_token": "backend-token", "token_type": "Bearer", "expires_in": 3600}))
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
}
