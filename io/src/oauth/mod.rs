//! The embedded OAuth 2.1 authorization server (issue: secure by default). Clients register
//! (RFC 7591) or name a Client ID Metadata Document, send the operator through `/authorize`
//! with PKCE S256, and redeem the code at `/token` for a short-lived access token and a
//! rotating refresh token; `/revoke` ends a grant (RFC 7009). Approving is the operator's act:
//! the consent page needs the operator cookie, which only a one-time link made with the
//! config directory's secret sets (`1mcp auth link`).
//!
//! Endpoints: `/.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`
//! (the same document), `/register`, `/authorize`, `/oauth/consent` (the consent form's POST),
//! `/token`, `/revoke`, `/oauth/operator` (the link's landing).
//!
//! Decisions about redirect URIs, PKCE, scopes and fetch addresses are the core's
//! (`onemcp_core::oauth`); this module keeps state, signs, and speaks HTTP. Secrets never reach
//! a log line: codes and tokens are stored as hashes and logged by their client's name.

pub(crate) mod cimd;
pub mod keys;
mod limit;
pub(crate) mod pages;
pub mod store;

use axum::body::Body;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use keys::{Keys, Purpose};
use onemcp_core::FrontConfig;
use onemcp_core::auth::{Credential, TokenGrant};
use onemcp_core::oauth::{self as rules, ScopeRequest};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Mutex, RwLock};
use store::{Client, Code, Family, State, Store, new_secret};

/// What every access token starts with.
pub const ACCESS_PREFIX: &str = "1mcp_at_";
const REFRESH_PREFIX: &str = "1mcp_rt_";
const CODE_PREFIX: &str = "1mcp_code_";
const SECRET_PREFIX: &str = "1mcp_cs_";
/// A grant (refresh family) lifetime.
const FAMILY_TTL_MS: u64 = 30 * 24 * 3600 * 1000;
/// An authorization code's lifetime.
const CODE_TTL_MS: u64 = 60 * 1000;
/// How long a consent page may be answered.
const REQUEST_TTL_MS: u64 = 10 * 60 * 1000;
/// How long an operator link works.
pub const LINK_TTL_MS: u64 = 3600 * 1000;
/// How long the operator cookie lasts.
const COOKIE_TTL_MS: u64 = 12 * 3600 * 1000;
/// Largest body of an OAuth request (forms and registration JSON).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Whether `path` is one of the authorization server's.
pub fn is_oauth_path(path: &str) -> bool {
    matches!(
        path,
        "/.well-known/oauth-authorization-server"
            | "/.well-known/openid-configuration"
            | "/register"
            | "/authorize"
            | "/token"
            | "/revoke"
            | "/oauth/consent"
            | "/oauth/operator"
    )
}

/// The authorization server's settings (1MCP's flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthOptions {
    /// Access token lifetime (`--session-ttl`, minutes in 1MCP; 60 here by default: short-lived
    /// tokens, refreshed by the client).
    pub access_ttl_ms: u64,
    /// Requests an address may make to the OAuth endpoints per window (`--rate-limit-max`).
    pub rate_limit_max: u32,
    /// The window (`--rate-limit-window`, minutes in 1MCP).
    pub rate_limit_window_ms: u64,
}

impl Default for AuthOptions {
    fn default() -> Self {
        AuthOptions { access_ttl_ms: 3600 * 1000, rate_limit_max: 100, rate_limit_window_ms: 15 * 60 * 1000 }
    }
}

/// The authorization server of one daemon (state shared with every daemon of its config dir).
#[derive(Debug)]
pub struct AuthServer {
    access_ttl_ms: u64,
    keys: Keys,
    store: Store,
    front: FrontConfig,
    issuer: String,
    tags: RwLock<BTreeSet<String>>,
    limiter: Mutex<limit::Limiter>,
    documents: cimd::Fetcher,
}

/// An access token's claims (sealed with the operator secret).
#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    /// The grant (refresh family) it belongs to: sessions are bound to it.
    fam: String,
    cid: String,
    tags: Option<Vec<String>>,
    aud: String,
    iat: u64,
    exp: u64,
}

/// A consent page's request, carried by the form (sealed).
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    cid: String,
    ru: String,
    cc: String,
    st: Option<String>,
    tags: Option<BTreeSet<String>>,
    res: String,
    exp: u64,
}

/// The operator link's code and the cookie it sets (sealed).
#[derive(Debug, Serialize, Deserialize)]
struct Operator {
    n: String,
    exp: u64,
}

/// What a request to the authorization server carries, read by the HTTP front end.
#[derive(Debug)]
pub struct OAuthRequest<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub peer: Option<std::net::IpAddr>,
}

/// A registration request's client metadata (RFC 7591), checked.
struct Registration {
    redirect_uris: Vec<String>,
    auth_method: String,
    grants: Vec<String>,
    name: Option<String>,
}

impl Registration {
    /// The metadata in `body`, or why it is refused.
    fn read(body: &[u8]) -> Result<Registration, OAuthError> {
        let metadata: Value = match serde_json::from_slice(body) {
            Ok(value @ Value::Object(_)) => value,
            _ => return Err(bad_registration("invalid_client_metadata", "the body must be a JSON object")),
        };
        let redirect_uris = registered_redirect_uris(&metadata)?;
        let auth_method = registered_auth_method(&metadata)?;
        let grants = registered_grant_types(&metadata)?;
        if string_list(&metadata, "response_types", "code").is_none_or(|types| types != ["code"]) {
            return Err(bad_registration("invalid_client_metadata", "response_types must be [\"code\"]"));
        }
        let name = metadata.get("client_name").and_then(Value::as_str).map(display_name);
        Ok(Registration { redirect_uris, auth_method: auth_method.to_owned(), grants, name })
    }

    /// The registration response for client `id` (with its secret, if it has one).
    fn answer(self, id: &str, secret: Option<String>, now: u64) -> Value {
        let mut body = json!({
            "client_id": id,
            "client_id_issued_at": now / 1000,
            "redirect_uris": self.redirect_uris,
            "token_endpoint_auth_method": self.auth_method,
            "grant_types": self.grants,
            "response_types": ["code"],
        });
        if let Some(name) = self.name {
            body["client_name"] = json!(name);
        }
        if let Some(secret) = secret {
            body["client_secret"] = json!(secret);
            body["client_secret_expires_at"] = json!(0);
        }
        body
    }
}

/// `redirect_uris`: 1 to [`rules::MAX_REDIRECT_URIS`] strings, each one the core accepts.
fn registered_redirect_uris(metadata: &Value) -> Result<Vec<String>, OAuthError> {
    let redirect_uris: Vec<String> = match metadata.get("redirect_uris").and_then(Value::as_array) {
        Some(uris) if !uris.is_empty() && uris.len() <= rules::MAX_REDIRECT_URIS => {
            match uris.iter().map(|u| u.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>() {
                Some(uris) => uris,
                None => return Err(bad_registration("invalid_redirect_uri", "redirect_uris must be strings")),
            }
        }
        _ => {
            let why = format!("redirect_uris must list 1 to {} URIs", rules::MAX_REDIRECT_URIS);
            return Err(bad_registration("invalid_redirect_uri", why));
        }
    };
    for uri in &redirect_uris {
        if let Err(why) = rules::check_redirect_uri(uri) {
            return Err(bad_registration("invalid_redirect_uri", why));
        }
    }
    Ok(redirect_uris)
}

/// `token_endpoint_auth_method`: `none` unless given.
fn registered_auth_method(metadata: &Value) -> Result<&str, OAuthError> {
    let auth_method = metadata.get("token_endpoint_auth_method").and_then(Value::as_str).unwrap_or("none");
    if !matches!(auth_method, "none" | "client_secret_post" | "client_secret_basic") {
        let why = "token_endpoint_auth_method must be none, client_secret_post or client_secret_basic";
        return Err(bad_registration("invalid_client_metadata", why));
    }
    Ok(auth_method)
}

/// `grant_types`: `authorization_code` unless given, and nothing but it and `refresh_token`.
fn registered_grant_types(metadata: &Value) -> Result<Vec<String>, OAuthError> {
    let grants = string_list(metadata, "grant_types", "authorization_code").unwrap_or_default();
    if grants.is_empty() || grants.iter().any(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token")) {
        let why = "grant_types may be authorization_code and refresh_token";
        return Err(bad_registration("invalid_client_metadata", why));
    }
    Ok(grants)
}

/// The strings of array `key`; `[default]` when it is absent, None when it is not all strings.
fn string_list(metadata: &Value, key: &str, default: &str) -> Option<Vec<String>> {
    match metadata.get(key) {
        None => Some(vec![default.to_owned()]),
        Some(Value::Array(items)) => items.iter().map(|i| i.as_str().map(str::to_owned)).collect(),
        Some(_) => None,
    }
}

/// An OAuth error answer (RFC 6749 §5.2).
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

fn oauth_error(status: StatusCode, error: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError { status, error, description: description.into() }
}

impl AuthServer {
    /// The authorization server of config directory `dir`, reached at `front`'s public base
    /// URL, offering `tags` as scopes.
    pub fn new(dir: &Path, front: FrontConfig, tags: BTreeSet<String>) -> std::io::Result<AuthServer> {
        AuthServer::with_options(dir, front, tags, AuthOptions::default())
    }

    /// [`AuthServer::new`] with `options`.
    pub fn with_options(
        dir: &Path,
        front: FrontConfig,
        tags: BTreeSet<String>,
        options: AuthOptions,
    ) -> std::io::Result<AuthServer> {
        let issuer = front.public_base();
        let loopback = onemcp_core::front::is_loopback(&front.host);
        Ok(AuthServer {
            access_ttl_ms: options.access_ttl_ms,
            keys: Keys::load_or_create(dir)?,
            store: Store::new(dir),
            front,
            issuer,
            tags: RwLock::new(tags),
            limiter: Mutex::new(limit::Limiter::new(options.rate_limit_max, options.rate_limit_window_ms)),
            documents: cimd::Fetcher::new(loopback),
        })
    }

    /// The tags of the servers now configured (after a reload).
    pub fn set_tags(&self, tags: BTreeSet<String>) {
        if let Ok(mut mine) = self.tags.write() {
            *mine = tags;
        }
    }

    fn known_tags(&self) -> BTreeSet<String> {
        self.tags.read().map(|t| t.clone()).unwrap_or_default()
    }

    /// What an access token presents: a grant if its signature holds and its family is known
    /// (the core decides expiry, revocation, audience and tags).
    pub fn credential(&self, token: &str) -> Credential {
        let Some(claims) =
            token.strip_prefix(ACCESS_PREFIX).and_then(|t| self.keys.open::<AccessClaims>(Purpose::AccessToken, t))
        else {
            return Credential::Unknown;
        };
        let state = self.store.snapshot();
        let Some(family) = state.family(&claims.fam) else { return Credential::Unknown };
        Credential::Token(Box::new(TokenGrant {
            id: format!("oauth:{}", claims.fam),
            name: family.client_name.clone(),
            tags: claims.tags,
            expires_at_ms: Some(claims.exp),
            revoked: family.revoked,
            audience: Some(claims.aud),
        }))
    }

    /// The principals of revoked grants (`oauth:<grant>`).
    pub fn revoked_principals(&self) -> impl Iterator<Item = String> {
        let state = self.store.snapshot();
        let revoked: Vec<String> =
            state.families.iter().filter(|f| f.revoked).map(|f| format!("oauth:{}", f.id)).collect();
        revoked.into_iter()
    }

    /// Answer one request to an authorization server path.
    pub async fn handle(&self, request: OAuthRequest<'_>) -> Response {
        // Cookie-bearing endpoints check Origin too; the others are for any origin (CORS).
        let cookie_endpoint = matches!(request.path, "/authorize" | "/oauth/consent" | "/oauth/operator");
        if let Some(refusal) = self.refuse_foreign(&request, cookie_endpoint) {
            return refusal;
        }
        if *request.method == Method::OPTIONS && !cookie_endpoint {
            return preflight();
        }
        let now = crate::unix_time_ms();
        if let Some(refusal) = self.rate_limited(&request, now) {
            return refusal;
        }
        let mut response = self.route(&request, now).await;
        if !cookie_endpoint {
            set(&mut response, header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
        }
        response
    }

    /// The answer refusing a request addressed to another host, or (to a cookie endpoint)
    /// sent from a foreign page.
    fn refuse_foreign(&self, request: &OAuthRequest<'_>, cookie_endpoint: bool) -> Option<Response> {
        let from_loopback = request.peer.is_some_and(|p| p.to_canonical().is_loopback());
        let host = header_str(request.headers, header::HOST);
        let origin = if cookie_endpoint { header_str(request.headers, header::ORIGIN) } else { None };
        if onemcp_core::front::check_host_and_origin(&self.front, host, origin, from_loopback).is_err() {
            tracing::warn!(peer = ?request.peer, path = request.path, "refused an OAuth request: foreign Host or Origin");
            return Some(plain(StatusCode::FORBIDDEN, "Forbidden: foreign Host or Origin"));
        }
        None
    }

    /// The answer to an address over its request budget, with when to retry.
    fn rate_limited(&self, request: &OAuthRequest<'_>, now: u64) -> Option<Response> {
        // Metadata is static and cheap: every local client reads it, from the same address.
        if request.path.starts_with("/.well-known/") {
            return None;
        }
        let retry_after_s = self.limiter.lock().ok().and_then(|mut l| l.check(request.peer, now))?;
        let mut response = json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"error": "slow_down", "error_description": "too many requests; retry later"}),
        );
        set(&mut response, header::RETRY_AFTER, &retry_after_s.to_string());
        Some(response)
    }

    /// The endpoint for the request's method and path.
    async fn route(&self, request: &OAuthRequest<'_>, now: u64) -> Response {
        match (request.method, request.path) {
            (&Method::GET, "/.well-known/oauth-authorization-server" | "/.well-known/openid-configuration") => {
                json_response(StatusCode::OK, &self.metadata())
            }
            (&Method::POST, "/register") => self.register(request, now).await,
            (&Method::GET, "/authorize") => self.authorize(request, now).await,
            (&Method::POST, "/oauth/consent") => self.consent(request, now).await,
            (&Method::POST, "/token") => self.token(request, now).await,
            (&Method::POST, "/revoke") => self.revoke(request, now).await,
            (&Method::GET, "/oauth/operator") => self.operator(request, now).await,
            _ => plain(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
        }
    }

    /// RFC 8414 metadata (also served as OIDC discovery).
    fn metadata(&self) -> Value {
        let base = &self.issuer;
        let scopes: Vec<String> = self.known_tags().iter().map(|t| format!("tag:{t}")).collect();
        json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "registration_endpoint": format!("{base}/register"),
            "revocation_endpoint": format!("{base}/revoke"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
            "revocation_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
            "scopes_supported": scopes,
            "authorization_response_iss_parameter_supported": true,
            "client_id_metadata_document_supported": true,
            "subject_types_supported": ["public"],
            "service_documentation": "https://github.com/1mcp-rs/1mcp#authentication",
        })
    }

    /// `POST /register` (RFC 7591).
    async fn register(&self, request: &OAuthRequest<'_>, now: u64) -> Response {
        let wanted = match Registration::read(request.body) {
            Ok(wanted) => wanted,
            Err(refusal) => return error_response(refusal),
        };
        let id = format!("1mcp_c_{}", keys::random_hex(12));
        let (secret, secret_hash) = match wanted.auth_method.as_str() {
            "none" => (None, None),
            _ => {
                let (secret, hash) = new_secret(SECRET_PREFIX);
                (Some(secret), Some(hash))
            }
        };
        let client = Client {
            id: id.clone(),
            name: wanted.name.clone().unwrap_or_else(|| "unnamed client".to_owned()),
            redirect_uris: wanted.redirect_uris.clone(),
            auth_method: wanted.auth_method.clone(),
            secret_hash,
            refresh: wanted.grants.iter().any(|g| g == "refresh_token"),
            created_at: now,
        };
        if let Err(refusal) = self.save_client(client, now).await {
            return error_response(refusal);
        }
        tracing::info!(client = %onemcp_core::text::for_log(wanted.name.as_deref().unwrap_or("unnamed")), client_id = %id, peer = ?request.peer, "registered an OAuth client");
        no_store(json_response(StatusCode::CREATED, &wanted.answer(&id, secret, now)))
    }

    /// Stores a newly registered client, unless the store is full of clients holding grants.
    async fn save_client(&self, client: Client, now: u64) -> Result<(), OAuthError> {
        let saved =
            self.store.update(now, |state| store::push_bounded(&mut state.clients, client, store::MAX_CLIENTS)).await;
        match saved {
            Ok(Ok(())) => Ok(()),
            Ok(Err(store::Full)) => {
                tracing::warn!(
                    limit = store::MAX_CLIENTS,
                    "refused a client registration: every registered client holds a live grant"
                );
                Err(bad_registration("invalid_client_metadata", "this server has too many registered clients"))
            }
            Err(error) => Err(store_error(&error)),
        }
    }

    /// The client named `client_id`: registered, or described by its metadata document.
    async fn find_client(&self, client_id: &str) -> Result<Client, String> {
        if let Some(client) = self.store.snapshot().client(client_id) {
            return Ok(client.clone());
        }
        if client_id.starts_with("https://") || client_id.starts_with("http://") {
            return self.documents.client(client_id).await;
        }
        Err("unknown client_id (register first)".to_owned())
    }

    /// `GET /authorize`: checks that must not redirect, then those that redirect with an
    /// error, then the consent page (or the operator sign-in page).
    async fn authorize(&self, request: &OAuthRequest<'_>, now: u64) -> Response {
        let params = match form(request.query.as_bytes()) {
            Ok(params) => params,
            Err(why) => return html(StatusCode::BAD_REQUEST, &pages::error("Invalid authorization request", &why)),
        };
        let get = |k: &str| params.get(k).map(String::as_str);
        let Some(client_id) = get("client_id") else {
            return html(
                StatusCode::BAD_REQUEST,
                &pages::error("Invalid authorization request", "client_id is missing"),
            );
        };
        let client = match self.find_client(client_id).await {
            Ok(client) => client,
            Err(why) => {
                tracing::warn!(peer = ?request.peer, client_id = %onemcp_core::text::for_log(client_id), "refused an authorization request: {why}");
                return html(StatusCode::BAD_REQUEST, &pages::error("Unknown client", &why));
            }
        };
        let redirect_uri = match get("redirect_uri") {
            Some(uri) if client.redirect_uris.iter().any(|r| rules::redirect_uri_matches(r, uri)) => uri.to_owned(),
            None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
            _ => {
                tracing::warn!(peer = ?request.peer, client = %onemcp_core::text::for_log(&client.name), "refused an authorization request: redirect_uri not registered");
                let why = "redirect_uri is missing or is not one the client registered";
                return html(StatusCode::BAD_REQUEST, &pages::error("Invalid redirect URI", why));
            }
        };
        let state = get("state").map(str::to_owned);
        let fail = |error: &str, description: &str| {
            redirect_with(&redirect_uri, &[("error", error), ("error_description", description)], &state, &self.issuer)
        };
        if get("response_type") != Some("code") {
            return fail("unsupported_response_type", "response_type must be code");
        }
        let challenge = get("code_challenge").unwrap_or_default();
        if get("code_challenge_method") != Some("S256") || !rules::valid_code_challenge(challenge) {
            return fail("invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256");
        }
        let requested = match rules::parse_scope(get("scope")) {
            Ok(ScopeRequest::Everything) => None,
            Ok(ScopeRequest::Tags(tags)) => Some(tags),
            Err(why) => return fail("invalid_scope", &why),
        };
        let resource = match self.resource(get("resource")) {
            Ok(resource) => resource,
            Err(why) => return fail("invalid_target", why),
        };
        let Some(session) = self.operator_session(request.headers, now) else {
            return html(StatusCode::UNAUTHORIZED, &pages::operator_needed());
        };
        let pending = Pending {
            cid: client.id.clone(),
            ru: redirect_uri.clone(),
            cc: challenge.to_owned(),
            st: state.clone(),
            tags: requested.clone(),
            res: resource,
            exp: now + REQUEST_TTL_MS,
        };
        let sealed = self.keys.seal(Purpose::ConsentRequest, &pending);
        let csrf = self.keys.mac(Purpose::Csrf, &[&session, &sealed]);
        let parsed = rules::parse_url(&redirect_uri).ok();
        let redirect_host =
            parsed.as_ref().map_or(redirect_uri.as_str(), |u| if u.host.is_empty() { u.scheme } else { u.host });
        let known = self.known_tags();
        let page = pages::consent(&pages::Consent {
            client_name: &client.name,
            client_id: &client.id,
            redirect_uri: &redirect_uri,
            redirect_host,
            requested: requested.as_ref(),
            known: &known,
            request: &sealed,
            csrf: &csrf,
            loopback_redirect: parsed.as_ref().is_some_and(|u| rules::is_loopback_host(u.host)),
        });
        let mut response = html(StatusCode::OK, &page);
        // The form's answer redirects to the client: allow exactly that target.
        let target = parsed.map_or_else(String::new, |u| {
            if u.host.is_empty() { format!("{}:", u.scheme) } else { origin_of(&redirect_uri) }
        });
        set(
            &mut response,
            header::CONTENT_SECURITY_POLICY,
            &format!(
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {target}; frame-ancestors 'none'; base-uri 'none'"
            ),
        );
        response
    }

    /// The resource a token is asked for (RFC 8707): this server's base URL or one of its MCP
    /// endpoints; absent, the base URL.
    fn resource(&self, resource: Option<&str>) -> Result<String, &'static str> {
        let Some(resource) = resource else { return Ok(self.issuer.clone()) };
        let trimmed = resource.trim_end_matches('/');
        match trimmed.strip_prefix(self.issuer.as_str()) {
            Some("" | "/mcp" | "/sse" | "/messages") => Ok(trimmed.to_owned()),
            _ => Err("resource is not this server"),
        }
    }

    /// `POST /oauth/consent`: the operator's answer.
    async fn consent(&self, request: &OAuthRequest<'_>, now: u64) -> Response {
        let refuse = |why: &str| {
            tracing::warn!(peer = ?request.peer, "refused a consent answer: {why}");
            html(StatusCode::FORBIDDEN, &pages::error("Consent refused", why))
        };
        let Some(session) = self.operator_session(request.headers, now) else {
            return refuse("this browser is not signed in as the operator (run `1mcp auth link`)");
        };
        let Ok(params) = form(request.body) else { return refuse("malformed form") };
        let (Some(sealed), Some(csrf)) = (params.get("request"), params.get("csrf")) else {
            return refuse("the form is incomplete");
        };
        if !self.keys.mac_matches(Purpose::Csrf, &[&session, sealed], csrf) {
            return refuse("the form's CSRF token does not match");
        }
        let Some(pending) = self.keys.open::<Pending>(Purpose::ConsentRequest, sealed) else {
            return refuse("the authorization request was tampered with");
        };
        if pending.exp <= now {
            return refuse("the authorization request expired; start again from the client");
        }
        let client_name = self.find_client(&pending.cid).await.map(|c| c.name).unwrap_or_default();
        let name_for_log = onemcp_core::text::for_log(&client_name).to_string();
        if params.get("decision").map(String::as_str) != Some("approve") {
            tracing::info!(client = %name_for_log, "the operator denied a client");
            let pairs = [("error", "access_denied"), ("error_description", "the operator denied access")];
            return redirect_with(&pending.ru, &pairs, &pending.st, &self.issuer);
        }
        let chosen: BTreeSet<String> = params.get_all("tag").map(|t| t.to_lowercase()).collect();
        let offered = pending.tags.clone().unwrap_or_else(|| self.known_tags());
        let tags = if pending.tags.is_none() && params.get("everything").is_some() {
            None
        } else {
            // The operator may only narrow what was asked for.
            Some(chosen.intersection(&offered).cloned().collect::<Vec<_>>())
        };
        let (code, hash) = new_secret(CODE_PREFIX);
        let record = Code {
            hash,
            client_id: pending.cid.clone(),
            redirect_uri: pending.ru.clone(),
            challenge: pending.cc.clone(),
            tags: tags.clone(),
            resource: pending.res.clone(),
            expires_at: now + CODE_TTL_MS,
            family: None,
        };
        let saved =
            self.store.update(now, |state| store::push_bounded(&mut state.codes, record, store::MAX_CODES)).await;
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(store::Full)) => {
                tracing::warn!(limit = store::MAX_CODES, "refused a consent: too many outstanding codes");
                return html(StatusCode::SERVICE_UNAVAILABLE, &pages::error("Busy", "too many pending codes; retry"));
            }
            Err(error) => return store_failure(&error),
        }
        let granted = tags.as_ref().map_or_else(|| "every server".to_owned(), rules::scope_string);
        tracing::info!(client = %name_for_log, granted = %granted, "the operator approved a client");
        redirect_with(&pending.ru, &[("code", &code)], &pending.st, &self.issuer)
    }

    /// Authenticate the client of a token or revocation request (RFC 6749 §2.3): a public
    /// client names itself; a confidential one proves its secret (Basic or in the body).
    async fn authenticate_client(&self, request: &OAuthRequest<'_>, params: &Params) -> Result<Client, OAuthError> {
        let basic = header_str(request.headers, header::AUTHORIZATION).and_then(basic_credentials);
        let (id, secret) = match (&basic, params.get("client_id")) {
            (Some((id, secret)), _) => (id.clone(), Some(secret.clone())),
            (None, Some(id)) => (id.clone(), params.get("client_secret").cloned()),
            (None, None) => {
                return Err(oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client_id is missing"));
            }
        };
        let client =
            self.find_client(&id).await.map_err(|why| oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", why))?;
        if let Some(expected) = &client.secret_hash {
            // Digests are compared, not secrets: timing can at most reveal a prefix of a
            // SHA-256 digest, which says nothing about the secret behind it.
            if secret.map(|s| crate::tokens::hash_of(&s)).as_ref() != Some(expected) {
                return Err(oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed"));
            }
        }
        Ok(client)
    }

    /// `POST /token`.
    async fn token(&self, request: &OAuthRequest<'_>, now: u64) -> Response {
        let answer = match form(request.body) {
            Err(why) => Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", why)),
            Ok(params) => match self.authenticate_client(request, &params).await {
                Err(e) => Err(e),
                Ok(client) => match params.get("grant_type").map(String::as_str) {
                    Some("authorization_code") => self.redeem_code(&client, &params, now).await,
                    Some("refresh_token") => self.refresh(&client, &params, now).await,
                    _ => Err(oauth_error(
                        StatusCode::BAD_REQUEST,
                        "unsupported_grant_type",
                        "grant_type must be authorization_code or refresh_token",
                    )),
                },
            },
        };
        match answer {
            Ok(body) => no_store(json_response(StatusCode::OK, &body)),
            Err(e) => {
                tracing::warn!(peer = ?request.peer, error = e.error, "refused a token request: {}", e.description);
                error_response(e)
            }
        }
    }

    async fn redeem_code(&self, client: &Client, params: &Params, now: u64) -> Result<Value, OAuthError> {
        let invalid = |why: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why);
        let (Some(code), Some(verifier)) = (params.get("code"), params.get("code_verifier")) else {
            return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "code and code_verifier are required"));
        };
        let hash = crate::tokens::hash_of(code);
        let redirect_uri = params.get("redirect_uri").cloned();
        let resource = params.get("resource").map(|r| self.resource(Some(r)));
        if let Some(Err(why)) = resource {
            return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_target", why));
        }
        let family_id = format!("f_{}", keys::random_hex(12));
        let (refresh, refresh_hash) = new_secret(REFRESH_PREFIX);
        let outcome = self
            .store
            .update(now, |state| -> Result<Outcome, OAuthError> {
                let Some(index) = state.codes.iter().position(|c| c.hash == hash) else {
                    return Err(invalid("the code is unknown, expired or already used"));
                };
                let code = state.codes[index].clone();
                if let Some(issued) = &code.family {
                    // A code presented twice: whatever it granted is revoked (OAuth 2.1 §4.1.3).
                    if let Some(family) = state.family_mut(issued) {
                        family.revoked = true;
                    }
                    return Ok(Outcome::Replayed);
                }
                if code.expires_at <= now || code.client_id != client.id {
                    return Err(invalid("the code is unknown, expired or already used"));
                }
                if redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
                    return Err(invalid("redirect_uri does not match the authorization request"));
                }
                if !rules::pkce_s256_matches(verifier, &code.challenge) {
                    return Err(invalid("code_verifier does not match the code_challenge"));
                }
                if let Some(Ok(resource)) = &resource
                    && *resource != code.resource
                {
                    return Err(oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_target",
                        "resource differs from the authorization request",
                    ));
                }
                let family = Family {
                    id: family_id.clone(),
                    client_id: client.id.clone(),
                    client_name: client.name.clone(),
                    tags: code.tags.clone(),
                    resource: code.resource.clone(),
                    refresh_hash: client.refresh.then(|| refresh_hash.clone()),
                    spent: Vec::new(),
                    created_at: now,
                    expires_at: now + FAMILY_TTL_MS,
                    revoked: false,
                };
                state.codes[index].family = Some(family_id.clone());
                state.families.push(family.clone());
                Ok(Outcome::Granted(family))
            })
            .await
            .map_err(|e| store_error(&e))?;
        // A replayed code's revocation is a successful change (written), answered as an error.
        let Outcome::Granted(family) = outcome? else {
            tracing::warn!(client = %onemcp_core::text::for_log(&client.name), "an authorization code was presented again; its grant is revoked");
            return Err(invalid("the code was already used; its grant is revoked"));
        };
        tracing::info!(client = %onemcp_core::text::for_log(&client.name), grant = %family.id, "issued tokens for an authorization code");
        Ok(self.token_answer(&family, family.tags.clone(), client.refresh.then_some(refresh), now))
    }

    async fn refresh(&self, client: &Client, params: &Params, now: u64) -> Result<Value, OAuthError> {
        let invalid = |why: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why);
        let Some(presented) = params.get("refresh_token") else {
            return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "refresh_token is required"));
        };
        let narrowed = match rules::parse_scope(params.get("scope").map(String::as_str)) {
            Ok(ScopeRequest::Everything) => None,
            Ok(ScopeRequest::Tags(tags)) => Some(tags),
            Err(why) => return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", why)),
        };
        let hash = crate::tokens::hash_of(presented);
        let (next, next_hash) = new_secret(REFRESH_PREFIX);
        let outcome = self
            .store
            .update(now, |state| -> Result<Outcome, OAuthError> {
                if let Some(family) = state.families.iter_mut().find(|f| f.spent.contains(&hash)) {
                    // A spent refresh token again: stolen or replayed. End the whole grant.
                    family.revoked = true;
                    return Ok(Outcome::Replayed);
                }
                let Some(family) = state.families.iter_mut().find(|f| f.refresh_hash.as_deref() == Some(hash.as_str()))
                else {
                    return Err(invalid("the refresh token is unknown"));
                };
                if family.revoked || family.expires_at <= now || family.client_id != client.id {
                    return Err(invalid("the refresh token is revoked, expired or not this client's"));
                }
                store::rotate(family, hash.clone(), next_hash.clone());
                Ok(Outcome::Granted(family.clone()))
            })
            .await
            .map_err(|e| store_error(&e))?;
        let Outcome::Granted(family) = outcome? else {
            tracing::warn!(client = %onemcp_core::text::for_log(&client.name), "a spent refresh token was presented again; its grant is revoked");
            return Err(invalid("the refresh token was already used; its grant is revoked"));
        };
        let tags = match (narrowed, &family.tags) {
            (None, granted) => granted.clone(),
            (Some(asked), None) => Some(asked.into_iter().collect()),
            (Some(asked), Some(granted)) if asked.iter().all(|t| granted.contains(t)) => {
                Some(asked.into_iter().collect())
            }
            (Some(_), Some(_)) => {
                return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", "scope exceeds the grant"));
            }
        };
        Ok(self.token_answer(&family, tags, Some(next), now))
    }

    /// The token response for `family`, with an access token seeing `tags`.
    fn token_answer(&self, family: &Family, tags: Option<Vec<String>>, refresh: Option<String>, now: u64) -> Value {
        let claims = AccessClaims {
            fam: family.id.clone(),
            cid: family.client_id.clone(),
            tags,
            aud: family.resource.clone(),
            iat: now,
            exp: now + self.access_ttl_ms,
        };
        let access = format!("{ACCESS_PREFIX}{}", self.keys.seal(Purpose::AccessToken, &claims));
        let mut body = json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_ttl_ms / 1000,
        });
        // A grant of every server (asked for with no scope) has no scope string that says so
        // (untagged servers and servers added later are in it): `scope` is left out, which
        // OAuth reads as "what was requested".
        if let Some(tags) = &claims.tags {
            body["scope"] = json!(rules::scope_string(tags));
        }
        if let Some(refresh) = refresh {
            body["refresh_token"] = json!(refresh);
        }
        body
    }

    /// `POST /revoke` (RFC 7009): the grant behind an access or refresh token ends. Unknown
    /// tokens are answered 200 too.
    async fn revoke(&self, request: &OAuthRequest<'_>, now: u64) -> Response {
        let params = match form(request.body) {
            Ok(params) => params,
            Err(why) => return error_response(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", why)),
        };
        let client = match self.authenticate_client(request, &params).await {
            Ok(client) => client,
            Err(e) => return error_response(e),
        };
        let Some(token) = params.get("token") else {
            return error_response(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "token is required"));
        };
        let family = match token.strip_prefix(ACCESS_PREFIX) {
            Some(sealed) => self.keys.open::<AccessClaims>(Purpose::AccessToken, sealed).map(|c| c.fam),
            None => {
                let hash = crate::tokens::hash_of(token);
                let state = self.store.snapshot();
                state
                    .families
                    .iter()
                    .find(|f| f.refresh_hash.as_deref() == Some(hash.as_str()) || f.spent.contains(&hash))
                    .map(|f| f.id.clone())
            }
        };
        if let Some(family) = family {
            let revoked = self
                .store
                .update(now, |state: &mut State| match state.family_mut(&family) {
                    Some(f) if f.client_id == client.id => {
                        f.revoked = true;
                        Ok(())
                    }
                    _ => Err(()),
                })
                .await;
            match revoked {
                Ok(Ok(())) => {
                    tracing::info!(client = %onemcp_core::text::for_log(&client.name), grant = %family, "revoked a grant")
                }
                Ok(Err(())) => {}
                Err(error) => return store_failure(&error),
            }
        }
        no_store(json_response(StatusCode::OK, &json!({})))
    }

    /// `GET /oauth/operator[?code=...]`: a valid one-time link sets the operator cookie.
    async fn operator(&self, request: &OAuthRequest<'_>, now: u64) -> Response {
        let params = form(request.query.as_bytes()).unwrap_or_default();
        let Some(code) = params.get("code") else {
            return match self.operator_session(request.headers, now) {
                Some(_) => html(StatusCode::OK, &pages::operator_signed_in()),
                None => html(StatusCode::UNAUTHORIZED, &pages::operator_needed()),
            };
        };
        let link = self.keys.open::<Operator>(Purpose::OperatorLink, code).filter(|l| l.exp > now);
        let fresh = match link {
            Some(link) => self
                .store
                .update(now, |state| {
                    if state.used_links.contains_key(&link.n) {
                        return Err(());
                    }
                    state.used_links.insert(link.n.clone(), link.exp);
                    Ok(())
                })
                .await
                .ok()
                .is_some_and(|r| r.is_ok()),
            None => false,
        };
        if !fresh {
            tracing::warn!(peer = ?request.peer, "refused an operator link: used, expired or forged");
            return html(StatusCode::FORBIDDEN, &pages::operator_link_refused());
        }
        tracing::info!(peer = ?request.peer, "the operator signed in with a one-time link");
        let cookie =
            self.keys.seal(Purpose::OperatorCookie, &Operator { n: keys::random_hex(16), exp: now + COOKIE_TTL_MS });
        let secure = self.issuer.starts_with("https://");
        let attributes = format!(
            "{}={cookie}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
            self.cookie_name(),
            COOKIE_TTL_MS / 1000,
            if secure { "; Secure" } else { "" }
        );
        let mut response = see_other("/oauth/operator");
        set(&mut response, header::SET_COOKIE, &attributes);
        response
    }

    /// `__Host-` needs `Secure`, so only over https.
    fn cookie_name(&self) -> &'static str {
        if self.issuer.starts_with("https://") { "__Host-1mcp_operator" } else { "1mcp_operator" }
    }

    /// The operator session id of a request's cookie, if it carries a valid one.
    fn operator_session(&self, headers: &HeaderMap, now: u64) -> Option<String> {
        let name = self.cookie_name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(k, _)| *k == name)
            .filter_map(|(_, v)| self.keys.open::<Operator>(Purpose::OperatorCookie, v))
            .find(|o| o.exp > now)
            .map(|o| o.n)
    }

    /// True if the request's headers carry a valid operator cookie.
    pub(crate) fn is_operator(&self, headers: &HeaderMap) -> bool {
        self.operator_session(headers, crate::unix_time_ms()).is_some()
    }

    /// A fresh one-time operator link (the daemon never makes one itself: `1mcp auth link`
    /// does, with the same secret).
    #[cfg(test)]
    pub(crate) fn operator_link(&self, now: u64) -> String {
        operator_link(&self.keys, &self.issuer, now)
    }
}

/// A one-time operator link to `issuer`, signed with `keys` (also made by `1mcp auth link`,
/// which reads the same secret).
pub fn operator_link(keys: &Keys, issuer: &str, now: u64) -> String {
    let code = keys.seal(Purpose::OperatorLink, &Operator { n: keys::random_hex(16), exp: now + LINK_TTL_MS });
    format!("{issuer}/oauth/operator?code={code}")
}

/// What presenting a code or refresh token did.
enum Outcome {
    /// A grant to answer with.
    Granted(Family),
    /// It was presented before: the grant it made is revoked.
    Replayed,
}

/// Form or query parameters; each name at most once (OAuth 2.1 §3.1), except repeated
/// checkboxes, read with [`Params::get_all`].
#[derive(Debug, Default)]
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&String> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a String> {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v)
    }
}

fn form(bytes: &[u8]) -> Result<Params, String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(bytes).map_err(|_| "the parameters are not form-encoded".to_owned())?;
    let mut seen = BTreeMap::new();
    for (key, _) in &pairs {
        if key != "tag" && seen.insert(key.as_str(), ()).is_some() {
            return Err(format!("parameter {:?} is repeated", onemcp_core::text::clip(key, 32)));
        }
    }
    Ok(Params(pairs))
}

/// `user:password` of a Basic `Authorization` header (form-decoded, RFC 6749 §2.3.1).
fn basic_credentials(value: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let decode =
        |s: &str| serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}")).ok()?.pop().map(|p| p.1);
    Some((decode(id)?, decode(secret)?))
}

/// A client name fit to show: control characters removed, at most [`rules::MAX_CLIENT_NAME`].
fn display_name(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(rules::MAX_CLIENT_NAME).collect()
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    format!("{scheme}://{authority}")
}

/// 303 to `redirect_uri` with `pairs`, `state` and `iss` (RFC 9207) added to its query.
fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)], state: &Option<String>, issuer: &str) -> Response {
    let mut all: Vec<(&str, &str)> = pairs.to_vec();
    if let Some(state) = state {
        all.push(("state", state));
    }
    all.push(("iss", issuer));
    let query = serde_urlencoded::to_string(&all).unwrap_or_default();
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    no_store(see_other(&format!("{redirect_uri}{separator}{query}")))
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn set(response: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    set(&mut response, header::CONTENT_TYPE, "application/json");
    response
}

fn no_store(mut response: Response) -> Response {
    set(&mut response, header::CACHE_CONTROL, "no-store");
    set(&mut response, header::PRAGMA, "no-cache");
    response
}

fn error_response(e: OAuthError) -> Response {
    let mut response =
        no_store(json_response(e.status, &json!({"error": e.error, "error_description": e.description})));
    if e.status == StatusCode::UNAUTHORIZED {
        set(&mut response, header::WWW_AUTHENTICATE, "Basic realm=\"1mcp\"");
    }
    response
}

/// A registration refused for its metadata (RFC 7591 §3.2.2).
fn bad_registration(error: &'static str, description: impl Into<String>) -> OAuthError {
    oauth_error(StatusCode::BAD_REQUEST, error, description)
}

fn store_error(error: &store::StoreError) -> OAuthError {
    tracing::error!(%error, "the authorization state could not be changed");
    oauth_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the authorization state is unavailable; retry",
    )
}

fn store_failure(error: &store::StoreError) -> Response {
    error_response(store_error(error))
}

pub(crate) fn html(status: StatusCode, page: &str) -> Response {
    let mut response = Response::new(Body::from(page.to_owned()));
    *response.status_mut() = status;
    set(&mut response, header::CONTENT_TYPE, "text/html; charset=utf-8");
    set(&mut response, header::X_FRAME_OPTIONS, "DENY");
    set(
        &mut response,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(&mut response, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // Not no-referrer: under it browsers send `Origin: null` with the consent form's POST,
    // which the Origin check refuses. same-origin still sends nothing to other sites.
    set(&mut response, header::REFERRER_POLICY, "same-origin");
    no_store(response)
}

pub(crate) fn plain(status: StatusCode, text: &str) -> Response {
    let mut response = Response::new(Body::from(text.to_owned()));
    *response.status_mut() = status;
    set(&mut response, header::CONTENT_TYPE, "text/plain; charset=utf-8");
    response
}

pub(crate) fn see_other(location: &str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    set(&mut response, header::LOCATION, location);
    response
}

fn preflight() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    set(&mut response, header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    set(&mut response, header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS");
    set(&mut response, header::ACCESS_CONTROL_ALLOW_HEADERS, "Authorization, Content-Type, MCP-Protocol-Version");
    set(&mut response, header::ACCESS_CONTROL_MAX_AGE, "600");
    response
}

#[cfg(test)]
mod tests;
