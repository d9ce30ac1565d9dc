//! `schema/mcp.schema.json` (made from the parser's key table, kept equal to it by a core test)
//! against a real JSON Schema validator (ajv, draft 2020-12, strict) and against the parser
//! itself: the configs the project ships and documents, and configs in the shapes 1MCP's own
//! documentation shows (`tests/fixtures/1mcp-docs`), are valid to both, and files with wrong
//! types are refused by both.

use std::path::{Path, PathBuf};
use std::time::Duration;

use onemcp_tests::js::{js_dir, node_binary, require_tool};
use onemcp_tests::{run_onemcp, workspace_root};
use serde_json::Value;

/// Every ```json block of the README that is a whole mcp.json (has "mcpServers" and parses).
fn readme_configs() -> Vec<String> {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    readme
        .split("```json\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .filter(|block| block.contains("\"mcpServers\"") && serde_json::from_str::<Value>(block).is_ok())
        .map(str::to_owned)
        .collect()
}

/// ajv's verdict on each of `files`: `None` when valid, else its errors.
fn ajv(files: &[PathBuf]) -> serde_json::Map<String, Value> {
    let script = workspace_root().join("tests/js/schema-check.mjs");
    let output = std::process::Command::new(node_binary())
        .arg(&script)
        .arg(workspace_root().join("schema/mcp.schema.json"))
        .args(files)
        .env("ONEMCP_JS_DIR", js_dir())
        .output()
        .expect("run node");
    assert!(output.status.success(), "schema-check.mjs: {}", String::from_utf8_lossy(&output.stderr));
    match serde_json::from_slice(&output.stdout) {
        Ok(Value::Object(map)) => map,
        other => panic!("schema-check.mjs printed {other:?}"),
    }
}

/// `1mcp config check FILE`'s exit status.
fn check(file: &Path) -> Option<i32> {
    run_onemcp(&["config", "check", &file.to_string_lossy()], Duration::from_secs(10)).code
}

#[test]
fn what_1mcps_documented_spellings_disable_stays_disabled() {
    // 1MCP's reference writes `"enabled": false` (and `"transport": "http"`): the server is
    // kept and not started, as 1MCP does, and nothing is warned about.
    let file = workspace_root().join("tests/fixtures/1mcp-docs/timeouts-and-enabled.json");
    let run = run_onemcp(&["config", "check", &file.to_string_lossy()], Duration::from_secs(10));
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(run.stdout.contains("valid (3 servers, 2 enabled; 0 warnings)"), "{}", run.describe());
}

#[test]
fn shipped_and_documented_configs_are_valid_and_wrong_types_are_refused_by_schema_and_parser_alike() {
    let ajv_module = js_dir().join("node_modules/ajv/dist/2020.js");
    if require_tool("schema", &[&node_binary(), &ajv_module]).is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut valid = vec![workspace_root().join("examples/demo.json")];
    let shapes = workspace_root().join("tests/fixtures/1mcp-docs");
    let mut one_mcp: Vec<PathBuf> = std::fs::read_dir(&shapes)
        .expect("tests/fixtures/1mcp-docs")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    one_mcp.sort();
    assert!(one_mcp.len() >= 4, "the 1MCP documentation shapes are there: {one_mcp:?}");
    valid.extend(one_mcp);
    let documented = readme_configs();
    assert!(!documented.is_empty(), "the README documents a whole mcp.json");
    for (n, text) in documented.iter().enumerate() {
        let path = dir.path().join(format!("readme-{n}.json"));
        std::fs::write(&path, text).expect("write");
        valid.push(path);
    }
    let invalid_texts = [
        r#"{"mcpServers": {"a": {"command": 5}}}"#,
        r#"{"mcpServers": {"a": {"command": "x", "args": "not-a-list"}}}"#,
        r#"{"mcpServers": {"a": {"url": "http://127.0.0.1:9/mcp", "headers": {"X": 1}}}}"#,
        r#"{"mcpServers": {"a": {"command": "x", "restartOnExit": "yes"}}}"#,
        r#"{"mcpServers": {"a": {"command": "x", "perSession": {"maxInstances": "many"}}}}"#,
        r#"{"mcpServers": {"a": {"url": "http://127.0.0.1:9/mcp", "oauth": {"scopes": "a b"}}}}"#,
        r#"{"mcpServers": []}"#,
        r#"{"servers": {}}"#,
    ];
    let mut invalid = Vec::new();
    for (n, text) in invalid_texts.iter().enumerate() {
        let path = dir.path().join(format!("invalid-{n}.json"));
        std::fs::write(&path, text).expect("write");
        invalid.push(path);
    }
    let all: Vec<PathBuf> = valid.iter().chain(&invalid).cloned().collect();
    let verdicts = ajv(&all);
    for path in &valid {
        let verdict = &verdicts[&path.to_string_lossy().into_owned()];
        assert!(verdict.is_null(), "{} is refused by the schema: {verdict}", path.display());
        assert_eq!(check(path), Some(0), "{} is refused by 1mcp config check", path.display());
    }
    for (path, text) in invalid.iter().zip(invalid_texts) {
        let verdict = &verdicts[&path.to_string_lossy().into_owned()];
        assert!(verdict.is_array(), "the schema takes {text}");
        assert_eq!(check(path), Some(1), "1mcp config check takes {text}");
    }
}
