//! `$VAR` / `${VAR}` substitution and the child environment of a stdio server, computed from a
//! snapshot of the parent environment (the core never reads the real one).

use std::collections::BTreeMap;

/// What a child gets from the parent when `inheritParentEnv` is false: the MCP SDK's
/// `getDefaultEnvironment()` set, which 1MCP servers have always received.
const DEFAULT_INHERITED: [&str; 6] = ["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"];

/// The `env` key of a server: an object, or 1MCP's array form (`"K=V"` or a bare inherited name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum EnvSpec {
    /// `{"K": "V"}`.
    Map(BTreeMap<String, String>),
    /// `["K=V", "NAME"]`.
    List(Vec<String>),
}

/// A string after substitution, with the names that had no value (left as written).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Substituted {
    pub value: String,
    pub unresolved: Vec<String>,
}

/// Replaces `${NAME}` and `$NAME` like 1MCP's `/\$\{([^}]+)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g`:
/// no default syntax (`${A:-b}` looks up a variable literally named `A:-b`), and an unknown
/// name keeps its placeholder so the user can see what was not resolved.
pub(super) fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Substituted {
    let mut value = String::with_capacity(text.len());
    let mut unresolved: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        value.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let Some((name, len)) = placeholder(after) else {
            value.push('$');
            rest = after;
            continue;
        };
        match vars.get(name) {
            Some(found) => value.push_str(found),
            None => {
                value.push_str(&rest[dollar..dollar + 1 + len]);
                if !unresolved.iter().any(|n| n == name) {
                    unresolved.push(name.to_string());
                }
            }
        }
        rest = &after[len..];
    }
    value.push_str(rest);
    Substituted { value, unresolved }
}

/// The variable name of a placeholder starting right after a `$`, and its length in bytes
/// (braces included); `None` when the `$` is literal.
fn placeholder(after: &str) -> Option<(&str, usize)> {
    if let Some(braced) = after.strip_prefix('{') {
        let end = braced.find('}')?;
        return (end > 0).then(|| (&braced[..end], end + 2));
    }
    let first = *after.as_bytes().first()?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    let len = after.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
    Some((&after[..len], len))
}

/// The child's complete environment, and the bare names of an array-form `env` that the parent
/// did not have (so they were not passed).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ChildEnv {
    pub vars: BTreeMap<String, String>,
    pub missing: Vec<String>,
}

/// Builds a stdio child's environment: the inherited base (the default set, or the whole parent
/// env through `envFilter`), then the server's `env` on top. `spec` values are already substituted.
pub(super) fn child_env(
    parent: &BTreeMap<String, String>,
    inherit_parent_env: bool,
    env_filter: &[String],
    spec: Option<&EnvSpec>,
) -> ChildEnv {
    let mut vars: BTreeMap<String, String> = if inherit_parent_env {
        parent.iter().filter(|(name, _)| admitted(name, env_filter)).map(|(k, v)| (k.clone(), v.clone())).collect()
    } else {
        DEFAULT_INHERITED
            .iter()
            .filter_map(|name| parent.get(*name).map(|v| ((*name).to_string(), v.clone())))
            .collect()
    };
    let mut missing = Vec::new();
    match spec {
        None => {}
        Some(EnvSpec::Map(map)) => vars.extend(map.iter().map(|(k, v)| (k.clone(), v.clone()))),
        Some(EnvSpec::List(entries)) => {
            for entry in entries {
                match entry.split_once('=') {
                    Some((name, value)) => {
                        vars.insert(name.to_string(), value.to_string());
                    }
                    None => match parent.get(entry) {
                        Some(value) => {
                            vars.insert(entry.clone(), value.clone());
                        }
                        None => missing.push(entry.clone()),
                    },
                }
            }
        }
    }
    ChildEnv { vars, missing }
}

/// Whether an inherited variable passes `envFilter`: positive patterns form an allow-list when
/// any are given, `!` patterns always exclude.
fn admitted(name: &str, filter: &[String]) -> bool {
    let mut any_positive = false;
    let mut allowed = false;
    for pattern in filter {
        match pattern.strip_prefix('!') {
            Some(negative) if glob_matches(negative, name) => return false,
            Some(_) => {}
            None => {
                any_positive = true;
                allowed |= glob_matches(pattern, name);
            }
        }
    }
    allowed || !any_positive
}

/// `*` matches any run of characters (1MCP documents `PREFIX_*`; a `*` elsewhere costs nothing).
fn glob_matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    // Position after the last `*` and the name position it was tried at, for backtracking.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi + 1, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((after_star, tried)) = star {
            pi = after_star;
            ni = tried + 1;
            star = Some((after_star, tried + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|b| *b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn substitutes_braced_and_bare_names() {
        let env = vars(&[("HOME", "/home/u"), ("TOKEN", "t0k"), ("A_1", "x")]);
        let s = substitute("${HOME}/bin:$TOKEN-$A_1.", &env);
        assert_eq!(s, Substituted { value: "/home/u/bin:t0k-x.".into(), unresolved: vec![] });
    }

    #[test]
    fn bare_name_stops_at_first_non_identifier_character() {
        let env = vars(&[("A", "1"), ("AB", "2")]);
        assert_eq!(substitute("$AB-$A.b", &env).value, "2-1.b");
    }

    #[test]
    fn unresolved_placeholders_stay_as_written_and_are_reported_once() {
        let env = vars(&[("SET", "v")]);
        let s = substitute("$MISSING ${ALSO_MISSING} $SET $MISSING", &env);
        assert_eq!(s.value, "$MISSING ${ALSO_MISSING} v $MISSING");
        assert_eq!(s.unresolved, strings(&["MISSING", "ALSO_MISSING"]));
    }

    #[test]
    fn literal_dollars_are_kept() {
        let env = vars(&[("X", "1")]);
        let s = substitute("cost: $5, ${} and ${open and $ alone$", &env);
        assert_eq!(s, Substituted { value: "cost: $5, ${} and ${open and $ alone$".into(), unresolved: vec![] });
    }

    #[test]
    fn braced_name_is_looked_up_literally_without_default_syntax() {
        let env = vars(&[("A", "a"), ("A:-b", "weird")]);
        assert_eq!(substitute("${A:-b}", &env).value, "weird");
        let s = substitute("${B:-fallback}", &env);
        assert_eq!(s.value, "${B:-fallback}");
        assert_eq!(s.unresolved, strings(&["B:-fallback"]));
    }

    #[test]
    fn substituted_values_are_not_substituted_again() {
        let env = vars(&[("A", "$B"), ("B", "no")]);
        assert_eq!(substitute("$A", &env).value, "$B");
    }

    #[test]
    fn handles_multibyte_text_around_placeholders() {
        let env = vars(&[("N", "ñ")]);
        assert_eq!(substitute("é$N€${N}", &env).value, "éñ€ñ");
    }

    #[test]
    fn without_inheritance_only_the_default_set_is_passed() {
        let parent = vars(&[("HOME", "/h"), ("PATH", "/bin"), ("SECRET", "s"), ("TERM", "xterm")]);
        let env = child_env(&parent, false, &strings(&["SECRET"]), None);
        assert_eq!(env.vars, vars(&[("HOME", "/h"), ("PATH", "/bin"), ("TERM", "xterm")]));
    }

    #[test]
    fn with_inheritance_and_no_filter_everything_is_passed() {
        let parent = vars(&[("HOME", "/h"), ("SECRET", "s")]);
        assert_eq!(child_env(&parent, true, &[], None).vars, parent);
    }

    #[test]
    fn positive_patterns_form_an_allow_list() {
        let parent = vars(&[("HOME", "/h"), ("NODE_ENV", "dev"), ("NODE_PATH", "/n"), ("PATH", "/bin"), ("X", "x")]);
        let env = child_env(&parent, true, &strings(&["PATH", "NODE_*"]), None);
        assert_eq!(env.vars, vars(&[("NODE_ENV", "dev"), ("NODE_PATH", "/n"), ("PATH", "/bin")]));
    }

    #[test]
    fn negative_patterns_exclude_even_when_allowed() {
        let parent = vars(&[("AWS_KEY", "k"), ("AWS_REGION", "eu"), ("HOME", "/h"), ("TOKEN", "t")]);
        let only_negative = child_env(&parent, true, &strings(&["!AWS_*", "!TOKEN"]), None);
        assert_eq!(only_negative.vars, vars(&[("HOME", "/h")]));
        let mixed = child_env(&parent, true, &strings(&["AWS_*", "!AWS_KEY"]), None);
        assert_eq!(mixed.vars, vars(&[("AWS_REGION", "eu")]));
    }

    #[test]
    fn object_env_overrides_inherited_values() {
        let parent = vars(&[("HOME", "/h"), ("PATH", "/bin")]);
        let spec = EnvSpec::Map(vars(&[("PATH", "/opt/bin"), ("DEBUG", "1")]));
        let env = child_env(&parent, false, &[], Some(&spec));
        assert_eq!(env.vars, vars(&[("DEBUG", "1"), ("HOME", "/h"), ("PATH", "/opt/bin")]));
    }

    #[test]
    fn array_env_sets_pairs_and_copies_bare_names_from_the_parent() {
        let parent = vars(&[("API_KEY", "k"), ("HOME", "/h")]);
        let spec = EnvSpec::List(strings(&["MODE=a=b", "API_KEY", "NOT_THERE", "EMPTY="]));
        let env = child_env(&parent, false, &[], Some(&spec));
        assert_eq!(env.vars, vars(&[("API_KEY", "k"), ("EMPTY", ""), ("HOME", "/h"), ("MODE", "a=b")]));
        assert_eq!(env.missing, strings(&["NOT_THERE"]));
    }

    #[test]
    fn glob_matching() {
        assert!(glob_matches("NODE_*", "NODE_"));
        assert!(glob_matches("NODE_*", "NODE_ENV"));
        assert!(!glob_matches("NODE_*", "NODE"));
        assert!(!glob_matches("PATH", "PATHEXT"));
        assert!(glob_matches("*_TOKEN", "GITHUB_TOKEN"));
        assert!(glob_matches("A*B*C", "AxxBxBxC"));
        assert!(!glob_matches("A*B*C", "AxxBxx"));
        assert!(glob_matches("*", ""));
    }
}
