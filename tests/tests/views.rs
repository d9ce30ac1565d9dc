//! Client views end to end: `?tags`, `?tag-filter`, `?preset` (from presets.json in the config
//! directory) and `?pagination=true`, over real HTTP against real backends.

use onemcp_tests::{Daemon, fixture_backend, fixture_server_bin, initialize_request, mcp_config};
use serde_json::{Value, json};

const PRESETS: &str = r#"{"version": "1.0.0", "presets": {
  "dev": {"name": "dev", "strategy": "advanced", "tagQuery": {"$advanced": "db and not prod"}}
}}"#;

async fn start() -> Daemon {
    let bin = fixture_server_bin!();
    let mut web = fixture_backend(bin, "web", &[]);
    web["tags"] = json!(["web"]);
    let mut db = fixture_backend(bin, "db", &["--many-tools", "150"]);
    db["tags"] = json!(["db"]);
    let mut prod = fixture_backend(bin, "proddb", &[]);
    prod["tags"] = json!(["db", "prod"]);
    let config = mcp_config([("web", web), ("db", db), ("proddb", prod)]);
    let daemon = Daemon::start_with_files(&config, &[], &[], &[("presets.json", PRESETS)]).await;
    daemon.wait_ready().await;
    daemon
}

async fn session(daemon: &Daemon, query: &str) -> String {
    let (status, session, body) = daemon.post_at(query, None, &initialize_request("2025-11-25")).await;
    assert_eq!(status, 200, "{query}: {body}");
    session.expect("a session")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_selector_narrows_what_the_session_sees() {
    let daemon = start().await;
    assert_eq!(daemon.servers_seen("").await, ["db", "proddb", "web"]);
    assert_eq!(daemon.servers_seen("tags=web").await, ["web"]);
    assert_eq!(daemon.servers_seen("tag-filter=db+and+not+prod").await, ["db"]);
    assert_eq!(daemon.servers_seen("tag-filter=db%20%2B%20prod").await, ["proddb"]);
    assert_eq!(daemon.servers_seen("preset=dev").await, ["db"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hidden_tool_cannot_be_called_and_bad_selectors_are_400() {
    let daemon = start().await;
    let s = session(&daemon, "tags=web").await;
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "db_1mcp_echo", "arguments": {"text": "x"}}});
    let (_, _, body) = daemon.post_at("tags=web", Some(&s), &call).await;
    assert_eq!(body["error"]["code"], -32602, "{body}");
    for (query, needle) in [
        ("preset=nope", "Preset 'nope' not found"),
        ("tag-filter=(web", "Invalid tag-filter"),
        ("tags=web&preset=dev", "Cannot use multiple filtering parameters"),
    ] {
        let (status, _, body) = daemon.post_at(query, None, &initialize_request("2025-11-25")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains(needle)), "{query}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paginated_lists_walk_every_tool_once() {
    let daemon = start().await;
    let whole = daemon.servers_seen("").await;
    assert!(!whole.is_empty());
    let s = session(&daemon, "pagination=true").await;
    let (mut names, mut cursor, mut pages) = (Vec::new(), None::<Value>, 0);
    loop {
        let params = cursor.as_ref().map_or(json!({}), |c| json!({"cursor": c}));
        let list = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": params});
        let (_, _, body) = daemon.post_at("pagination=true", Some(&s), &list).await;
        let page = body["result"]["tools"].as_array().cloned().unwrap_or_default();
        names.extend(page.iter().filter_map(|t| t["name"].as_str().map(str::to_owned)));
        pages += 1;
        match body["result"].get("nextCursor") {
            Some(next) => cursor = Some(next.clone()),
            None => break,
        }
        assert!(pages < 100, "pagination never ends");
    }
    let unique: std::collections::BTreeSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "no tool twice");
    assert!(names.len() > 150 && pages >= 2, "{} tools in {pages} pages", names.len());
    let (_, _, plain) = daemon
        .post_at("", Some(&session(&daemon, "").await), &json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}))
        .await;
    assert_eq!(plain["result"]["tools"].as_array().map(Vec::len), Some(names.len()), "pages add up to the whole list");
}
