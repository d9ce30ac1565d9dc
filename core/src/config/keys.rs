//! Every key of a server entry: what the parser knows, which transport it applies to, whether
//! `serverDefaults` may set it, its default and what it means. The parser's known-key checks
//! and `1mcp config keys` both read this one table, so the page cannot drift from the code.

/// Which servers a key means something to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyScope {
    /// Any server.
    Any,
    /// Child processes (`command`).
    Stdio,
    /// Remote servers (`url`).
    Http,
}

/// One key of a server entry.
#[derive(Clone, Copy, Debug)]
pub struct ServerKey {
    /// The key as written in `mcp.json`.
    pub(crate) name: &'static str,
    /// Which servers it applies to.
    pub(crate) scope: KeyScope,
    /// Whether `serverDefaults` may set it for every server.
    pub(crate) in_defaults: bool,
    /// Its default, in words.
    pub(crate) default: &'static str,
    /// What it does.
    pub(crate) meaning: &'static str,
}

const fn key(
    name: &'static str,
    scope: KeyScope,
    in_defaults: bool,
    default: &'static str,
    meaning: &'static str,
) -> ServerKey {
    ServerKey { name, scope, in_defaults, default, meaning }
}

/// The keys of an `mcpServers` entry, in the order the page shows them.
pub const SERVER_KEYS: &[ServerKey] = &[
    key("command", KeyScope::Stdio, false, "-", "program to run (looked up in the child's PATH)"),
    key("args", KeyScope::Stdio, false, "[]", "its arguments"),
    key("cwd", KeyScope::Stdio, false, "1mcp's", "its working directory"),
    key("env", KeyScope::Stdio, true, "{}", "object, or [\"K=V\", \"NAME\"] (NAME copies 1mcp's variable)"),
    key("inheritParentEnv", KeyScope::Stdio, true, "false", "pass 1mcp's whole environment (filtered by envFilter)"),
    key("envFilter", KeyScope::Stdio, true, "[]", "NAME, PREFIX_*, !NAME patterns for inheritParentEnv"),
    key("stderr", KeyScope::Stdio, false, "pipe", "accepted for 1MCP files; stderr is always logged at INFO"),
    key("url", KeyScope::Http, false, "-", "endpoint of a remote server"),
    key("type", KeyScope::Any, false, "auto", "http / streamableHttp / sse; without it: streamable HTTP, then SSE"),
    key("transport", KeyScope::Any, false, "-", "1MCP's other spelling of type"),
    key("headers", KeyScope::Http, true, "{}", "extra HTTP request headers ($VAR substituted)"),
    key(
        "oauth",
        KeyScope::Http,
        true,
        "-",
        "OAuth toward a protected server: {clientId, clientSecret, scopes, autoRegister, redirectUrl, clientMetadataUrl}",
    ),
    key("tags", KeyScope::Any, false, "[]", "labels for ?tags= / ?tag-filter= / presets (lower-cased)"),
    key("disabled", KeyScope::Any, false, "false", "keep the entry but do not start it"),
    key("enabled", KeyScope::Any, false, "true", "1MCP's inverse of disabled (\"enabled\": false keeps it stopped)"),
    key("timeout", KeyScope::Any, true, "-", "milliseconds; fallback for connectionTimeout and requestTimeout"),
    key(
        "connectionTimeout",
        KeyScope::Any,
        true,
        "30000",
        "ms to start and initialize; raise it for slow first starts (npx -y, uvx downloads)",
    ),
    key("requestTimeout", KeyScope::Any, true, "60000", "ms per request; progress notifications restart it"),
    key("maxTotalTimeout", KeyScope::Any, false, "10 x requestTimeout", "ms hard limit per request, progress or not"),
    key("restartOnExit", KeyScope::Stdio, true, "true", "restart the server when it exits or fails"),
    key("maxRestarts", KeyScope::Stdio, true, "5", "restarts in a row before it is held in crash-loop (0 = no limit)"),
    key("restartDelay", KeyScope::Stdio, true, "1000", "ms before the first restart; doubles up to 16x, +-20% jitter"),
    key("disabledTools", KeyScope::Any, false, "[]", "tools hidden from lists and refused when called"),
    key("toolDescriptionOverrides", KeyScope::Any, false, "{}", "replacement descriptions by original tool name"),
    key(
        "instructionOverride",
        KeyScope::Any,
        false,
        "-",
        "replacement for the server's instructions (\"\" hides them)",
    ),
    key("prefix", KeyScope::Any, false, "true", "false exposes tool and prompt names without <server>_1mcp_"),
    key(
        "perSession",
        KeyScope::Any,
        false,
        "false (true for http while it speaks sessions)",
        "true or {maxInstances: 32, idleTimeout: 300000}: one instance per client session",
    ),
    key(
        "protocol",
        KeyScope::Any,
        false,
        "auto",
        "\"2026-07-28\" speaks the stateless revision to it; \"legacy\" opens a session; \"auto\" asks with server/discover",
    ),
    key("template", KeyScope::Any, false, "-", "1MCP server templates (accepted, not used yet)"),
];

/// Keys `serverDefaults` may hold.
pub fn defaults_keys() -> impl Iterator<Item = &'static str> {
    SERVER_KEYS.iter().filter(|k| k.in_defaults).map(|k| k.name)
}

/// Every key a server entry may hold.
pub fn server_keys() -> impl Iterator<Item = &'static str> {
    SERVER_KEYS.iter().map(|k| k.name)
}

/// Keys that mean something only to servers of `scope`.
pub fn keys_only_for(scope: KeyScope) -> impl Iterator<Item = &'static str> {
    SERVER_KEYS.iter().filter(move |k| k.scope == scope).map(|k| k.name)
}

/// The `1mcp config keys` page.
pub fn keys_page() -> String {
    let width = SERVER_KEYS.iter().map(|k| k.name.len()).max().unwrap_or(0);
    let default_width = SERVER_KEYS.iter().map(|k| k.default.len()).max().unwrap_or(0);
    let mut page = String::from(
        "Keys of a server entry in mcp.json (\"mcpServers\": {\"NAME\": {...}}).\n\
         [d] = may also be set in \"serverDefaults\" for every server. Times are milliseconds.\n\n",
    );
    for (title, scope) in
        [("Any server", KeyScope::Any), ("stdio servers", KeyScope::Stdio), ("remote servers", KeyScope::Http)]
    {
        page.push_str(title);
        page.push_str(":\n");
        for k in SERVER_KEYS.iter().filter(|k| k.scope == scope) {
            let d = if k.in_defaults { "[d]" } else { "   " };
            page.push_str(&format!("  {:<width$} {d} {:<default_width$}  {}\n", k.name, k.default, k.meaning));
        }
        page.push('\n');
    }
    page.push_str("Values may use $VAR and ${VAR} (from the environment and a .env beside mcp.json).\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_lists_every_key_once_with_its_default() {
        let page = keys_page();
        for k in SERVER_KEYS {
            let lines = page.lines().filter(|l| l.split_whitespace().next() == Some(k.name)).count();
            assert_eq!(lines, 1, "{} listed once:\n{page}", k.name);
        }
        assert!(page.lines().any(|l| l.contains("connectionTimeout") && l.contains("30000") && l.contains("[d]")));
    }
}
