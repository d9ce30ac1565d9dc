//! `1mcp mcp list` and `1mcp mcp tools list`: the servers of mcp.json as written (file order),
//! with what may be secret masked unless asked for.

use super::document::{Json, Object};
use super::edit;
use super::secrets;
use std::fmt::Write as _;

/// What `list` shows.
#[derive(Clone, Debug, Default)]
pub struct ListView {
    /// Disabled servers too.
    pub show_disabled: bool,
    /// Values as written, not masked.
    pub show_secrets: bool,
    /// Only servers with any of these tags (lower-case).
    pub tags: Vec<String>,
}

/// The servers of `root`: the listing, and how many disabled ones were left out.
pub fn servers(root: &Json, view: &ListView) -> (String, usize) {
    let mut out = String::new();
    let mut hidden = 0;
    for (name, entry) in entries(root) {
        if !view.tags.is_empty() && !tags(entry).iter().any(|t| view.tags.contains(t)) {
            continue;
        }
        if disabled(entry) && !view.show_disabled {
            hidden += 1;
            continue;
        }
        server(&mut out, name, entry, view.show_secrets);
    }
    (out, hidden)
}

/// The `mcpServers` entries that are objects, in file order.
fn entries(root: &Json) -> impl Iterator<Item = (&str, &Object)> {
    let servers = root.as_object().and_then(|r| r.get("mcpServers")).and_then(Json::as_object);
    servers.into_iter().flat_map(Object::iter).filter_map(|(name, entry)| Some((name, entry.as_object()?)))
}

fn disabled(entry: &Object) -> bool {
    entry.get("disabled") == Some(&Json::Bool(true))
}

/// The entry's tags, lower-cased as the daemon reads them.
fn tags(entry: &Object) -> Vec<String> {
    let items = entry.get("tags").and_then(Json::as_array).unwrap_or_default();
    items.iter().filter_map(Json::as_str).map(|t| t.trim().to_lowercase()).collect()
}

/// One server: a heading line, then one indented line per field it sets.
fn server(out: &mut String, name: &str, entry: &Object, show_secrets: bool) {
    let state = if disabled(entry) { "disabled" } else { "enabled" };
    let _ = writeln!(out, "{name}  ({}, {state})", transport(entry));
    out.push_str(&entry_lines(entry, show_secrets));
}

/// The fields an entry sets, one indented line each.
pub fn entry_lines(entry: &Object, show_secrets: bool) -> String {
    let mut out = String::new();
    for (label, text) in fields(entry, show_secrets) {
        let _ = writeln!(out, "    {label}: {text}");
    }
    out
}

/// The transport as the daemon picks it.
fn transport(entry: &Object) -> &str {
    match entry.get("type").and_then(Json::as_str) {
        Some(kind) => kind,
        None if entry.contains("command") => "stdio",
        None if entry.contains("url") => "http, else sse",
        None => "no command or url",
    }
}

/// The shown fields of an entry, each as (label, text).
fn fields(entry: &Object, show_secrets: bool) -> Vec<(&'static str, String)> {
    let mut shown = transport_fields(entry, show_secrets);
    let tags = tags(entry);
    if !tags.is_empty() {
        shown.push(("tags", tags.join(", ")));
    }
    let hidden = edit::disabled_tools(entry, "").unwrap_or_default();
    if !hidden.is_empty() {
        shown.push(("disabled tools", hidden.join(", ")));
    }
    let plain = [
        ("timeout", "timeout"),
        ("restartOnExit", "restart on exit"),
        ("maxRestarts", "max restarts"),
        ("restartDelay", "restart delay"),
    ];
    shown.extend(plain.into_iter().filter_map(|(key, label)| Some((label, text(entry, key)?))));
    shown
}

/// What the entry runs or reaches, and with what.
fn transport_fields(entry: &Object, show_secrets: bool) -> Vec<(&'static str, String)> {
    let mut shown = Vec::new();
    if let Some(command) = text(entry, "command") {
        shown.push(("command", command_line(&command, entry.get("args"), show_secrets)));
    }
    if let Some(cwd) = text(entry, "cwd") {
        shown.push(("cwd", cwd));
    }
    if let Some(url) = text(entry, "url") {
        shown.push(("url", if show_secrets { url } else { secrets::url(&url) }));
    }
    if let Some(headers) = entry.get("headers") {
        shown.push(("headers", pairs(headers, ": ", show_secrets)));
    }
    if let Some(env) = entry.get("env") {
        shown.push(("env", pairs(env, "=", show_secrets)));
    }
    shown
}

/// The value of `key` as text (a string as it is, anything else as JSON).
fn text(entry: &Object, key: &str) -> Option<String> {
    entry.get(key).map(|v| v.as_str().map_or_else(|| v.compact(), str::to_owned))
}

/// `command arg...`, arguments that look secret masked unless `show_secrets`.
fn command_line(command: &str, args: Option<&Json>, show_secrets: bool) -> String {
    let args: Vec<String> = args
        .and_then(Json::as_array)
        .unwrap_or_default()
        .iter()
        .map(|a| a.as_str().map_or_else(|| a.compact(), str::to_owned))
        .collect();
    let args = if show_secrets { args } else { secrets::args(&args) };
    std::iter::once(command.to_owned()).chain(args).collect::<Vec<_>>().join(" ")
}

/// An env or headers value (object, or env's `["K=V", "NAME"]` form) as `K<sep>V, ...`.
fn pairs(value: &Json, separator: &str, show_secrets: bool) -> String {
    let masked = |v: &str| if show_secrets { v.to_owned() } else { secrets::value(v) };
    let items: Vec<String> = match value {
        Json::Object(object) => object
            .iter()
            .map(|(k, v)| format!("{k}{separator}{}", v.as_str().map_or_else(|| masked(&v.compact()), masked)))
            .collect(),
        Json::Array(items) => items
            .iter()
            .map(|item| match item.as_str().map(|s| s.split_once('=')) {
                Some(Some((k, v))) => format!("{k}{separator}{}", masked(v)),
                // A bare name copies 1mcp's variable: no value here.
                Some(None) => item.as_str().unwrap_or_default().to_owned(),
                None => masked(&item.compact()),
            })
            .collect(),
        other => vec![masked(&other.compact())],
    };
    items.join(", ")
}

/// `tools list`: each disabled tool as `SERVER  TOOL`, of every server or of `only`.
pub fn disabled_tools(root: &Json, only: Option<&str>) -> String {
    let mut out = String::new();
    for (name, entry) in entries(root).filter(|(name, _)| only.is_none_or(|o| o == *name)) {
        for tool in edit::disabled_tools(entry, name).unwrap_or_default() {
            let _ = writeln!(out, "{name}  {tool}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{"mcpServers": {
        "files": {"command": "npx", "args": ["-y", "pkg", "--token", "TOKEN-VALUE-1"], "env": {"API_KEY": "ENV-SECRET-2", "REF": "${HOME}"}, "tags": ["Local"], "disabledTools": ["rm"]},
        "remote": {"url": "https://u:URL-SECRET-3@h/mcp?k=QUERY-SECRET-4", "headers": {"Authorization": "Bearer HEADER-SECRET-5"}, "disabled": true, "tags": ["web"]},
        "arrayenv": {"command": "x", "env": ["A=ARRAY-SECRET-6", "PATH"]}
    }}"#;
    const SECRETS: [&str; 6] =
        ["TOKEN-VALUE-1", "ENV-SECRET-2", "URL-SECRET-3", "QUERY-SECRET-4", "HEADER-SECRET-5", "ARRAY-SECRET-6"];

    fn listed(view: &ListView) -> (String, usize) {
        servers(&Json::parse(CONFIG).expect("valid"), view)
    }

    #[test]
    fn secrets_are_masked_unless_asked_for() {
        let everything = ListView { show_disabled: true, ..ListView::default() };
        let (text, hidden) = listed(&everything);
        assert_eq!(hidden, 0);
        for secret in SECRETS {
            assert!(!text.contains(secret), "{secret} shown:\n{text}");
        }
        assert!(text.contains("env: API_KEY=***, REF=${HOME}"), "{text}");
        assert!(text.contains("headers: Authorization: ***"), "{text}");
        assert!(text.contains("env: A=***, PATH"), "{text}");
        let (text, _) = listed(&ListView { show_secrets: true, ..everything });
        for secret in SECRETS {
            assert!(text.contains(secret), "{secret} not shown with --show-secrets:\n{text}");
        }
    }

    #[test]
    fn disabled_servers_are_hidden_and_counted_and_tags_filter() {
        let (text, hidden) = listed(&ListView::default());
        assert_eq!(hidden, 1);
        assert!(text.starts_with("files  (stdio, enabled)\n"), "{text}");
        assert!(!text.contains("remote"), "{text}");
        let (text, hidden) = listed(&ListView { tags: vec!["local".into()], ..ListView::default() });
        assert_eq!((hidden, text.lines().filter(|l| !l.starts_with(' ')).count()), (0, 1), "{text}");
        assert!(text.contains("disabled tools: rm"), "{text}");
    }

    #[test]
    fn disabled_tools_are_listed_per_server() {
        let root = Json::parse(CONFIG).expect("valid");
        assert_eq!(disabled_tools(&root, None), "files  rm\n");
        assert_eq!(disabled_tools(&root, Some("remote")), "");
    }
}
