//! `1mcp mcp add|update|remove|enable|disable|list|tools`: 1MCP's config-editing commands on
//! the real binary. Edits keep what they do not touch (keys, their order, unknown keys, the
//! file's mode), back up the previous file, never write a file the daemon would refuse, never
//! show a secret unasked, and a running daemon serves an added server without a restart.

use std::collections::BTreeSet;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use onemcp_tests::{
    CliRun, Daemon, McpClient, bounded, call_args, fixture_backend, fixture_server_bin, mcp_config, run_onemcp,
    tool_text,
};
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Value, json};
use tempfile::TempDir;

/// One-shot commands are killed after this.
const LIMIT: Duration = Duration::from_secs(10);

/// A config with everything an edit must leave alone: 1MCP's other top-level keys, a key
/// 1mcp does not know, and per-server keys the commands never write.
const RICH_CONFIG: &str = r#"{
  "$schema": "https://docs.1mcp.app/schemas/v1.0.0/mcp-config.json",
  "version": "1.0",
  "serverDefaults": {"requestTimeout": 30000, "env": {"LOG": "info"}},
  "x-team": {"owner": "ops", "since": 2024},
  "mcpServers": {
    "files": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
      "x-note": {"why": "kept", "n": [1, 2.5, null]},
      "tags": ["local"],
      "toolDescriptionOverrides": {"read": "Reads a file"},
      "disabledTools": ["write"],
      "env": {"FILES_TOKEN": "files-secret-7f3a"}
    },
    "search": {
      "url": "https://search.example.com/mcp",
      "headers": {"Authorization": "Bearer header-secret-91c2"},
      "tags": ["web"],
      "disabled": true
    }
  },
  "mcpTemplates": {"tpl": {"command": "echo", "args": ["{{project.name}}"]}}
}
"#;

fn scratch() -> TempDir {
    tempfile::Builder::new().prefix("onemcp-mcp-cmd-").tempdir().expect("create a temporary directory")
}

/// `DIR/mcp.json` holding `text`.
fn config_with(dir: &TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("mcp.json");
    std::fs::write(&path, text).expect("write mcp.json");
    path
}

/// `1mcp mcp ARGS... -c CONFIG`.
fn mcp(config: &Path, args: &[&str]) -> CliRun {
    let config = config.to_string_lossy().into_owned();
    let mut argv = vec!["mcp"];
    argv.extend_from_slice(args);
    // The global flag goes before a `--`, after which everything is the server's command.
    let at = argv.iter().position(|a| *a == "--").unwrap_or(argv.len());
    argv.splice(at..at, ["-c", config.as_str()]);
    run_onemcp(&argv, LIMIT)
}

/// Runs and asserts exit 0.
fn mcp_ok(config: &Path, args: &[&str]) -> CliRun {
    let run = mcp(config, args);
    assert_eq!(run.code, Some(0), "1mcp mcp {args:?}: {}", run.describe());
    run
}

/// Runs and asserts exit 1 (a refused edit), the file unchanged and no backup made.
fn mcp_refused(config: &Path, args: &[&str]) -> CliRun {
    let before = std::fs::read(config).expect("read mcp.json");
    let backups_before = backups(config).len();
    let run = mcp(config, args);
    assert_eq!(run.code, Some(1), "1mcp mcp {args:?} must be refused: {}", run.describe());
    assert_eq!(std::fs::read(config).expect("read mcp.json"), before, "a refused edit changed the file");
    assert_eq!(backups(config).len(), backups_before, "a refused edit made a backup");
    run
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("the file is JSON")
}

fn server(config: &Path, name: &str) -> Value {
    read_json(config)["mcpServers"][name].clone()
}

/// The backups of `config`, oldest first.
fn backups(config: &Path) -> Vec<PathBuf> {
    let dir = config.parent().expect("a directory").join("backups");
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<PathBuf> = entries.map(|e| e.expect("a directory entry").path()).collect();
    found.sort();
    found
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

/// The key order of a JSON document at every depth (arrays by index), as written.
#[derive(Debug, PartialEq)]
struct KeyOrder(Vec<(String, KeyOrder)>);

impl KeyOrder {
    fn of(text: &str) -> KeyOrder {
        let mut de = serde_json::Deserializer::from_str(text);
        de.deserialize_any(KeyOrderVisitor).expect("JSON")
    }

    fn at(&self, key: &str) -> &KeyOrder {
        &self.0.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("no key {key} in {self}")).1
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

impl fmt::Display for KeyOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.keys())
    }
}

struct KeyOrderVisitor;

impl<'de> Visitor<'de> for KeyOrderVisitor {
    type Value = KeyOrder;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, _: bool) -> Result<KeyOrder, E> {
        Ok(KeyOrder(Vec::new()))
    }

    fn visit_i64<E>(self, _: i64) -> Result<KeyOrder, E> {
        Ok(KeyOrder(Vec::new()))
    }

    fn visit_u64<E>(self, _: u64) -> Result<KeyOrder, E> {
        Ok(KeyOrder(Vec::new()))
    }

    fn visit_f64<E>(self, _: f64) -> Result<KeyOrder, E> {
        Ok(KeyOrder(Vec::new()))
    }

    fn visit_str<E>(self, _: &str) -> Result<KeyOrder, E> {
        Ok(KeyOrder(Vec::new()))
    }

    fn visit_unit<E>(self) -> Result<KeyOrder, E> {
        Ok(KeyOrder(Vec::new()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyOrder, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(KeyOrderSeed)? {
            items.push((format!("[{}]", items.len()), item));
        }
        Ok(KeyOrder(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyOrder, A::Error> {
        let mut members = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            members.push((key, map.next_value_seed(KeyOrderSeed)?));
        }
        Ok(KeyOrder(members))
    }
}

struct KeyOrderSeed;

impl<'de> serde::de::DeserializeSeed<'de> for KeyOrderSeed {
    type Value = KeyOrder;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<KeyOrder, D::Error> {
        deserializer.deserialize_any(KeyOrderVisitor)
    }
}

#[test]
fn add_takes_1mcps_flags_and_the_double_dash_form_for_stdio_and_http() {
    let dir = scratch();
    let config = config_with(&dir, r#"{"mcpServers": {}}"#);
    mcp_ok(
        &config,
        &[
            "add",
            "files",
            "--command",
            "npx",
            "--args=-y",
            "--args",
            "pkg",
            "/data",
            "-e",
            "A=1",
            "--env",
            "B=two=2",
            "-g",
            "Local, fs",
            "--timeout",
            "9000",
            "--cwd",
            "/srv",
            "--restart-on-exit",
            "false",
            "--max-restarts",
            "3",
            "--restart-delay",
            "250",
        ],
    );
    // A value starting with `-` needs `--args=-y` (or the `--` form): `-y` alone is a flag, as in 1MCP.
    assert_eq!(mcp(&config, &["add", "x", "--command", "npx", "--args", "-y"]).code, Some(2));
    assert_eq!(
        server(&config, "files"),
        json!({"command": "npx", "args": ["-y", "pkg", "/data"], "cwd": "/srv", "env": {"A": "1", "B": "two=2"},
               "tags": ["Local", "fs"], "timeout": 9000, "restartOnExit": false, "maxRestarts": 3, "restartDelay": 250})
    );
    let run = mcp_ok(&config, &["add", "air", "--env", "AIRTABLE_API_KEY=air-secret-55", "--", "npx", "-y", "air-mcp"]);
    assert!(!run.stdout.contains("air-secret-55"), "the confirmation shows no secret: {}", run.describe());
    assert_eq!(
        server(&config, "air"),
        json!({"type": "stdio", "command": "npx", "args": ["-y", "air-mcp"], "env": {"AIRTABLE_API_KEY": "air-secret-55"}})
    );
    mcp_ok(&config, &["add", "web", "--type", "http", "-u", "https://h.example/mcp", "--headers", "X-Team=ops"]);
    assert_eq!(
        server(&config, "web"),
        json!({"type": "http", "url": "https://h.example/mcp", "headers": {"X-Team": "ops"}})
    );
    mcp_ok(&config, &["add", "legacy", "--url", "https://old.example/sse", "--type=sse", "--disabled"]);
    assert_eq!(server(&config, "legacy"), json!({"type": "sse", "url": "https://old.example/sse", "disabled": true}));
    mcp_ok(&config, &["add", "probe", "-u", "https://new.example/mcp"]);
    assert_eq!(
        server(&config, "probe"),
        json!({"url": "https://new.example/mcp"}),
        "no --type: probed as the daemon does"
    );
    let order = KeyOrder::of(&std::fs::read_to_string(&config).expect("read"));
    assert_eq!(order.at("mcpServers").keys(), ["files", "air", "web", "legacy", "probe"], "added in order, at the end");
    let entry = order.at("mcpServers").at("files").keys();
    assert_eq!(
        entry,
        ["command", "args", "cwd", "env", "tags", "timeout", "restartOnExit", "maxRestarts", "restartDelay"]
    );
    // The daemon loads what the commands wrote.
    let listed = mcp_ok(&config, &["list", "--show-disabled"]);
    assert!(!listed.stderr.contains("refuses"), "{}", listed.describe());
}

#[test]
fn add_refuses_a_taken_name_and_servers_that_cannot_run() {
    let dir = scratch();
    let config = config_with(&dir, RICH_CONFIG);
    let run = mcp_refused(&config, &["add", "files", "--command", "other"]);
    assert!(run.stderr.contains("\"files\" exists already") && run.stderr.contains("mcp.json"), "{}", run.describe());
    let run = mcp_refused(&config, &["add", "nothing"]);
    assert!(run.stderr.contains("needs --command"), "{}", run.describe());
    let run = mcp_refused(&config, &["add", "both", "--command", "x", "-u", "https://h/mcp"]);
    assert!(run.stderr.contains("not both"), "{}", run.describe());
    let run = mcp_refused(&config, &["add", "hdr", "--command", "x", "--headers", "A=1"]);
    assert!(run.stderr.contains("--headers applies to http and sse servers"), "{}", run.describe());
    let run = mcp_refused(&config, &["add", "mixed", "--type", "http", "--", "npx", "pkg"]);
    assert!(run.stderr.contains("stdio server"), "{}", run.describe());
    let run = mcp_refused(&config, &["add", "env", "--command", "x", "-e", "NOVALUE"]);
    assert!(run.stderr.contains("KEY=VALUE"), "{}", run.describe());
    // The daemon's own rules: a name may not hold the separator of exposed names.
    let run = mcp_refused(&config, &["add", "a_1mcp_b", "--command", "x"]);
    assert!(run.stderr.contains("a_1mcp_b") && run.stderr.contains("unchanged"), "{}", run.describe());
}

#[test]
fn update_changes_only_the_given_fields_and_a_type_switch_drops_the_old_transports_keys() {
    let dir = scratch();
    let config = config_with(&dir, RICH_CONFIG);
    let before = server(&config, "files");
    let run = mcp_ok(&config, &["update", "files", "-g", "local,docs", "--timeout", "1200", "--args", "/var"]);
    assert!(run.stdout.contains("timeout: (none) -> 1200"), "{}", run.describe());
    let mut expected = before.clone();
    expected["tags"] = json!(["local", "docs"]);
    expected["timeout"] = json!(1200);
    expected["args"] = json!(["/var"]);
    assert_eq!(server(&config, "files"), expected);
    let order = KeyOrder::of(&std::fs::read_to_string(&config).expect("read"));
    assert_eq!(
        order.at("mcpServers").at("files").keys(),
        ["command", "args", "x-note", "tags", "toolDescriptionOverrides", "disabledTools", "env", "timeout"],
        "changed keys stay in place, new ones come last"
    );

    let run = mcp_ok(&config, &["update", "files", "--timeout", "1200"]);
    assert!(run.stdout.contains("unchanged"), "{}", run.describe());
    let run = mcp_refused(&config, &["update", "files", "-u", "https://h/mcp"]);
    assert!(run.stderr.contains("--type switches it"), "{}", run.describe());
    let run = mcp_refused(&config, &["update", "ghost", "-g", "x"]);
    assert!(run.stderr.contains("no server named \"ghost\""), "{}", run.describe());

    mcp_ok(&config, &["update", "search", "--type", "stdio", "--command", "search-mcp", "-e", "K=v"]);
    assert_eq!(
        server(&config, "search"),
        json!({"tags": ["web"], "disabled": true, "type": "stdio", "command": "search-mcp", "env": {"K": "v"}}),
        "url and headers went with the switch; tags and disabled stayed"
    );
    mcp_ok(&config, &["update", "search", "--", "other-mcp", "--flag"]);
    assert_eq!(server(&config, "search")["args"], json!(["--flag"]), "-- CMD ARGS sets exactly these");
}

#[test]
fn remove_enable_disable_and_tool_switches_edit_only_their_keys() {
    let dir = scratch();
    let config = config_with(&dir, RICH_CONFIG);
    let files = server(&config, "files");

    mcp_ok(&config, &["enable", "search"]);
    assert!(server(&config, "search").get("disabled").is_none(), "{}", server(&config, "search"));
    let run = mcp_ok(&config, &["enable", "search"]);
    assert!(run.stdout.contains("enabled already"), "{}", run.describe());
    mcp_ok(&config, &["disable", "files"]);
    let mut expected = files.clone();
    expected["disabled"] = json!(true);
    assert_eq!(server(&config, "files"), expected);
    mcp_ok(&config, &["enable", "files"]);
    assert_eq!(server(&config, "files"), files);

    mcp_ok(&config, &["tools", "disable", "files", "files_1mcp_delete"]);
    assert_eq!(server(&config, "files")["disabledTools"], json!(["write", "delete"]));
    let listed = mcp_ok(&config, &["tools", "list", "files"]);
    assert_eq!(listed.stdout, "files  write\nfiles  delete\n", "{}", listed.describe());
    mcp_ok(&config, &["tools", "enable", "files", "write"]);
    mcp_ok(&config, &["tools", "enable", "files", "files_1mcp_delete"]);
    assert!(server(&config, "files").get("disabledTools").is_none(), "{}", server(&config, "files"));
    let listed = mcp_ok(&config, &["tools", "list", "--disabled"]);
    assert_eq!(listed.stdout, "", "{}", listed.describe());
    mcp_refused(&config, &["tools", "disable", "ghost", "x"]);

    mcp_ok(&config, &["remove", "search", "-y"]);
    mcp_ok(&config, &["remove", "files"]);
    assert_eq!(read_json(&config)["mcpServers"], json!({}));
    mcp_refused(&config, &["remove", "files", "-y"]);
    mcp_refused(&config, &["enable", "files"]);
}

#[test]
fn list_masks_secrets_unless_show_secrets_and_filters() {
    let dir = scratch();
    let config = config_with(&dir, RICH_CONFIG);
    mcp_ok(&config, &["add", "remote", "-u", "https://user:url-secret-a1@r.example/mcp?apiKey=query-secret-b2"]);
    mcp_ok(&config, &["add", "keyed", "--", "server", "--api-key", "arg-secret-c3"]);
    let secrets = ["files-secret-7f3a", "header-secret-91c2", "url-secret-a1", "query-secret-b2", "arg-secret-c3"];

    let run = mcp_ok(&config, &["list", "--show-disabled"]);
    for secret in secrets {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret), "{secret} shown: {}", run.describe());
    }
    assert!(run.stdout.contains("env: FILES_TOKEN=***"), "{}", run.describe());
    assert!(run.stdout.contains("headers: Authorization: ***"), "{}", run.describe());
    assert!(run.stdout.contains("url: https://***@r.example/mcp?apiKey=***"), "{}", run.describe());
    assert!(run.stdout.contains("command: server --api-key ***"), "{}", run.describe());

    let run = mcp_ok(&config, &["list", "--show-disabled", "--show-secrets"]);
    for secret in secrets {
        assert!(run.stdout.contains(secret), "{secret} not shown with --show-secrets: {}", run.describe());
    }

    let run = mcp_ok(&config, &["list"]);
    assert!(!run.stdout.contains("search"), "disabled servers are hidden by default: {}", run.describe());
    assert!(run.stderr.contains("1 disabled server"), "{}", run.describe());
    let run = mcp_ok(&config, &["list", "--show-disabled", "-g", "WEB"]);
    let names: Vec<&str> = run.stdout.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(names, ["search  (http, else sse, disabled)"], "{}", run.describe());
}

#[test]
fn untouched_keys_keep_their_order_and_values() {
    let dir = scratch();
    let config = config_with(&dir, RICH_CONFIG);
    let before_text = std::fs::read_to_string(&config).expect("read");
    let before = read_json(&config);
    mcp_ok(&config, &["add", "new", "--command", "x"]);
    mcp_ok(&config, &["disable", "new"]);
    mcp_ok(&config, &["update", "search", "-g", "web,remote"]);
    let after_text = std::fs::read_to_string(&config).expect("read");
    let after = read_json(&config);

    let (old, new) = (KeyOrder::of(&before_text), KeyOrder::of(&after_text));
    assert_eq!(new.keys(), old.keys(), "top-level keys, unknown ones included, in their order");
    for key in ["$schema", "version", "serverDefaults", "x-team", "mcpTemplates"] {
        assert_eq!(after[key], before[key], "{key} changed");
        assert_eq!(new.at(key), old.at(key), "the key order inside {key} changed");
    }
    assert_eq!(after["mcpServers"]["files"], before["mcpServers"]["files"]);
    assert_eq!(new.at("mcpServers").at("files"), old.at("mcpServers").at("files"));
    assert_eq!(new.at("mcpServers").keys(), ["files", "search", "new"]);
    assert_eq!(new.at("mcpServers").at("search").keys(), ["url", "headers", "tags", "disabled"]);
    assert!(after_text.ends_with("}\n") && after_text.contains("\n  \"version\": \"1.0\",\n"), "{after_text}");
}

#[test]
fn every_edit_backs_up_the_previous_file_privately_and_ten_are_kept() {
    let dir = scratch();
    let config = config_with(&dir, RICH_CONFIG);
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    mcp_ok(&config, &["disable", "files"]);
    let first = backups(&config);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(std::fs::read_to_string(&first[0]).expect("read the backup"), RICH_CONFIG, "the previous content");
    assert_eq!(mode(&first[0]), 0o600, "backups hold the same secrets");
    let run = mcp_ok(&config, &["enable", "files"]);
    assert!(run.stdout.contains("backups/mcp.json."), "the backup is named: {}", run.describe());

    let mut previous = std::fs::read_to_string(&config).expect("read");
    for n in 0..11 {
        mcp_ok(&config, &["update", "files", "--timeout", &format!("{}", 1000 + n)]);
        let newest = backups(&config).pop().expect("a backup");
        assert_eq!(
            std::fs::read_to_string(newest).expect("read"),
            previous,
            "edit {n}: the backup is the previous file"
        );
        previous = std::fs::read_to_string(&config).expect("read");
    }
    assert_eq!(backups(&config).len(), 10, "only the last ten are kept");
    let unchanged = mcp_ok(&config, &["update", "files", "--timeout", "1010"]);
    assert!(unchanged.stdout.contains("unchanged"), "{}", unchanged.describe());
    assert_eq!(backups(&config).len(), 10);
}

#[test]
fn an_invalid_file_is_refused_unmodified_naming_where_and_an_edit_may_repair_one() {
    let dir = scratch();
    let broken_json = "{\n  \"mcpServers\": {\n    \"a\": {\"command\": }\n  }\n}\n";
    let config = config_with(&dir, broken_json);
    let run = mcp_refused(&config, &["add", "b", "--command", "x"]);
    let path = config.to_string_lossy().into_owned();
    assert!(run.stderr.contains(&format!("{path}:3:")), "file, line and column: {}", run.describe());
    assert!(run.stderr.contains("invalid JSON"), "{}", run.describe());
    mcp_refused(&config, &["disable", "a"]);
    let run = mcp_refused(&config, &["list"]);
    assert!(run.stderr.contains(&format!("{path}:3:")), "{}", run.describe());

    // Valid JSON the daemon refuses: an edit that leaves it so is refused, one that fixes it is not.
    let config =
        config_with(&dir, r#"{"mcpServers": {"broken": {"command": "x", "args": 5}, "ok": {"command": "y"}}}"#);
    let run = mcp_refused(&config, &["add", "b", "--command", "x"]);
    assert!(run.stderr.contains("\"broken\"") && run.stderr.contains("args"), "{}", run.describe());
    assert!(run.stderr.contains("already invalid before this edit"), "{}", run.describe());
    mcp_ok(&config, &["remove", "broken", "-y"]);
    assert_eq!(read_json(&config)["mcpServers"], json!({"ok": {"command": "y"}}));
}

#[test]
fn the_files_mode_and_symlink_are_kept_and_a_new_file_is_private() {
    let dir = scratch();
    let config = config_with(&dir, RICH_CONFIG);
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    mcp_ok(&config, &["disable", "files"]);
    assert_eq!(mode(&config), 0o640);

    let fresh = dir.path().join("new").join("mcp.json");
    let run = mcp_ok(&fresh, &["add", "first", "--command", "x"]);
    assert!(run.stdout.contains("created"), "{}", run.describe());
    assert_eq!(mode(&fresh), 0o600, "a new config may come to hold secrets");
    let doc = read_json(&fresh);
    assert_eq!(doc["mcpServers"], json!({"first": {"command": "x"}}));
    assert!(doc.get("$schema").is_some(), "created like `serve` creates it: {doc}");

    // A config kept elsewhere (dotfiles) through a symlink stays a symlink.
    let link = dir.path().join("linked.json");
    std::os::unix::fs::symlink(&config, &link).expect("symlink");
    mcp_ok(&link, &["enable", "files"]);
    assert!(std::fs::symlink_metadata(&link).expect("lstat").file_type().is_symlink(), "the link was replaced");
    assert!(server(&config, "files").get("disabled").is_none(), "the edit went to the link's target");
}

#[test]
fn concurrent_adds_all_land() {
    let dir = scratch();
    let config = config_with(&dir, r#"{"mcpServers": {}}"#);
    let names: Vec<String> = (0..8).map(|n| format!("s{n}")).collect();
    let runs: Vec<CliRun> = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .map(|name| {
                let config = config.clone();
                scope.spawn(move || mcp(&config, &["add", name, "--command", "x"]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a runner thread")).collect()
    });
    for run in &runs {
        assert_eq!(run.code, Some(0), "{}", run.describe());
    }
    let servers =
        read_json(&config)["mcpServers"].as_object().expect("servers").keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(servers, names.iter().cloned().collect::<BTreeSet<_>>(), "an edit was lost");
}

async fn tool_names(client: &McpClient) -> Vec<String> {
    let tools = bounded("tools/list", client.list_all_tools()).await.expect("tools/list");
    tools.iter().map(|t| t.name.to_string()).collect()
}

/// Polls tools/list until `accept` holds (bounded).
async fn until_tools(client: &McpClient, what: &str, accept: impl Fn(&[String]) -> bool) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        if accept(&tool_names(client).await) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("tools/list never showed {what}: {:?}", tool_names(client).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_daemon_serves_an_added_server_without_a_restart() {
    let alpha = fixture_backend(fixture_server_bin!(), "alpha", &[]);
    let daemon = Daemon::start_with_args(&mcp_config([("alpha", alpha)]), &["--config-reload-debounce", "100"]).await;
    daemon.wait_ready().await;
    let client = daemon.mcp_client().await.expect("connect");
    assert!(!tool_names(&client).await.iter().any(|t| t.starts_with("beta_")), "beta is not there yet");

    let config = daemon.config_path();
    let run = mcp_ok(&config, &["add", "beta", "-g", "fixture", "--", fixture_server_bin!(), "--name", "beta"]);
    assert!(run.stderr.contains(&format!("pid {}", daemon.pid())), "the running daemon is named: {}", run.describe());
    until_tools(&client, "beta_1mcp_echo", |t| t.iter().any(|n| n == "beta_1mcp_echo")).await;
    let result = bounded("call beta", client.call_tool(call_args("beta_1mcp_echo", json!({"text": "hi"})))).await;
    assert_eq!(tool_text(&result.expect("beta answers")), "beta: hi", "the same session calls the new server");

    mcp_ok(&config, &["tools", "disable", "beta", "echo"]);
    until_tools(&client, "beta_1mcp_echo hidden", |t| !t.iter().any(|n| n == "beta_1mcp_echo")).await;
    mcp_ok(&config, &["disable", "beta"]);
    until_tools(&client, "no beta tools", |t| !t.iter().any(|n| n.starts_with("beta_"))).await;
    assert!(tool_names(&client).await.iter().any(|n| n == "alpha_1mcp_echo"), "alpha kept serving");
    let (_, health) = daemon.get_json("/health").await;
    assert!(health["configuration"].get("reloadErrors").is_none(), "every edit loaded: {health}");
}
