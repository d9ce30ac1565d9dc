//! What `preset list`, `show` and `test` print: plain text for people, JSON for scripts.

use super::store::Loaded;
use crate::mcp::document::Json;
use onemcp_core::view::Preset;
use serde_json::{Value, json};
use std::fmt::Write;
use std::path::Path;

/// A server of mcp.json, as a preset sees it.
pub struct Server {
    /// Its key under `mcpServers`.
    pub name: String,
    /// Its lower-case tags.
    pub tags: Vec<String>,
    /// `disabled: true`: not started, so served to no one.
    pub disabled: bool,
}

/// How the preset was authored (`or`, `and`, `advanced`), as the file records it.
fn strategy<'a>(loaded: &'a Loaded, name: &str) -> &'a str {
    field(loaded, name, "strategy").unwrap_or("-")
}

fn field<'a>(loaded: &'a Loaded, name: &str, key: &str) -> Option<&'a str> {
    loaded.entry(name)?.get(key)?.as_str()
}

/// One line per preset under a header, columns aligned.
pub fn list_table(loaded: &Loaded) -> String {
    let mut rows = vec![["NAME".to_owned(), "STRATEGY".to_owned(), "FILTER".to_owned(), "DESCRIPTION".to_owned()]];
    for preset in loaded.presets.iter() {
        rows.push([
            preset.name.clone(),
            strategy(loaded, &preset.name).to_owned(),
            preset.filter.to_string(),
            preset.description.clone().unwrap_or_default(),
        ]);
    }
    let width = |column: usize| rows.iter().map(|row| row[column].chars().count()).max().unwrap_or(0);
    let widths = [width(0), width(1), width(2)];
    let mut out = String::new();
    for [name, strategy, filter, description] in &rows {
        let line = format!(
            "{name:<w0$}  {strategy:<w1$}  {filter:<w2$}  {description}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// `[{name, description, strategy, filter, tagQuery}]`, in name order.
pub fn list_json(loaded: &Loaded) -> String {
    let items: Vec<Value> = loaded
        .presets
        .iter()
        .map(|preset| {
            let query = loaded.entry(&preset.name).and_then(|e| e.get("tagQuery")).map_or(Value::Null, to_value);
            json!({
                "name": preset.name,
                "description": preset.description,
                "strategy": strategy(loaded, &preset.name),
                "filter": preset.filter.to_string(),
                "tagQuery": query,
            })
        })
        .collect();
    serde_json::to_string_pretty(&items).unwrap_or_default()
}

fn to_value(json: &Json) -> Value {
    serde_json::to_value(json).unwrap_or(Value::Null)
}

/// The preset's fields and its URL, one `key: value` line each.
pub fn details(loaded: &Loaded, preset: &Preset, url: &str) -> String {
    let name = preset.name.as_str();
    let query = loaded.entry(name).and_then(|e| e.get("tagQuery")).map(Json::compact).unwrap_or_default();
    let mut out = String::new();
    let mut line = |key: &str, value: &str| {
        let _ = writeln!(out, "{key:<13} {value}");
    };
    line("name:", name);
    if let Some(description) = &preset.description {
        line("description:", description);
    }
    line("strategy:", strategy(loaded, name));
    line("filter:", &preset.filter.to_string());
    line("tagQuery:", &query);
    for key in ["created", "lastModified"] {
        if let Some(value) = field(loaded, name, key) {
            line(&format!("{key}:"), value);
        }
    }
    line("url:", url);
    out
}

/// `servers:` and the names of those the preset selects now.
pub fn selected_line(preset: &Preset, servers: &[Server]) -> String {
    let (selected, _) = split(preset, servers);
    let names: Vec<&str> = selected.iter().map(|s| s.name.as_str()).collect();
    let shown = if names.is_empty() { "(none)".to_owned() } else { names.join(", ") };
    format!("{:<13} {shown} ({} of {} in mcp.json)", "servers:", names.len(), servers.len())
}

/// Which servers the preset selects, with their tags, and which it does not.
pub fn evaluation(preset: &Preset, servers: &[Server], config: &Path) -> String {
    let (selected, rest) = split(preset, servers);
    let mut out = format!(
        "preset '{}' ({}) selects {} of {} servers in {}:\n",
        preset.name,
        preset.filter,
        selected.len(),
        servers.len(),
        config.display()
    );
    let width = servers.iter().map(|s| s.name.chars().count()).max().unwrap_or(0);
    rows(&mut out, &selected, width);
    let _ = writeln!(out, "not selected ({}):", rest.len());
    rows(&mut out, &rest, width);
    out
}

fn split<'a>(preset: &Preset, servers: &'a [Server]) -> (Vec<&'a Server>, Vec<&'a Server>) {
    servers.iter().partition(|server| preset.filter.admits(&server.tags))
}

fn rows(out: &mut String, servers: &[&Server], width: usize) {
    for server in servers {
        let tags = if server.tags.is_empty() { "(none)".to_owned() } else { server.tags.join(", ") };
        let note = if server.disabled { "  (disabled: not started)" } else { "" };
        let _ = writeln!(out, "  {:<width$}  tags: {tags}{note}", server.name);
    }
}

/// `text` as a query-string value: unreserved characters as they are, the rest percent-encoded.
pub fn query_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use onemcp_core::view::parse_expression;

    fn server(name: &str, tags: &[&str], disabled: bool) -> Server {
        Server { name: name.to_owned(), tags: tags.iter().map(|t| t.to_string()).collect(), disabled }
    }

    #[test]
    fn evaluation_splits_servers_by_the_daemons_filter() {
        let filter = parse_expression("web and not prod").expect("parses");
        let preset = Preset { name: "p".into(), description: None, filter };
        let servers =
            [server("api", &["web"], false), server("db", &["db"], false), server("site", &["web", "prod"], true)];
        let text = evaluation(&preset, &servers, Path::new("/c/mcp.json"));
        assert_eq!(
            text,
            "preset 'p' (web and not prod) selects 1 of 3 servers in /c/mcp.json:\n  api   tags: web\n\
             not selected (2):\n  db    tags: db\n  site  tags: web, prod  (disabled: not started)\n"
        );
        assert_eq!(selected_line(&preset, &servers), "servers:      api (1 of 3 in mcp.json)");
    }

    #[test]
    fn names_are_encoded_for_the_query() {
        assert_eq!(query_encode("dev_2-x"), "dev_2-x");
        assert_eq!(query_encode("a b&c"), "a%20b%26c");
    }
}
