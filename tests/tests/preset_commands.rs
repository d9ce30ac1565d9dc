//! `1mcp preset create|list|show|url|test|delete` on the real binary: presets.json written in
//! 1MCP's format (and read back by the daemon), expressions judged by the daemon's parser,
//! unknown names refused, the file's other keys kept, and a daemon serving `/mcp?preset=NAME`
//! with exactly the servers `preset test` names.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use onemcp_tests::{CliRun, Daemon, fixture_backend, fixture_server_bin, initialize_request, mcp_config, run_onemcp};
use serde_json::{Value, json};
use tempfile::TempDir;

/// One-shot commands are killed after this.
const LIMIT: Duration = Duration::from_secs(10);

/// Servers tagged `web`, `db` and `web,prod` (never started: these tests only read mcp.json).
const CONFIG: &str = r#"{
  "mcpServers": {
    "site": {"command": "true", "tags": ["web"]},
    "store": {"command": "true", "tags": ["db"]},
    "shop": {"command": "true", "tags": ["web", "prod"]}
  }
}"#;

/// A config directory holding [`CONFIG`] as mcp.json.
fn scratch() -> TempDir {
    let dir = tempfile::Builder::new().prefix("onemcp-preset-cmd-").tempdir().expect("create a temporary directory");
    std::fs::write(dir.path().join("mcp.json"), CONFIG).expect("write mcp.json");
    dir
}

/// `1mcp preset ARGS... -d DIR`.
fn preset(dir: &Path, args: &[&str]) -> CliRun {
    let dir = dir.to_string_lossy().into_owned();
    let mut argv = vec!["preset"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["-d", dir.as_str()]);
    run_onemcp(&argv, LIMIT)
}

fn preset_ok(dir: &Path, args: &[&str]) -> CliRun {
    let run = preset(dir, args);
    assert_eq!(run.code, Some(0), "1mcp preset {args:?}: {}", run.describe());
    run
}

/// Runs and asserts exit 1; returns stderr.
fn preset_fails(dir: &Path, args: &[&str]) -> String {
    let run = preset(dir, args);
    assert_eq!(run.code, Some(1), "1mcp preset {args:?} should fail: {}", run.describe());
    run.stderr
}

fn presets_file(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("presets.json")).expect("read presets.json");
    serde_json::from_str(&text).expect("presets.json is JSON")
}

fn is_iso_timestamp(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.len() == 24 && s.ends_with('Z') && s.as_bytes()[10] == b'T')
}

#[test]
fn create_writes_1mcps_format_in_a_private_new_file() {
    let dir = scratch();
    let run = preset_ok(dir.path(), &["create", "dev", "-f", "web and not prod", "--description", "Dev servers"]);
    assert!(run.stdout.contains("created preset 'dev' (advanced: web and not prod)"), "{}", run.stdout);
    let file = presets_file(dir.path());
    assert_eq!(file["version"], "1.0.0");
    let dev = &file["presets"]["dev"];
    assert_eq!(dev["name"], "dev");
    assert_eq!(dev["description"], "Dev servers");
    assert_eq!(dev["strategy"], "advanced");
    assert_eq!(dev["tagQuery"], json!({"$and": [{"tag": "web"}, {"$not": {"tag": "prod"}}]}));
    assert!(is_iso_timestamp(&dev["created"]), "{dev}");
    assert_eq!(dev["created"], dev["lastModified"]);
    let mode = std::fs::metadata(dir.path().join("presets.json")).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a new presets.json is private");

    preset_ok(dir.path(), &["create", "simple", "-f", "web,db"]);
    let simple = &presets_file(dir.path())["presets"]["simple"];
    assert_eq!(simple["strategy"], "or");
    assert_eq!(simple["tagQuery"], json!({"$or": [{"tag": "web"}, {"tag": "db"}]}));
    assert!(simple.get("description").is_none(), "{simple}");
}

#[test]
fn a_bad_expression_or_name_is_refused_with_the_parsers_message_and_nothing_written() {
    let dir = scratch();
    preset_ok(dir.path(), &["create", "dev", "-f", "web"]);
    let before = std::fs::read(dir.path().join("presets.json")).expect("read");
    let stderr = preset_fails(dir.path(), &["create", "broken", "-f", "web and"]);
    assert!(stderr.contains("expected a tag after 'and' at position 7"), "{stderr}");
    let stderr = preset_fails(dir.path(), &["create", "broken", "-f", "(web"]);
    assert!(stderr.contains("unbalanced parenthesis"), "{stderr}");
    let stderr = preset_fails(dir.path(), &["create", "bad name", "-f", "web"]);
    assert!(stderr.contains("letters, numbers, hyphens, and underscores"), "{stderr}");
    assert_eq!(std::fs::read(dir.path().join("presets.json")).expect("read"), before, "file untouched");

    let empty = scratch();
    preset_fails(empty.path(), &["create", "broken", "-f", "web ||"]);
    assert!(!empty.path().join("presets.json").exists(), "no file made for a refused preset");
}

#[test]
fn creating_an_existing_name_replaces_it_and_keeps_created_as_1mcp_does() {
    let dir = scratch();
    preset_ok(dir.path(), &["create", "dev", "-f", "web", "--description", "first"]);
    let first = presets_file(dir.path())["presets"]["dev"].clone();
    std::thread::sleep(Duration::from_millis(5));
    let run = preset_ok(dir.path(), &["create", "dev", "-f", "db"]);
    assert!(run.stdout.contains("replaced preset 'dev'"), "{}", run.stdout);
    let file = presets_file(dir.path());
    let second = &file["presets"]["dev"];
    assert_eq!(second["tagQuery"], json!({"tag": "db"}));
    assert_eq!(second["created"], first["created"]);
    assert_ne!(second["lastModified"], first["lastModified"]);
    assert!(second.get("description").is_none(), "1MCP rebuilds the entry: {second}");
    assert_eq!(file["presets"].as_object().map(|p| p.len()), Some(1));
    let backups = std::fs::read_dir(dir.path().join("backups")).expect("backups").count();
    assert_eq!(backups, 1, "the replaced file was backed up");
}

#[test]
fn list_shows_each_preset_as_text_and_json() {
    let dir = scratch();
    let run = preset_ok(dir.path(), &["list"]);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("no presets"), "{}", run.stderr);
    assert_eq!(preset_ok(dir.path(), &["list", "--json"]).stdout.trim(), "[]");

    preset_ok(dir.path(), &["create", "dev", "-f", "web and not prod", "--description", "Dev servers"]);
    preset_ok(dir.path(), &["create", "any", "-f", "web,db"]);
    let text = preset_ok(dir.path(), &["list"]).stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("NAME") && lines[0].contains("FILTER"), "{text}");
    assert!(lines[1].starts_with("any ") && lines[1].contains("or") && lines[1].ends_with("web or db"), "{text}");
    assert!(lines[2].starts_with("dev ") && lines[2].contains("advanced"), "{text}");
    assert!(lines[2].contains("web and not prod") && lines[2].ends_with("Dev servers"), "{text}");

    let listed: Value = serde_json::from_str(&preset_ok(dir.path(), &["list", "--json"]).stdout).expect("JSON");
    assert_eq!(
        listed,
        json!([
            {"name": "any", "description": null, "strategy": "or", "filter": "web or db",
             "tagQuery": {"$or": [{"tag": "web"}, {"tag": "db"}]}},
            {"name": "dev", "description": "Dev servers", "strategy": "advanced", "filter": "web and not prod",
             "tagQuery": {"$and": [{"tag": "web"}, {"$not": {"tag": "prod"}}]}}
        ])
    );
}

#[test]
fn show_and_test_name_exactly_the_servers_the_expression_selects() {
    let dir = scratch();
    preset_ok(dir.path(), &["create", "dev", "-f", "web and not prod", "--description", "Dev servers"]);
    let show = preset_ok(dir.path(), &["show", "dev"]).stdout;
    for needle in [
        "name:         dev\n",
        "description:  Dev servers\n",
        "strategy:     advanced\n",
        "filter:       web and not prod\n",
        "url:          http://127.0.0.1:3050/mcp?preset=dev\n",
        "servers:      site (1 of 3 in mcp.json)\n",
    ] {
        assert!(show.contains(needle), "{needle:?} in\n{show}");
    }

    let test = preset_ok(dir.path(), &["test", "dev"]).stdout;
    let (selected, rest) = test.split_once("not selected (2):\n").unwrap_or_else(|| panic!("two sections:\n{test}"));
    assert!(selected.contains("selects 1 of 3 servers"), "{test}");
    assert!(selected.contains("  site   tags: web\n"), "{test}");
    assert_eq!(rest, "  shop   tags: web, prod\n  store  tags: db\n", "{test}");

    preset_ok(dir.path(), &["create", "web", "-f", "web"]);
    let test = preset_ok(dir.path(), &["test", "web"]).stdout;
    assert!(test.contains("selects 2 of 3") && test.ends_with("not selected (1):\n  store  tags: db\n"), "{test}");
}

#[test]
fn url_without_a_daemon_is_1mcps_default() {
    let dir = scratch();
    preset_ok(dir.path(), &["create", "dev", "-f", "web"]);
    assert_eq!(preset_ok(dir.path(), &["url", "dev"]).stdout, "http://127.0.0.1:3050/mcp?preset=dev\n");
}

#[test]
fn delete_removes_only_that_preset_and_unknown_names_exit_1() {
    let dir = scratch();
    preset_ok(dir.path(), &["create", "dev", "-f", "web"]);
    preset_ok(dir.path(), &["create", "ops", "-f", "db"]);
    preset_ok(dir.path(), &["delete", "dev"]);
    let file = presets_file(dir.path());
    assert!(file["presets"].get("dev").is_none(), "{file}");
    assert!(file["presets"].get("ops").is_some(), "{file}");
    for command in ["show", "url", "test", "delete"] {
        let stderr = preset_fails(dir.path(), &[command, "dev"]);
        assert!(stderr.contains("no preset named 'dev'"), "{command}: {stderr}");
    }
    assert_eq!(presets_file(dir.path()), file, "a refused delete writes nothing");
}

#[test]
fn edits_keep_unknown_keys_their_order_and_the_files_mode() {
    let dir = scratch();
    let original = r#"{
    "x-team": {"owner": "ops"},
    "presets": {
        "old": {"name": "old", "strategy": "or", "tagQuery": {"tag": "db"}, "x-note": "kept", "created": "2025-01-01T00:00:00.000Z"}
    },
    "version": "1.0.0"
}
"#;
    let path = dir.path().join("presets.json");
    std::fs::write(&path, original).expect("write presets.json");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    preset_ok(dir.path(), &["create", "dev", "-f", "web"]);
    let text = std::fs::read_to_string(&path).expect("read");
    let file: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(file["x-team"], json!({"owner": "ops"}));
    assert_eq!(file["presets"]["old"]["x-note"], "kept");
    assert!(file["presets"]["dev"].is_object(), "{file}");
    let team = text.find("x-team").expect("x-team");
    let presets = text.find("\"presets\"").expect("presets");
    let version = text.find("\"version\"").expect("version");
    assert!(team < presets && presets < version, "key order kept:\n{text}");
    assert!(text.contains("\n    \"presets\""), "four-space indent kept:\n{text}");
    assert_eq!(std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777, 0o640);
    let test = preset_ok(dir.path(), &["test", "old"]).stdout;
    assert!(test.contains("selects 1 of 3") && test.contains("  store  tags: db\nnot selected"), "{test}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_serves_a_created_preset_with_exactly_the_servers_test_names() {
    let bin = fixture_server_bin!();
    let mut servers = Vec::new();
    for (name, tags) in [("site", json!(["web"])), ("store", json!(["db"])), ("shop", json!(["web", "prod"]))] {
        let mut backend = fixture_backend(bin, name, &[]);
        backend["tags"] = tags;
        servers.push((name, backend));
    }
    let daemon = Daemon::start(&mcp_config(servers)).await;
    daemon.wait_ready().await;
    let dir = daemon.dir.path().to_owned();
    preset_ok(&dir, &["create", "dev", "-f", "web and not prod"]);
    preset_ok(&dir, &["create", "data", "-f", "db,prod"]);
    // The running daemon picks presets.json up (hot reload), no restart.
    wait_for_status(&daemon, "preset=data", 200).await;
    assert_eq!(daemon.servers_seen("").await, ["shop", "site", "store"]);
    assert_eq!(daemon.servers_seen("preset=dev").await, ["site"]);
    assert_eq!(daemon.servers_seen("preset=data").await, ["shop", "store"]);
    let test = preset_ok(&dir, &["test", "data"]).stdout;
    assert!(test.contains("  shop   tags: web, prod\n  store  tags: db\nnot selected (1):\n  site "), "{test}");
    assert_eq!(preset_ok(&dir, &["url", "dev"]).stdout, format!("{}?preset=dev\n", daemon.url));
    preset_ok(&dir, &["delete", "dev"]);
    wait_for_status(&daemon, "preset=dev", 400).await;
}

/// Waits (10 s at most) until opening a session at `/mcp?{query}` answers `status`.
async fn wait_for_status(daemon: &Daemon, query: &str, status: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut last = 0;
    while std::time::Instant::now() < deadline {
        last = daemon.post_at(query, None, &initialize_request("2025-11-25")).await.0;
        if last == status {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("opening a session at /mcp?{query} still answers {last}, not {status}, after 10 s");
}
