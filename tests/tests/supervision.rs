//! Supervision end to end: a backend killed mid-call fails that call at once, comes back on
//! its own, and the other backend never notices; a backend that always dies ends in a crash
//! loop that /health shows.

use onemcp_tests::{
    Daemon, bounded, call_args, children_of, fixture_backend, fixture_server_bin, mcp_config, tool_text,
};
use rustix::process::{Pid, Signal, kill_process};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn status_of(health: &Value, name: &str) -> String {
    health["servers"]["details"]
        .as_array()
        .and_then(|d| d.iter().find(|e| e["name"] == name))
        .and_then(|e| e["status"].as_str())
        .unwrap_or("absent")
        .to_owned()
}

/// The pid of the backend child running `fixture-server --name <name>`.
fn backend_pid(daemon: &Daemon, name: &str) -> Option<u32> {
    children_of(daemon.pid()).into_iter().find(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| c.split(|b| *b == 0).any(|arg| arg == name.as_bytes()))
            .unwrap_or(false)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_killed_mid_call_fails_that_call_and_comes_back() {
    let bin = fixture_server_bin!();
    let mut alpha = fixture_backend(bin, "alpha", &[]);
    alpha["restartDelay"] = json!(200);
    let config = mcp_config([("alpha", alpha), ("beta", fixture_backend(bin, "beta", &[]))]);
    let daemon = Daemon::start(&config).await;
    daemon.wait_ready().await;
    let client = daemon.mcp_client().await.expect("connect");
    let victim = backend_pid(&daemon, "alpha").expect("alpha's process");

    let slow = client.call_tool(call_args("alpha_1mcp_sleep", json!({"ms": 5000})));
    let killer = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        kill_process(Pid::from_raw(victim as i32).expect("pid"), Signal::KILL).expect("kill alpha");
    };
    let started = Instant::now();
    let (result, ()) = tokio::join!(bounded("the killed call", slow), killer);
    let error = result.expect_err("the call in flight fails");
    assert!(error.to_string().contains("alpha"), "the error names the backend: {error}");
    println!("the call in flight failed {:?} after it was sent", started.elapsed());
    // By its reason, not by a clock window: the process's death, never a timeout.
    let text = error.to_string();
    assert!(text.contains("signal 9") && !text.contains(" within "), "failed because alpha died: {text}");

    // beta never notices, while alpha is down and after.
    let beta = bounded("beta", client.call_tool(call_args("beta_1mcp_echo", json!({"text": "fine"})))).await;
    assert_eq!(tool_text(&beta.expect("beta serves")), "beta: fine");

    let back = Instant::now();
    let health = daemon.wait_for_health("alpha back", |h| status_of(h, "alpha") == "ready").await;
    let recovery = back.elapsed();
    eprintln!("call failed after the kill -> backend ready again: {recovery:?}");
    assert_eq!(health["servers"]["details"][0]["restarts"], 1, "{health}");
    let again = bounded("alpha again", client.call_tool(call_args("alpha_1mcp_echo", json!({"text": "back"})))).await;
    assert_eq!(tool_text(&again.expect("alpha serves again")), "alpha: back");
    assert_ne!(backend_pid(&daemon, "alpha"), Some(victim), "a new process");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_always_dies_ends_in_a_crash_loop() {
    let mut server = fixture_backend(fixture_server_bin!(), "doomed", &["--exit-at-start", "2"]);
    server["restartDelay"] = json!(50);
    server["maxRestarts"] = json!(3);
    let daemon = Daemon::start(&mcp_config([("doomed", server)])).await;
    let health = daemon.wait_for_health("crash loop", |h| status_of(h, "doomed") == "crash-loop").await;
    let detail = &health["servers"]["details"][0];
    assert!(detail["error"].as_str().is_some_and(|e| e.contains("gave up after 3 restarts")), "{detail}");
    let (status, ready) = daemon.get_json("/health/ready").await;
    assert_eq!((status, ready["servers"]["crashLoop"].as_u64()), (200, Some(1)), "{ready}");
}
