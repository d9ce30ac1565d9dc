//! Where a protected MCP server's authorization server is found and what its documents must
//! say (MCP authorization, "Authorization Server Discovery"): the protected resource metadata
//! (RFC 9728) at the URL the challenge names, else at the path-inserted and then the root
//! well-known URI; the authorization server metadata (RFC 8414, OpenID Connect Discovery) at
//! the spec's well-known URIs in the spec's order, its `issuer` equal to the one the URL was
//! built from; PKCE with S256 advertised. Pure functions: io fetches, these decide.

use crate::oauth::{is_loopback_host, parse_url};
use serde_json::{Map, Value};

/// Longest list of scopes or authorization servers read from a document.
const MAX_LIST: usize = 64;

/// `url` split into origin (`scheme://host[:port]`, lower-cased, default port dropped) and
/// path (no query, no fragment, no trailing slash; empty for the root). `Err` says why the URL
/// cannot name an OAuth party: only `https`, or `http` to a loopback host (local development),
/// may.
pub fn origin_and_path(url: &str) -> Result<(String, String), String> {
    let parsed = parse_url(url).map_err(str::to_owned)?;
    let scheme = parsed.scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "https" => {}
        "http" if is_loopback_host(parsed.host) => {}
        _ => return Err(format!("{scheme}:// is not allowed for authorization (https, or http to a loopback host)")),
    }
    split(&parsed)
}

/// `parsed` as origin and path, whatever its scheme (see [`origin_and_path`]).
fn split(parsed: &crate::oauth::Url<'_>) -> Result<(String, String), String> {
    let scheme = parsed.scheme.to_ascii_lowercase();
    let host = parsed.host.to_ascii_lowercase();
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    let host = if host.contains(':') { format!("[{host}]") } else { host };
    let default_port = if scheme == "https" { 443 } else { 80 };
    let origin = match parsed.port.filter(|p| *p != default_port) {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    };
    let path = parsed.rest.split(['?', '#']).next().unwrap_or_default().trim_end_matches('/');
    Ok((origin, path.to_owned()))
}

/// The canonical URI of the MCP server at `url` (RFC 8707, as the spec asks of the `resource`
/// parameter): origin and path, nothing else.
pub fn canonical_resource(url: &str) -> Result<String, String> {
    let (origin, path) = origin_and_path(url)?;
    Ok(format!("{origin}{path}"))
}

/// Where to look for the protected resource metadata of the server at `server_url`, in order:
/// the challenge's `resource_metadata` (if it may be fetched), then the path-inserted
/// well-known URI (for a server with a path), then the root one.
pub fn resource_metadata_urls(server_url: &str, from_challenge: Option<&str>) -> Result<Vec<String>, String> {
    let (origin, path) = origin_and_path(server_url)?;
    let mut urls = Vec::new();
    if let Some(url) = from_challenge.filter(|url| origin_and_path(url).is_ok()) {
        urls.push(url.to_owned());
    }
    if !path.is_empty() {
        urls.push(format!("{origin}/.well-known/oauth-protected-resource{path}"));
    }
    urls.push(format!("{origin}/.well-known/oauth-protected-resource"));
    urls.dedup();
    Ok(urls)
}

/// A protected resource metadata document, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceMetadata {
    /// The resource the document describes (canonical): sent as `resource` in authorization
    /// and token requests.
    pub(crate) resource: String,
    /// Its authorization servers' issuers, in the document's order (at least one).
    pub(crate) authorization_servers: Vec<String>,
    /// `scopes_supported`, if the document lists them.
    pub(crate) scopes_supported: Option<Vec<String>>,
}

/// Checks `document` as the protected resource metadata of the server at `server_url`: its
/// `resource` must name that server (the same origin, and a path that is the server's or a
/// parent of it), and it must name at least one authorization server that may be contacted.
pub fn check_resource_metadata(document: &Value, server_url: &str) -> Result<ResourceMetadata, String> {
    let document = document.as_object().ok_or("the protected resource metadata is not a JSON object")?;
    let resource = document.get("resource").and_then(Value::as_str).ok_or("it names no `resource`")?;
    let (origin, path) = origin_and_path(resource).map_err(|why| format!("its `resource` is unusable: {why}"))?;
    let (server_origin, server_path) = origin_and_path(server_url)?;
    let covers = origin == server_origin
        && (path.is_empty() || server_path == path || server_path.starts_with(&format!("{path}/")));
    if !covers {
        return Err(format!("its `resource` ({resource}) is not this server ({server_origin}{server_path})"));
    }
    let servers = strings(document, "authorization_servers").ok_or("it names no `authorization_servers`")?;
    let authorization_servers: Vec<String> =
        servers.into_iter().filter(|issuer| origin_and_path(issuer).is_ok()).collect();
    if authorization_servers.is_empty() {
        return Err("none of its `authorization_servers` may be contacted (https, or http to a loopback host)".into());
    }
    Ok(ResourceMetadata {
        resource: format!("{origin}{path}"),
        authorization_servers,
        scopes_supported: strings(document, "scopes_supported"),
    })
}

/// Where to look for the metadata of the authorization server `issuer`, in the spec's order:
/// RFC 8414 and OpenID Connect Discovery, path-inserted for an issuer with a path, then
/// OpenID Connect's path-appended form. Whether the issuer may be contacted at all is the
/// caller's to decide.
pub fn server_metadata_urls(issuer: &str) -> Result<Vec<String>, String> {
    let (origin, path) = split(&parse_url(issuer).map_err(str::to_owned)?)?;
    Ok(if path.is_empty() {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ]
    })
}

/// How 1mcp authenticates itself at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// A public client: its `client_id` in the form, no secret.
    None,
    /// `client_secret_basic`: HTTP Basic with the id and secret.
    Basic,
    /// `client_secret_post`: id and secret in the form.
    Post,
}

/// An authorization server's metadata, checked.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerMetadata {
    /// The issuer, exactly as the URL was built from (and as `iss` must come back).
    pub(crate) issuer: String,
    /// Where the user authorizes.
    pub(crate) authorization_endpoint: String,
    /// Where codes and refresh tokens are redeemed.
    pub(crate) token_endpoint: String,
    /// Dynamic client registration (RFC 7591), if offered.
    pub(crate) registration_endpoint: Option<String>,
    /// `scopes_supported`, if listed.
    pub(crate) scopes_supported: Option<Vec<String>>,
    /// `token_endpoint_auth_methods_supported` (RFC 8414's default when absent:
    /// `client_secret_basic`).
    pub(crate) token_auth_methods: Vec<String>,
    /// `client_id_metadata_document_supported`: a URL may be the client id.
    pub(crate) client_id_metadata_documents: bool,
    /// `authorization_response_iss_parameter_supported` (RFC 9207).
    pub(crate) iss_parameter: bool,
}

impl ServerMetadata {
    /// The metadata a 2025-03-26 server implies when it publishes none: the default endpoints
    /// at its origin, the origin as the issuer (whose `iss` is then only compared when sent).
    pub fn defaults_for(server_url: &str) -> Result<ServerMetadata, String> {
        let (origin, _) = origin_and_path(server_url)?;
        Ok(ServerMetadata {
            issuer: origin.clone(),
            authorization_endpoint: format!("{origin}/authorize"),
            token_endpoint: format!("{origin}/token"),
            registration_endpoint: Some(format!("{origin}/register")),
            scopes_supported: None,
            token_auth_methods: vec!["client_secret_basic".to_owned()],
            client_id_metadata_documents: false,
            iss_parameter: false,
        })
    }

    /// How to authenticate at the token endpoint with a secret or without one: Basic when the
    /// server takes it (its default), else the form, else as a public client.
    pub fn client_auth(&self, has_secret: bool) -> ClientAuth {
        let takes = |method: &str| self.token_auth_methods.iter().any(|m| m == method);
        match has_secret {
            false => ClientAuth::None,
            true if takes("client_secret_basic") => ClientAuth::Basic,
            true if takes("client_secret_post") => ClientAuth::Post,
            true => ClientAuth::None,
        }
    }

    /// Whether the server offers `offline_access` (so asking for it may bring a refresh token).
    pub fn offers_offline_access(&self) -> bool {
        self.scopes_supported.as_ref().is_some_and(|scopes| scopes.iter().any(|s| s == "offline_access"))
    }
}

/// Checks `document` as the metadata of the authorization server `issuer`: its `issuer` must
/// be exactly `issuer` (no normalization), it must support PKCE with S256 (a server that does
/// not say so is refused), and its authorization and token endpoints must be usable URLs.
pub fn check_server_metadata(document: &Value, issuer: &str) -> Result<ServerMetadata, String> {
    let document = document.as_object().ok_or("the authorization server metadata is not a JSON object")?;
    let said = document.get("issuer").and_then(Value::as_str).ok_or("it names no `issuer`")?;
    if said != issuer {
        return Err(format!("its `issuer` ({said}) is not the issuer it was looked up for ({issuer})"));
    }
    let pkce = strings(document, "code_challenge_methods_supported").unwrap_or_default();
    if !pkce.iter().any(|m| m == "S256") {
        return Err("it does not advertise PKCE with S256 (`code_challenge_methods_supported`)".into());
    }
    let endpoint = |key: &str| -> Result<String, String> {
        let url = document.get(key).and_then(Value::as_str).ok_or_else(|| format!("it names no `{key}`"))?;
        origin_and_path(url).map_err(|why| format!("its `{key}` is unusable: {why}"))?;
        Ok(url.to_owned())
    };
    let authorization_endpoint = endpoint("authorization_endpoint")?;
    let token_endpoint = endpoint("token_endpoint")?;
    let registration_endpoint =
        document.contains_key("registration_endpoint").then(|| endpoint("registration_endpoint")).transpose()?;
    Ok(ServerMetadata {
        issuer: issuer.to_owned(),
        authorization_endpoint,
        token_endpoint,
        registration_endpoint,
        scopes_supported: strings(document, "scopes_supported"),
        token_auth_methods: strings(document, "token_endpoint_auth_methods_supported")
            .unwrap_or_else(|| vec!["client_secret_basic".to_owned()]),
        client_id_metadata_documents: document.get("client_id_metadata_document_supported") == Some(&Value::Bool(true)),
        iss_parameter: document.get("authorization_response_iss_parameter_supported") == Some(&Value::Bool(true)),
    })
}

/// The scope to ask for (space-separated), or `None` to send no `scope`: the challenge's (it
/// is authoritative for the operation), else everything the resource lists, else nothing.
/// `offline_access` is added when the authorization server offers it, and dropped when it
/// does not.
pub fn select_scope(challenged: Option<&str>, resource: Option<&[String]>, server: &ServerMetadata) -> Option<String> {
    let mut scopes: Vec<String> = match (challenged, resource) {
        (Some(scope), _) => scope.split_ascii_whitespace().map(str::to_owned).collect(),
        (None, Some(listed)) => listed.to_vec(),
        (None, None) => Vec::new(),
    };
    scopes.retain(|s| s != "offline_access");
    if server.offers_offline_access() && !scopes.is_empty() {
        scopes.push("offline_access".to_owned());
    }
    let mut seen = std::collections::BTreeSet::new();
    scopes.retain(|s| seen.insert(s.clone()));
    (!scopes.is_empty()).then(|| scopes.join(" "))
}

/// The scopes to ask for on a step-up: what was asked before and what the refusal names.
pub fn union_scopes(previous: Option<&str>, challenged: Option<&str>) -> Option<String> {
    let mut scopes: Vec<&str> = previous.unwrap_or_default().split_ascii_whitespace().collect();
    for scope in challenged.unwrap_or_default().split_ascii_whitespace() {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    (!scopes.is_empty()).then(|| scopes.join(" "))
}

/// `key` of `document` as a list of strings (non-strings skipped, at most [`MAX_LIST`]);
/// `None` if absent or not a list.
fn strings(document: &Map<String, Value>, key: &str) -> Option<Vec<String>> {
    let list = document.get(key)?.as_array()?;
    Some(list.iter().filter_map(Value::as_str).take(MAX_LIST).map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_https_or_loopback_http_may_name_an_oauth_party_and_urls_are_canonical() {
        assert_eq!(
            origin_and_path("HTTPS://MCP.Example.com:443/Mcp/?x=1"),
            Ok(("https://mcp.example.com".into(), "/Mcp".into()))
        );
        assert_eq!(origin_and_path("http://127.0.0.1:3050/mcp"), Ok(("http://127.0.0.1:3050".into(), "/mcp".into())));
        assert_eq!(origin_and_path("http://localhost/"), Ok(("http://localhost".into(), String::new())));
        assert_eq!(origin_and_path("http://[::1]:80/a").map(|(o, _)| o), Ok("http://[::1]".into()));
        assert!(origin_and_path("http://mcp.example.com/mcp").is_err(), "plain http to a remote host");
        for bad in ["javascript:alert(1)", "file:///etc/passwd", "ftp://x/y", "https://user:pw@x/y", "https://x/#f", ""]
        {
            assert!(origin_and_path(bad).is_err(), "{bad}");
        }
        assert_eq!(
            canonical_resource("https://Example.com:8443/mcp/?token=secret").as_deref(),
            Ok("https://example.com:8443/mcp")
        );
    }

    #[test]
    fn resource_metadata_is_looked_for_at_the_challenges_url_then_path_inserted_then_root() {
        let urls = resource_metadata_urls("https://x.example/public/mcp", Some("https://x.example/prm")).unwrap();
        assert_eq!(
            urls,
            [
                "https://x.example/prm",
                "https://x.example/.well-known/oauth-protected-resource/public/mcp",
                "https://x.example/.well-known/oauth-protected-resource",
            ]
        );
        let root = resource_metadata_urls("https://x.example", None).unwrap();
        assert_eq!(root, ["https://x.example/.well-known/oauth-protected-resource"]);
        let unsafe_hint = resource_metadata_urls("https://x.example/mcp", Some("file:///etc/passwd")).unwrap();
        assert_eq!(unsafe_hint.len(), 2, "a URL that may not be fetched is skipped: {unsafe_hint:?}");
    }

    #[test]
    fn resource_metadata_must_describe_this_server_and_name_a_reachable_authorization_server() {
        let server = "https://x.example/mcp";
        let doc = |resource: &str| json!({"resource": resource, "authorization_servers": ["https://as.example"], "scopes_supported": ["a", "b"]});
        let ok = check_resource_metadata(&doc("https://x.example/mcp"), server).unwrap();
        assert_eq!(ok.resource, "https://x.example/mcp");
        assert_eq!(ok.scopes_supported, Some(vec!["a".into(), "b".into()]));
        assert!(check_resource_metadata(&doc("https://X.example/"), server).is_ok(), "the origin covers its paths");
        for other in
            ["https://evil.example/mcp", "https://x.example/other", "https://x.example/mc", "https://x.example:444/mcp"]
        {
            let refused = check_resource_metadata(&doc(other), server);
            assert!(refused.as_ref().is_err_and(|e| e.contains("is not this server")), "{other}: {refused:?}");
        }
        let none = json!({"resource": server, "authorization_servers": ["http://as.example", "javascript:x"]});
        assert!(check_resource_metadata(&none, server).is_err_and(|e| e.contains("may be contacted")));
        assert!(check_resource_metadata(&json!({"resource": server}), server).is_err());
        assert!(check_resource_metadata(&json!([1]), server).is_err());
    }

    #[test]
    fn server_metadata_is_looked_for_in_the_specs_order() {
        assert_eq!(
            server_metadata_urls("https://as.example/tenant1").unwrap(),
            [
                "https://as.example/.well-known/oauth-authorization-server/tenant1",
                "https://as.example/.well-known/openid-configuration/tenant1",
                "https://as.example/tenant1/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            server_metadata_urls("https://as.example").unwrap(),
            [
                "https://as.example/.well-known/oauth-authorization-server",
                "https://as.example/.well-known/openid-configuration"
            ]
        );
    }

    fn metadata(extra: Value) -> Value {
        let mut doc = json!({"issuer": "https://as.example", "authorization_endpoint": "https://as.example/authorize",
            "token_endpoint": "https://as.example/token", "code_challenge_methods_supported": ["S256"]});
        if let (Some(doc), Some(extra)) = (doc.as_object_mut(), extra.as_object()) {
            doc.extend(extra.clone());
        }
        doc
    }

    #[test]
    fn server_metadata_must_name_its_issuer_exactly_and_support_s256() {
        let ok = check_server_metadata(&metadata(json!({})), "https://as.example").unwrap();
        assert_eq!(
            (ok.registration_endpoint.as_deref(), ok.token_auth_methods.as_slice()),
            (None, &["client_secret_basic".to_owned()][..])
        );
        for (issuer, why) in [
            ("https://as.example/", "trailing slash"),
            ("https://AS.example", "case"),
            ("https://attacker.example", "another"),
        ] {
            let refused = check_server_metadata(&metadata(json!({"issuer": issuer})), "https://as.example");
            assert!(refused.is_err_and(|e| e.contains("is not the issuer")), "{why}");
        }
        for pkce in [json!(null), json!(["plain"]), json!("S256")] {
            let refused = check_server_metadata(
                &metadata(json!({"code_challenge_methods_supported": pkce})),
                "https://as.example",
            );
            assert!(refused.is_err_and(|e| e.contains("S256")), "{pkce}");
        }
        let bad_endpoint = metadata(json!({"token_endpoint": "http://as.example/token"}));
        assert!(
            check_server_metadata(&bad_endpoint, "https://as.example").is_err_and(|e| e.contains("token_endpoint"))
        );
        let full = metadata(
            json!({"registration_endpoint": "https://as.example/register", "client_id_metadata_document_supported": true,
            "authorization_response_iss_parameter_supported": true, "token_endpoint_auth_methods_supported": ["client_secret_post"]}),
        );
        let full = check_server_metadata(&full, "https://as.example").unwrap();
        assert!(full.client_id_metadata_documents && full.iss_parameter);
        assert_eq!(full.registration_endpoint.as_deref(), Some("https://as.example/register"));
        assert_eq!((full.client_auth(true), full.client_auth(false)), (ClientAuth::Post, ClientAuth::None));
        assert_eq!(ok.client_auth(true), ClientAuth::Basic, "RFC 8414's default");
    }

    #[test]
    fn scope_comes_from_the_challenge_else_the_resource_else_none_and_offline_access_only_when_offered() {
        let plain = check_server_metadata(&metadata(json!({})), "https://as.example").unwrap();
        let offline = check_server_metadata(
            &metadata(json!({"scopes_supported": ["a", "offline_access"]})),
            "https://as.example",
        )
        .unwrap();
        let listed = vec!["mcp:read".to_owned(), "mcp:write".to_owned()];
        assert_eq!(select_scope(Some("mcp:basic"), Some(&listed), &plain).as_deref(), Some("mcp:basic"));
        assert_eq!(select_scope(None, Some(&listed), &plain).as_deref(), Some("mcp:read mcp:write"));
        assert_eq!(select_scope(None, None, &plain), None);
        assert_eq!(select_scope(Some("a offline_access"), None, &plain).as_deref(), Some("a"), "not offered: dropped");
        assert_eq!(select_scope(Some("a"), None, &offline).as_deref(), Some("a offline_access"));
        assert_eq!(select_scope(None, None, &offline), None, "no scope at all stays none");
        assert_eq!(union_scopes(Some("a b"), Some("b c")).as_deref(), Some("a b c"));
        assert_eq!(union_scopes(None, None), None);
    }

    #[test]
    fn a_server_without_metadata_gets_the_2025_03_26_default_endpoints() {
        let defaults = ServerMetadata::defaults_for("http://127.0.0.1:4000/mcp").unwrap();
        assert_eq!(defaults.issuer, "http://127.0.0.1:4000");
        assert_eq!(defaults.authorization_endpoint, "http://127.0.0.1:4000/authorize");
        assert_eq!(defaults.token_endpoint, "http://127.0.0.1:4000/token");
        assert_eq!(defaults.registration_endpoint.as_deref(), Some("http://127.0.0.1:4000/register"));
    }
}
