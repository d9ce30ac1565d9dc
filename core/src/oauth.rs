//! The embedded authorization server's decisions (OAuth 2.1 with PKCE, RFC 7591 registration,
//! RFC 8252 native-app redirects, Client ID Metadata Documents): pure functions over what a
//! request carries. io keeps the state (clients, codes, refresh families), signs and speaks
//! HTTP; everything here can be tested without either.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
// The address type only, from libcore (no I/O): which addresses a fetch may reach is decided
// here, io resolves and connects.
use ::core::net::IpAddr;

/// Longest redirect URI, client name or metadata URL accepted.
pub const MAX_URI_LEN: usize = 2048;
/// Most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 10;
/// Longest client name shown on the consent page.
pub const MAX_CLIENT_NAME: usize = 128;

/// Whether `verifier` is a valid PKCE code verifier (RFC 7636 §4.1: 43 to 128 characters of
/// `[A-Za-z0-9-._~]`).
pub fn valid_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `challenge` has the shape of an S256 challenge (43 characters of base64url).
pub fn valid_code_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// Whether `verifier` answers the S256 `challenge`: `BASE64URL(SHA256(verifier)) == challenge`.
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    valid_code_verifier(verifier) && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

/// A URL cut into the parts the server decides on. Deliberately strict: ASCII only, no
/// userinfo, no backslashes or whitespace, a host for `http(s)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url<'a> {
    /// Lower-cased by the caller's comparisons; as written here.
    pub scheme: &'a str,
    /// Host without brackets or port (empty for a private-use scheme without authority).
    pub host: &'a str,
    /// The port, if written.
    pub port: Option<u16>,
    /// Path, query included (everything after the authority, fragment excluded).
    pub rest: &'a str,
}

/// Cut `url` into its parts; `Err` says what is wrong with it.
pub fn parse_url(url: &str) -> Result<Url<'_>, &'static str> {
    if url.is_empty() || url.len() > MAX_URI_LEN {
        return Err("the URL is empty or too long");
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) || url.contains('\\') {
        return Err("the URL must be ASCII without spaces or backslashes");
    }
    if url.contains('#') {
        return Err("the URL must not have a fragment");
    }
    let (scheme, after) = url.split_once(':').ok_or("the URL has no scheme")?;
    let scheme_ok = scheme.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return Err("the URL's scheme is malformed");
    }
    let Some(after) = after.strip_prefix("//") else {
        return Ok(Url { scheme, host: "", port: None, rest: after });
    };
    let end = after.find(['/', '?']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    if authority.contains('@') {
        return Err("the URL must not carry credentials");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, tail) = v6.split_once(']').ok_or("the URL's IPv6 host is malformed")?;
        (host, tail.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().map_err(|_| "the URL's port is malformed")?),
        None => None,
    };
    if host.is_empty() {
        return Err("the URL has no host");
    }
    Ok(Url { scheme, host, port, rest })
}

/// Whether `host` is a loopback address or `localhost` (RFC 8252 §7.3).
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// Schemes a redirect may never use, whatever a client registers.
const FORBIDDEN_SCHEMES: [&str; 5] = ["javascript", "data", "file", "vbscript", "about"];

/// Whether `uri` may be registered as a redirect URI: `https`; `http` only to a loopback host
/// (native apps, RFC 8252 §7.3); or a private-use scheme with a dot in it (`com.example.app:`,
/// RFC 8252 §7.1) — never `javascript:`, `data:`, `file:` and the like.
pub fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    let url = parse_url(uri)?;
    let scheme = url.scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "https" => Ok(()),
        "http" if is_loopback_host(url.host) => Ok(()),
        "http" => Err("an http redirect URI must point at a loopback address (use https)"),
        s if FORBIDDEN_SCHEMES.contains(&s) => Err("that redirect URI scheme is not allowed"),
        s if s.contains('.') => Ok(()),
        _ => Err("a private-use redirect URI scheme must be a reverse domain name (com.example.app:/...)"),
    }
}

/// Whether the `presented` redirect URI is the `registered` one: exactly, except that the
/// port of an `http` loopback redirect may differ (RFC 8252 §7.3: native apps listen on an
/// ephemeral port). `127.0.0.1` and `localhost` are different hosts.
pub fn redirect_uri_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Ok(r), Ok(p)) = (parse_url(registered), parse_url(presented)) else { return false };
    r.scheme.eq_ignore_ascii_case("http")
        && p.scheme.eq_ignore_ascii_case("http")
        && is_loopback_host(r.host)
        && r.host.eq_ignore_ascii_case(p.host)
        && r.rest == p.rest
}

/// What a `scope` parameter asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScopeRequest {
    /// No tag scope: every server (the operator may narrow it at consent).
    Everything,
    /// Servers with any of these tags (lower-cased).
    Tags(BTreeSet<String>),
}

/// Read a `scope` parameter: space-separated `tag:<name>` entries. Standard OpenID and
/// refresh scopes (`openid`, `profile`, `email`, `offline_access`) are ignored; any other
/// scope is `invalid_scope` (`Err` names it).
pub fn parse_scope(scope: Option<&str>) -> Result<ScopeRequest, String> {
    let mut tags = BTreeSet::new();
    for entry in scope.unwrap_or_default().split(' ').filter(|s| !s.is_empty()) {
        if let Some(tag) = entry.strip_prefix("tag:")
            && valid_tag(tag)
        {
            tags.insert(tag.to_lowercase());
        } else if !matches!(entry, "openid" | "profile" | "email" | "offline_access") {
            return Err(format!("unknown scope {:?}: scopes are tag:<name>", crate::text::clip(entry, 64)));
        }
    }
    Ok(if tags.is_empty() { ScopeRequest::Everything } else { ScopeRequest::Tags(tags) })
}

/// Whether `tag` can name a tag: 1 to 64 characters of letters, digits, `-`, `_`, `.`.
pub fn valid_tag(tag: &str) -> bool {
    (1..=64).contains(&tag.len()) && tag.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The `scope` string of a grant: `tag:<name>` for each tag, space-separated.
pub fn scope_string<'a>(tags: impl IntoIterator<Item = &'a String>) -> String {
    tags.into_iter().map(|t| format!("tag:{t}")).collect::<Vec<_>>().join(" ")
}

/// Whether a Client ID Metadata Document may be fetched from `url`: an `https` URL with a
/// path (the spec's shape of a URL client id). `http` is admitted only for a loopback host
/// when `loopback_ok` (a daemon that itself serves loopback, for local development).
pub fn check_metadata_document_url(url: &str, loopback_ok: bool) -> Result<(), &'static str> {
    let parsed = parse_url(url)?;
    if parsed.rest.len() <= 1 || parsed.rest.starts_with('?') {
        return Err("a client id URL must have a path");
    }
    match parsed.scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(()),
        "http" if loopback_ok && is_loopback_host(parsed.host) => Ok(()),
        _ => Err("a client id URL must be https"),
    }
}

/// Whether the daemon may connect to `ip` to fetch something a client named (SSRF guard):
/// public unicast addresses only; loopback too when `loopback_ok`. Private, link-local,
/// carrier-grade NAT, multicast, documentation, benchmarking, reserved and unspecified ranges
/// are refused, also when written as IPv4-mapped IPv6.
pub fn fetch_address_allowed(ip: IpAddr, loopback_ok: bool) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            if v4.is_loopback() {
                return loopback_ok;
            }
            !(v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if v6.is_loopback() {
                return loopback_ok;
            }
            let first = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x0064 && v6.segments()[1] == 0xff9b
                || first == 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pkce_s256_matches_the_rfc_example_and_nothing_else() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(valid_code_challenge(challenge));
        assert!(pkce_s256_matches(verifier, challenge));
        assert!(!pkce_s256_matches(challenge, challenge), "plain is not S256");
        assert!(!pkce_s256_matches("short", challenge));
        assert!(!pkce_s256_matches(&format!("{verifier} "), challenge));
    }

    #[test]
    fn redirect_uris_are_https_loopback_http_or_reverse_domain_schemes() {
        for ok in [
            "https://app.example.com/cb",
            "http://127.0.0.1:33418/callback",
            "http://localhost/cb",
            "http://[::1]:8080/cb",
            "com.example.app:/oauth2redirect",
            "cursor.anysphere://callback",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://evil.example/cb",
            "javascript:alert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
            "myapp://cb",
            "https://app.example.com/cb#frag",
            "https://user:pw@app.example.com/cb",
            "https://app.example.com\\@evil/cb",
            "https:///nohost",
            "",
            "http://127.0.0.1:99999/cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_loopback_http_redirects_may_change_port() {
        let registered = "http://127.0.0.1:4000/callback";
        assert!(redirect_uri_matches(registered, "http://127.0.0.1:51234/callback"));
        assert!(redirect_uri_matches(registered, "http://127.0.0.1/callback"));
        assert!(!redirect_uri_matches(registered, "http://localhost:4000/callback"));
        assert!(!redirect_uri_matches(registered, "http://127.0.0.1:4000/callback/extra"));
        assert!(!redirect_uri_matches(registered, "http://127.0.0.1:4000/callback?x=1"));
        assert!(!redirect_uri_matches("https://a.example/cb", "https://a.example:8443/cb"));
        assert!(!redirect_uri_matches("https://a.example/cb", "https://a.example/cb/"));
        assert!(redirect_uri_matches("https://a.example/cb", "https://a.example/cb"));
    }

    #[test]
    fn scopes_are_tags() {
        assert_eq!(parse_scope(None), Ok(ScopeRequest::Everything));
        assert_eq!(parse_scope(Some("openid offline_access")), Ok(ScopeRequest::Everything));
        assert_eq!(
            parse_scope(Some("tag:Web  tag:db offline_access")),
            Ok(ScopeRequest::Tags(BTreeSet::from(["web".to_owned(), "db".to_owned()])))
        );
        assert!(parse_scope(Some("admin")).is_err());
        assert!(parse_scope(Some("tag:")).is_err());
        assert!(parse_scope(Some("tag:a\"b")).is_err());
        assert_eq!(scope_string(&BTreeSet::from(["a".to_owned(), "b".to_owned()])), "tag:a tag:b");
    }

    #[test]
    fn metadata_documents_come_from_https_urls_with_a_path() {
        assert_eq!(check_metadata_document_url("https://app.example.com/client.json", false), Ok(()));
        assert!(check_metadata_document_url("https://app.example.com/", false).is_err());
        assert!(check_metadata_document_url("https://app.example.com", false).is_err());
        assert!(check_metadata_document_url("http://app.example.com/c.json", true).is_err());
        assert!(check_metadata_document_url("http://127.0.0.1:9/c.json", false).is_err());
        assert_eq!(check_metadata_document_url("http://127.0.0.1:9/c.json", true), Ok(()));
    }

    #[test]
    fn fetches_reach_only_public_addresses() {
        for refused in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "2001:db8::1",
            "64:ff9b::a00:1",
        ] {
            let ip: IpAddr = refused.parse().expect("address");
            assert!(!fetch_address_allowed(ip, true), "{refused}");
        }
        for allowed in ["93.184.215.14", "2606:4700::1111", "8.8.8.8"] {
            assert!(fetch_address_allowed(allowed.parse().expect("address"), false), "{allowed}");
        }
        for loopback in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            let ip: IpAddr = loopback.parse().expect("address");
            assert!(!fetch_address_allowed(ip, false) && fetch_address_allowed(ip, true), "{loopback}");
        }
    }

    proptest! {
        #[test]
        fn any_verifier_matches_its_own_challenge_only(verifier in "[A-Za-z0-9._~-]{43,128}", other in "[A-Za-z0-9._~-]{43,128}") {
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            prop_assert!(valid_code_challenge(&challenge));
            prop_assert!(pkce_s256_matches(&verifier, &challenge));
            prop_assert_eq!(pkce_s256_matches(&other, &challenge), other == verifier);
        }

        #[test]
        fn parsing_never_panics_and_accepted_redirects_are_never_dangerous(uri in "\\PC{0,80}") {
            if check_redirect_uri(&uri).is_ok() {
                let scheme = uri.split(':').next().unwrap_or_default().to_ascii_lowercase();
                prop_assert!(!FORBIDDEN_SCHEMES.contains(&scheme.as_str()));
                prop_assert!(!uri.contains('#'));
            }
            let _ = redirect_uri_matches(&uri, &uri);
        }
    }
}
