//! HTTP front-end policy: which requests are admitted and in what form they are answered.

use crate::hub::FrontConfig;

/// Why a request is refused before it reaches MCP handling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `Host` is not one this daemon answers to (DNS-rebinding protection).
    ForbiddenHost,
    /// `Origin` is foreign.
    ForbiddenOrigin,
}

/// Check `Host` and `Origin` (spec: servers MUST validate Origin; 403 when invalid).
/// `from_loopback`: the connection came from a loopback address.
pub fn check_host_and_origin(
    front: &FrontConfig,
    host: Option<&str>,
    origin: Option<&str>,
    from_loopback: bool,
) -> Result<(), Refusal> {
    if let Some(host) = host
        && !host_allowed(front, hostname(host), from_loopback)
    {
        return Err(Refusal::ForbiddenHost);
    }
    if let Some(origin) = origin {
        let Some(rest) = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) else {
            return Err(Refusal::ForbiddenOrigin);
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if !host_allowed(front, hostname(authority), from_loopback) {
            return Err(Refusal::ForbiddenOrigin);
        }
    }
    Ok(())
}

/// The host part of `host[:port]` or `[v6]:port`, lower-cased.
fn hostname(authority: &str) -> String {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    host.to_ascii_lowercase()
}

/// Whether `host` (a name or address, without port) is a loopback one.
pub fn is_loopback(host: &str) -> bool {
    let octets: Vec<&str> = host.split('.').collect();
    let ipv4_loopback = octets.len() == 4 && octets[0] == "127" && octets.iter().all(|o| o.parse::<u8>().is_ok());
    ipv4_loopback || host == "localhost" || host == "::1" || host.ends_with(".localhost")
}

fn is_wildcard(host: &str) -> bool {
    host == "0.0.0.0" || host == "::" || host.is_empty()
}

fn host_allowed(front: &FrontConfig, host: String, from_loopback: bool) -> bool {
    let bound = hostname(&front.host);
    if host == bound && !is_wildcard(&bound) {
        return true;
    }
    if let Some(external) = &front.external_url {
        let rest = external.split("://").nth(1).unwrap_or(external);
        if hostname(rest.split('/').next().unwrap_or_default()) == host {
            return true;
        }
    }
    // A loopback name is only safe when the socket is loopback-only, or on a wildcard bind for
    // a connection that really came from this machine: from elsewhere, `Host: localhost` sent
    // to a public address would pass. Off loopback only the external URL's host is admitted.
    is_loopback(&host) && (is_loopback(&bound) || (is_wildcard(&bound) && from_loopback))
}

/// Whether serving on `host` with authentication `auth_enabled` is allowed: without
/// authentication, only on loopback, unless the operator explicitly allows it (something in
/// front must then authenticate). `Err` says why not, for the operator.
pub fn check_exposure(host: &str, auth_enabled: bool, allow_unauthenticated_remote: bool) -> Result<(), String> {
    let name = hostname(host);
    if auth_enabled || is_loopback(&name) || allow_unauthenticated_remote {
        return Ok(());
    }
    Err(format!(
        "refusing to serve without authentication on {host}: anyone who can reach it could use every tool. \
         Keep --host on loopback (127.0.0.1), or add --allow-unauthenticated-remote if something in front \
         authenticates"
    ))
}

/// Whether a request body's `Content-Type` is JSON (absent counts as JSON, as clients that
/// send none mean it).
pub fn is_json_content_type(content_type: Option<&str>) -> bool {
    content_type.is_none_or(|ct| ct.trim_start().to_ascii_lowercase().starts_with("application/json"))
}

/// How the client wants to be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    /// A single `application/json` body.
    Json,
    /// A `text/event-stream` body.
    Sse,
    /// Legacy HTTP+SSE (2024-11-05): the POST was accepted with 202 and every answer goes on
    /// the session's `/sse` stream.
    Legacy {
        /// The session's event stream.
        stream: crate::ids::ExchangeId,
    },
}

/// Pick the response form from `Accept`; `None` if the client accepts neither.
pub fn reply_mode(accept: Option<&str>) -> Option<ReplyMode> {
    let Some(accept) = accept else { return Some(ReplyMode::Json) };
    let types: Vec<String> =
        accept.split(',').filter_map(|t| t.split(';').next()).map(|t| t.trim().to_ascii_lowercase()).collect();
    let has = |t: &str| types.iter().any(|x| x == t);
    if has("application/json") || has("application/*") || has("*/*") || accept.trim().is_empty() {
        Some(ReplyMode::Json)
    } else if has("text/event-stream") || has("text/*") {
        Some(ReplyMode::Sse)
    } else {
        None
    }
}

/// The raw (still percent-encoded) value of the first `name=` parameter of a query string.
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// True if `Accept` admits an event stream (required for `GET /mcp`).
pub fn accepts_event_stream(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',')
            .filter_map(|t| t.split(';').next())
            .any(|t| matches!(t.trim().to_ascii_lowercase().as_str(), "text/event-stream" | "text/*" | "*/*"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn front(host: &str) -> FrontConfig {
        FrontConfig { host: host.into(), port: 3050, ..FrontConfig::default() }
    }

    #[test]
    fn loopback_daemon_accepts_loopback_names_only() {
        let f = front("127.0.0.1");
        assert_eq!(check_host_and_origin(&f, Some("127.0.0.1:3050"), None, false), Ok(()));
        assert_eq!(check_host_and_origin(&f, Some("localhost:3050"), Some("http://localhost:6274"), false), Ok(()));
        assert_eq!(check_host_and_origin(&f, Some("[::1]:3050"), None, false), Ok(()));
        assert_eq!(check_host_and_origin(&f, Some("evil.example.com"), None, false), Err(Refusal::ForbiddenHost));
        assert_eq!(
            check_host_and_origin(&f, None, Some("http://evil.example.com"), false),
            Err(Refusal::ForbiddenOrigin)
        );
        assert_eq!(check_host_and_origin(&f, None, Some("null"), false), Err(Refusal::ForbiddenOrigin));
        assert_eq!(check_host_and_origin(&f, Some("127.0.0.1.evil.com"), None, false), Err(Refusal::ForbiddenHost));
    }

    #[test]
    fn public_bind_answers_to_its_own_and_external_names() {
        let mut f = front("10.0.0.5");
        f.external_url = Some("https://mcp.example.org/base".into());
        assert_eq!(check_host_and_origin(&f, Some("10.0.0.5:3050"), None, false), Ok(()));
        assert_eq!(check_host_and_origin(&f, Some("mcp.example.org"), Some("https://mcp.example.org"), false), Ok(()));
        assert_eq!(check_host_and_origin(&f, Some("localhost"), None, false), Err(Refusal::ForbiddenHost));
    }

    #[test]
    fn a_wildcard_bind_admits_loopback_names_only_from_loopback_and_otherwise_the_external_host() {
        let mut f = front("0.0.0.0");
        assert_eq!(check_host_and_origin(&f, Some("localhost:3050"), None, true), Ok(()));
        assert_eq!(check_host_and_origin(&f, Some("localhost:3050"), None, false), Err(Refusal::ForbiddenHost));
        assert_eq!(check_host_and_origin(&f, Some("127.0.0.1"), None, false), Err(Refusal::ForbiddenHost));
        assert_eq!(check_host_and_origin(&f, Some("0.0.0.0:3050"), None, false), Err(Refusal::ForbiddenHost));
        assert_eq!(check_host_and_origin(&f, Some("203.0.113.7:3050"), None, false), Err(Refusal::ForbiddenHost));
        f.external_url = Some("https://mcp.example.org".into());
        assert_eq!(check_host_and_origin(&f, Some("mcp.example.org"), None, false), Ok(()));
    }

    #[test]
    fn serving_without_auth_off_loopback_needs_an_explicit_flag() {
        assert!(check_exposure("127.0.0.1", false, false).is_ok());
        assert!(check_exposure("localhost", false, false).is_ok());
        assert!(check_exposure("0.0.0.0", true, false).is_ok());
        let refused = check_exposure("0.0.0.0", false, false).expect_err("refused");
        assert!(refused.contains("--allow-unauthenticated-remote"), "{refused}");
        assert!(check_exposure("0.0.0.0", false, true).is_ok());
        assert!(check_exposure("192.168.1.5", false, false).is_err());
    }

    #[test]
    fn query_params_are_found_by_exact_name() {
        assert_eq!(query_param("sessionId=abc&tags=x", "sessionId"), Some("abc"));
        assert_eq!(query_param("xsessionId=1&sessionId=2", "sessionId"), Some("2"));
        assert_eq!(query_param("flag&b=1", "flag"), Some(""));
        assert_eq!(query_param("", "sessionId"), None);
    }

    #[test]
    fn accept_header_picks_the_reply_form() {
        assert_eq!(reply_mode(None), Some(ReplyMode::Json));
        assert_eq!(reply_mode(Some("application/json, text/event-stream")), Some(ReplyMode::Json));
        assert_eq!(reply_mode(Some("text/event-stream")), Some(ReplyMode::Sse));
        assert_eq!(reply_mode(Some("text/html")), None);
        assert!(accepts_event_stream(Some("application/json, text/event-stream;q=0.9")));
        assert!(!accepts_event_stream(Some("application/json")));
    }
}
