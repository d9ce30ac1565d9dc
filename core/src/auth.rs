//! The front door's decisions (DESIGN.md, Authorization): io finds what a request presents
//! (it hashes a bearer token and looks it up, never keeping or logging the token itself); the
//! core decides whether that admits the request — expiry, revocation — and what the principal
//! may see: a token's tags bound every view of its sessions (scopes are tags, `tag:<name>`),
//! and a session belongs to the principal that created it.

use crate::view::ViewSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What a request presented, as io found it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    /// No `Authorization` header.
    #[default]
    None,
    /// An `Authorization` header that is not `Bearer <token>`.
    Malformed,
    /// A bearer token this daemon does not know.
    Unknown,
    /// A token this daemon issued.
    Token(Box<TokenGrant>),
}

/// A token this daemon issued, as its store describes it (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenGrant {
    /// Stable id of the token.
    pub id: String,
    /// The name it was created with, for logs.
    pub name: String,
    /// The tags it is bound to; `None`: every server.
    pub tags: Option<Vec<String>>,
    /// Unix time (ms) from which it is no longer valid.
    pub expires_at_ms: Option<u64>,
    /// Revoked by the operator (or, for an OAuth grant, its refresh family was revoked).
    pub revoked: bool,
    /// The resource it was issued for (RFC 8707), if it names one; `None`: a personal access
    /// token of this daemon's own store, valid for this daemon only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}

/// Who a request acts for, once admitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The token's id: sessions are bound to it.
    pub(crate) id: String,
    /// The token's name, for logs.
    pub(crate) name: String,
    /// What it may see: servers with any of these tags; `None`: everything.
    pub(crate) tags: Option<BTreeSet<String>>,
    /// When the credential it presented stops being valid (Unix ms): its sessions' streams
    /// close then, and the client reconnects with a fresh token.
    pub(crate) expires_at_ms: Option<u64>,
}

/// Why a request is not admitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// No credential: 401 with a pointer to the resource metadata.
    Missing,
    /// A credential that does not admit anyone: 401 `invalid_token`, with the reason for the log.
    Invalid(&'static str),
}

impl Denial {
    /// The `error` of the `WWW-Authenticate` challenge, if any (RFC 6750).
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Denial::Missing => None,
            Denial::Invalid(_) => Some("invalid_token"),
        }
    }

    /// What the client is told.
    pub fn message(&self) -> &'static str {
        match self {
            Denial::Missing => "Unauthorized: this endpoint needs a bearer token (Authorization: Bearer ...)",
            Denial::Invalid(why) => why,
        }
    }
}

/// Decide whether `credential` admits a request at wall time `now_ms` (Unix ms) to a server
/// whose resource identifiers `ours` accepts (a token issued for another resource is refused:
/// RFC 8707, and the spec's "MUST only accept tokens valid for its own resources").
pub fn admit(credential: &Credential, now_ms: u64, ours: impl Fn(&str) -> bool) -> Result<Principal, Denial> {
    match credential {
        Credential::None => Err(Denial::Missing),
        Credential::Malformed => Err(Denial::Invalid("Unauthorized: the Authorization header is not a bearer token")),
        Credential::Unknown => Err(Denial::Invalid("Unauthorized: unknown token")),
        Credential::Token(grant) if grant.revoked => Err(Denial::Invalid("Unauthorized: the token was revoked")),
        Credential::Token(grant) if grant.expires_at_ms.is_some_and(|at| now_ms >= at) => {
            Err(Denial::Invalid("Unauthorized: the token has expired"))
        }
        Credential::Token(grant) if grant.audience.as_deref().is_some_and(|aud| !ours(aud)) => {
            Err(Denial::Invalid("Unauthorized: the token was issued for another resource"))
        }
        Credential::Token(grant) => Ok(Principal {
            id: grant.id.clone(),
            name: grant.name.clone(),
            tags: grant.tags.as_ref().map(|tags| tags.iter().map(|t| t.to_lowercase()).collect()),
            expires_at_ms: grant.expires_at_ms,
        }),
    }
}

impl Principal {
    /// Whether it may see a server tagged `tags`.
    pub fn admits(&self, tags: &[String]) -> bool {
        self.tags.as_ref().is_none_or(|mine| tags.iter().any(|t| mine.contains(t)))
    }

    /// The scopes (`tag:<name>`, sorted) a view mentions that this principal lacks; empty when
    /// it may open the view. A session without a view sees what the token admits.
    pub fn missing_scopes(&self, view: &ViewSpec) -> Vec<String> {
        let (Some(mine), Some(filter)) = (&self.tags, &view.filter) else { return Vec::new() };
        filter.referenced_tags().into_iter().filter(|t| !mine.contains(t)).map(|t| format!("tag:{t}")).collect()
    }
}

/// Whether `query` carries a token (`access_token=`): refused, since URLs end up in logs and
/// histories (OAuth 2.1 forbids it).
pub fn token_in_query(query: &str) -> bool {
    query.split('&').any(|pair| pair.split('=').next().is_some_and(|k| k.eq_ignore_ascii_case("access_token")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::TagFilter;

    fn grant(tags: Option<&[&str]>, expires_at_ms: Option<u64>, revoked: bool) -> Credential {
        Credential::Token(Box::new(TokenGrant {
            id: "t1".into(),
            name: "ci".into(),
            tags: tags.map(|t| t.iter().map(|s| (*s).to_owned()).collect()),
            expires_at_ms,
            revoked,
            audience: None,
        }))
    }

    fn admit(credential: &Credential, now_ms: u64) -> Result<Principal, Denial> {
        super::admit(credential, now_ms, |aud| aud == "http://127.0.0.1:3050/mcp")
    }

    #[test]
    fn only_a_live_known_token_admits() {
        assert_eq!(admit(&Credential::None, 0), Err(Denial::Missing));
        assert!(matches!(admit(&Credential::Malformed, 0), Err(Denial::Invalid(_))));
        assert!(matches!(admit(&Credential::Unknown, 0), Err(Denial::Invalid(_))));
        assert!(matches!(admit(&grant(None, None, true), 0), Err(Denial::Invalid(m)) if m.contains("revoked")));
        assert!(matches!(admit(&grant(None, Some(10), false), 10), Err(Denial::Invalid(m)) if m.contains("expired")));
        let p = admit(&grant(Some(&["Web"]), Some(10), false), 9).expect("admitted");
        assert_eq!(p.tags, Some(BTreeSet::from(["web".to_owned()])));
    }

    #[test]
    fn a_token_for_another_resource_is_refused() {
        let for_resource = |aud: &str| {
            let Credential::Token(mut g) = grant(None, None, false) else { unreachable!() };
            g.audience = Some(aud.to_owned());
            Credential::Token(g)
        };
        assert!(admit(&for_resource("http://127.0.0.1:3050/mcp"), 0).is_ok());
        let refused = admit(&for_resource("https://other.example/mcp"), 0);
        assert!(matches!(refused, Err(Denial::Invalid(m)) if m.contains("another resource")));
    }

    #[test]
    fn a_tag_bound_token_sees_its_tags_and_views_may_not_reach_past_them() {
        let p = admit(&grant(Some(&["web", "db"]), None, false), 0).expect("admitted");
        assert!(p.admits(&["web".into()]) && !p.admits(&["prod".into()]) && !p.admits(&[]));
        let view = |filter: TagFilter| ViewSpec { filter: Some(filter), ..ViewSpec::default() };
        assert!(p.missing_scopes(&ViewSpec::default()).is_empty(), "no view: narrowed to the token's tags");
        assert!(p.missing_scopes(&view(TagFilter::Any(vec!["web".into()]))).is_empty());
        assert_eq!(p.missing_scopes(&view(TagFilter::Any(vec!["web".into(), "prod".into()]))), ["tag:prod"]);
        let everything = admit(&grant(None, None, false), 0).expect("admitted");
        assert!(
            everything.admits(&[]) && everything.missing_scopes(&view(TagFilter::Any(vec!["x".into()]))).is_empty()
        );
    }

    #[test]
    fn tokens_in_the_query_string_are_spotted() {
        assert!(token_in_query("access_token=abc"));
        assert!(token_in_query("tags=a&ACCESS_TOKEN=abc"));
        assert!(!token_in_query("tags=access_token"));
    }
}
