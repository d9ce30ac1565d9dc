//! An external identity provider (`--auth-issuer`, `--auth-audience`): 1mcp is then only a
//! resource server. Bearer tokens shaped like a JWT are verified against the provider's keys
//! ([`crate::jwt`]); every other bearer token still goes to the personal access token store.
//!
//! The keys: the issuer's metadata (RFC 8414 `oauth-authorization-server`, then OpenID
//! Connect discovery) must name the configured issuer and gives `jwks_uri`; the key set found
//! there is cached, fetched at start, refetched when a token names a key it lacks (at most once
//! per [`REFETCH_GAP`]; every [`RETRY_GAP`] while none was ever loaded) and when older than
//! [`KEYS_MAX_AGE`]. Every fetch is bounded in time ([`FETCH_TIMEOUT`]) and size
//! ([`MAX_DOCUMENT_BYTES`]); only one runs at a time; a failed one keeps the keys there were.

use crate::jwt::{self, KeySet, Rejection, Rules};
use crate::mcp_http::{self, HttpClient};
use crate::tokens::TokenStore;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Uri, header};
use onemcp_core::auth::Credential;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Longest wait for one metadata or key set request (connect, answer and body).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest metadata document or key set read.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Least time between two fetches of the key set once one was loaded.
pub const REFETCH_GAP: Duration = Duration::from_secs(30);
/// Least time between two attempts while no key set was ever loaded.
pub const RETRY_GAP: Duration = Duration::from_secs(5);
/// A key set older than this is refetched (in the background) on the next token, so keys the
/// provider removed stop working.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(10 * 60);
/// Longest a whole refresh (discovery and key set) may take.
const REFRESH_LIMIT: Duration = Duration::from_secs(10);
/// Most verified tokens remembered (by SHA-256), so a client's next request with the same
/// token costs a hash instead of a signature check; the set is emptied when full.
const MAX_REMEMBERED: usize = 1024;

/// Where tokens come from and what they must say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpSettings {
    /// The issuer URL (`iss`), exactly as the provider writes it.
    pub issuer: String,
    /// The audience (RFC 8707 resource) tokens must be issued for.
    pub audience: String,
    /// The claim holding the token's scopes (`scope` by default; `scp` is read when it is
    /// missing).
    pub scope_claim: String,
}

impl IdpSettings {
    /// Whether these settings can work: an absolute `https://` issuer (`http://` only on a
    /// loopback host, where nobody sits in between), a non-empty audience and claim name.
    pub fn check(&self) -> Result<(), String> {
        let uri: Uri = self.issuer.parse().map_err(|_| format!("--auth-issuer {:?} is not a URL", self.issuer))?;
        let host = uri.host().unwrap_or_default();
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match uri.scheme_str() {
            Some("https") if !host.is_empty() => {}
            Some("http") if loopback => {}
            _ => {
                return Err(format!(
                    "--auth-issuer {:?} must be an https:// URL (http:// only on a loopback host)",
                    self.issuer
                ));
            }
        }
        if uri.query().is_some() || self.issuer.contains('#') {
            return Err("--auth-issuer must not have a query or fragment (RFC 8414)".into());
        }
        if self.audience.trim().is_empty() {
            return Err("--auth-audience must name the resource the provider issues tokens for".into());
        }
        if self.scope_claim.trim().is_empty() {
            return Err("--auth-scope-claim must not be empty".into());
        }
        Ok(())
    }
}

/// The keys in use and when they were fetched.
#[derive(Debug, Default)]
struct Snapshot {
    keys: KeySet,
    fetched_at: Option<Instant>,
    /// Bumped by every successful fetch.
    generation: u64,
}

/// State of the fetcher (held while fetching: one fetch at a time).
#[derive(Debug, Default)]
struct Fetcher {
    jwks_uri: Option<Uri>,
    last_attempt: Option<Instant>,
}

/// The verifier of one external provider's tokens.
#[derive(Debug)]
pub(crate) struct ExternalIdp {
    rules: Rules,
    client: HttpClient,
    snapshot: RwLock<Arc<Snapshot>>,
    fetcher: tokio::sync::Mutex<Fetcher>,
    /// Set while a background refresh of a stale key set runs (one at a time).
    refreshing: AtomicBool,
    /// Tokens verified with the key set of a generation, by the SHA-256 of the token. Only
    /// what the verifier says is kept (never the token); a new key set makes every entry
    /// stale, so a key the provider removed stops working for remembered tokens too.
    remembered: Mutex<HashMap<[u8; 32], (u64, jwt::Verified)>>,
}

impl ExternalIdp {
    /// A verifier for `settings` (no key fetched yet: see [`ExternalIdp::warm_up`]).
    pub(crate) fn new(settings: &IdpSettings) -> Result<ExternalIdp, String> {
        Ok(ExternalIdp {
            rules: Rules {
                issuer: settings.issuer.clone(),
                audience: settings.audience.clone(),
                scope_claim: settings.scope_claim.clone(),
            },
            client: mcp_http::http_client(FETCH_TIMEOUT)?,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            fetcher: tokio::sync::Mutex::new(Fetcher::default()),
            refreshing: AtomicBool::new(false),
            remembered: Mutex::new(HashMap::new()),
        })
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().map(|s| Arc::clone(&s)).unwrap_or_default()
    }

    /// Fetch the keys now (at start, so the first request does not wait for them).
    pub(crate) async fn warm_up(self: Arc<Self>) {
        self.refresh(0).await;
    }

    /// What a bearer JWT presents: a grant for the core to decide on, or `Unknown`.
    pub(crate) async fn credential(self: &Arc<Self>, token: &str) -> Credential {
        let now_s = crate::unix_time_ms() / 1000;
        let mut snapshot = self.snapshot();
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let key: [u8; 32] = digest.as_ref().try_into().unwrap_or_default();
        let known = self.remembered.lock().ok().and_then(|r| r.get(&key).cloned());
        let mut outcome = match known {
            // Verified before with these keys (expiry is still the core's decision, each time).
            Some((generation, verified)) if generation == snapshot.generation => Ok(verified),
            _ => jwt::verify(token, &snapshot.keys, &self.rules, now_s),
        };
        if outcome == Err(Rejection::UnknownKey) {
            // Rotated keys, or none loaded yet: refetch (rate-limited) and try once more.
            self.refresh(snapshot.generation).await;
            snapshot = self.snapshot();
            outcome = jwt::verify(token, &snapshot.keys, &self.rules, now_s);
        } else if snapshot.fetched_at.is_some_and(|at| at.elapsed() > KEYS_MAX_AGE)
            && !self.refreshing.swap(true, Ordering::AcqRel)
        {
            let idp = Arc::clone(self);
            let seen = snapshot.generation;
            tokio::spawn(async move {
                idp.refresh(seen).await;
                idp.refreshing.store(false, Ordering::Release);
            });
        }
        match outcome {
            Ok(verified) => {
                let grant = verified.grant(&self.rules);
                if let Ok(mut remembered) = self.remembered.lock() {
                    if remembered.len() >= MAX_REMEMBERED {
                        remembered.clear();
                    }
                    remembered.insert(key, (snapshot.generation, verified));
                }
                Credential::Token(Box::new(grant))
            }
            Err(rejection) => {
                // The reason only: nothing of the token is logged.
                tracing::debug!(issuer = %self.rules.issuer, reason = %rejection, "refused a JWT access token");
                Credential::Unknown
            }
        }
    }

    /// Fetch the key set unless one newer than generation `seen` arrived meanwhile or the last
    /// attempt was too recent; failures are logged and keep the keys there were.
    async fn refresh(&self, seen: u64) {
        let mut fetcher = self.fetcher.lock().await;
        let current = self.snapshot();
        if current.generation != seen {
            return;
        }
        let gap = if current.fetched_at.is_some() { REFETCH_GAP } else { RETRY_GAP };
        if fetcher.last_attempt.is_some_and(|at| at.elapsed() < gap) {
            tracing::debug!(issuer = %self.rules.issuer, "key set fetched recently; not refetched");
            return;
        }
        fetcher.last_attempt = Some(Instant::now());
        let fetched = tokio::time::timeout(REFRESH_LIMIT, self.fetch(&mut fetcher)).await;
        match fetched.unwrap_or_else(|_| Err(format!("no key set within {REFRESH_LIMIT:?}"))) {
            Ok(keys) => {
                let jwks_uri = fetcher.jwks_uri.as_ref().map(ToString::to_string).unwrap_or_default();
                tracing::info!(issuer = %self.rules.issuer, %jwks_uri, keys = keys.len(), "fetched the identity provider's keys");
                let next = Snapshot { keys, fetched_at: Some(Instant::now()), generation: current.generation + 1 };
                if let Ok(mut slot) = self.snapshot.write() {
                    *slot = Arc::new(next);
                }
            }
            Err(why) => {
                let kept = current.keys.len();
                tracing::warn!(issuer = %self.rules.issuer, kept, "cannot fetch the identity provider's keys: {why}");
            }
        }
    }

    async fn fetch(&self, fetcher: &mut Fetcher) -> Result<KeySet, String> {
        let jwks_uri = match fetcher.jwks_uri.clone() {
            Some(uri) => uri,
            None => {
                let uri = self.discover().await?;
                fetcher.jwks_uri = Some(uri.clone());
                uri
            }
        };
        let keys = self.get(&jwks_uri).await.and_then(|body| {
            KeySet::parse(&body).map_err(|why| format!("{jwks_uri}: {why}")).and_then(|keys| {
                if keys.is_empty() { Err(format!("{jwks_uri} holds no RS256 or ES256 signing key")) } else { Ok(keys) }
            })
        });
        if keys.is_err() {
            // Discover again next time: the provider may have moved its keys.
            fetcher.jwks_uri = None;
        }
        keys
    }

    /// `jwks_uri` from the first metadata document found that names our issuer.
    async fn discover(&self) -> Result<Uri, String> {
        let mut problems = Vec::new();
        for url in metadata_urls(&self.rules.issuer) {
            let body = match url.parse::<Uri>() {
                Ok(uri) => self.get(&uri).await,
                Err(_) => Err(format!("{url}: not a URL")),
            };
            match body.and_then(|body| jwks_uri_of(&body, &self.rules.issuer).map_err(|why| format!("{url}: {why}"))) {
                Ok(uri) => return Ok(uri),
                Err(why) => problems.push(why),
            }
        }
        Err(format!("no usable metadata for issuer {}: {}", self.rules.issuer, problems.join("; ")))
    }

    /// The body of a 200 answer to `GET uri`, bounded in time and size.
    async fn get(&self, uri: &Uri) -> Result<Vec<u8>, String> {
        let request = Request::get(uri.clone())
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, concat!("1mcp/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("{uri}: {e}"))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| mcp_http::error_text(&e))?;
            let status = response.status();
            if status != hyper::StatusCode::OK {
                return Err(format!("HTTP {}", status.as_u16()));
            }
            mcp_http::read_body(response.into_body(), MAX_DOCUMENT_BYTES).await.map_err(|e| e.to_string())
        };
        match tokio::time::timeout(FETCH_TIMEOUT, exchange).await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(why)) => Err(format!("{uri}: {why}")),
            Err(_) => Err(format!("{uri}: no answer within {FETCH_TIMEOUT:?}")),
        }
    }
}

/// Where `issuer`'s metadata may be, in the order the MCP authorization spec tries them (the
/// same list 1mcp's client side uses toward backends); none for an issuer that is no URL.
fn metadata_urls(issuer: &str) -> Vec<String> {
    onemcp_core::oauth_client::discovery::server_metadata_urls(issuer).unwrap_or_default()
}

/// The `jwks_uri` of a metadata document, if it is `issuer`'s (RFC 8414 §3.3: the `issuer`
/// must be identical) and the URI is as secure as the issuer.
fn jwks_uri_of(body: &[u8], issuer: &str) -> Result<Uri, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| "not JSON".to_owned())?;
    let named = doc.get("issuer").and_then(Value::as_str).unwrap_or_default();
    if named != issuer {
        return Err(format!("it names issuer {:?}, not the configured one", onemcp_core::text::for_log(named)));
    }
    let text = doc.get("jwks_uri").and_then(Value::as_str).ok_or("no jwks_uri")?;
    let uri: Uri = text.parse().map_err(|_| "jwks_uri is not a URL".to_owned())?;
    let https = uri.scheme_str() == Some("https");
    let http_allowed = issuer.starts_with("http://") && uri.scheme_str() == Some("http");
    if uri.host().is_none_or(str::is_empty) || !(https || http_allowed) {
        return Err("jwks_uri must be an absolute https:// URL".into());
    }
    Ok(uri)
}

/// The token of a `Bearer` authorization value.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// What an `Authorization` header presents: a JWT goes to the external provider (when one is
/// configured); everything else (personal access tokens) to the token store.
pub(crate) async fn credential(
    tokens: &TokenStore,
    idp: Option<&Arc<ExternalIdp>>,
    authorization: Option<&str>,
) -> Credential {
    if let Some(idp) = idp
        && let Some(token) = authorization.and_then(bearer).filter(|t| jwt::looks_like_jwt(t))
    {
        return idp.credential(token).await;
    }
    tokens.credential(authorization)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::tests::{Signer, keys};

    fn settings(issuer: &str) -> IdpSettings {
        IdpSettings {
            issuer: issuer.into(),
            audience: "https://mcp.example.com/mcp".into(),
            scope_claim: "scope".into(),
        }
    }

    #[test]
    fn issuers_must_be_https_except_on_loopback() {
        for ok in [
            "https://idp.example.com",
            "https://idp.example.com/realms/a",
            "http://127.0.0.1:8080",
            "http://localhost:1/x",
            "http://[::1]:9",
        ] {
            assert_eq!(settings(ok).check(), Ok(()), "{ok}");
        }
        for bad in [
            "http://idp.example.com",
            "idp.example.com",
            "ftp://x",
            "https://idp.example.com/?a=b",
            "https://idp.example.com/#x",
            "",
        ] {
            assert!(settings(bad).check().is_err(), "{bad}");
        }
        assert!(IdpSettings { audience: " ".into(), ..settings("https://a.example") }.check().is_err());
    }

    #[test]
    fn metadata_is_looked_for_where_rfc_8414_and_oidc_put_it() {
        assert_eq!(
            metadata_urls("https://idp.example.com"),
            [
                "https://idp.example.com/.well-known/oauth-authorization-server",
                "https://idp.example.com/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            metadata_urls("https://idp.example.com/realms/a/"),
            [
                "https://idp.example.com/.well-known/oauth-authorization-server/realms/a",
                "https://idp.example.com/.well-known/openid-configuration/realms/a",
                "https://idp.example.com/realms/a/.well-known/openid-configuration"
            ]
        );
    }

    #[test]
    fn metadata_must_name_our_issuer_and_a_secure_key_set() {
        let doc = |issuer: &str, jwks: &str| serde_json::json!({"issuer": issuer, "jwks_uri": jwks}).to_string();
        let ours = "https://idp.example.com";
        assert!(jwks_uri_of(doc(ours, "https://idp.example.com/jwks").as_bytes(), ours).is_ok());
        assert!(jwks_uri_of(doc("https://evil.example.com", "https://idp.example.com/jwks").as_bytes(), ours).is_err());
        assert!(jwks_uri_of(doc("https://idp.example.com/", "https://idp.example.com/jwks").as_bytes(), ours).is_err());
        assert!(jwks_uri_of(doc(ours, "http://idp.example.com/jwks").as_bytes(), ours).is_err());
        assert!(jwks_uri_of(doc(ours, "/jwks").as_bytes(), ours).is_err());
        assert!(jwks_uri_of(b"{\"issuer\": \"https://idp.example.com\"}", ours).is_err());
        assert!(jwks_uri_of(b"<html>", ours).is_err());
        let local = "http://127.0.0.1:9";
        assert!(jwks_uri_of(doc(local, "http://127.0.0.1:9/jwks").as_bytes(), local).is_ok());
    }

    /// A verifier for an issuer on a closed loopback port, holding `keys` as if fetched.
    fn seeded(keys: KeySet, generation: u64) -> Arc<ExternalIdp> {
        let idp = ExternalIdp::new(&IdpSettings { issuer: ISSUER.into(), ..settings(ISSUER) }).expect("client");
        idp.seed(keys, generation);
        Arc::new(idp)
    }

    impl ExternalIdp {
        fn seed(&self, keys: KeySet, generation: u64) {
            let next = Snapshot { keys, fetched_at: Some(Instant::now()), generation };
            *self.snapshot.write().expect("lock") = Arc::new(next);
        }
    }

    const ISSUER: &str = "http://127.0.0.1:9";

    fn token_of(signer: &Signer, kid: &str, exp: u64) -> String {
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": "alice", "aud": "https://mcp.example.com/mcp", "exp": exp, "scope": "tag:web",
        });
        signer.token(&signer.header(kid), &claims)
    }

    #[tokio::test]
    async fn remembered_tokens_skip_the_signature_check_until_the_keys_change() {
        let signer = Signer::ec();
        let idp = seeded(keys(&[signer.jwk("k1")]), 1);
        let exp = crate::unix_time_ms() / 1000 + 300;
        let token = token_of(&signer, "k1", exp);
        for _ in 0..2 {
            let Credential::Token(grant) = idp.credential(&token).await else { panic!("admitted") };
            assert_eq!((grant.id.as_str(), grant.tags.clone()), ("http://127.0.0.1:9#alice", Some(vec!["web".into()])));
        }
        let remembered = idp.remembered.lock().expect("lock").clone();
        assert_eq!(remembered.len(), 1);
        assert!(!format!("{remembered:?}").contains(&token), "only what the verifier said is kept");
        // The provider drops the key: the remembered token no longer gets in (the refetch the
        // unknown kid causes fails here: nothing listens on port 9).
        idp.seed(keys(&[Signer::ec().jwk("k2")]), 2);
        assert_eq!(idp.credential(&token).await, Credential::Unknown);
        // An expired token is handed over with its expiry, for the core to refuse.
        idp.seed(keys(&[signer.jwk("k1")]), 3);
        let Credential::Token(grant) = idp.credential(&token_of(&signer, "k1", 1)).await else { panic!("verified") };
        assert_eq!(grant.expires_at_ms, Some((1 + jwt::LEEWAY_S) * 1000));
    }

    /// Cost per request of a bearer JWT, the first time (signature check) and then (a hash).
    /// Run with `cargo test -p onemcp-io --release jwt_credential_cost -- --ignored --nocapture`.
    #[tokio::test]
    #[ignore = "a measurement, not a check"]
    async fn jwt_credential_cost() {
        const ROUNDS: u32 = 2_000;
        for signer in [Signer::ec(), Signer::rsa()] {
            let idp = seeded(keys(&[signer.jwk("k1")]), 1);
            let exp = crate::unix_time_ms() / 1000 + 3600;
            let tokens: Vec<String> = (0..ROUNDS).map(|i| token_of(&signer, "k1", exp + u64::from(i))).collect();
            let started = std::time::Instant::now();
            for token in &tokens {
                assert!(matches!(idp.credential(token).await, Credential::Token(_)));
            }
            let first = started.elapsed() / ROUNDS;
            idp.remembered.lock().expect("lock").clear();
            let token = &tokens[0];
            let _ = idp.credential(token).await;
            let started = std::time::Instant::now();
            for _ in 0..ROUNDS {
                assert!(matches!(idp.credential(token).await, Credential::Token(_)));
            }
            let again = started.elapsed() / ROUNDS;
            eprintln!(
                "{}: {:.1} µs a new token, {:.1} µs a token seen before ({ROUNDS} rounds each)",
                signer.alg(),
                first.as_secs_f64() * 1e6,
                again.as_secs_f64() * 1e6
            );
        }
    }

    #[test]
    fn bearer_values_are_split_like_the_token_store_does() {
        assert_eq!(bearer("Bearer a.b.c"), Some("a.b.c"));
        assert_eq!(bearer("bearer  a.b.c "), Some("a.b.c"));
        assert_eq!(bearer("Basic a.b.c"), None);
        assert_eq!(bearer("Bearer"), None);
    }
}
