//! What `1mcp mcp` shows of values that may be secrets: env and header values, URL
//! credentials and query values, and arguments that look like keys are masked; a value that
//! is only a `$VAR` / `${VAR}` reference names a variable, not a secret, and is shown.

/// What a masked value is shown as.
pub const MASK: &str = "***";

/// Words in a flag or variable name that say its value is a secret.
const SECRET_WORDS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "key",
    "auth",
    "credential",
    "bearer",
    "cookie",
    "session",
    "header",
];

/// Prefixes of well-known credential formats.
const SECRET_PREFIXES: &[&str] = &["sk-", "ghp_", "gho_", "ghs_", "ghu_", "github_pat_", "glpat-", "xoxb-", "xoxp-"];

/// An env or header value: masked unless it only names a variable.
pub fn value(text: &str) -> String {
    if is_reference(text) { text.to_owned() } else { MASK.to_owned() }
}

/// `$NAME` or `${NAME}` and nothing else.
fn is_reference(text: &str) -> bool {
    let name = match text.strip_prefix("${") {
        Some(rest) => rest.strip_suffix('}'),
        None => text.strip_prefix('$'),
    };
    name.is_some_and(|n| {
        n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// A URL without its user information, query values and fragment.
pub fn url(text: &str) -> String {
    let (rest, fragment) = match text.split_once('#') {
        Some((rest, _)) => (rest, Some(MASK)),
        None => (text, None),
    };
    let (base, query) = match rest.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (rest, None),
    };
    let mut out = without_userinfo(base);
    if let Some(query) = query {
        out.push('?');
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) => format!("{name}={MASK}"),
                None if pair.is_empty() => String::new(),
                None => MASK.to_owned(),
            })
            .collect();
        out.push_str(&masked.join("&"));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// `scheme://user:pass@host/...` -> `scheme://***@host/...`.
fn without_userinfo(base: &str) -> String {
    let Some((scheme, rest)) = base.split_once("://") else { return base.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{MASK}{}", &rest[at..]),
        None => base.to_owned(),
    }
}

/// A command's arguments with what looks secret masked: the value of a `--token`-like flag
/// (`--api-key=V`, `--api-key V`, `API_KEY=V`), credential-shaped values, URL credentials.
pub fn args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut mask_next = false;
    for arg in args {
        if std::mem::take(&mut mask_next) && !arg.starts_with('-') {
            out.push(MASK.to_owned());
            continue;
        }
        out.push(arg_shown(arg));
        mask_next = arg.starts_with('-') && !arg.contains('=') && secret_name(arg);
    }
    out
}

/// One argument as shown.
fn arg_shown(arg: &str) -> String {
    if let Some((name, value)) = arg.split_once('=')
        && (secret_name(name) || looks_like_credential(value))
    {
        return format!("{name}={MASK}");
    }
    if looks_like_credential(arg) {
        return MASK.to_owned();
    }
    if arg.contains("://") {
        return url(arg);
    }
    arg.to_owned()
}

/// Whether a flag or variable name says its value is secret.
fn secret_name(name: &str) -> bool {
    let name = name.trim_start_matches('-').to_ascii_lowercase();
    SECRET_WORDS.iter().any(|word| name.contains(word))
}

/// A well-known credential format, or a long run of letters and digits with both.
fn looks_like_credential(value: &str) -> bool {
    if SECRET_PREFIXES.iter().any(|p| value.starts_with(p) && value.len() > p.len() + 8) {
        return true;
    }
    value.len() >= 24
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && value.chars().any(|c| c.is_ascii_digit())
        && value.chars().any(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn values_are_masked_unless_they_only_name_a_variable() {
        assert_eq!(value("hunter2"), MASK);
        assert_eq!(value("${GITHUB_TOKEN}"), "${GITHUB_TOKEN}");
        assert_eq!(value("$TOKEN"), "$TOKEN");
        assert_eq!(value("Bearer ${TOKEN}"), MASK);
        assert_eq!(value("${A}x"), MASK);
        assert_eq!(value("$1abc"), MASK);
        assert_eq!(value(""), MASK);
    }

    #[test]
    fn urls_lose_credentials_query_values_and_fragments() {
        assert_eq!(url("https://h.example/mcp"), "https://h.example/mcp");
        assert_eq!(
            url("https://u:p@h.example:8/mcp?key=abc&x&flag="),
            "https://***@h.example:8/mcp?key=***&***&flag=***"
        );
        assert_eq!(url("http://h/p#tok"), "http://h/p#***");
        assert_eq!(url("https://h/a@b"), "https://h/a@b", "an @ in the path is not user information");
    }

    #[test]
    fn arguments_that_look_secret_are_masked_and_the_rest_kept() {
        let shown = args(&strings(&[
            "-y",
            "@scope/server-files",
            "--api-key",
            "abc",
            "--token=xyz",
            "API_KEY=v",
            "--verbose",
            "--auth",
            "--port",
            "8080",
            "sk-abcdefghijklmnop",
            "a1b2c3d4e5f6a7b8c9d0e1f2a3",
            "https://u:p@h/x?q=1",
            "/home/me/some/long/path/with/digits123456789",
        ]));
        assert_eq!(
            shown,
            strings(&[
                "-y",
                "@scope/server-files",
                "--api-key",
                MASK,
                "--token=***",
                "API_KEY=***",
                "--verbose",
                "--auth",
                "--port",
                "8080",
                MASK,
                MASK,
                "https://***@h/x?q=***",
                "/home/me/some/long/path/with/digits123456789",
            ])
        );
    }
}
