//! Discovery as a state machine: started from a server's challenge, it asks io to fetch one
//! document at a time and says, from each answer, what to fetch next, until it knows the
//! authorization server (its checked metadata), the `resource` to ask a token for and the
//! scope to ask, or why there is none to be had.

use super::challenge::Challenge;
use super::discovery::{
    ResourceMetadata, ServerMetadata, canonical_resource, check_resource_metadata, check_server_metadata,
    origin_and_path, resource_metadata_urls, select_scope, server_metadata_urls,
};
use serde_json::Value;

/// Longest metadata document read (io stops reading there and reports a failed fetch).
pub const MAX_DOCUMENT: usize = 64 * 1024;

/// What discovery needs next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// GET this URL (`Accept: application/json`, at most [`MAX_DOCUMENT`] bytes, bounded in
    /// time) and report the answer with [`Discovery::handle_fetched`].
    Fetch(String),
    /// Discovery is over: this is what to authorize with.
    Found(Found),
    /// There is no way to authorize toward this server: why (shown to the operator).
    Failed(String),
}

/// What discovery found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Found {
    /// The `resource` parameter of the authorization and token requests (RFC 8707).
    pub(crate) resource: String,
    /// The authorization server, checked.
    pub(crate) server: ServerMetadata,
    /// The scope to ask for (`None`: send no `scope`).
    pub(crate) scope: Option<String>,
}

/// Where discovery is.
#[derive(Clone, Debug)]
enum Stage {
    /// Looking for the protected resource metadata at `urls[at]`.
    Resource { urls: Vec<String>, at: usize },
    /// Looking for the metadata of `issuer` at `urls[at]`. `resource` is `None` for a server
    /// that published no resource metadata (2025-03-26: its origin is its authorization server,
    /// whose default endpoints hold when it publishes no metadata either).
    Server { resource: Option<ResourceMetadata>, issuer: String, urls: Vec<String>, at: usize },
    /// Over.
    Done,
}

/// One discovery toward the MCP server at a URL.
#[derive(Clone, Debug)]
pub struct Discovery {
    server_url: String,
    challenge: Challenge,
    stage: Stage,
}

impl Discovery {
    /// Starts discovery for the server at `server_url` after it refused with `challenge`.
    pub fn start(server_url: &str, challenge: Challenge) -> (Discovery, Step) {
        let mut discovery = Discovery { server_url: server_url.to_owned(), challenge, stage: Stage::Done };
        let step = match resource_metadata_urls(server_url, discovery.challenge.resource_metadata.as_deref()) {
            Ok(urls) => {
                let first = urls[0].clone();
                discovery.stage = Stage::Resource { urls, at: 0 };
                Step::Fetch(first)
            }
            Err(why) => Step::Failed(format!("the server's URL cannot be authorized toward: {why}")),
        };
        (discovery, step)
    }

    /// The answer to the last [`Step::Fetch`]: its HTTP status (0 if there was none: no
    /// connection, a timeout, a body too large) and body.
    pub fn handle_fetched(&mut self, status: u16, body: &[u8]) -> Step {
        let document = (status == 200).then(|| serde_json::from_slice::<Value>(body).ok()).flatten();
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Resource { urls, at } => self.resource_fetched(urls, at, document),
            Stage::Server { resource, issuer, urls, at } => self.server_fetched(resource, issuer, urls, at, document),
            Stage::Done => Step::Failed("discovery is over".into()),
        }
    }

    fn resource_fetched(&mut self, urls: Vec<String>, at: usize, document: Option<Value>) -> Step {
        let Some(document) = document else {
            if let Some(next) = urls.get(at + 1).cloned() {
                self.stage = Stage::Resource { urls, at: at + 1 };
                return Step::Fetch(next);
            }
            // No resource metadata anywhere: a 2025-03-26 server, its own authorization server.
            let issuer = match origin_and_path(&self.server_url) {
                Ok((origin, _)) => origin,
                Err(why) => return Step::Failed(why),
            };
            return self.look_up_server(None, issuer);
        };
        // A document that describes another resource is a server pointing us elsewhere: stop.
        let resource = match check_resource_metadata(&document, &self.server_url) {
            Ok(resource) => resource,
            Err(why) => {
                return Step::Failed(format!("the protected resource metadata at {} is refused: {why}", urls[at]));
            }
        };
        let issuer = resource.authorization_servers[0].clone();
        self.look_up_server(Some(resource), issuer)
    }

    fn look_up_server(&mut self, resource: Option<ResourceMetadata>, issuer: String) -> Step {
        let urls = if resource.is_some() {
            match server_metadata_urls(&issuer) {
                Ok(urls) => urls,
                Err(why) => return Step::Failed(format!("the authorization server {issuer} cannot be used: {why}")),
            }
        } else {
            // 2025-03-26: RFC 8414 at the server's origin only.
            vec![format!("{issuer}/.well-known/oauth-authorization-server")]
        };
        let first = urls[0].clone();
        self.stage = Stage::Server { resource, issuer, urls, at: 0 };
        Step::Fetch(first)
    }

    fn server_fetched(
        &mut self,
        resource: Option<ResourceMetadata>,
        issuer: String,
        urls: Vec<String>,
        at: usize,
        document: Option<Value>,
    ) -> Step {
        let server = match document {
            Some(document) => match check_server_metadata(&document, &issuer) {
                Ok(server) => server,
                Err(why) => {
                    return Step::Failed(format!(
                        "the authorization server metadata at {} is refused: {why}",
                        urls[at]
                    ));
                }
            },
            None => {
                if let Some(next) = urls.get(at + 1).cloned() {
                    self.stage = Stage::Server { resource, issuer, urls, at: at + 1 };
                    return Step::Fetch(next);
                }
                if resource.is_some() {
                    return Step::Failed(format!("the authorization server {issuer} publishes no metadata"));
                }
                match ServerMetadata::defaults_for(&self.server_url) {
                    Ok(defaults) => defaults,
                    Err(why) => return Step::Failed(why),
                }
            }
        };
        let scopes_supported = resource.as_ref().and_then(|r| r.scopes_supported.as_deref());
        let scope = select_scope(self.challenge.scope.as_deref(), scopes_supported, &server);
        let resource = match resource {
            Some(resource) => resource.resource,
            None => match canonical_resource(&self.server_url) {
                Ok(resource) => resource,
                Err(why) => return Step::Failed(why),
            },
        };
        Step::Found(Found { resource, server, scope })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SERVER: &str = "https://mcp.example/api/mcp";

    fn as_metadata(issuer: &str) -> Vec<u8> {
        json!({"issuer": issuer, "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"), "registration_endpoint": format!("{issuer}/register"),
            "code_challenge_methods_supported": ["S256"]})
        .to_string()
        .into_bytes()
    }

    fn prm(resource: &str, issuer: &str) -> Vec<u8> {
        json!({"resource": resource, "authorization_servers": [issuer], "scopes_supported": ["mcp:read"]})
            .to_string()
            .into_bytes()
    }

    /// Runs discovery answering each fetch from `answers` (URL, status, body); unknown URLs
    /// answer 404. The URLs fetched, and the outcome.
    fn run(challenge: Challenge, answers: &[(&str, u16, Vec<u8>)]) -> (Vec<String>, Step) {
        let (mut discovery, mut step) = Discovery::start(SERVER, challenge);
        let mut fetched = Vec::new();
        for _ in 0..10 {
            let Step::Fetch(url) = &step else { return (fetched, step) };
            fetched.push(url.clone());
            let (status, body) = answers
                .iter()
                .find(|(u, _, _)| u == url)
                .map_or((404, b"Not Found".to_vec()), |(_, status, body)| (*status, body.clone()));
            step = discovery.handle_fetched(status, &body);
        }
        panic!("discovery did not end: {fetched:?}");
    }

    #[test]
    fn the_challenges_metadata_url_leads_to_a_path_issuers_metadata() {
        let challenge = Challenge {
            resource_metadata: Some("https://mcp.example/prm".into()),
            scope: Some("mcp:basic".into()),
            error: None,
        };
        let issuer = "https://auth.example/tenant1";
        let (fetched, step) = run(
            challenge,
            &[
                ("https://mcp.example/prm", 200, prm(SERVER, issuer)),
                ("https://auth.example/.well-known/openid-configuration/tenant1", 200, as_metadata(issuer)),
            ],
        );
        assert_eq!(
            fetched,
            [
                "https://mcp.example/prm",
                "https://auth.example/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example/.well-known/openid-configuration/tenant1",
            ]
        );
        let Step::Found(found) = step else { panic!("{step:?}") };
        assert_eq!((found.resource.as_str(), found.scope.as_deref()), (SERVER, Some("mcp:basic")));
        assert_eq!(found.server.token_endpoint, "https://auth.example/tenant1/token");
    }

    #[test]
    fn without_a_hint_the_path_inserted_then_the_root_resource_metadata_is_tried() {
        let (fetched, step) = run(
            Challenge::default(),
            &[
                (
                    "https://mcp.example/.well-known/oauth-protected-resource",
                    200,
                    prm("https://mcp.example", "https://auth.example"),
                ),
                (
                    "https://auth.example/.well-known/oauth-authorization-server",
                    200,
                    as_metadata("https://auth.example"),
                ),
            ],
        );
        assert_eq!(
            fetched[..2],
            [
                "https://mcp.example/.well-known/oauth-protected-resource/api/mcp",
                "https://mcp.example/.well-known/oauth-protected-resource"
            ]
        );
        let Step::Found(found) = step else { panic!("{step:?}") };
        assert_eq!(found.resource, "https://mcp.example", "the resource the metadata names");
        assert_eq!(found.scope.as_deref(), Some("mcp:read"), "scopes_supported without a challenge scope");
    }

    #[test]
    fn metadata_that_describes_another_resource_or_names_another_issuer_stops_discovery() {
        let (_, step) = run(
            Challenge::default(),
            &[(
                "https://mcp.example/.well-known/oauth-protected-resource/api/mcp",
                200,
                prm("https://evil.example/mcp", "https://auth.example"),
            )],
        );
        assert!(matches!(&step, Step::Failed(why) if why.contains("is not this server")), "{step:?}");
        let (fetched, step) = run(
            Challenge::default(),
            &[
                (
                    "https://mcp.example/.well-known/oauth-protected-resource/api/mcp",
                    200,
                    prm(SERVER, "https://auth.example"),
                ),
                (
                    "https://auth.example/.well-known/oauth-authorization-server",
                    200,
                    as_metadata("https://attacker.example"),
                ),
            ],
        );
        assert!(matches!(&step, Step::Failed(why) if why.contains("is not the issuer")), "{step:?}");
        assert_eq!(fetched.len(), 2, "nothing of the poisoned document is used");
    }

    #[test]
    fn a_2025_03_26_server_is_its_own_authorization_server_with_default_endpoints_if_need_be() {
        let (fetched, step) = run(
            Challenge::default(),
            &[("https://mcp.example/.well-known/oauth-authorization-server", 200, as_metadata("https://mcp.example"))],
        );
        assert_eq!(
            fetched.last().map(String::as_str),
            Some("https://mcp.example/.well-known/oauth-authorization-server")
        );
        let Step::Found(found) = step else { panic!("{step:?}") };
        assert_eq!((found.resource.as_str(), found.scope), (SERVER, None));
        let (_, step) = run(Challenge::default(), &[]);
        let Step::Found(found) = step else { panic!("{step:?}") };
        assert_eq!(found.server.authorization_endpoint, "https://mcp.example/authorize");
    }

    #[test]
    fn unreadable_answers_move_on_and_an_authorization_server_without_metadata_fails() {
        let (fetched, step) = run(
            Challenge::default(),
            &[
                ("https://mcp.example/.well-known/oauth-protected-resource/api/mcp", 200, b"<html>".to_vec()),
                ("https://mcp.example/.well-known/oauth-protected-resource", 0, Vec::new()),
            ],
        );
        assert_eq!(fetched.len(), 3, "two unreadable resource documents, then the 2025-03-26 lookup");
        assert!(matches!(step, Step::Found(_)));
        let (_, step) = run(
            Challenge::default(),
            &[(
                "https://mcp.example/.well-known/oauth-protected-resource/api/mcp",
                200,
                prm(SERVER, "https://auth.example"),
            )],
        );
        assert!(matches!(&step, Step::Failed(why) if why.contains("publishes no metadata")), "{step:?}");
        let (_, step) = Discovery::start("http://mcp.example/mcp", Challenge::default());
        assert!(matches!(&step, Step::Failed(why) if why.contains("http://")), "{step:?}");
    }
}
