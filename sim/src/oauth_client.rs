//! Fault injection into one backend's authorization ([`onemcp_core::oauth_client::Authorizer`]).
//!
//! [`run_oauth_client`] plays io and the user around the real core authorizer: a seeded fake
//! protected server and authorization servers answer its fetches, registrations and token
//! requests; a user who follows (or ignores) the link; forged and replayed redirects; and a
//! resource server that accepts or refuses the token. Faults are drawn per seed: 401 storms,
//! 403 `insufficient_scope` loops, a provider that does not answer, refused refreshes,
//! poisoned metadata (another issuer), and a server that moves to another authorization server.
//!
//! After every input the run checks the rules ([`AuthRule`]); a breach comes back as an
//! [`AuthViolation`] carrying `SEED=<n> step=<k>` and the last trace lines. One seed is one run.

use onemcp_core::Instant;
use onemcp_core::oauth::pkce_s256_matches;
use onemcp_core::oauth_client::machine::{MAX_STEP_UPS, REFRESH_MARGIN};
use onemcp_core::oauth_client::{Action, Authorizer, Challenge, Client, Random, TokenRequest};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// Trace lines kept for a violation report.
const TRACE_LINES: usize = 40;
/// Actions one input may lead to before the authorizer settles.
const MAX_ACTIONS: usize = 16;
const SERVER: &str = "https://mcp.example/mcp";
const REDIRECT: &str = "http://127.0.0.1:3050/oauth/callback/remote";
const ISSUERS: [&str; 2] = ["https://as-one.example", "https://as-two.example/tenant"];
/// The server's origin: its own authorization server when no metadata can be had (2025-03-26),
/// with the default endpoints, which advertise nothing (`iss` included).
const ORIGIN: &str = "https://mcp.example";

/// A rule of backend authorization the simulator checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthRule {
    /// Every input settles (link, ready or failed) within a bounded number of actions.
    Settles,
    /// Between two requests that went through, a refused token is refreshed at most once.
    NoRefusalLoop,
    /// Between two requests that went through, at most `MAX_STEP_UPS` step-ups.
    BoundedStepUps,
    /// Only the redirect of the link the user followed, with its `state` and the right `iss`,
    /// leads to a token request.
    Redirect,
    /// The code is redeemed with the verifier of the link's challenge and the link's `resource`.
    Pkce,
    /// A client registered at one authorization server is never presented to another.
    PerIssuer,
    /// No token, code, verifier or secret shows in the authorizer's `Debug` output.
    Secrets,
    /// A token with a refresh token is refreshed before it expires.
    Refresh,
}

impl fmt::Display for AuthRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A broken rule, with what reproduces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthViolation {
    /// The seed that reproduces it.
    pub seed: u64,
    /// The step at which it was detected.
    pub step: u64,
    /// The rule broken.
    pub rule: AuthRule,
    /// What was seen.
    pub detail: String,
    /// The last trace lines before detection.
    pub trace: Vec<String>,
}

impl fmt::Display for AuthViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "SEED={} step={}: {} broken: {}", self.seed, self.step, self.rule, self.detail)?;
        for line in &self.trace {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for AuthViolation {}

/// What one run went through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthStats {
    /// Links the user was sent.
    pub links: u64,
    /// Codes redeemed for tokens.
    pub authorized: u64,
    /// Refreshes that brought a token.
    pub refreshed: u64,
    /// Requests that went through.
    pub succeeded: u64,
    /// Refusals (401 or 403) fed to the authorizer.
    pub refusals: u64,
    /// Step-ups started.
    pub step_ups: u64,
    /// Forged or stale redirects refused.
    pub forged: u64,
    /// Attempts that ended failed.
    pub failed: u64,
    /// Moves of the server to the other authorization server.
    pub migrations: u64,
}

impl AuthStats {
    /// Add another run's counts.
    pub fn add(&mut self, o: &AuthStats) {
        self.links += o.links;
        self.authorized += o.authorized;
        self.refreshed += o.refreshed;
        self.succeeded += o.succeeded;
        self.refusals += o.refusals;
        self.step_ups += o.step_ups;
        self.forged += o.forged;
        self.failed += o.failed;
        self.migrations += o.migrations;
    }
}

impl fmt::Display for AuthStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} links, {} authorized, {} refreshed, {} requests through, {} refusals, {} step-ups, {} forged redirects \
             refused, {} failed attempts, {} migrations",
            self.links,
            self.authorized,
            self.refreshed,
            self.succeeded,
            self.refusals,
            self.step_ups,
            self.forged,
            self.failed,
            self.migrations
        )
    }
}

/// Fault probabilities of one run, drawn from the seed.
#[derive(Clone, Debug)]
struct Faults {
    /// Per request: a valid token refused with 401.
    storm: f64,
    /// Per request: 403 `insufficient_scope`.
    more_scope: f64,
    /// Per fetch or POST: no answer.
    silent: f64,
    /// Per refresh: refused.
    refresh_refused: f64,
    /// Per metadata fetch: another issuer's document.
    poisoned: f64,
    /// Per step: the server moves to the other authorization server.
    migrate: f64,
    /// Per step: a forged redirect arrives.
    forge: f64,
}

/// What the link the user was sent asked for.
#[derive(Clone, Debug)]
struct Link {
    issuer: &'static str,
    /// The authorization server advertised `iss` in its redirects.
    iss_advertised: bool,
    client_id: String,
    state: String,
    challenge: String,
    resource: String,
}

/// One run.
struct Run {
    seed: u64,
    step: u64,
    rng: ChaCha8Rng,
    now: Instant,
    faults: Faults,
    authorizer: Authorizer,
    /// The authorization server the protected server names now.
    issuer: usize,
    /// Clients registered, by issuer.
    registered: Vec<(&'static str, String)>,
    next_client: u64,
    next_token: u64,
    /// The link out, if any.
    link: Option<Link>,
    /// The code the user's consent produced, for the link it answered.
    pending_code: Option<(String, Link)>,
    /// Tokens issued, with when the last access token expires and whether it has a refresh.
    issued: Vec<String>,
    expires: Option<(Instant, bool)>,
    /// When the last tokens came.
    issued_at: Instant,
    refreshes_since_success: u32,
    step_ups_since_success: u32,
    stats: AuthStats,
    trace: VecDeque<String>,
}

type Checked = Result<(), AuthViolation>;

/// Runs `steps` steps of seed `seed` against the core's authorizer.
pub fn run_oauth_client(seed: u64, steps: u64) -> Result<AuthStats, AuthViolation> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let knob = |rng: &mut ChaCha8Rng, max: f64| if below(rng, 3) == 0 { 0.0 } else { max * unit(rng) };
    let faults = Faults {
        storm: knob(&mut rng, 0.3),
        more_scope: knob(&mut rng, 0.3),
        silent: knob(&mut rng, 0.2),
        refresh_refused: knob(&mut rng, 0.5),
        poisoned: knob(&mut rng, 0.1),
        migrate: knob(&mut rng, 0.02),
        forge: knob(&mut rng, 0.1),
    };
    let configured =
        (below(&mut rng, 4) == 0).then(|| Client { id: "configured".into(), secret: Some("configured-secret".into()) });
    let mut run = Run {
        seed,
        step: 0,
        rng,
        now: Instant(0),
        faults,
        authorizer: Authorizer::new(SERVER, REDIRECT, configured),
        issuer: 0,
        registered: Vec::new(),
        next_client: 0,
        next_token: 0,
        link: None,
        pending_code: None,
        issued: vec!["configured-secret".into()],
        expires: None,
        issued_at: Instant(0),
        refreshes_since_success: 0,
        step_ups_since_success: 0,
        stats: AuthStats::default(),
        trace: VecDeque::new(),
    };
    run.note(format!("seed {seed}: faults {:?}", run.faults));
    for step in 0..steps {
        run.step = step;
        run.step_once()?;
        run.check_secrets()?;
    }
    Ok(run.stats)
}

fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    if n == 0 { 0 } else { rng.next_u64() % n }
}

fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// The query parameters of `url`, decoded.
fn query(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    query.split('&').filter_map(|pair| pair.split_once('=')).map(|(k, v)| (decode(k), decode(v))).collect()
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

impl Run {
    fn note(&mut self, line: String) {
        if self.trace.len() == TRACE_LINES {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("[{} {:>7}s] {line}", self.step, self.now.0 / 1_000_000_000));
    }

    fn check(&self, ok: bool, rule: AuthRule, detail: impl FnOnce() -> String) -> Checked {
        if ok {
            return Ok(());
        }
        Err(AuthViolation {
            seed: self.seed,
            step: self.step,
            rule,
            detail: detail(),
            trace: self.trace.iter().cloned().collect(),
        })
    }

    fn chance(&mut self, p: f64) -> bool {
        unit(&mut self.rng) < p
    }

    fn random(&mut self) -> Random {
        let mut verifier = [0u8; 32];
        let mut state = [0u8; 16];
        self.rng.fill_bytes(&mut verifier);
        self.rng.fill_bytes(&mut state);
        Random { verifier, state }
    }

    fn step_once(&mut self) -> Checked {
        if self.chance(self.faults.migrate) {
            self.issuer = 1 - self.issuer;
            self.stats.migrations += 1;
            self.note(format!("the server moves to {}", ISSUERS[self.issuer]));
        }
        match below(&mut self.rng, 5) {
            0 | 1 => self.request(),
            2 => self.user(),
            3 => self.forged_redirect(),
            _ => self.tick(),
        }
    }

    /// A request to the protected server, with the token the authorizer has (if any).
    fn request(&mut self) -> Checked {
        let token = self.authorizer.access_token().map(str::to_owned);
        let expired = self.expires.is_some_and(|(at, _)| self.now >= at);
        let (status, challenge) = match token {
            Some(_) if !expired && self.chance(self.faults.more_scope) => {
                let scope = format!("scope{}", below(&mut self.rng, 4));
                (
                    403,
                    Challenge { error: Some("insufficient_scope".into()), scope: Some(scope), ..Challenge::default() },
                )
            }
            Some(_) if !expired && !self.chance(self.faults.storm) => {
                self.stats.succeeded += 1;
                self.authorizer.handle_request_succeeded();
                self.refreshes_since_success = 0;
                self.step_ups_since_success = 0;
                return Ok(());
            }
            _ => (401, Challenge::default()),
        };
        self.stats.refusals += 1;
        self.note(format!("request refused {status}"));
        let more = challenge.wants_more_scope();
        let random = self.random();
        let action = self.authorizer.handle_refused(status, challenge, random);
        if more && matches!(action, Action::Fetch(_)) {
            self.step_ups_since_success += 1;
            self.stats.step_ups += 1;
            self.check(self.step_ups_since_success <= MAX_STEP_UPS, AuthRule::BoundedStepUps, || {
                format!("{} step-ups without a request going through", self.step_ups_since_success)
            })?;
        }
        if status == 401 && matches!(action, Action::Token(_)) {
            self.refreshes_since_success += 1;
            self.check(self.refreshes_since_success <= 1, AuthRule::NoRefusalLoop, || {
                format!("{} refreshes on refusal without a request going through", self.refreshes_since_success)
            })?;
        }
        self.drive(action)
    }

    /// The user follows the link out (or takes the code of the one followed to the callback).
    fn user(&mut self) -> Checked {
        if let Some((code, link)) = self.pending_code.take() {
            let iss = if self.chance(0.5) { Some(link.issuer) } else { None };
            let mut params = vec![("code".to_owned(), code), ("state".to_owned(), link.state.clone())];
            if let Some(iss) = iss {
                params.push(("iss".to_owned(), iss.to_owned()));
            }
            self.note(format!("the user comes back (iss {iss:?})"));
            let action = self.authorizer.handle_redirect(&params);
            // A server that advertised `iss` must send it; a redirect without it is refused.
            let genuine =
                (iss.is_some() || !link.iss_advertised) && self.link.as_ref().is_some_and(|l| l.state == link.state);
            if !genuine {
                self.stats.forged += 1;
                return self.check(!matches!(action, Action::Token(_)), AuthRule::Redirect, || {
                    "a redirect without the advertised iss led to a token request".into()
                });
            }
            self.check(matches!(action, Action::Token(_)), AuthRule::Redirect, || {
                format!("the genuine redirect was refused: {action:?}")
            })?;
            return self.drive(action);
        }
        if let Some(link) = self.link.clone() {
            self.note("the user consents".into());
            self.pending_code = Some((format!("code-{}", self.next_token), link));
            self.next_token += 1;
        }
        Ok(())
    }

    /// A redirect the user did not cause: another state, or another issuer.
    fn forged_redirect(&mut self) -> Checked {
        if !self.chance(self.faults.forge) {
            return Ok(());
        }
        let state = self.link.as_ref().map_or("none".to_owned(), |l| l.state.clone());
        let params = if self.chance(0.5) {
            vec![
                ("code".into(), "forged".into()),
                ("state".into(), "forged-state".into()),
                ("iss".into(), ISSUERS[0].into()),
            ]
        } else {
            vec![
                ("code".into(), "forged".into()),
                ("state".into(), state),
                ("iss".into(), "https://evil.example".into()),
            ]
        };
        self.note("a forged redirect".into());
        self.stats.forged += 1;
        let action = self.authorizer.handle_redirect(&params);
        self.check(!matches!(action, Action::Token(_)), AuthRule::Redirect, || {
            format!("a forged redirect led to {action:?}")
        })
    }

    /// Time passes; a token due for refresh is refreshed.
    fn tick(&mut self) -> Checked {
        self.now = self.now.after(Duration::from_secs(1 + below(&mut self.rng, 600)));
        // Due: REFRESH_MARGIN before expiry, or half-way through a shorter life.
        let due = self.expires.is_some_and(|(at, refresh)| {
            let life = Duration::from_nanos(at.0.saturating_sub(self.issued_at.0));
            refresh && self.now.after(REFRESH_MARGIN.min(life / 2)) >= at
        });
        let action = self.authorizer.handle_tick(self.now);
        if due && self.authorizer.access_token().is_some() {
            self.check(matches!(action, Some(Action::Token(_))), AuthRule::Refresh, || {
                format!("a token due for refresh was not refreshed: {action:?}")
            })?;
        }
        self.check(due || !matches!(action, Some(Action::Token(_))), AuthRule::Refresh, || {
            "a token was refreshed long before it was due (a short-lived token refreshed in a loop)".to_owned()
        })?;
        match action {
            Some(action) => self.drive(action),
            None => Ok(()),
        }
    }

    /// Carries out actions until the authorizer settles.
    fn drive(&mut self, mut action: Action) -> Checked {
        for _ in 0..MAX_ACTIONS {
            action = match action {
                Action::Fetch(url) => {
                    let (status, body) = self.fetch(&url);
                    self.authorizer.handle_fetched(status, body.as_bytes())
                }
                Action::Register { url, .. } => {
                    let (status, body) = self.register(&url);
                    self.authorizer.handle_registered(status, body.as_bytes())
                }
                Action::Token(request) => {
                    let (status, body) = self.token(&request)?;
                    self.authorizer.handle_token_answer(status, body.as_bytes(), self.now)
                }
                Action::AwaitUser(url) => return self.link_out(&url),
                Action::Ready | Action::Wait => return Ok(()),
                Action::Failed(why) => {
                    self.stats.failed += 1;
                    self.note(format!("failed: {why}"));
                    return Ok(());
                }
            };
        }
        self.check(false, AuthRule::Settles, || format!("no settling after {MAX_ACTIONS} actions"))
    }

    fn silent(&mut self) -> bool {
        self.chance(self.faults.silent)
    }

    /// The fake protected server and authorization servers' documents.
    fn fetch(&mut self, url: &str) -> (u16, String) {
        if self.silent() {
            return (0, String::new());
        }
        let issuer = ISSUERS[self.issuer];
        if url == "https://mcp.example/.well-known/oauth-protected-resource/mcp" {
            return (
                200,
                json!({"resource": SERVER, "authorization_servers": [issuer], "scopes_supported": ["base"]})
                    .to_string(),
            );
        }
        for known in ISSUERS {
            let (origin, path) = match known.find("/tenant") {
                Some(at) => known.split_at(at),
                None => (known, ""),
            };
            if url == format!("{origin}/.well-known/oauth-authorization-server{path}") {
                let claimed = if self.chance(self.faults.poisoned) { "https://attacker.example" } else { known };
                let document = json!({"issuer": claimed, "authorization_endpoint": format!("{known}/authorize"),
                    "token_endpoint": format!("{known}/token"), "registration_endpoint": format!("{known}/register"),
                    "code_challenge_methods_supported": ["S256"], "authorization_response_iss_parameter_supported": true,
                    "scopes_supported": ["base", "offline_access"]});
                return (200, document.to_string());
            }
        }
        (404, String::new())
    }

    fn register(&mut self, url: &str) -> (u16, String) {
        if self.silent() {
            return (0, String::new());
        }
        let Some(issuer) = ISSUERS.into_iter().chain([ORIGIN]).find(|i| url.starts_with(*i)) else {
            return (404, String::new());
        };
        self.next_client += 1;
        let id = format!("client-{}", self.next_client);
        self.registered.push((issuer, id.clone()));
        (201, json!({"client_id": id}).to_string())
    }

    /// The link the authorizer sends the user to: checked, and kept for the consent.
    fn link_out(&mut self, url: &str) -> Checked {
        let params = query(url);
        let issuer = ISSUERS.into_iter().chain([ORIGIN]).find(|i| url.starts_with(&format!("{i}/authorize")));
        let client_id = param(&params, "client_id").unwrap_or_default().to_owned();
        let registered_elsewhere = self.registered.iter().any(|(at, id)| *id == client_id && Some(*at) != issuer);
        self.check(issuer.is_some() && !registered_elsewhere, AuthRule::PerIssuer, || {
            format!("link {url} presents client {client_id} (registered: {:?})", self.registered)
        })?;
        let same = self.link.as_ref().is_some_and(|l| url.contains(&format!("state={}", l.state)));
        if !same {
            self.stats.links += 1;
            self.pending_code = None;
        }
        self.link = Some(Link {
            issuer: issuer.unwrap_or(ISSUERS[0]),
            iss_advertised: issuer != Some(ORIGIN),
            client_id,
            state: param(&params, "state").unwrap_or_default().to_owned(),
            challenge: param(&params, "code_challenge").unwrap_or_default().to_owned(),
            resource: param(&params, "resource").unwrap_or_default().to_owned(),
        });
        self.note(format!("link out to {}", issuer.unwrap_or("?")));
        Ok(())
    }

    /// The token endpoint: a code of the link followed (checked for PKCE and `resource`), or a
    /// refresh.
    fn token(&mut self, request: &TokenRequest) -> Result<(u16, String), AuthViolation> {
        let params = query(&format!("?{}", request.body));
        let refresh = param(&params, "grant_type") == Some("refresh_token");
        // A code is redeemed once, however that goes: its link is spent.
        let link = if refresh { None } else { self.link.take() };
        if self.silent() {
            return Ok((0, String::new()));
        }
        if refresh && self.chance(self.faults.refresh_refused) {
            return Ok((400, json!({"error": "invalid_grant"}).to_string()));
        }
        if !refresh {
            let ok = link.as_ref().is_some_and(|l| {
                pkce_s256_matches(param(&params, "code_verifier").unwrap_or_default(), &l.challenge)
                    && param(&params, "resource") == Some(l.resource.as_str())
            });
            self.check(ok, AuthRule::Pkce, || format!("code redeemed with {params:?} for link {link:?}"))?;
            let client = param(&params, "client_id")
                .map(str::to_owned)
                .or_else(|| request.basic.as_ref().map(|(id, _)| id.clone()));
            let expected = link.as_ref().map(|l| l.client_id.clone());
            self.check(client == expected, AuthRule::PerIssuer, || {
                format!("code redeemed as {client:?}, linked as {expected:?}")
            })?;
            self.stats.authorized += 1;
        } else {
            self.stats.refreshed += 1;
        }
        self.next_token += 1;
        let access = format!("access-{}", self.next_token);
        let with_refresh = !refresh && self.chance(0.7);
        // From a few seconds (refreshed half-way) to an hour.
        let lifetime = 2 + below(&mut self.rng, 3600);
        self.issued.push(access.clone());
        let mut answer = json!({"access_token": access, "token_type": "Bearer", "expires_in": lifetime});
        if with_refresh {
            let refresh_token = format!("refresh-{}", self.next_token);
            self.issued.push(refresh_token.clone());
            answer["refresh_token"] = Value::from(refresh_token);
        }
        let keeps_refresh = with_refresh || (refresh && self.expires.is_some_and(|(_, r)| r));
        self.expires = Some((self.now.after(Duration::from_secs(lifetime)), keeps_refresh));
        self.issued_at = self.now;
        Ok((200, answer.to_string()))
    }

    fn check_secrets(&self) -> Checked {
        let shown = format!("{:?}", self.authorizer);
        let leaked = self.issued.iter().find(|secret| shown.contains(secret.as_str()));
        self.check(leaked.is_none(), AuthRule::Secrets, || format!("{leaked:?} in the authorizer's Debug output"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEEDS: u64 = 300;
    const STEPS: u64 = 400;

    #[test]
    fn hundreds_of_seeds_break_no_rule_and_reach_every_fault() {
        let mut total = AuthStats::default();
        for seed in 0..SEEDS {
            let stats = run_oauth_client(seed, STEPS).unwrap_or_else(|violation| panic!("{violation}"));
            total.add(&stats);
        }
        for (what, count) in [
            ("links", total.links),
            ("authorizations", total.authorized),
            ("refreshes", total.refreshed),
            ("requests through", total.succeeded),
            ("step-ups", total.step_ups),
            ("forged redirects", total.forged),
            ("failed attempts", total.failed),
            ("migrations", total.migrations),
        ] {
            assert!(count > 0, "no {what} in {SEEDS} seeds: {total}");
        }
    }

    #[test]
    fn a_seed_is_one_run() {
        for seed in [3, 17] {
            assert_eq!(run_oauth_client(seed, STEPS), run_oauth_client(seed, STEPS));
        }
    }
}
