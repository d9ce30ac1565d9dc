//! One client sees three fixture backends as one server: prefixed names, deterministic order,
//! every request routed to the backend that owns the name, errors that say which server failed.

use onemcp_tests::{
    Daemon, McpClient, bounded, call_args, fixture_backend, fixture_server_bin, json_rpc_error, mcp_config, tool_text,
};
use rmcp::model::{GetPromptRequestParams, ReadResourceRequestParams};
use serde_json::{Value, json};

/// Instructions given to `alpha` on its command line, to find them in the merged ones.
const ALPHA_INSTRUCTIONS: &str = "alpha: call echo to be heard";

/// alpha (hides `hidden`), beta, and gamma exposed without a prefix.
fn three_backends() -> Value {
    let bin = fixture_server_bin!();
    let mut alpha = fixture_backend(bin, "alpha", &["--instructions", ALPHA_INSTRUCTIONS]);
    alpha["disabledTools"] = json!(["hidden"]);
    let beta = fixture_backend(bin, "beta", &[]);
    let mut gamma = fixture_backend(bin, "gamma", &[]);
    gamma["prefix"] = json!(false);
    mcp_config([("alpha", alpha), ("beta", beta), ("gamma", gamma)])
}

async fn start() -> (Daemon, McpClient) {
    let daemon = Daemon::start(&three_backends()).await;
    daemon.wait_ready().await;
    let client = daemon.mcp_client().await.expect("connect the MCP client");
    (daemon, client)
}

fn names<T: serde::Serialize>(items: &[T], key: &str) -> Vec<String> {
    items
        .iter()
        .map(|item| {
            serde_json::to_value(item).expect("serialise a list item")[key]
                .as_str()
                .expect("list item has a string key")
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_presents_one_server_with_every_backends_instructions() {
    let (_daemon, client) = start().await;
    let info = client.peer_info().expect("the handshake recorded the server's info");
    let info = serde_json::to_value(&*info).expect("serialise the server info");
    assert_eq!(info["serverInfo"]["name"], "1mcp", "server info: {info}");
    let instructions = info["instructions"].as_str().unwrap_or_default();
    for expected in [ALPHA_INSTRUCTIONS, "beta fixture instructions", "gamma fixture instructions"] {
        assert!(instructions.contains(expected), "instructions lack {expected:?}: {instructions:?}");
    }
    for capability in ["tools", "prompts", "resources", "completions", "logging"] {
        assert!(
            info["capabilities"].get(capability).is_some(),
            "capability {capability} missing: {}",
            info["capabilities"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_are_prefixed_and_listed_in_server_order() {
    let (_daemon, client) = start().await;
    let first = names(&bounded("tools/list", client.list_all_tools()).await.expect("tools/list"), "name");
    let second = names(&bounded("tools/list", client.list_all_tools()).await.expect("tools/list"), "name");
    let own = ["echo", "add", "sleep", "fail", "whoami", "pid", "freeze", "getenv"];
    let mut expected: Vec<String> = own.iter().map(|t| format!("alpha_1mcp_{t}")).collect();
    expected.extend(own.iter().chain(&["hidden"]).map(|t| format!("beta_1mcp_{t}")));
    expected.extend(own.iter().chain(&["hidden"]).map(|t| (*t).to_owned()));
    assert_eq!(first, expected, "tools/list: sorted by server, backend order within a server");
    assert_eq!(first, second, "two listings differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_reach_the_backend_that_owns_the_name() {
    let (_daemon, client) = start().await;
    let cases = [
        ("alpha_1mcp_echo", json!({"text": "hi"}), "alpha: hi"),
        ("beta_1mcp_echo", json!({"text": "hi"}), "beta: hi"),
        ("echo", json!({"text": "hi"}), "gamma: hi"),
        ("beta_1mcp_whoami", json!({}), "beta"),
        ("whoami", json!({}), "gamma"),
        ("alpha_1mcp_add", json!({"a": 2, "b": 3}), "5"),
        ("beta_1mcp_sleep", json!({"ms": 20}), "slept 20"),
    ];
    for (tool, arguments, expected) in cases {
        let result =
            bounded(tool, client.call_tool(call_args(tool, arguments))).await.unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert_eq!(tool_text(&result), expected, "{tool}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_are_prefixed_and_routed() {
    let (_daemon, client) = start().await;
    let prompts = bounded("prompts/list", client.list_all_prompts()).await.expect("prompts/list");
    assert_eq!(names(&prompts, "name"), ["alpha_1mcp_greeting", "beta_1mcp_greeting", "greeting"]);
    let mut arguments = serde_json::Map::new();
    arguments.insert("name".into(), json!("Zoe"));
    let prompt = bounded(
        "prompts/get",
        client.get_prompt(GetPromptRequestParams::new("beta_1mcp_greeting").with_arguments(arguments)),
    )
    .await
    .expect("prompts/get beta_1mcp_greeting");
    let prompt = serde_json::to_value(&prompt).expect("serialise the prompt");
    assert_eq!(prompt["messages"][0]["role"], "user", "{prompt}");
    assert_eq!(prompt["messages"][0]["content"]["text"], "Hello Zoe from beta", "{prompt}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_and_templates_keep_their_uris() {
    let (_daemon, client) = start().await;
    let resources = bounded("resources/list", client.list_all_resources()).await.expect("resources/list");
    assert_eq!(names(&resources, "uri"), ["fixture://alpha/readme", "fixture://beta/readme", "fixture://gamma/readme"]);
    for server in ["alpha", "beta", "gamma"] {
        let uri = format!("fixture://{server}/readme");
        let read = bounded("resources/read", client.read_resource(ReadResourceRequestParams::new(&uri)))
            .await
            .unwrap_or_else(|e| panic!("read {uri}: {e}"));
        let read = serde_json::to_value(&read).expect("serialise the read result");
        assert_eq!(read["contents"][0]["text"], format!("readme of {server}"), "{read}");
        assert_eq!(read["contents"][0]["uri"], uri, "{read}");
    }
    let templates = bounded("resources/templates/list", client.list_all_resource_templates())
        .await
        .expect("resources/templates/list");
    assert_eq!(
        names(&templates, "uriTemplate"),
        ["fixture://alpha/items/{id}", "fixture://beta/items/{id}", "fixture://gamma/items/{id}"]
    );
    let item =
        bounded("resources/read item", client.read_resource(ReadResourceRequestParams::new("fixture://beta/items/7")))
            .await
            .expect("read fixture://beta/items/7");
    let item = serde_json::to_value(&item).expect("serialise the read result");
    assert_eq!(item["contents"][0]["text"], "item 7 of beta", "{item}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_goes_to_the_prompts_backend() {
    let (_daemon, client) = start().await;
    let values = bounded("completion/complete", client.complete_prompt_simple("alpha_1mcp_greeting", "name", "a"))
        .await
        .expect("complete alpha_1mcp_greeting");
    assert_eq!(values, ["alice"]);
    let values = bounded("completion/complete", client.complete_prompt_simple("beta_1mcp_greeting", "name", "b"))
        .await
        .expect("complete beta_1mcp_greeting");
    assert_eq!(values, ["bob"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tool_is_invalid_params_naming_the_tool() {
    let (_daemon, client) = start().await;
    let tool = "nowhere_1mcp_nothing";
    let error = json_rpc_error(tool, bounded(tool, client.call_tool(call_args(tool, json!({})))).await);
    assert_eq!(error.code.0, -32602, "{error:?}");
    assert!(error.message.contains(tool), "message does not name the tool: {error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_error_keeps_its_message_and_names_the_server() {
    let (_daemon, client) = start().await;
    let tool = "alpha_1mcp_fail";
    let error = json_rpc_error(tool, bounded(tool, client.call_tool(call_args(tool, json!({})))).await);
    assert!(error.message.contains("alpha"), "message does not name the server: {error:?}");
    assert!(error.message.contains("refused: fail was called"), "backend message lost: {error:?}");
    // The session survives a backend error.
    let result = bounded("echo", client.call_tool(call_args("alpha_1mcp_echo", json!({"text": "ok"}))))
        .await
        .expect("echo after a failed call");
    assert_eq!(tool_text(&result), "alpha: ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_tools_are_hidden_and_refused() {
    let (_daemon, client) = start().await;
    let tools = names(&bounded("tools/list", client.list_all_tools()).await.expect("tools/list"), "name");
    assert!(!tools.iter().any(|t| t == "alpha_1mcp_hidden"), "disabled tool listed: {tools:?}");
    assert!(tools.iter().any(|t| t == "beta_1mcp_hidden"), "beta's own tool missing: {tools:?}");
    let tool = "alpha_1mcp_hidden";
    let error = json_rpc_error(tool, bounded(tool, client.call_tool(call_args(tool, json!({})))).await);
    assert_eq!(error.code.0, -32602, "{error:?}");
    assert!(error.message.contains("hidden"), "message does not name the tool: {error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_tool_list_arrives_whole_and_in_order() {
    let bin = fixture_server_bin!();
    let config = mcp_config([
        ("alpha", fixture_backend(bin, "alpha", &[])),
        ("many", fixture_backend(bin, "many", &["--many-tools", "300"])),
    ]);
    let daemon = Daemon::start(&config).await;
    daemon.wait_ready().await;
    let client = daemon.mcp_client().await.expect("connect");
    let tools = names(&bounded("tools/list", client.list_all_tools()).await.expect("tools/list"), "name");
    let numbered: Vec<String> = tools
        .iter()
        .filter(|name| name.starts_with("many_1mcp_t") && name[11..].parse::<u32>().is_ok())
        .cloned()
        .collect();
    let expected: Vec<String> = (0..300).map(|i| format!("many_1mcp_t{i}")).collect();
    assert_eq!(numbered, expected, "numbered tools lost, duplicated or reordered");
    assert_eq!(tools.len(), 9 + 9 + 300, "alpha's 9 + many's 9 + 300 numbered");
    let result =
        bounded("t299", client.call_tool(call_args("many_1mcp_t299", json!({})))).await.expect("call many_1mcp_t299");
    assert_eq!(tool_text(&result), "many: t299");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unprefixed_collisions_are_settled_by_server_order_and_reported() {
    let bin = fixture_server_bin!();
    let mut one = fixture_backend(bin, "one", &[]);
    one["prefix"] = json!(false);
    let mut two = fixture_backend(bin, "two", &[]);
    two["prefix"] = json!(false);
    let daemon = Daemon::start(&mcp_config([("one", one), ("two", two)])).await;
    daemon.wait_ready().await;
    let client = daemon.mcp_client().await.expect("connect");
    let tools = bounded("tools/list", client.list_all_tools()).await.expect("tools/list");
    let names = names(&tools, "name");
    assert!(names.contains(&"echo".to_owned()) && names.contains(&"two_1mcp_echo".to_owned()), "{names:?}");
    let result = bounded("echo", client.call_tool(call_args("echo", json!({"text": "x"})))).await.expect("echo");
    assert_eq!(tool_text(&result), "one: x", "the first server in name order keeps the name");
    let result = bounded("two echo", client.call_tool(call_args("two_1mcp_echo", json!({"text": "y"})))).await;
    assert_eq!(tool_text(&result.expect("two_1mcp_echo")), "two: y");
    let (_, health) = daemon.get_json("/health").await;
    let collisions = health["collisions"].as_array().cloned().unwrap_or_default();
    let echo = collisions.iter().find(|c| c["name"] == "echo").unwrap_or_else(|| panic!("no echo collision: {health}"));
    assert_eq!((echo["keptBy"].as_str(), echo["server"].as_str()), (Some("one"), Some("two")), "{echo}");
    assert!(daemon.stderr().contains("name collision"), "the collision is logged");
}
