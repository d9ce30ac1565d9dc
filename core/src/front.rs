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
pub fn check_host_and_origin(front: &FrontConfig, host: Option<&str>, origin: Option<&str>) -> Result<(), Refusal> {
    if let Some(host) = host
        && !host_allowed(front, hostname(host))
    {
        return Err(Refusal::ForbiddenHost);
    }
    if let Some(origin) = origin {
        let Some(rest) = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) else {
            return Err(Refusal::ForbiddenOrigin);
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if !host_allowed(front, hostname(authority)) {
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

fn is_loopback(host: &str) -> bool {
    let octets: Vec<&str> = host.split('.').collect();
    let ipv4_loopback = octets.len() == 4 && octets[0] == "127" && octets.iter().all(|o| o.parse::<u8>().is_ok());
    ipv4_loopback || host == "localhost" || host == "::1" || host.ends_with(".localhost")
}

fn is_wildcard(host: &str) -> bool {
    host == "0.0.0.0" || host == "::" || host.is_empty()
}

fn host_allowed(front: &FrontConfig, host: String) -> bool {
    let bound = hostname(&front.host);
    if host == bound {
        return true;
    }
    if let Some(external) = &front.external_url {
        let rest = external.split("://").nth(1).unwrap_or(external);
        if hostname(rest.split('/').next().unwrap_or_default()) == host {
            return true;
        }
    }
    // A loopback name is only safe when the socket is loopback-only or the operator chose a
    // wildcard bind; a public bind answers only to its own name.
    is_loopback(&host) && (is_loopback(&bound) || is_wildcard(&bound))
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
        assert_eq!(check_host_and_origin(&f, Some("127.0.0.1:3050"), None), Ok(()));
        assert_eq!(check_host_and_origin(&f, Some("localhost:3050"), Some("http://localhost:6274")), Ok(()));
        assert_eq!(check_host_and_origin(&f, Some("[::1]:3050"), None), Ok(()));
        assert_eq!(check_host_and_origin(&f, Some("evil.example.com"), None), Err(Refusal::ForbiddenHost));
        assert_eq!(check_host_and_origin(&f, None, Some("http://evil.example.com")), Err(Refusal::ForbiddenOrigin));
        assert_eq!(check_host_and_origin(&f, None, Some("null")), Err(Refusal::ForbiddenOrigin));
        assert_eq!(check_host_and_origin(&f, Some("127.0.0.1.evil.com"), None), Err(Refusal::ForbiddenHost));
    }

    #[test]
    fn public_bind_answers_to_its_own_and_external_names() {
        let mut f = front("10.0.0.5");
        f.external_url = Some("https://mcp.example.org/base".into());
        assert_eq!(check_host_and_origin(&f, Some("10.0.0.5:3050"), None), Ok(()));
        assert_eq!(check_host_and_origin(&f, Some("mcp.example.org"), Some("https://mcp.example.org")), Ok(()));
        assert_eq!(check_host_and_origin(&f, Some("localhost"), None), Err(Refusal::ForbiddenHost));
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
