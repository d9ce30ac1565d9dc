//! Hot reload end to end: edits of mcp.json apply without a restart, touch only what changed,
//! never fail a request to an unaffected backend, and a broken file changes nothing.

use onemcp_tests::{
    Daemon, McpClient, bounded, call_args, children_of, fixture_backend, fixture_server_bin, mcp_config, tool_text,
};
use rustix::process::Signal;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn backend(name: &str) -> Value {
    fixture_backend(fixture_server_bin!(), name, &[])
}

fn write_config(daemon: &Daemon, config: &Value) {
    // Write-and-rename, as editors do.
    let tmp = daemon.dir.path().join("mcp.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(config).expect("json")).expect("write");
    std::fs::rename(&tmp, daemon.config_path()).expect("rename");
}

async fn tool_names(client: &McpClient) -> Vec<String> {
    let tools = bounded("tools/list", client.list_all_tools()).await.expect("tools/list");
    tools.iter().map(|t| t.name.to_string()).collect()
}

/// Polls tools/list until `accept` holds; returns how long it took.
async fn until_tools(client: &McpClient, what: &str, accept: impl Fn(&[String]) -> bool) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        if accept(&tool_names(client).await) {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("tools never showed {what}: {:?}", tool_names(client).await);
}

fn alpha_pid(daemon: &Daemon) -> Option<u32> {
    children_of(daemon.pid()).into_iter().find(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == b"alpha"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_apply_live_and_never_disturb_an_unaffected_backend() {
    let daemon =
        Daemon::start_with_args(&mcp_config([("alpha", backend("alpha"))]), &["--config-reload-debounce", "100"]).await;
    daemon.wait_ready().await;
    let client = Arc::new(daemon.mcp_client().await.expect("connect"));
    let pid = alpha_pid(&daemon).expect("alpha runs");

    // Steady traffic to alpha for the whole test; every call must succeed.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (client, stop, ok, failed) = (client.clone(), stop.clone(), ok.clone(), failed.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let text = format!("call {n}");
                match client.call_tool(call_args("alpha_1mcp_echo", json!({"text": text}))).await {
                    Ok(result) if tool_text(&result) == format!("alpha: {text}") => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };

    let written = Instant::now();
    write_config(&daemon, &mcp_config([("alpha", backend("alpha")), ("beta", backend("beta"))]));
    until_tools(&client, "beta", |t| t.iter().any(|n| n == "beta_1mcp_echo")).await;
    eprintln!("config write -> new server's tools listed: {:?}", written.elapsed());

    std::fs::write(daemon.config_path(), "{ \"mcpServers\": ").expect("break the file");
    let health = daemon
        .wait_for_health("the reload error", |h| {
            h["configuration"]["reloadErrors"].as_array().is_some_and(|e| !e.is_empty())
        })
        .await;
    let error = health["configuration"]["reloadErrors"][0].as_str().unwrap_or_default();
    assert!(error.contains("mcp.json") && error.contains("invalid JSON"), "{error}");
    assert!(tool_names(&client).await.iter().any(|n| n == "beta_1mcp_echo"), "a broken file changes nothing");

    let mut tagged = backend("alpha");
    tagged["tags"] = json!(["renamed"]);
    write_config(&daemon, &mcp_config([("alpha", tagged)]));
    until_tools(&client, "beta gone", |t| !t.iter().any(|n| n.starts_with("beta_"))).await;
    let health =
        daemon.wait_for_health("reload error cleared", |h| h["configuration"].get("reloadErrors").is_none()).await;
    assert_eq!(health["servers"]["total"], 1, "{health}");

    stop.store(true, Ordering::Relaxed);
    load.await.expect("load task");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "calls to alpha failed during reloads");
    assert!(ok.load(Ordering::Relaxed) > 20, "the load ran: {}", ok.load(Ordering::Relaxed));
    assert_eq!(alpha_pid(&daemon), Some(pid), "alpha kept its process through every reload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_watching_off_only_sighup_reloads() {
    let args = ["--enable-config-reload", "false"];
    let daemon = Daemon::start_with_args(&mcp_config([("alpha", backend("alpha"))]), &args).await;
    daemon.wait_ready().await;
    let client = daemon.mcp_client().await.expect("connect");
    write_config(&daemon, &mcp_config([("alpha", backend("alpha")), ("beta", backend("beta"))]));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!tool_names(&client).await.iter().any(|n| n.starts_with("beta_")), "not watched");
    daemon.signal(Signal::HUP);
    until_tools(&client, "beta after SIGHUP", |t| t.iter().any(|n| n == "beta_1mcp_echo")).await;
    let (status, live) = daemon.get_json("/health/live").await;
    assert_eq!((status, live["status"].as_str()), (200, Some("alive")), "SIGHUP does not stop the daemon");
}
