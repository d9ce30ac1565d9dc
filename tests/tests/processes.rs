//! Backends are the daemon's children in every sense: their stderr lands in its log, bounded,
//! and none of them outlives it, whether it is stopped politely or killed.

use onemcp_tests::{Daemon, children_of, fixture_backend, fixture_server_bin, is_alive, mcp_config};
use rustix::process::Signal;
use std::time::{Duration, Instant};

fn two_backends() -> serde_json::Value {
    let bin = fixture_server_bin!();
    mcp_config([("alpha", fixture_backend(bin, "alpha", &[])), ("beta", fixture_backend(bin, "beta", &[]))])
}

/// Polls until none of `pids` is alive; returns the survivors after `limit`.
async fn survivors(pids: &[u32], limit: Duration) -> Vec<u32> {
    let deadline = Instant::now() + limit;
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|p| is_alive(*p)).collect();
        if alive.is_empty() || Instant::now() >= deadline {
            return alive;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn started_with_backends() -> (Daemon, Vec<u32>) {
    let daemon = Daemon::start(&two_backends()).await;
    daemon.wait_ready().await;
    let backends = children_of(daemon.pid());
    assert_eq!(backends.len(), 2, "one child process per backend: {backends:?}");
    (daemon, backends)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_daemon_and_every_backend() {
    let (mut daemon, backends) = started_with_backends().await;
    let started = Instant::now();
    daemon.signal(Signal::TERM);
    let status = daemon.wait_exit(Duration::from_secs(10)).await.expect("daemon exits after SIGTERM");
    eprintln!("SIGTERM -> daemon exited (idle, 2 backends): {:?}", started.elapsed());
    assert!(status.success(), "clean exit after SIGTERM: {status}");
    assert!(started.elapsed() < Duration::from_secs(6), "shutdown took {:?}", started.elapsed());
    assert_eq!(survivors(&backends, Duration::from_secs(5)).await, Vec::<u32>::new());
    assert!(!daemon.dir.path().join("server.pid").exists(), "server.pid removed on clean exit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_daemon_takes_its_backends_along() {
    let (mut daemon, backends) = started_with_backends().await;
    daemon.signal(Signal::KILL);
    daemon.wait_exit(Duration::from_secs(5)).await.expect("SIGKILL ends the daemon");
    assert_eq!(survivors(&backends, Duration::from_secs(5)).await, Vec::<u32>::new(), "orphaned backends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_stderr_is_logged_under_its_name_and_rate_limited() {
    let config = mcp_config([("noisy", fixture_backend(fixture_server_bin!(), "noisy", &["--stderr-noise", "2000"]))]);
    let daemon = Daemon::start(&config).await;
    daemon.wait_ready().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = daemon.stderr();
        if log.contains("stderr rate limit reached") || Instant::now() >= deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let noise: Vec<&str> = log.lines().filter(|l| l.contains("noise line")).collect();
    assert!(!noise.is_empty(), "stderr reaches the log");
    assert!(noise.iter().all(|l| l.contains("noisy")), "every stderr line names its server");
    assert!(noise.len() < 100, "{} of 2000 noise lines logged: not bounded", noise.len());
    assert!(log.contains("stderr rate limit reached"), "suppression is reported, not silent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_call_in_flight_finish_before_stopping() {
    let (mut daemon, backends) = started_with_backends().await;
    let client = daemon.mcp_client().await.expect("connect");
    let call = client.call_tool(onemcp_tests::call_args("alpha_1mcp_sleep", serde_json::json!({"ms": 1000})));
    let signal = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        daemon.signal(Signal::TERM);
    };
    let (result, ()) = tokio::join!(onemcp_tests::bounded("the call in flight", call), signal);
    let result = result.expect("the call finishes normally during the drain");
    assert_eq!(onemcp_tests::tool_text(&result), "slept 1000");
    let status = daemon.wait_exit(Duration::from_secs(10)).await.expect("then the daemon exits");
    assert!(status.success(), "{status}");
    assert_eq!(survivors(&backends, Duration::from_secs(5)).await, Vec::<u32>::new());
}
