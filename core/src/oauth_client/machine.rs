//! One backend's authorization as a state machine: from a refusal, through discovery,
//! registration and the user's consent, to tokens that are refreshed before they expire and
//! widened when the server asks for more scope, with a bounded number of tries at each step.
//!
//! io feeds it what happened (a refusal, a fetched document, a registration or token answer,
//! the redirect back, the time) and does what it answers ([`Action`]). Randomness (PKCE, state)
//! is passed in. It never holds more than one backend's secrets, and shows none in `Debug`.

use super::authorize::{
    Client, Pending, TokenRequest, Tokens, authorization_url, check_redirect, code_request, parse_tokens, pkce,
    refresh_request, registered_client, registration_request, state,
};
use super::challenge::Challenge;
use super::discovery::union_scopes;
use super::flow::{Discovery, Found, Step};
use crate::time::Instant;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// Step-up authorizations (403 `insufficient_scope`) in a row before the backend is left
/// refused: a server that keeps asking for more is not followed forever.
/// Two: with the first authorization, three attempts at most (the conformance suite's bound).
pub const MAX_STEP_UPS: u32 = 2;
/// Tokens are refreshed this long before they expire (half-way for shorter-lived ones).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// What io must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// GET this metadata URL and report with [`Authorizer::handle_fetched`].
    Fetch(String),
    /// POST this JSON body to this registration endpoint; report with
    /// [`Authorizer::handle_registered`].
    Register {
        /// The registration endpoint.
        url: String,
        /// The request body.
        body: Value,
    },
    /// The user must authorize: show this link (behind `/oauth/authorize/<server>`) until the
    /// redirect comes back ([`Authorizer::handle_redirect`]).
    AwaitUser(String),
    /// POST this to the token endpoint; report with [`Authorizer::handle_token_answer`].
    Token(TokenRequest),
    /// Authorized: send this access token with every request (and persist the credentials).
    Ready,
    /// Authorization cannot go on: why (shown in `/health`; a new refusal starts over).
    Failed(String),
    /// Nothing to do: the input was stale, or an attempt is under way and the answer that
    /// continues it is awaited.
    Wait,
}

/// Where one backend's authorization is.
#[derive(Clone, Debug)]
enum State {
    /// Nothing yet, or forgotten.
    Idle,
    /// Discovery is fetching documents.
    Discovering { discovery: Discovery, scope: Option<String> },
    /// The registration request is out.
    Registering { found: Found },
    /// The authorization link is out; the redirect is awaited.
    AwaitingUser { pending: Box<Pending> },
    /// The code is being redeemed.
    Redeeming { pending: Box<Pending> },
    /// Tokens in hand.
    Authorized(Box<Authorized>),
    /// A refresh is out; the old token may still be used until it expires.
    Refreshing(Box<Authorized>),
    /// It went wrong.
    Failed(String),
}

/// What an authorized backend holds.
#[derive(Clone, Debug)]
struct Authorized {
    found: Found,
    client: Client,
    tokens: Tokens,
    /// When the access token expires (if the server said).
    expires_at: Option<Instant>,
    /// When the tokens came (or were restored): a short-lived token is refreshed half-way
    /// through its life rather than [`REFRESH_MARGIN`] before its end.
    issued_at: Instant,
}

impl Authorized {
    /// When to refresh: [`REFRESH_MARGIN`] before expiry, or half-way for a token that lives
    /// less than twice that (a 10 s token is refreshed every 5 s, not in a loop).
    fn refresh_at(&self) -> Option<Instant> {
        let at = self.expires_at?;
        let life = at.0.saturating_sub(self.issued_at.0);
        let margin = u64::try_from(REFRESH_MARGIN.as_nanos()).unwrap_or(u64::MAX).min(life / 2);
        Some(Instant(at.0 - margin))
    }
}

/// What of one server's authorization outlives the daemon (its entry in the token store): the
/// clients registered at each issuer, and the grant with its expiry in wall-clock time. It
/// belongs to the server's URL: tokens are bound to that resource, so a saved authorization
/// for another URL is not restored.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Saved {
    /// The MCP server the authorization is for.
    server_url: String,
    #[serde(default)]
    clients: Vec<SavedClient>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grant: Option<SavedGrant>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SavedClient {
    issuer: String,
    client: Client,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SavedGrant {
    found: Found,
    client: Client,
    tokens: Tokens,
    /// Unix time in milliseconds the access token expires, if the server said.
    expires_at_ms: Option<u64>,
}

impl Saved {
    /// The MCP server the authorization is for (it is used for that URL only).
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The issuer of the grant held, if any.
    pub fn issuer(&self) -> Option<&str> {
        self.grant.as_ref().map(|g| g.found.server.issuer.as_str())
    }

    /// When the access token expires (Unix ms), if a grant is held and its server said.
    pub fn expires_at_ms(&self) -> Option<u64> {
        self.grant.as_ref().and_then(|g| g.expires_at_ms)
    }

    /// True if the grant held can be refreshed.
    pub fn refreshable(&self) -> bool {
        self.grant.as_ref().is_some_and(|g| g.tokens.refresh.is_some())
    }

    /// The scope granted, if a grant is held and its server said.
    pub fn scope(&self) -> Option<&str> {
        self.grant.as_ref().and_then(|g| g.tokens.scope.as_deref().or(g.found.scope.as_deref()))
    }

    /// The issuers 1mcp is registered at.
    pub fn registered_at(&self) -> impl Iterator<Item = &str> {
        self.clients.iter().map(|c| c.issuer.as_str())
    }
}

impl std::fmt::Debug for Saved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Saved")
            .field("server_url", &self.server_url)
            .field("issuer", &self.issuer())
            .field("registered_at", &self.registered_at().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Randomness for one authorization attempt (PKCE verifier and `state`).
#[derive(Clone, Copy, Debug)]
pub struct Random {
    /// Bytes of the PKCE code verifier.
    pub verifier: [u8; 32],
    /// Bytes of `state`.
    pub state: [u8; 16],
}

/// The authorization of one backend toward the MCP server at `server_url`.
#[derive(Clone, Debug)]
pub struct Authorizer {
    server_url: String,
    redirect_uri: String,
    /// Pre-registered credentials from the config (tried first).
    configured: Option<Client>,
    /// Clients registered so far, by issuer (never used at another issuer).
    registered: Vec<(String, Client)>,
    state: State,
    /// Step-ups since a request last went through.
    step_ups: u32,
    /// A 401 was answered with a refresh since a request last went through: the next 401
    /// needs the user.
    refreshed_on_refusal: bool,
    /// The randomness of the attempt under way.
    random: Option<Random>,
    /// Scopes the config asks for instead of the ones the server names (1MCP's `oauth.scopes`).
    scopes: Option<String>,
    /// Whether 1mcp may register itself dynamically (1MCP's `oauth.autoRegister`).
    may_register: bool,
    /// The URL of a Client ID Metadata Document naming 1mcp: its client id where the
    /// authorization server accepts such ids.
    metadata_document: Option<String>,
}

impl Authorizer {
    /// An authorizer for the server at `server_url`, sending the user back to `redirect_uri`,
    /// with `configured` pre-registered credentials if the config has them.
    pub fn new(server_url: &str, redirect_uri: &str, configured: Option<Client>) -> Authorizer {
        Authorizer {
            server_url: server_url.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            configured,
            registered: Vec::new(),
            state: State::Idle,
            step_ups: 0,
            refreshed_on_refusal: false,
            random: None,
            scopes: None,
            may_register: true,
            metadata_document: None,
        }
    }

    /// Use `url` (an `https://` Client ID Metadata Document) as the client id at
    /// authorization servers that accept one, before registering dynamically.
    #[must_use]
    pub fn with_metadata_document(mut self, url: Option<String>) -> Authorizer {
        self.metadata_document = url.filter(|url| url.starts_with("https://"));
        self
    }

    /// Ask for `scopes` (space-separated, from the config) rather than what the server names;
    /// a step-up still adds what the server asks for.
    #[must_use]
    pub fn with_scopes(mut self, scopes: Option<String>) -> Authorizer {
        self.scopes = scopes.filter(|s| !s.trim().is_empty());
        self
    }

    /// Never register dynamically (1MCP's `autoRegister: false`): without a configured client
    /// the authorization fails with a reason.
    #[must_use]
    pub fn without_registration(mut self) -> Authorizer {
        self.may_register = false;
        self
    }

    /// The access token to send, if authorized (also while a refresh is out).
    pub fn access_token(&self) -> Option<&str> {
        match &self.state {
            State::Authorized(a) | State::Refreshing(a) => Some(&a.tokens.access),
            _ => None,
        }
    }

    /// What to keep of it across restarts, at `now` (monotonic) = `wall_ms` (Unix ms).
    pub fn saved(&self, now: Instant, wall_ms: u64) -> Saved {
        let clients = self
            .registered
            .iter()
            .map(|(issuer, client)| SavedClient { issuer: issuer.clone(), client: client.clone() })
            .collect();
        let grant = match &self.state {
            State::Authorized(a) | State::Refreshing(a) => Some(SavedGrant {
                found: a.found.clone(),
                client: a.client.clone(),
                tokens: a.tokens.clone(),
                expires_at_ms: a.expires_at.map(|at| shift_ms(wall_ms, now, at)),
            }),
            _ => None,
        };
        Saved { server_url: self.server_url.clone(), clients, grant }
    }

    /// Takes back what [`Authorizer::saved`] kept, at `now` = `wall_ms`; false (and nothing
    /// taken) if it was saved for another server URL. A grant whose access token expired is
    /// restored all the same: it is refreshed at the first tick, or refused by the server.
    pub fn restore(&mut self, saved: Saved, now: Instant, wall_ms: u64) -> bool {
        if saved.server_url != self.server_url {
            return false;
        }
        self.registered = saved.clients.into_iter().map(|c| (c.issuer, c.client)).collect();
        if let Some(grant) = saved.grant {
            let expires_at = grant.expires_at_ms.map(|at| now.after(Duration::from_millis(at.saturating_sub(wall_ms))));
            let (found, client, tokens) = (grant.found, grant.client, grant.tokens);
            let authorized = Authorized { found, client, tokens, expires_at, issued_at: now };
            self.state = State::Authorized(Box::new(authorized));
        }
        true
    }

    /// The link the user must follow, while one is awaited.
    pub fn awaiting_user(&self) -> Option<String> {
        let State::AwaitingUser { pending } = &self.state else { return None };
        let random = self.random?;
        Some(authorization_url(pending, &pkce(random.verifier).1))
    }

    /// The server refused a request with `status` (401 or 403) and `challenge`, at `now`;
    /// `random` seeds the attempt this may start. A 401 starts (or restarts) authorization; a
    /// 403 asking for more scope starts a step-up with the union of scopes, at most
    /// [`MAX_STEP_UPS`] times in a row; any other 403 is not ours to fix.
    pub fn handle_refused(&mut self, status: u16, challenge: Challenge, random: Random) -> Action {
        if matches!(
            self.state,
            State::Discovering { .. }
                | State::Registering { .. }
                | State::AwaitingUser { .. }
                | State::Redeeming { .. }
        ) {
            // An attempt is under way: the refusal of a request sent meanwhile changes nothing.
            return self.current();
        }
        if status == 401
            && !self.refreshed_on_refusal
            && let State::Authorized(a) = &self.state
            && let Some(refresh) = a.tokens.refresh.clone()
        {
            // The token was refused (expired early, revoked): a refresh may do, once.
            self.refreshed_on_refusal = true;
            let request = refresh_request(&a.found, &a.client, &refresh);
            let State::Authorized(a) = std::mem::replace(&mut self.state, State::Idle) else { return self.current() };
            self.state = State::Refreshing(a);
            return Action::Token(request);
        }
        let previous = match &self.state {
            State::Authorized(a) | State::Refreshing(a) => a.found.scope.clone(),
            _ => None,
        };
        let scope = if status == 403 {
            if !challenge.wants_more_scope() {
                return Action::Failed(
                    "the server refused the request (HTTP 403) for a reason other than scope".into(),
                );
            }
            self.step_ups += 1;
            if self.step_ups > MAX_STEP_UPS {
                return self.fail(format!("the server asked for more scope {MAX_STEP_UPS} times in a row; giving up"));
            }
            union_scopes(previous.as_deref(), challenge.scope.as_deref())
        } else {
            self.scopes.clone().or_else(|| challenge.scope.clone())
        };
        self.random = Some(random);
        let (discovery, step) = Discovery::start(&self.server_url, Challenge { scope: scope.clone(), ..challenge });
        self.state = State::Discovering { discovery, scope };
        self.after_discovery_step(step)
    }

    /// The answer to the last [`Action::Fetch`] (status 0: none).
    pub fn handle_fetched(&mut self, status: u16, body: &[u8]) -> Action {
        let State::Discovering { discovery, .. } = &mut self.state else { return self.current() };
        let step = discovery.handle_fetched(status, body);
        self.after_discovery_step(step)
    }

    fn after_discovery_step(&mut self, step: Step) -> Action {
        match step {
            Step::Fetch(url) => Action::Fetch(url),
            Step::Failed(why) => self.fail(why),
            Step::Found(found) => {
                // A step-up's scope is the union, whatever discovery would pick on its own.
                if let State::Discovering { scope: Some(scope), .. } = &self.state {
                    let mut found = found;
                    found.scope = Some(scope.clone());
                    return self.register(found);
                }
                self.register(found)
            }
        }
    }

    /// Picks the client to be at `found`'s server: the configured one, one registered there
    /// before, or a new registration.
    fn register(&mut self, found: Found) -> Action {
        let issuer = &found.server.issuer;
        let known = self.registered.iter().find(|(i, _)| i == issuer).map(|(_, c)| c.clone());
        if let Some(client) = self.configured.clone().or(known) {
            return self.send_user(found, client);
        }
        if found.server.client_id_metadata_documents
            && let Some(url) = self.metadata_document.clone()
        {
            // The document is the registration: the server fetches it to learn who 1mcp is.
            return self.send_user(found, Client { id: url, secret: None });
        }
        if !self.may_register {
            return self.fail(format!(
                "no client is configured for the authorization server {issuer} (`oauth.clientId`) and \
                 registration is off (`oauth.autoRegister: false`)"
            ));
        }
        let Some(url) = found.server.registration_endpoint.clone() else {
            return self.fail(format!(
                "the authorization server {issuer} offers no registration and no client is configured for it \
                 (`oauth.clientId`)"
            ));
        };
        let body = registration_request(&self.redirect_uri, found.scope.as_deref());
        self.state = State::Registering { found };
        Action::Register { url, body }
    }

    /// The registration answer.
    pub fn handle_registered(&mut self, status: u16, body: &[u8]) -> Action {
        let State::Registering { found } = &self.state else { return self.current() };
        let found = found.clone();
        match registered_client(status, body) {
            Ok(client) => {
                self.registered.retain(|(issuer, _)| *issuer != found.server.issuer);
                self.registered.push((found.server.issuer.clone(), client.clone()));
                self.send_user(found, client)
            }
            Err(why) => self.fail(why),
        }
    }

    fn send_user(&mut self, found: Found, client: Client) -> Action {
        let Some(random) = self.random else { return self.fail("no randomness for the attempt".into()) };
        let (verifier, challenge) = pkce(random.verifier);
        let issuer = found.server.issuer.clone();
        let pending = Pending {
            found,
            client,
            redirect_uri: self.redirect_uri.clone(),
            state: state(random.state),
            verifier,
            issuer,
        };
        let link = authorization_url(&pending, &challenge);
        self.state = State::AwaitingUser { pending: Box::new(pending) };
        Action::AwaitUser(link)
    }

    /// The redirect back from the authorization server, its query parameters.
    pub fn handle_redirect(&mut self, params: &[(String, String)]) -> Action {
        let State::AwaitingUser { pending } = &self.state else {
            return Action::Failed("no authorization is awaited for this server".into());
        };
        match check_redirect(pending, params) {
            Ok(code) => {
                let request = code_request(pending, &code);
                let pending = pending.clone();
                self.state = State::Redeeming { pending };
                Action::Token(request)
            }
            // A forged or stray redirect leaves the real one awaited.
            Err(why) => Action::Failed(why),
        }
    }

    /// The token endpoint's answer (to a code or a refresh), at `now`.
    pub fn handle_token_answer(&mut self, status: u16, body: &[u8], now: Instant) -> Action {
        let (found, client) = match &self.state {
            State::Redeeming { pending } => (pending.found.clone(), pending.client.clone()),
            State::Refreshing(a) => (a.found.clone(), a.client.clone()),
            _ => return self.current(),
        };
        match parse_tokens(status, body) {
            Ok(tokens) => {
                let expires_at = tokens.expires_in.map(|s| now.after(Duration::from_secs(s)));
                // A refresh that brings no new refresh token keeps the old one.
                let tokens = match (&self.state, tokens.refresh.is_none()) {
                    (State::Refreshing(a), true) => Tokens { refresh: a.tokens.refresh.clone(), ..tokens },
                    _ => tokens,
                };
                self.random = None;
                let authorized = Authorized { found, client, tokens, expires_at, issued_at: now };
                self.state = State::Authorized(Box::new(authorized));
                Action::Ready
            }
            Err(why) => self.fail(why),
        }
    }

    /// A request the server refused before went through: the step-ups in a row start over.
    pub fn handle_request_succeeded(&mut self) {
        self.step_ups = 0;
        self.refreshed_on_refusal = false;
    }

    /// The time is `now`: a token near its expiry is refreshed (if there is a refresh token;
    /// otherwise it is used until the server refuses it).
    pub fn handle_tick(&mut self, now: Instant) -> Option<Action> {
        let State::Authorized(a) = &self.state else { return None };
        let due = a.refresh_at().is_some_and(|at| now >= at);
        let refresh = a.tokens.refresh.as_deref().filter(|_| due)?;
        let request = refresh_request(&a.found, &a.client, refresh);
        let State::Authorized(a) = std::mem::replace(&mut self.state, State::Idle) else { return None };
        self.state = State::Refreshing(a);
        Some(Action::Token(request))
    }

    /// When [`Authorizer::handle_tick`] wants to be called next.
    pub fn next_tick(&self) -> Option<Instant> {
        match &self.state {
            State::Authorized(a) if a.tokens.refresh.is_some() => a.refresh_at(),
            _ => None,
        }
    }

    /// Forget everything (`1mcp auth logout`): tokens and the attempt under way. Registrations
    /// are kept (they are the client's, not the user's).
    pub fn forget(&mut self) {
        self.state = State::Idle;
        self.step_ups = 0;
        self.refreshed_on_refusal = false;
        self.random = None;
    }

    /// What the current state asks of io (for an input that does not move it).
    fn current(&self) -> Action {
        match &self.state {
            State::AwaitingUser { .. } => {
                self.awaiting_user().map_or(Action::Failed("no link".into()), Action::AwaitUser)
            }
            State::Authorized(_) | State::Refreshing(_) => Action::Ready,
            State::Failed(why) => Action::Failed(why.clone()),
            State::Idle | State::Discovering { .. } | State::Registering { .. } | State::Redeeming { .. } => {
                Action::Wait
            }
        }
    }

    fn fail(&mut self, why: String) -> Action {
        self.state = State::Failed(why.clone());
        self.random = None;
        Action::Failed(why)
    }
}

/// `at` (monotonic) in Unix ms, given that `now` is `wall_ms`.
fn shift_ms(wall_ms: u64, now: Instant, at: Instant) -> u64 {
    let ms = |nanos: u64| nanos / 1_000_000;
    if at.0 >= now.0 { wall_ms.saturating_add(ms(at.0 - now.0)) } else { wall_ms.saturating_sub(ms(now.0 - at.0)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SERVER: &str = "https://mcp.example/mcp";
    const ISSUER: &str = "https://auth.example";
    const REDIRECT: &str = "http://127.0.0.1:3050/oauth/callback/remote";
    const RANDOM: Random = Random { verifier: [3; 32], state: [4; 16] };

    fn prm() -> Vec<u8> {
        json!({"resource": SERVER, "authorization_servers": [ISSUER], "scopes_supported": ["mcp:read"]})
            .to_string()
            .into_bytes()
    }

    fn as_metadata() -> Vec<u8> {
        json!({"issuer": ISSUER, "authorization_endpoint": format!("{ISSUER}/authorize"), "token_endpoint": format!("{ISSUER}/token"),
            "registration_endpoint": format!("{ISSUER}/register"), "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true})
        .to_string()
        .into_bytes()
    }

    /// Follows fetches with the happy documents until something else is asked.
    fn discover(a: &mut Authorizer, mut action: Action) -> Action {
        for _ in 0..8 {
            let Action::Fetch(url) = &action else { return action };
            action = if url.ends_with("/oauth-protected-resource/mcp") {
                a.handle_fetched(200, &prm())
            } else if url.starts_with(ISSUER) && url.contains("oauth-authorization-server") {
                a.handle_fetched(200, &as_metadata())
            } else {
                a.handle_fetched(404, b"")
            };
        }
        panic!("discovery did not settle: {action:?}");
    }

    /// From a 401 to a link for the user, registering dynamically.
    fn to_link(a: &mut Authorizer, challenge: Challenge) -> String {
        let action = a.handle_refused(401, challenge, RANDOM);
        let action = discover(a, action);
        let action = match action {
            Action::Register { url, body } => {
                assert_eq!(url, format!("{ISSUER}/register"));
                assert_eq!(body["redirect_uris"], json!([REDIRECT]));
                a.handle_registered(201, br#"{"client_id":"dyn-1"}"#)
            }
            other => other,
        };
        let Action::AwaitUser(link) = action else { panic!("{action:?}") };
        assert_eq!(a.awaiting_user().as_deref(), Some(link.as_str()));
        link
    }

    fn query(link: &str, key: &str) -> String {
        let q = link.split_once('?').map(|(_, q)| q).unwrap_or_default();
        q.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .map(|v| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
            .unwrap_or_default()
    }

    fn redirect(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn authorized(expires_in: u64) -> Authorizer {
        let mut a = Authorizer::new(SERVER, REDIRECT, None);
        let link = to_link(&mut a, Challenge::default());
        complete(&mut a, &link, expires_in);
        a
    }

    /// The user consents at `link`; the code is redeemed for tokens living `expires_in` s.
    fn complete(a: &mut Authorizer, link: &str, expires_in: u64) {
        let state = query(link, "state");
        let Action::Token(request) =
            a.handle_redirect(&redirect(&[("code", "c1"), ("state", &state), ("iss", ISSUER)]))
        else {
            panic!("no token request")
        };
        assert!(request.body.contains("code=c1") && request.body.contains("client_id=dyn-1"));
        let answer =
            json!({"access_token": "at-1", "token_type": "Bearer", "refresh_token": "rt-1", "expires_in": expires_in});
        assert_eq!(a.handle_token_answer(200, answer.to_string().as_bytes(), Instant(0)), Action::Ready);
    }

    #[test]
    fn a_401_leads_through_discovery_registration_and_consent_to_a_token() {
        let a = authorized(3600);
        assert_eq!(a.access_token(), Some("at-1"));
        assert!(a.awaiting_user().is_none());
        assert!(!format!("{a:?}").contains("at-1") && !format!("{a:?}").contains("rt-1"), "no secret in Debug: {a:?}");
    }

    #[test]
    fn the_link_names_the_resource_and_scope_and_a_forged_redirect_leaves_it_awaited() {
        let mut a = Authorizer::new(SERVER, REDIRECT, None);
        let link = to_link(&mut a, Challenge { scope: Some("mcp:basic".into()), ..Challenge::default() });
        assert_eq!((query(&link, "resource"), query(&link, "scope")), (SERVER.to_owned(), "mcp:basic".to_owned()));
        assert!(matches!(
            a.handle_redirect(&redirect(&[("code", "c"), ("state", "forged"), ("iss", ISSUER)])),
            Action::Failed(_)
        ));
        assert!(
            matches!(a.handle_redirect(&redirect(&[("code", "c"), ("state", &query(&link, "state"))])), Action::Failed(why) if why.contains("iss"))
        );
        assert_eq!(a.awaiting_user(), Some(link), "still awaiting the real redirect");
    }

    #[test]
    fn a_configured_client_is_used_instead_of_registering_and_registrations_are_per_issuer() {
        let configured = Client { id: "pre-1".into(), secret: Some("pre-secret".into()) };
        let mut a = Authorizer::new(SERVER, REDIRECT, Some(configured));
        let action = a.handle_refused(401, Challenge::default(), RANDOM);
        let Action::AwaitUser(link) = discover(&mut a, action) else { panic!("no link") };
        assert_eq!(query(&link, "client_id"), "pre-1");
        assert!(!link.contains("pre-secret"));
    }

    #[test]
    fn configured_scopes_replace_the_servers_and_registration_can_be_turned_off() {
        let mut a = Authorizer::new(SERVER, REDIRECT, None).with_scopes(Some("repo read:org".into()));
        let challenge = Challenge { scope: Some("mcp:read".into()), ..Challenge::default() };
        assert_eq!(query(&to_link(&mut a, challenge), "scope"), "repo read:org");

        let mut b = Authorizer::new(SERVER, REDIRECT, None).without_registration();
        let action = b.handle_refused(401, Challenge::default(), RANDOM);
        assert!(matches!(discover(&mut b, action), Action::Failed(why) if why.contains("autoRegister")));
        let configured = Client { id: "pre-1".into(), secret: None };
        let mut c = Authorizer::new(SERVER, REDIRECT, Some(configured)).without_registration();
        let action = c.handle_refused(401, Challenge::default(), RANDOM);
        assert!(matches!(discover(&mut c, action), Action::AwaitUser(_)), "a configured client needs no registration");
    }

    #[test]
    fn a_metadata_document_is_the_client_id_where_accepted_after_a_configured_client() {
        const DOCUMENT: &str = "https://gw.example/oauth/client-metadata.json";
        let accepting = || {
            let mut metadata: Value = serde_json::from_slice(&as_metadata()).expect("JSON");
            metadata["client_id_metadata_document_supported"] = true.into();
            metadata.to_string().into_bytes()
        };
        let discover_accepting = |a: &mut Authorizer| {
            let mut action = a.handle_refused(401, Challenge::default(), RANDOM);
            for _ in 0..8 {
                let Action::Fetch(url) = &action else { return action };
                action = if url.ends_with("/oauth-protected-resource/mcp") {
                    a.handle_fetched(200, &prm())
                } else if url.contains("oauth-authorization-server") {
                    a.handle_fetched(200, &accepting())
                } else {
                    a.handle_fetched(404, b"")
                };
            }
            action
        };
        let mut a = Authorizer::new(SERVER, REDIRECT, None).with_metadata_document(Some(DOCUMENT.into()));
        let Action::AwaitUser(link) = discover_accepting(&mut a) else { panic!("no link") };
        assert_eq!(query(&link, "client_id"), DOCUMENT, "no registration: the document is the id");

        let configured = Client { id: "pre-1".into(), secret: None };
        let mut b = Authorizer::new(SERVER, REDIRECT, Some(configured)).with_metadata_document(Some(DOCUMENT.into()));
        let Action::AwaitUser(link) = discover_accepting(&mut b) else { panic!("no link") };
        assert_eq!(query(&link, "client_id"), "pre-1", "a configured client comes first");

        let mut c = Authorizer::new(SERVER, REDIRECT, None).with_metadata_document(Some(DOCUMENT.into()));
        let action = c.handle_refused(401, Challenge::default(), RANDOM);
        assert!(matches!(discover(&mut c, action), Action::Register { .. }), "a server that does not accept them");
        assert!(
            Authorizer::new(SERVER, REDIRECT, None)
                .with_metadata_document(Some("http://gw/doc.json".into()))
                .metadata_document
                .is_none(),
            "only an https:// document can be a client id"
        );
    }

    #[test]
    fn tokens_are_refreshed_before_they_expire_and_keep_their_refresh_token() {
        let mut a = authorized(3600);
        let due = Instant(0).after(Duration::from_secs(3600) - REFRESH_MARGIN);
        assert_eq!(a.next_tick(), Some(due));
        assert_eq!(a.handle_tick(Instant(0).after(Duration::from_secs(60))), None, "not yet");
        let Some(Action::Token(request)) = a.handle_tick(due) else { panic!("no refresh") };
        assert!(request.body.contains("grant_type=refresh_token&refresh_token=rt-1"), "{}", request.body);
        assert_eq!(a.access_token(), Some("at-1"), "the old token serves while the refresh is out");
        let answer = json!({"access_token": "at-2", "token_type": "Bearer", "expires_in": 3600});
        assert_eq!(a.handle_token_answer(200, answer.to_string().as_bytes(), due), Action::Ready);
        assert_eq!(a.access_token(), Some("at-2"));
        let Some(Action::Token(again)) = a.handle_tick(due.after(Duration::from_secs(3600))) else {
            panic!("no refresh")
        };
        assert!(again.body.contains("refresh_token=rt-1"), "the refresh token was kept");
        // A refused refresh fails: the backend needs the user again, no loop.
        assert!(
            matches!(a.handle_token_answer(400, br#"{"error":"invalid_grant"}"#, due), Action::Failed(why) if why.contains("invalid_grant"))
        );
        assert_eq!((a.access_token(), a.next_tick()), (None, None));
    }

    #[test]
    fn a_saved_authorization_comes_back_with_its_expiry_in_wall_clock_time_and_only_for_its_server() {
        let a = authorized(3600);
        // Saved 100 s after the tokens came, when the wall clock said 1_000_000 ms.
        let saved = a.saved(Instant(0).after(Duration::from_secs(100)), 1_000_000);
        assert_eq!((saved.issuer(), saved.expires_at_ms()), (Some(ISSUER), Some(1_000_000 + 3_500_000)));
        assert!(saved.refreshable());
        assert_eq!(saved.registered_at().collect::<Vec<_>>(), [ISSUER]);
        let text = serde_json::to_string(&saved).expect("serializes");
        assert!(!format!("{saved:?}").contains("at-1") && !format!("{saved:?}").contains("rt-1"), "{saved:?}");

        // Restored by a daemon whose monotonic clock starts over, 1000 s of wall time later.
        let back: Saved = serde_json::from_str(&text).expect("parses");
        let mut b = Authorizer::new(SERVER, REDIRECT, None);
        let (now, wall) = (Instant(5), 2_000_000);
        assert!(b.restore(back.clone(), now, wall));
        assert_eq!(b.access_token(), Some("at-1"));
        let due = now.after(Duration::from_millis(3_500_000 - 1_000_000));
        assert_eq!(b.next_tick(), Some(Instant(due.0 - u64::try_from(REFRESH_MARGIN.as_nanos()).unwrap_or(0))));
        // The registration is reused: a new attempt at that issuer does not register again.
        let action = b.handle_refused(
            403,
            Challenge { error: Some("insufficient_scope".into()), ..Challenge::default() },
            RANDOM,
        );
        assert!(matches!(discover(&mut b, action), Action::AwaitUser(_)), "registered before: straight to the user");

        // Long expired by now: restored all the same, and refreshed at the first tick.
        let mut c = Authorizer::new(SERVER, REDIRECT, None);
        assert!(c.restore(back.clone(), Instant(0), 10_000_000));
        assert_eq!(c.next_tick(), Some(Instant(0)));
        assert!(matches!(c.handle_tick(Instant(0)), Some(Action::Token(_))));

        let mut elsewhere = Authorizer::new("https://other.example/mcp", REDIRECT, None);
        assert!(!elsewhere.restore(back, now, wall), "tokens are bound to their server");
        assert_eq!(elsewhere.access_token(), None);
    }

    #[test]
    fn a_short_lived_token_is_refreshed_half_way_not_in_a_loop() {
        let mut a = authorized(10);
        let half = Instant(0).after(Duration::from_secs(5));
        assert_eq!(a.next_tick(), Some(half));
        assert_eq!(a.handle_tick(Instant(0).after(Duration::from_secs(4))), None, "not yet");
        assert!(matches!(a.handle_tick(half), Some(Action::Token(_))));
        let answer = json!({"access_token": "at-2", "token_type": "Bearer", "expires_in": 10});
        assert_eq!(a.handle_token_answer(200, answer.to_string().as_bytes(), half), Action::Ready);
        assert_eq!(a.next_tick(), Some(half.after(Duration::from_secs(5))), "the next one half-way again");
        assert_eq!(a.handle_tick(half.after(Duration::from_secs(1))), None, "no refresh right after a refresh");
    }

    #[test]
    fn step_up_asks_for_the_union_of_scopes_and_a_server_that_keeps_asking_is_given_up_on() {
        let mut a = authorized(3600);
        let more = |scope: &str| Challenge {
            error: Some("insufficient_scope".into()),
            scope: Some(scope.into()),
            ..Challenge::default()
        };
        let action = a.handle_refused(403, more("mcp:write"), RANDOM);
        let Action::AwaitUser(link) = discover(&mut a, action) else { panic!("no step-up link") };
        assert_eq!(query(&link, "scope"), "mcp:read mcp:write", "the union with what was asked before");
        complete(&mut a, &link, 3600);
        // The server keeps refusing for want of scope however much is granted: a 403 loop.
        for round in 2..=MAX_STEP_UPS {
            let action = a.handle_refused(403, more(&format!("mcp:s{round}")), RANDOM);
            let Action::AwaitUser(link) = discover(&mut a, action) else { panic!("round {round}: no link") };
            complete(&mut a, &link, 3600);
        }
        let last = a.handle_refused(403, more("mcp:more"), RANDOM);
        assert!(matches!(&last, Action::Failed(why) if why.contains("giving up")), "{last:?}");
        // A request that goes through in between starts the count over.
        let mut b = authorized(3600);
        for _ in 0..=MAX_STEP_UPS {
            let action = b.handle_refused(403, more("mcp:write"), RANDOM);
            let Action::AwaitUser(link) = discover(&mut b, action) else { panic!("no link") };
            complete(&mut b, &link, 3600);
            b.handle_request_succeeded();
        }
        let mut c = authorized(3600);
        let other = c.handle_refused(403, Challenge::default(), RANDOM);
        assert!(matches!(&other, Action::Failed(why) if why.contains("other than scope")), "{other:?}");
        assert_eq!(c.access_token(), Some("at-1"), "a 403 for another reason keeps the token");
    }

    #[test]
    fn a_refused_token_is_refreshed_once_then_the_user_is_needed_never_a_401_loop() {
        let mut a = authorized(3600);
        let Action::Token(refresh) = a.handle_refused(401, Challenge::default(), RANDOM) else { panic!("no refresh") };
        assert!(refresh.body.contains("grant_type=refresh_token"));
        let answer = json!({"access_token": "at-2", "token_type": "Bearer", "expires_in": 3600});
        assert_eq!(a.handle_token_answer(200, answer.to_string().as_bytes(), Instant(0)), Action::Ready);
        // Refused again before anything went through: the refresh did not help.
        let action = a.handle_refused(401, Challenge::default(), RANDOM);
        assert!(matches!(discover(&mut a, action), Action::AwaitUser(_)));
        // After a request went through, a later refusal may try a refresh again.
        let mut b = authorized(3600);
        assert!(matches!(b.handle_refused(401, Challenge::default(), RANDOM), Action::Token(_)));
        assert_eq!(b.handle_token_answer(200, answer.to_string().as_bytes(), Instant(0)), Action::Ready);
        b.handle_request_succeeded();
        assert!(matches!(b.handle_refused(401, Challenge::default(), RANDOM), Action::Token(_)));
    }

    #[test]
    fn stale_answers_and_refusals_during_an_attempt_ask_for_nothing() {
        let mut a = Authorizer::new(SERVER, REDIRECT, None);
        assert_eq!(a.handle_fetched(200, b"{}"), Action::Wait, "nothing was asked");
        assert_eq!(a.handle_registered(201, b"{}"), Action::Wait);
        assert_eq!(a.handle_token_answer(200, b"{}", Instant(0)), Action::Wait);
        let Action::Fetch(_) = a.handle_refused(401, Challenge::default(), RANDOM) else { panic!("no discovery") };
        assert_eq!(a.handle_refused(401, Challenge::default(), RANDOM), Action::Wait, "the attempt under way goes on");
        assert!(matches!(
            discover(&mut a, Action::Fetch(String::new())),
            Action::Register { .. } | Action::AwaitUser(_)
        ));
    }
}
