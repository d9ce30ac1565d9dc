//! Backends get a minimal environment plus their configured `env`; the daemon's own environment
//! (which may hold secrets) reaches them only with `inheritParentEnv`.

use onemcp_tests::{Daemon, McpClient, bounded, call_args, fixture_backend, fixture_server_bin, mcp_config, tool_text};
use serde_json::json;

const SECRET_NAME: &str = "ONEMCP_E2E_DAEMON_SECRET";
const SECRET_VALUE: &str = "do-not-leak-7f3a";

async fn getenv(client: &McpClient, tool: &str, variable: &str) -> String {
    let result = bounded(tool, client.call_tool(call_args(tool, json!({"name": variable}))))
        .await
        .unwrap_or_else(|e| panic!("{tool} {variable}: {e}"));
    tool_text(&result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_see_only_their_env_unless_they_inherit() {
    let bin = fixture_server_bin!();
    let mut sealed = fixture_backend(bin, "sealed", &[]);
    sealed["env"] = json!({"FROM_CONFIG": "configured"});
    let mut inherits = fixture_backend(bin, "inherits", &[]);
    inherits["inheritParentEnv"] = json!(true);
    let config = mcp_config([("inherits", inherits), ("sealed", sealed)]);
    let daemon = Daemon::start_with(&config, &[], &[(SECRET_NAME, SECRET_VALUE)]).await;
    daemon.wait_ready().await;
    let client = daemon.mcp_client().await.expect("connect");

    assert_eq!(getenv(&client, "sealed_1mcp_getenv", "FROM_CONFIG").await, "configured");
    assert_eq!(
        getenv(&client, "sealed_1mcp_getenv", SECRET_NAME).await,
        "(unset)",
        "the daemon's environment leaked into a backend"
    );
    assert_ne!(getenv(&client, "sealed_1mcp_getenv", "PATH").await, "(unset)", "PATH is kept");
    assert_eq!(getenv(&client, "inherits_1mcp_getenv", SECRET_NAME).await, SECRET_VALUE);
}
