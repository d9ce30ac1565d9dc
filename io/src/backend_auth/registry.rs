//! The daemon's side of backend authorization: one [`ServerAuth`] per protected server (its
//! instances share it), holding the core's [`Authorizer`], the bearer every request carries,
//! the refresh timer, and the token store entry.
//!
//! Two locks, never held together across an await by a request: the bearer (a plain mutex,
//! read by every request to the server: a clone of a header value) and the flow (an async
//! mutex held while one authorization step runs to completion, so that concurrent refusals
//! wait for its outcome instead of starting flows of their own).

use super::store::GrantStore;
use super::{Agent, drive};
use crate::clock::Clock;
use hyper::header::HeaderValue;
use onemcp_core::config::{HttpConfig, OAuthConfig};
use onemcp_core::oauth_client::{Action, Authorizer, Challenge, Client, Random, authorize_path};
use onemcp_core::{Input, Instant};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::mpsc;

/// How often the daemon looks at the store file for authorizations removed from it.
const STORE_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Where the daemon serves its Client ID Metadata Document.
pub(crate) const DOCUMENT_PATH: &str = "/oauth/client-metadata.json";

/// What to do with a request the server refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Fresh credentials are in hand: send it again.
    Resend,
    /// Only the user can go on: why, and where.
    NeedsUser(String),
}

/// Every protected server's authorization, by config name.
pub(crate) struct Authorizations {
    shared: Arc<Shared>,
    servers: Mutex<HashMap<String, Arc<ServerAuth>>>,
}

/// What every server's authorization uses.
struct Shared {
    store: GrantStore,
    /// The daemon's public base URL (redirect URIs and links); `None` without an HTTP front.
    base: Option<String>,
    events: mpsc::Sender<Input>,
    clock: Clock,
}

/// One server's authorization.
pub(crate) struct ServerAuth {
    name: String,
    /// The configuration it was made for: a server whose URL or `oauth` block changes gets a
    /// new one (tokens are bound to the URL).
    url: String,
    oauth: Option<OAuthConfig>,
    /// Where the authorization server sends the user back.
    redirect: String,
    /// `Authorization: Bearer ...` to send, if authorized (marked sensitive).
    bearer: Mutex<Option<HeaderValue>>,
    flow: tokio::sync::Mutex<Flow>,
    /// The refresh timer, if one is set.
    timer: Mutex<Option<tokio::task::AbortHandle>>,
    shared: Arc<Shared>,
}

struct Flow {
    authorizer: Authorizer,
    agent: Option<Agent>,
    /// The server's last challenge: an attempt the operator restarts starts from it.
    last_challenge: Challenge,
}

impl std::fmt::Debug for Authorizations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let servers = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Authorizations").field("servers", &servers.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

impl Authorizations {
    /// The authorizations of a daemon whose base URL is `base` (`None`: it serves no HTTP), its
    /// store in `store`, telling the hub on `events` when a server is authorized.
    pub(crate) fn new(store: GrantStore, base: Option<String>, events: mpsc::Sender<Input>) -> Authorizations {
        let shared = Shared { store, base, events, clock: Clock::start() };
        Authorizations { shared: Arc::new(shared), servers: Mutex::default() }
    }

    /// The authorization of server `name` as configured in `config`, made (and what the store
    /// kept restored) the first time or when its URL or `oauth` block changed. `None` when the
    /// config sets `Authorization` itself: then 1mcp does not authorize on its own.
    pub(crate) fn for_server(&self, name: &str, config: &HttpConfig) -> Option<Arc<ServerAuth>> {
        if config.headers.keys().any(|h| h.trim().eq_ignore_ascii_case("authorization")) {
            return None;
        }
        let mut servers = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(auth) = servers.get(name)
            && auth.url == config.url
            && auth.oauth == config.oauth
        {
            return Some(Arc::clone(auth));
        }
        let auth = Arc::new(ServerAuth::new(name, config, Arc::clone(&self.shared)));
        auth.restore();
        if let Some(old) = servers.insert(name.to_owned(), Arc::clone(&auth)) {
            old.stop_timer();
        }
        Some(auth)
    }

    /// 1mcp's Client ID Metadata Document (served at [`DOCUMENT_PATH`]): who 1mcp is, and the
    /// callbacks of the servers it authorizes toward. `None` without a public base URL.
    pub(crate) fn metadata_document(&self) -> Option<serde_json::Value> {
        let base = self.shared.base.as_ref()?;
        let servers = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
        let redirects: Vec<&str> = servers.values().map(|auth| auth.redirect.as_str()).collect();
        Some(serde_json::json!({
            "client_id": format!("{base}{DOCUMENT_PATH}"),
            "client_name": "1mcp",
            "client_uri": "https://github.com/1mcp-app/agent",
            "redirect_uris": redirects,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }))
    }

    /// Follows the store file (every [`STORE_POLL`]) until the task is aborted: a server whose
    /// grant was removed from it (`1mcp auth logout`) forgets its tokens, so its next request
    /// asks for authorization again.
    pub(crate) async fn watch_store(self: Arc<Self>) {
        let mut seen = self.shared.store.stamp();
        loop {
            tokio::time::sleep(STORE_POLL).await;
            let stamp = self.shared.store.stamp();
            if stamp == seen {
                continue;
            }
            seen = stamp;
            for name in self.shared.store.reread() {
                if let Some(auth) = self.get(&name) {
                    tracing::info!(server = %name, "its authorization was removed from the store; forgetting it");
                    auth.forget().await;
                }
            }
        }
    }

    /// Server `name`'s authorization, if it has one.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<ServerAuth>> {
        self.servers.lock().unwrap_or_else(PoisonError::into_inner).get(name).cloned()
    }
}

impl ServerAuth {
    fn new(name: &str, config: &HttpConfig, shared: Arc<Shared>) -> ServerAuth {
        let oauth = config.oauth.clone().unwrap_or_default();
        let redirect = match (&oauth.redirect_url, &shared.base) {
            (Some(url), _) => url.clone(),
            (None, Some(base)) => format!("{base}/oauth/callback/{name}"),
            (None, None) => format!("http://127.0.0.1:3050/oauth/callback/{name}"),
        };
        let configured = oauth.client_id.clone().map(|id| Client { id, secret: oauth.client_secret.clone() });
        let scopes = (!oauth.scopes.is_empty()).then(|| oauth.scopes.join(" "));
        // 1mcp's own document can only be fetched by a provider when the daemon is public (https).
        let document = oauth.client_metadata_url.clone().or_else(|| {
            shared
                .base
                .as_ref()
                .filter(|base| base.starts_with("https://"))
                .map(|base| format!("{base}{DOCUMENT_PATH}"))
        });
        let mut authorizer =
            Authorizer::new(&config.url, &redirect, configured).with_scopes(scopes).with_metadata_document(document);
        if !oauth.auto_register {
            authorizer = authorizer.without_registration();
        }
        ServerAuth {
            name: name.to_owned(),
            url: config.url.clone(),
            oauth: config.oauth.clone(),
            redirect,
            bearer: Mutex::new(None),
            flow: tokio::sync::Mutex::new(Flow { authorizer, agent: None, last_challenge: Challenge::default() }),
            timer: Mutex::new(None),
            shared,
        }
    }

    /// Takes back what the store kept for this server (for its URL only), before anyone else
    /// holds it.
    fn restore(self: &Arc<Self>) {
        let Some(saved) = self.shared.store.get(&self.name) else { return };
        let Ok(mut flow) = self.flow.try_lock() else { return };
        let (now, wall) = (self.shared.clock.now(), crate::unix_time_ms());
        if flow.authorizer.restore(saved, now, wall) {
            tracing::debug!(server = %self.name, "authorization restored from the store");
            self.publish(&flow);
            self.arm_timer(flow.authorizer.next_tick());
        }
    }

    /// The `Authorization` value to send now, if any.
    pub(crate) fn bearer(&self) -> Option<HeaderValue> {
        self.bearer.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Where the user authorizes this server.
    pub(crate) fn link(&self) -> String {
        let path = authorize_path(&self.name);
        match &self.shared.base {
            Some(base) => format!("{base}{path}"),
            None => path,
        }
    }

    /// The server refused a request sent with `sent` (its `Authorization`, if any) with
    /// `status` and `challenge`. Resend if the credentials changed since, or the authorizer
    /// got fresh ones (a refresh); otherwise the user is needed.
    pub(crate) async fn refused(
        self: &Arc<Self>,
        status: u16,
        challenge: Challenge,
        sent: Option<&HeaderValue>,
    ) -> Refusal {
        let mut flow = self.flow.lock().await;
        if let Some(bearer) = self.bearer()
            && Some(&bearer) != sent
        {
            return Refusal::Resend;
        }
        flow.last_challenge = challenge.clone();
        let action = match random() {
            Ok(random) => flow.authorizer.handle_refused(status, challenge, random),
            Err(why) => Action::Failed(why),
        };
        let action = self.run(&mut flow, action).await;
        match action {
            Action::Ready => Refusal::Resend,
            Action::Failed(why) => {
                tracing::warn!(server = %self.name, "authorization failed: {why}");
                Refusal::NeedsUser(format!("authorization failed: {why}; to try again open {}", self.link()))
            }
            _ => Refusal::NeedsUser(format!("the server needs authorization: open {}", self.link())),
        }
    }

    /// The link the operator follows to authorize (an `http(s)` URL at the authorization
    /// server): the one awaited, or a new attempt's when none is (it failed, or the token
    /// was forgotten).
    pub(crate) async fn authorization_link(self: &Arc<Self>) -> Result<String, String> {
        let mut flow = self.flow.lock().await;
        if flow.authorizer.access_token().is_some() {
            return Err("1mcp is authorized toward this server already".into());
        }
        let link = match flow.authorizer.awaiting_user() {
            Some(link) => link,
            None => {
                let challenge = flow.last_challenge.clone();
                let action = flow.authorizer.handle_refused(401, challenge, random()?);
                match self.run(&mut flow, action).await {
                    Action::AwaitUser(link) => link,
                    Action::Failed(why) => return Err(why),
                    other => return Err(format!("no authorization link ({})", action_name(&other))),
                }
            }
        };
        if !(link.starts_with("https://") || link.starts_with("http://")) {
            return Err("the authorization server's endpoint is not an http(s) URL".into());
        }
        Ok(link)
    }

    /// The user came back from the authorization server with `params`: redeem the code. On
    /// success the hub hears the server is authorized (and starts it).
    pub(crate) async fn redirected(self: &Arc<Self>, params: &[(String, String)]) -> Result<(), String> {
        let mut flow = self.flow.lock().await;
        let action = flow.authorizer.handle_redirect(params);
        match self.run(&mut flow, action).await {
            Action::Ready => {
                drop(flow);
                tracing::info!(server = %self.name, "authorized by the user");
                let input = Input::BackendAuthorized { server: self.name.clone() };
                let _ = self.shared.events.send(input).await;
                Ok(())
            }
            Action::Failed(why) => Err(why),
            other => Err(format!("the authorization did not complete ({})", action_name(&other))),
        }
    }

    /// Forgets the tokens (registrations stay: they are 1mcp's, not the user's).
    async fn forget(self: &Arc<Self>) {
        let mut flow = self.flow.lock().await;
        flow.authorizer.forget();
        self.publish(&flow);
        self.arm_timer(None);
    }

    /// Carries out `action` to its end, then publishes what changed: the bearer, the store
    /// entry, the refresh timer.
    async fn run(self: &Arc<Self>, flow: &mut Flow, action: Action) -> Action {
        if matches!(action, Action::Fetch(_) | Action::Register { .. } | Action::Token(_)) && flow.agent.is_none() {
            match Agent::new(loopback(&self.url)) {
                Ok(agent) => flow.agent = Some(agent),
                Err(why) => return Action::Failed(format!("cannot make an HTTP client: {why}")),
            }
        }
        let clock = self.shared.clock;
        let action = match &flow.agent {
            Some(agent) => drive(agent, &mut flow.authorizer, action, || clock.now()).await,
            None => action,
        };
        self.publish(flow);
        self.arm_timer(flow.authorizer.next_tick());
        action
    }

    /// The refresh timer fired: refresh if due (a failure leaves the token in use until the
    /// server refuses it, and the user is asked then).
    async fn tick(self: Arc<Self>) {
        // This task is the timer: forget its handle rather than abort it.
        drop(self.timer.lock().unwrap_or_else(PoisonError::into_inner).take());
        let mut flow = self.flow.lock().await;
        let now = self.shared.clock.now();
        match flow.authorizer.handle_tick(now) {
            Some(action) => {
                if let Action::Failed(why) = self.run(&mut flow, action).await {
                    tracing::warn!(server = %self.name, "refreshing the token failed: {why}");
                }
            }
            None => self.arm_timer(flow.authorizer.next_tick()),
        }
    }

    /// Makes the authorizer's current tokens the bearer and saves them, if they changed.
    fn publish(&self, flow: &Flow) {
        let token = flow.authorizer.access_token();
        let mut bearer = self.bearer.lock().unwrap_or_else(PoisonError::into_inner);
        let unchanged = match (&*bearer, token) {
            (Some(b), Some(t)) => b.as_bytes().strip_prefix(b"Bearer ") == Some(t.as_bytes()),
            (None, None) => true,
            _ => false,
        };
        if unchanged {
            return;
        }
        *bearer = token.and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok()).map(|mut value| {
            value.set_sensitive(true);
            value
        });
        drop(bearer);
        let (now, wall) = (self.shared.clock.now(), crate::unix_time_ms());
        self.shared.store.put(&self.name, flow.authorizer.saved(now, wall));
    }

    fn arm_timer(self: &Arc<Self>, at: Option<Instant>) {
        self.stop_timer();
        let Some(at) = at else { return };
        let me = Arc::clone(self);
        let deadline = self.shared.clock.to_tokio(at);
        let task = tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            me.tick().await;
        });
        *self.timer.lock().unwrap_or_else(PoisonError::into_inner) = Some(task.abort_handle());
    }

    fn stop_timer(&self) {
        if let Some(task) = self.timer.lock().unwrap_or_else(PoisonError::into_inner).take() {
            task.abort();
        }
    }
}

/// Fresh randomness for one attempt (PKCE verifier, `state`).
fn random() -> Result<Random, String> {
    let mut random = Random { verifier: [0; 32], state: [0; 16] };
    getrandom::fill(&mut random.verifier)
        .and_then(|()| getrandom::fill(&mut random.state))
        .map_err(|e| format!("no randomness for the authorization: {e}"))?;
    Ok(random)
}

/// True if `url`'s host is a loopback address or `localhost` (then the authorization party
/// may be on loopback too; otherwise only public addresses are fetched from).
fn loopback(url: &str) -> bool {
    let Ok(uri) = url.parse::<hyper::Uri>() else { return false };
    let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// An action's name, for messages (never its contents: they may carry secrets).
fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Fetch(_) => "fetch",
        Action::Register { .. } => "register",
        Action::AwaitUser(_) => "awaiting the user",
        Action::Token(_) => "token",
        Action::Ready => "ready",
        Action::Failed(_) => "failed",
        Action::Wait => "an attempt is under way",
    }
}
