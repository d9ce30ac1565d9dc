//! Finding, creating and reading mcp.json and the `.env` file beside it.

use anyhow::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a fresh install gets, as 1MCP writes it.
const DEFAULT_CONFIG: &str = r#"{
  "$schema": "https://docs.1mcp.app/schemas/v1.0.0/mcp-config.json",
  "serverDefaults": {},
  "mcpServers": {}
}
"#;

/// Where the daemon keeps its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// mcp.json.
    pub config: PathBuf,
    /// Directory for server.pid (and, by default, mcp.json).
    pub config_dir: PathBuf,
}

/// Resolves `--config` / `--config-dir` against their defaults; `home` is `$HOME`.
pub fn resolve(config: Option<&Path>, config_dir: Option<&Path>, home: Option<&Path>) -> anyhow::Result<Paths> {
    let config_dir = match (config_dir, config) {
        (Some(dir), _) => dir.to_path_buf(),
        // The config file's directory is its runtime scope, as in 1MCP.
        (None, Some(file)) => match file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        },
        (None, None) => home
            .map(|home| home.join(".config").join("1mcp"))
            .context("cannot find the config directory: HOME is not set; pass --config-dir")?,
    };
    let config = config.map_or_else(|| config_dir.join("mcp.json"), Path::to_path_buf);
    Ok(Paths { config, config_dir })
}

/// Creates `path` (and its directory) with an empty configuration if it does not exist.
/// Returns whether it was created.
pub fn ensure_exists(path: &Path) -> anyhow::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // `create_new`: never clobber a file another process wrote in the meantime. Private: it
    // comes to hold tokens and API keys (env, headers, oauth.clientSecret).
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut file) => {
            use std::io::Write;
            file.write_all(DEFAULT_CONFIG.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// The environment the config is resolved against: `.env` beside mcp.json, overridden by the
/// process environment. Variables that are not UTF-8 are skipped.
pub fn environment(config: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    let dotenv = config.parent().unwrap_or(Path::new(".")).join(".env");
    match onemcp_io::files::read_config_text(&dotenv) {
        Ok(text) => env.extend(parse_dotenv(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dotenv.display())),
    }
    env.extend(std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))));
    Ok(env)
}

/// Parses `.env` text: `KEY=VALUE` lines, optional `export `, `#` comments, values optionally
/// in single quotes (literal) or double quotes (`\n`, `\"`, `\\` escapes). Malformed lines are
/// skipped.
pub fn parse_dotenv(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, value)) = line.split_once('=') else { continue };
        let key = key.trim();
        let valid_key = !key.is_empty()
            && !key.starts_with(|c: char| c.is_ascii_digit())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid_key {
            continue;
        }
        out.push((key.to_owned(), dotenv_value(value.trim())));
    }
    out
}

fn dotenv_value(raw: &str) -> String {
    if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.rfind('\'').map(|end| &r[..end])) {
        return inner.to_owned();
    }
    if let Some(rest) = raw.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return out,
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some('t') => out.push('\t'),
                    Some(other) => out.push(other),
                    None => out.push('\\'),
                },
                c => out.push(c),
            }
        }
        // No closing quote: take the text as written.
        return raw.to_owned();
    }
    // Unquoted: a ` #` starts a comment.
    let value = raw.find(" #").map_or(raw, |i| &raw[..i]);
    value.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse_dotenv(text)
    }

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn dotenv_basics() {
        let text = "# comment\n\nA=1\nexport B = two words \nC='single # kept'\nD=\"line\\nbreak \\\"q\\\"\"\nE=x # trailing\nnot a pair\n1BAD=x\nF=\nG=a=b\n";
        assert_eq!(
            pairs(text),
            vec![
                kv("A", "1"),
                kv("B", "two words"),
                kv("C", "single # kept"),
                kv("D", "line\nbreak \"q\""),
                kv("E", "x"),
                kv("F", ""),
                kv("G", "a=b"),
            ]
        );
    }

    #[test]
    fn unterminated_quotes_are_taken_literally() {
        assert_eq!(pairs("A=\"open"), vec![kv("A", "\"open")]);
        assert_eq!(pairs("A='open"), vec![kv("A", "'open")]);
    }

    #[test]
    fn path_resolution() {
        let home = Path::new("/home/u");
        let p = |c: Option<&str>, d: Option<&str>| resolve(c.map(Path::new), d.map(Path::new), Some(home)).ok();
        assert_eq!(
            p(None, None),
            Some(Paths { config: "/home/u/.config/1mcp/mcp.json".into(), config_dir: "/home/u/.config/1mcp".into() })
        );
        assert_eq!(p(None, Some("/d")), Some(Paths { config: "/d/mcp.json".into(), config_dir: "/d".into() }));
        assert_eq!(p(Some("/x/a.json"), None), Some(Paths { config: "/x/a.json".into(), config_dir: "/x".into() }));
        assert_eq!(
            p(Some("/x/a.json"), Some("/d")),
            Some(Paths { config: "/x/a.json".into(), config_dir: "/d".into() })
        );
        assert_eq!(p(Some("a.json"), None), Some(Paths { config: "a.json".into(), config_dir: ".".into() }));
        assert!(resolve(None, None, None).is_err());
    }

    #[test]
    fn a_created_config_is_private_and_an_existing_one_is_left_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("onemcp-config-file-{}", std::process::id()));
        let path = dir.join("sub/mcp.json");
        assert!(ensure_exists(&path).expect("created"));
        let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777).expect("exists");
        assert_eq!(mode, 0o600);
        std::fs::write(&path, "{}").expect("write");
        assert!(!ensure_exists(&path).expect("there"));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "{}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn default_config_is_1mcp_shaped() {
        let value: Result<serde_json::Value, _> = serde_json::from_str(DEFAULT_CONFIG);
        assert_eq!(
            value.ok(),
            Some(serde_json::json!({
                "$schema": "https://docs.1mcp.app/schemas/v1.0.0/mcp-config.json",
                "serverDefaults": {},
                "mcpServers": {}
            }))
        );
    }
}
