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

/// How many reloads the daemon has logged so far.
fn reloads_logged(daemon: &Daemon) -> usize {
    daemon.stderr().matches("configuration file changed; reloading").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_then_write_reloads_once_with_the_final_text() {
    use std::io::Write;
    let daemon =
        Daemon::start_with_args(&mcp_config([("alpha", backend("alpha"))]), &["--config-reload-debounce", "300"]).await;
    daemon.wait_ready().await;
    let client = daemon.mcp_client().await.expect("connect");
    let before = reloads_logged(&daemon);

    // An editor that truncates, then writes (two steps, closer together than the quiet time).
    let truncated = Instant::now();
    let mut file = std::fs::File::create(daemon.config_path()).expect("truncate");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = serde_json::to_vec_pretty(&mcp_config([("alpha", backend("alpha")), ("beta", backend("beta"))]));
    file.write_all(&text.expect("json")).expect("write");
    drop(file);
    let took = until_tools(&client, "beta", |t| t.iter().any(|n| n == "beta_1mcp_echo")).await;
    eprintln!("truncate -> beta listed: {:?} (final write -> listed: {took:?})", truncated.elapsed());

    // Let any second reload happen before counting.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(reloads_logged(&daemon) - before, 1, "one reload, of the final text");
    let (_, health) = daemon.get_json("/health").await;
    assert!(health["configuration"].get("reloadErrors").is_none(), "the empty file was never loaded: {health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swapped_configmap_symlink_reloads_and_keeps_being_followed() {
    use std::os::unix::fs::symlink;
    let daemon =
        Daemon::start_with_args(&mcp_config([("alpha", backend("alpha"))]), &["--config-reload-debounce", "100"]).await;
    daemon.wait_ready().await;
    let client = daemon.mcp_client().await.expect("connect");
    let pid = alpha_pid(&daemon).expect("alpha runs");
    let root = daemon.dir.path();
    let revision = |name: &str, config: &Value| {
        std::fs::create_dir(root.join(name)).expect("revision dir");
        std::fs::write(root.join(name).join("mcp.json"), serde_json::to_vec_pretty(config).expect("json"))
            .expect("revision file");
    };
    // The kubelet's update: a link to the new revision renamed over `..data`.
    let swap = |name: &str| {
        symlink(name, root.join("..data_tmp")).expect("link");
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).expect("swap ..data");
    };

    // mcp.json becomes a ConfigMap-style link: mcp.json -> ..data/mcp.json -> ..2026_a/mcp.json.
    revision("..2026_a", &mcp_config([("alpha", backend("alpha")), ("beta", backend("beta"))]));
    symlink("..2026_a", root.join("..data")).expect("..data");
    symlink("..data/mcp.json", root.join("mcp.json.link")).expect("link");
    std::fs::rename(root.join("mcp.json.link"), daemon.config_path()).expect("mcp.json is a link now");
    until_tools(&client, "beta", |t| t.iter().any(|n| n == "beta_1mcp_echo")).await;

    // An update swaps ..data only; mcp.json itself is untouched.
    revision("..2026_b", &mcp_config([("alpha", backend("alpha")), ("gamma", backend("gamma"))]));
    let swapped = Instant::now();
    swap("..2026_b");
    std::fs::remove_dir_all(root.join("..2026_a")).expect("old revision");
    until_tools(&client, "gamma instead of beta", |t| {
        t.iter().any(|n| n == "gamma_1mcp_echo") && !t.iter().any(|n| n.starts_with("beta_"))
    })
    .await;
    eprintln!("..data swap -> gamma listed: {:?}", swapped.elapsed());

    // And the next one: the watch followed the link to the new revision.
    revision("..2026_c", &mcp_config([("alpha", backend("alpha"))]));
    swap("..2026_c");
    until_tools(&client, "gamma gone", |t| !t.iter().any(|n| n.starts_with("gamma_"))).await;
    assert_eq!(alpha_pid(&daemon), Some(pid), "alpha kept its process through every swap");
}

/// Voluntary plus involuntary context switches of each thread of `pid`, by thread name.
fn thread_switches(pid: u32) -> Vec<(String, u64)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return vec![] };
    let mut threads = Vec::new();
    for task in tasks.filter_map(Result::ok).take(256) {
        let dir = task.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default().trim().to_owned();
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        let switches = status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        threads.push((name, switches));
    }
    threads
}

fn watcher_switches(pid: u32) -> Option<u64> {
    // The kernel keeps 15 characters of "notify-rs inotify loop".
    thread_switches(pid).into_iter().find(|(name, _)| name.starts_with("notify-rs inoti")).map(|(_, n)| n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_daemon_neither_reloads_nor_wakes_its_watcher() {
    let daemon = Daemon::start_with_args(&mcp_config([("alpha", backend("alpha"))]), &[]).await;
    daemon.wait_ready().await;
    let reloads = reloads_logged(&daemon);
    // Reading the log opened a file in the watched directory, and the revocation poller reads
    // the harness's fresh tokens.json once within its 1 s interval: let the watcher see both.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = daemon.pid();
    let (watcher_before, all_before) = (watcher_switches(pid), thread_switches(pid));
    let idle = Duration::from_secs(2);
    // Nothing touches the config directory meanwhile (not even a read of the daemon's log).
    tokio::time::sleep(idle).await;
    let (watcher_after, all_after) = (watcher_switches(pid), thread_switches(pid));
    let total = |threads: &[(String, u64)]| threads.iter().map(|(_, n)| n).sum::<u64>();
    eprintln!(
        "over {idle:?} idle: watcher thread switches {watcher_before:?} -> {watcher_after:?}; \
         whole daemon {} -> {} (other timers included)",
        total(&all_before),
        total(&all_after)
    );
    assert_eq!(reloads_logged(&daemon), reloads, "no change, no reload");
    let before = watcher_before.expect("the daemon runs a notify watcher thread");
    assert_eq!(watcher_after, Some(before), "the watcher thread slept while nothing changed");
}
