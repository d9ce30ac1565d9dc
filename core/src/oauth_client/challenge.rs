//! `WWW-Authenticate` (RFC 9110 §11.6.1) as a protected MCP server sends it: the `Bearer`
//! challenge's `resource_metadata` (RFC 9728 §5.1), `scope` and `error` (RFC 6750 §3).

/// Most auth-params read from one header value; the rest are ignored.
const MAX_PARAMS: usize = 32;
/// Longest header value read; a longer one is treated as carrying no challenge.
pub const MAX_CHALLENGE_LEN: usize = 8192;

/// What a server's `Bearer` challenge asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Challenge {
    /// `resource_metadata`: where the server's protected resource metadata is.
    pub resource_metadata: Option<String>,
    /// `scope`: the scopes the refused operation needs (space-separated).
    pub scope: Option<String>,
    /// `error`: `invalid_token`, `insufficient_scope`, ...
    pub error: Option<String>,
}

impl Challenge {
    /// True for a 403's `insufficient_scope`: authorize again with more scopes (step-up).
    pub fn wants_more_scope(&self) -> bool {
        self.error.as_deref() == Some("insufficient_scope")
    }
}

/// The first `Bearer` challenge among the header's `values`, if any. Parameter names are
/// case-insensitive; values may be tokens or quoted strings. Malformed input yields what could
/// be read before it, never an error: the challenge only guides discovery.
pub fn bearer_challenge<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
    values.into_iter().filter(|v| v.len() <= MAX_CHALLENGE_LEN).find_map(bearer_in)
}

/// The `Bearer` challenge in one header value (which may hold several challenges).
fn bearer_in(value: &str) -> Option<Challenge> {
    let mut lexer = Lexer { rest: value };
    loop {
        let scheme = lexer.token()?;
        let bearer = scheme.eq_ignore_ascii_case("bearer");
        let mut challenge = Challenge::default();
        for _ in 0..MAX_PARAMS {
            // An auth-param is `name = value`; a token without `=` starts the next challenge.
            let before = lexer.rest;
            let Some(name) = lexer.token() else { break };
            if !lexer.eat('=') {
                lexer.rest = before;
                break;
            }
            let Some(value) = lexer.value() else { break };
            let slot = match name.to_ascii_lowercase().as_str() {
                "resource_metadata" => Some(&mut challenge.resource_metadata),
                "scope" => Some(&mut challenge.scope),
                "error" => Some(&mut challenge.error),
                _ => None,
            };
            if let Some(slot) = slot.filter(|_| bearer) {
                slot.get_or_insert(value);
            }
            lexer.eat(',');
        }
        if bearer {
            return Some(challenge);
        }
        lexer.eat(',');
    }
}

/// Reads tokens, `=`, commas and quoted strings, skipping whitespace.
struct Lexer<'a> {
    rest: &'a str,
}

impl Lexer<'_> {
    fn skip_space(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    /// `c` next (after whitespace): consumed.
    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// An RFC 9110 token (`tchar`s; a token68's trailing `=` are not part of it).
    fn token(&mut self) -> Option<String> {
        self.skip_space();
        let end = self.rest.find(|c: char| !is_tchar(c)).unwrap_or(self.rest.len());
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        (!token.is_empty()).then(|| token.to_owned())
    }

    /// A parameter value: a quoted string (backslash escapes) or a token.
    fn value(&mut self) -> Option<String> {
        self.skip_space();
        let Some(quoted) = self.rest.strip_prefix('"') else { return self.token() };
        let mut out = String::new();
        let mut chars = quoted.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &quoted[at + 1..];
                    return Some(out);
                }
                '\\' => out.push(chars.next()?.1),
                c => out.push(c),
            }
        }
        None
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> Option<Challenge> {
        bearer_challenge([value])
    }

    #[test]
    fn a_bearer_challenge_gives_its_metadata_url_scope_and_error() {
        let header = r#"Bearer error="insufficient_scope", scope="mcp:read mcp:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#;
        assert_eq!(
            one(header),
            Some(Challenge {
                resource_metadata: Some("https://mcp.example.com/.well-known/oauth-protected-resource/mcp".into()),
                scope: Some("mcp:read mcp:write".into()),
                error: Some("insufficient_scope".into()),
            })
        );
        assert!(one(header).is_some_and(|c| c.wants_more_scope()));
        assert_eq!(one("Bearer"), Some(Challenge::default()), "a bare scheme is a challenge with nothing in it");
        assert_eq!(one("bearer scope=read").and_then(|c| c.scope).as_deref(), Some("read"), "tokens and any case");
    }

    #[test]
    fn other_schemes_and_several_challenges_in_one_value_are_told_apart() {
        let header = r#"Basic realm="x, Bearer scope=no", DPoP algs="ES256", Bearer scope="yes", Newauth"#;
        assert_eq!(one(header).and_then(|c| c.scope).as_deref(), Some("yes"));
        assert_eq!(one(r#"Basic realm="only""#), None);
        assert_eq!(
            bearer_challenge([r#"Basic realm="a""#, "Bearer error=invalid_token"]).and_then(|c| c.error).as_deref(),
            Some("invalid_token")
        );
        // Parameter names are case-insensitive; the first of a repeated one holds.
        assert_eq!(one("Bearer SCOPE=a, scope=b").and_then(|c| c.scope).as_deref(), Some("a"));
    }

    #[test]
    fn quoted_strings_keep_commas_and_escapes() {
        let header = r#"Bearer error_description="a, \"b\" c", scope="x""#;
        assert_eq!(one(header).and_then(|c| c.scope).as_deref(), Some("x"));
        assert_eq!(one(r#"Bearer scope="a\\b""#).and_then(|c| c.scope).as_deref(), Some(r"a\b"));
    }

    #[test]
    fn malformed_or_oversized_values_give_what_could_be_read_and_never_panic() {
        assert_eq!(one(r#"Bearer scope="unterminated"#), Some(Challenge::default()));
        assert_eq!(one("Bearer scope=, error=x").and_then(|c| c.error), None, "nothing after a missing value");
        assert_eq!(one(""), None);
        assert_eq!(one(",,,"), None);
        assert_eq!(one("Bearer ==="), Some(Challenge::default()));
        let long = format!("Bearer scope=\"{}\"", "s".repeat(MAX_CHALLENGE_LEN));
        assert_eq!(one(&long), None, "too long to read");
        let many = format!("Bearer {}scope=late", "a=1, ".repeat(MAX_PARAMS));
        assert_eq!(one(&many).and_then(|c| c.scope), None, "params past the bound are not read");
        for text in ["Bearer \"", "Bearer a=\"\\", "Bearer a=\"\u{e9}\"", "\u{e9}", "Bearer a=b c=d"] {
            let _ = one(text);
        }
    }
}
