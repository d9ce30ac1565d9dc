//! The authorization code grant toward a backend's authorization server, as pure steps: the
//! client registration request (RFC 7591) and its answer, the authorization URL (PKCE S256,
//! `state`, `resource`, `scope`), the checks on the redirect back (`state`; `iss` per RFC 9207
//! before anything else in it is believed), the token and refresh requests, and their answers.
//! Randomness (the PKCE verifier, `state`) comes in from the caller.

use super::discovery::{ClientAuth, origin_and_path};
use super::flow::Found;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The name 1mcp registers under.
pub const CLIENT_NAME: &str = "1mcp";
/// Longest token, code or client credential accepted from a server.
pub const MAX_CREDENTIAL: usize = 8192;

/// Unreserved characters (RFC 3986) go as they are; everything else is percent-encoded.
const FORM_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The client 1mcp is at one authorization server.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Client {
    /// Its `client_id`.
    pub id: String,
    /// Its secret, for a confidential client.
    pub secret: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("id", &self.id).field("secret", &self.secret.is_some()).finish()
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The verifier and state are secrets until the code is redeemed.
        f.debug_struct("Pending")
            .field("issuer", &self.issuer)
            .field("resource", &self.found.resource)
            .finish_non_exhaustive()
    }
}

/// An authorization sent to the user agent, kept until its redirect comes back.
#[derive(Clone, PartialEq, Eq)]
pub struct Pending {
    /// What discovery found (the server's endpoints, `resource`, scope).
    pub(crate) found: Found,
    /// The client it was sent as.
    pub(crate) client: Client,
    /// Where the authorization server sends the user back.
    pub(crate) redirect_uri: String,
    /// `state`, to be matched exactly.
    pub(crate) state: String,
    /// The PKCE code verifier.
    pub(crate) verifier: String,
    /// The issuer recorded before the redirect: `iss` must match it (RFC 9207).
    pub(crate) issuer: String,
}

/// The PKCE code verifier made of 32 random bytes (43 characters, RFC 7636 §4.1) and its S256
/// challenge.
pub fn pkce(random: [u8; 32]) -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(random);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// A `state` value of 16 random bytes.
pub fn state(random: [u8; 16]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// The dynamic registration request for a client redirected to `redirect_uri`: a public client
/// (`none`) of the code and refresh grants, a native application when the redirect is a
/// loopback one (1mcp on the user's machine), a web one otherwise.
pub fn registration_request(redirect_uri: &str, scope: Option<&str>) -> Value {
    let loopback = origin_and_path(redirect_uri).is_ok_and(|(origin, _)| origin.starts_with("http://"));
    let mut request = json!({
        "client_name": CLIENT_NAME,
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "application_type": if loopback { "native" } else { "web" },
    });
    if let Some(scope) = scope {
        request["scope"] = Value::from(scope);
    }
    request
}

/// The client a registration answer (`status`, `body`) made of 1mcp.
pub fn registered_client(status: u16, body: &[u8]) -> Result<Client, String> {
    if !(200..300).contains(&status) {
        return Err(format!("the registration was refused (HTTP {status}){}", error_of(body)));
    }
    let answer: Value = serde_json::from_slice(body).map_err(|_| "the registration answer is not JSON".to_owned())?;
    let id = credential(&answer, "client_id").ok_or("the registration answer has no usable `client_id`")?;
    Ok(Client { id, secret: credential(&answer, "client_secret") })
}

/// The URL to send the user to: the code flow with PKCE S256, `state`, the `resource` and the
/// scope discovery settled on.
pub fn authorization_url(pending: &Pending, challenge: &str) -> String {
    let found = &pending.found;
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", pending.client.id.as_str()),
        ("redirect_uri", pending.redirect_uri.as_str()),
        ("state", pending.state.as_str()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("resource", found.resource.as_str()),
    ];
    if let Some(scope) = &found.scope {
        params.push(("scope", scope));
    }
    let endpoint = &found.server.authorization_endpoint;
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    format!("{endpoint}{separator}{}", form(&params))
}

/// The redirect back, its query `params`: the code to redeem, or why not. `iss` is checked
/// first (RFC 9207: compared exactly when sent; required when the server advertised it), and
/// on a mismatch nothing else in the redirect (an `error` included) is believed.
pub fn check_redirect(pending: &Pending, params: &[(String, String)]) -> Result<String, String> {
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    match param("iss") {
        Some(iss) if iss != pending.issuer => {
            return Err("the redirect names another authorization server (`iss`): refused".to_owned());
        }
        None if pending.found.server.iss_parameter => {
            return Err("the authorization server promised `iss` in its redirect and sent none: refused".to_owned());
        }
        _ => {}
    }
    if param("state") != Some(pending.state.as_str()) {
        return Err("the redirect's `state` is not the one sent: refused".to_owned());
    }
    if let Some(error) = param("error") {
        return Err(format!("the authorization server refused: {}", crate::text::clip(error, 64)));
    }
    param("code")
        .filter(|code| !code.is_empty() && code.len() <= MAX_CREDENTIAL)
        .map(str::to_owned)
        .ok_or_else(|| "the redirect carries no code".to_owned())
}

/// A request to the token endpoint: a form, and HTTP Basic credentials when the client
/// authenticates that way.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The token endpoint.
    pub url: String,
    /// The `application/x-www-form-urlencoded` body.
    pub body: String,
    /// `Authorization: Basic` with this id and secret.
    pub basic: Option<(String, String)>,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest").field("url", &self.url).finish_non_exhaustive()
    }
}

/// Redeems `code` (the authorization code grant, with the PKCE verifier and the `resource`).
pub fn code_request(pending: &Pending, code: &str) -> TokenRequest {
    let params = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", pending.redirect_uri.as_str()),
        ("code_verifier", pending.verifier.as_str()),
        ("resource", pending.found.resource.as_str()),
    ];
    token_request(&pending.found, &pending.client, &params)
}

/// Refreshes with `refresh_token` (for the same `resource`, and the scope granted before).
pub fn refresh_request(found: &Found, client: &Client, refresh_token: &str) -> TokenRequest {
    let mut params =
        vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token), ("resource", found.resource.as_str())];
    if let Some(scope) = &found.scope {
        params.push(("scope", scope));
    }
    token_request(found, client, &params)
}

/// `params` to the token endpoint, with the client authenticated as the server takes it.
fn token_request(found: &Found, client: &Client, params: &[(&str, &str)]) -> TokenRequest {
    let mut params = params.to_vec();
    let auth = found.server.client_auth(client.secret.is_some());
    let mut basic = None;
    match (auth, &client.secret) {
        (ClientAuth::Basic, Some(secret)) => basic = Some((client.id.clone(), secret.clone())),
        (ClientAuth::Post, Some(secret)) => {
            params.push(("client_id", &client.id));
            params.push(("client_secret", secret));
        }
        _ => params.push(("client_id", &client.id)),
    }
    TokenRequest { url: found.server.token_endpoint.clone(), body: form(&params), basic }
}

/// Tokens for one backend.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tokens {
    /// The access token (`Authorization: Bearer`).
    pub(crate) access: String,
    /// The refresh token, if one was issued.
    pub(crate) refresh: Option<String>,
    /// Seconds the access token lives, if said.
    pub(crate) expires_in: Option<u64>,
    /// The scope granted, if said.
    pub(crate) scope: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("refresh", &self.refresh.is_some())
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The token endpoint's answer (`status`, `body`): Bearer tokens, or why there are none (the
/// server's `error` code, never its tokens).
pub fn parse_tokens(status: u16, body: &[u8]) -> Result<Tokens, String> {
    if status != 200 {
        return Err(format!("the token endpoint refused (HTTP {status}){}", error_of(body)));
    }
    let answer: Value = serde_json::from_slice(body).map_err(|_| "the token answer is not JSON".to_owned())?;
    let token_type = answer.get("token_type").and_then(Value::as_str).unwrap_or_default();
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(format!("the token answer's type is {:?}, not Bearer", crate::text::clip(token_type, 32)));
    }
    Ok(Tokens {
        access: credential(&answer, "access_token").ok_or("the token answer has no usable `access_token`")?,
        refresh: credential(&answer, "refresh_token"),
        expires_in: answer.get("expires_in").and_then(Value::as_u64),
        scope: answer.get("scope").and_then(Value::as_str).map(|s| crate::text::clip(s, 1024).into_owned()),
    })
}

/// A credential-like string field: present, non-empty, printable ASCII, bounded.
fn credential(answer: &Value, key: &str) -> Option<String> {
    let value = answer.get(key)?.as_str()?;
    let usable = !value.is_empty() && value.len() <= MAX_CREDENTIAL && value.bytes().all(|b| b.is_ascii_graphic());
    usable.then(|| value.to_owned())
}

/// `: <error>` from an OAuth error answer, for the operator (the code only, clipped).
fn error_of(body: &[u8]) -> String {
    let error = serde_json::from_slice::<Value>(body).ok().and_then(|v| v.get("error")?.as_str().map(str::to_owned));
    error.map(|e| format!(": {}", crate::text::clip(&e, 64))).unwrap_or_default()
}

/// `params` as `application/x-www-form-urlencoded` (and as a query string).
fn form(params: &[(&str, &str)]) -> String {
    let pairs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", utf8_percent_encode(k, FORM_VALUE), utf8_percent_encode(v, FORM_VALUE)))
        .collect();
    pairs.join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::pkce_s256_matches;
    use crate::oauth_client::ServerMetadata;

    fn pending(iss_parameter: bool, token_auth: &str, secret: Option<&str>) -> Pending {
        let server = ServerMetadata {
            issuer: "https://as.example".into(),
            authorization_endpoint: "https://as.example/authorize?tenant=1".into(),
            token_endpoint: "https://as.example/token".into(),
            registration_endpoint: None,
            scopes_supported: None,
            token_auth_methods: vec![token_auth.into()],
            client_id_metadata_documents: false,
            iss_parameter,
        };
        let found =
            Found { resource: "https://mcp.example/mcp".into(), server, scope: Some("mcp:read mcp:write".into()) };
        let (verifier, _) = pkce([7; 32]);
        Pending {
            found,
            client: Client { id: "client 1".into(), secret: secret.map(str::to_owned) },
            redirect_uri: "http://127.0.0.1:3050/oauth/callback/github".into(),
            state: state([9; 16]),
            verifier,
            issuer: "https://as.example".into(),
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn pkce_pairs_verify_and_states_differ_by_their_randomness() {
        let (verifier, challenge) = pkce([1; 32]);
        assert_eq!(verifier.len(), 43);
        assert!(pkce_s256_matches(&verifier, &challenge), "the front door's check accepts what this side makes");
        assert_ne!(pkce([2; 32]).0, verifier);
        assert_ne!(state([1; 16]), state([2; 16]));
    }

    #[test]
    fn the_authorization_url_carries_pkce_state_resource_and_scope_encoded() {
        let p = pending(false, "none", None);
        let (_, challenge) = pkce([7; 32]);
        let url = authorization_url(&p, &challenge);
        assert!(
            url.starts_with("https://as.example/authorize?tenant=1&response_type=code&client_id=client%201&"),
            "{url}"
        );
        for part in [
            "redirect_uri=http%3A%2F%2F127.0.0.1%3A3050%2Foauth%2Fcallback%2Fgithub",
            &format!("state={}", p.state),
            &format!("code_challenge={challenge}"),
            "code_challenge_method=S256",
            "resource=https%3A%2F%2Fmcp.example%2Fmcp",
            "scope=mcp%3Aread%20mcp%3Awrite",
        ] {
            assert!(url.contains(part), "{part} missing from {url}");
        }
        let mut unscoped = p.clone();
        unscoped.found.scope = None;
        assert!(!authorization_url(&unscoped, &challenge).contains("scope="));
    }

    #[test]
    fn the_redirect_is_believed_only_with_the_right_iss_and_state() {
        let advertised = pending(true, "none", None);
        let quiet = pending(false, "none", None);
        let state = advertised.state.clone();
        let ok = params(&[("code", "c0de"), ("state", &state), ("iss", "https://as.example")]);
        assert_eq!(check_redirect(&advertised, &ok).as_deref(), Ok("c0de"));
        assert_eq!(check_redirect(&quiet, &ok).as_deref(), Ok("c0de"), "sent though not advertised: compared, equal");
        let missing = params(&[("code", "c0de"), ("state", &state)]);
        assert!(check_redirect(&advertised, &missing).is_err_and(|e| e.contains("promised `iss`")));
        assert_eq!(check_redirect(&quiet, &missing).as_deref(), Ok("c0de"), "neither advertised nor sent");
        for wrong in ["https://evil.example", "https://as.example/", "https://AS.example", "https://as.example:443"] {
            let mismatch = params(&[("code", "c0de"), ("state", &state), ("iss", wrong)]);
            assert!(
                check_redirect(&quiet, &mismatch).is_err_and(|e| e.contains("another authorization server")),
                "{wrong}"
            );
        }
        // On a mismatch even the error is not believed (nor shown).
        let spoofed = params(&[("error", "access_denied"), ("state", &state), ("iss", "https://evil.example")]);
        assert!(check_redirect(&quiet, &spoofed).is_err_and(|e| !e.contains("access_denied")));
        let refused = params(&[("error", "access_denied"), ("state", &state)]);
        assert!(check_redirect(&quiet, &refused).is_err_and(|e| e.contains("access_denied")));
        let forged = params(&[("code", "c0de"), ("state", "other")]);
        assert!(check_redirect(&quiet, &forged).is_err_and(|e| e.contains("state")));
        assert!(check_redirect(&quiet, &params(&[("state", &state)])).is_err_and(|e| e.contains("no code")));
    }

    #[test]
    fn token_requests_authenticate_the_client_as_the_server_takes_it() {
        let public = code_request(&pending(false, "none", None), "c0de");
        assert_eq!(public.url, "https://as.example/token");
        assert_eq!(public.basic, None);
        for part in [
            "grant_type=authorization_code",
            "code=c0de",
            "code_verifier=",
            "resource=https%3A%2F%2Fmcp.example%2Fmcp",
            "client_id=client%201",
        ] {
            assert!(public.body.contains(part), "{part} missing from {}", public.body);
        }
        let basic = code_request(&pending(false, "client_secret_basic", Some("s3cret")), "c0de");
        assert_eq!(basic.basic, Some(("client 1".into(), "s3cret".into())));
        assert!(!basic.body.contains("s3cret") && !basic.body.contains("client_id="));
        let post = code_request(&pending(false, "client_secret_post", Some("s3cret")), "c0de");
        assert!(post.body.contains("client_secret=s3cret") && post.basic.is_none());
        let p = pending(false, "none", None);
        let refresh = refresh_request(&p.found, &p.client, "r-1");
        assert!(refresh.body.starts_with("grant_type=refresh_token&refresh_token=r-1&resource="), "{}", refresh.body);
        assert!(!format!("{basic:?}").contains("s3cret"), "secrets stay out of debug output");
    }

    #[test]
    fn registration_and_token_answers_are_read_strictly() {
        let request = registration_request("http://127.0.0.1:3050/oauth/callback/x", Some("a b"));
        assert_eq!((request["application_type"].as_str(), request["scope"].as_str()), (Some("native"), Some("a b")));
        assert_eq!(registration_request("https://gw.example/oauth/callback/x", None)["application_type"], "web");
        let client = registered_client(201, br#"{"client_id":"abc","client_secret":"def"}"#).unwrap();
        assert_eq!((client.id.as_str(), client.secret.as_deref()), ("abc", Some("def")));
        assert!(
            registered_client(400, br#"{"error":"invalid_redirect_uri"}"#)
                .is_err_and(|e| e.contains("invalid_redirect_uri"))
        );
        assert!(registered_client(201, br#"{"client_id":""}"#).is_err());
        let tokens = parse_tokens(
            200,
            br#"{"access_token":"at","token_type":"bearer","refresh_token":"rt","expires_in":3600,"scope":"a"}"#,
        )
        .unwrap();
        assert_eq!(
            (tokens.access.as_str(), tokens.refresh.as_deref(), tokens.expires_in),
            ("at", Some("rt"), Some(3600))
        );
        assert!(!format!("{tokens:?}").contains("at\"") && !format!("{tokens:?}").contains("rt"), "{tokens:?}");
        assert!(parse_tokens(200, br#"{"access_token":"at","token_type":"DPoP"}"#).is_err_and(|e| e.contains("DPoP")));
        assert!(
            parse_tokens(400, br#"{"error":"invalid_grant","access_token":"leak"}"#)
                .is_err_and(|e| e.contains("invalid_grant") && !e.contains("leak"))
        );
        assert!(parse_tokens(200, b"<html>").is_err());
        assert!(
            parse_tokens(200, br#"{"access_token":"a b","token_type":"Bearer"}"#).is_err(),
            "not a header-safe token"
        );
    }
}
