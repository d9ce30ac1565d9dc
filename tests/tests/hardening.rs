//! What a probe of the daemon found, fixed and kept fixed: what a client's `initialize` makes
//! a session keep is bounded, and so is what it puts in the log; `Host: localhost` sent to a
//! public address of a wildcard bind is refused.

use std::net::{IpAddr, UdpSocket};

use onemcp_tests::{Daemon, HttpRequest, fixture_backend, mcp_config, raw_http_to};
use serde_json::{Value, json};

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

fn initialize_with(capabilities: Value, client_info: Value) -> HttpRequest {
    let message = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": capabilities, "clientInfo": client_info}});
    HttpRequest::mcp_post(None, &message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_floods_grow_neither_memory_nor_the_log() {
    let fixture = env!("CARGO_BIN_EXE_fixture-server");
    let daemon = Daemon::start(&mcp_config([("alpha", fixture_backend(fixture, "alpha", &[]))])).await;
    daemon.wait_ready().await;
    let before = rss_kib(daemon.pid());
    let three_mb = "x".repeat(3 * 1024 * 1024);
    for _ in 0..30 {
        let big = initialize_with(json!({"experimental": {"blob": three_mb}}), json!({"name": "t", "version": "1"}));
        let response = daemon.send(&big).await.expect("initialize answered");
        assert_eq!(response.status, 400, "{}", response.describe());
        assert!(response.text().contains("capabilities is"), "{}", response.describe());
    }
    for _ in 0..30 {
        let loud = initialize_with(json!({}), json!({"name": three_mb, "version": "1"}));
        let response = daemon.send(&loud).await.expect("initialize answered");
        assert_eq!(response.status, 200, "a long name is cut, not refused: {}", response.describe());
    }
    let grown = rss_kib(daemon.pid()).saturating_sub(before);
    // Kept whole, 60 x 3 MB would be ~180 MB; transient buffers may leave some in the allocator.
    assert!(grown < 48 * 1024, "RSS grew by {grown} KiB over 60 initializes carrying 3 MB each");
    let log = std::fs::metadata(daemon.dir.path().join("daemon.stderr")).expect("daemon log").len();
    assert!(log < 1024 * 1024, "the log grew to {log} bytes: client text must be cut before it is logged");
    let (_, health) = daemon.get_json("/health").await;
    assert_eq!(health["status"], "healthy");
    eprintln!("60 initializes of 3 MB: RSS +{grown} KiB, log {log} bytes");
}

/// One of this machine's addresses that is not loopback, if it has one (no packet is sent:
/// connecting a UDP socket only picks the route).
fn non_loopback_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    socket.local_addr().ok().map(|a| a.ip()).filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_bind_does_not_answer_to_localhost_from_another_address() {
    let Some(public) = non_loopback_address() else {
        eprintln!("SKIPPED: this machine has no address but loopback, so no connection can come from elsewhere");
        return;
    };
    let fixture = env!("CARGO_BIN_EXE_fixture-server");
    let config = mcp_config([("alpha", fixture_backend(fixture, "alpha", &[]))]);
    // Authentication on, as `1mcp serve -H 0.0.0.0` runs: even a valid token does not make a
    // spoofed Host from elsewhere pass.
    let daemon = Daemon::start_with_args(&config, &["-H", "0.0.0.0"]).await;
    daemon.wait_ready().await;
    let spoofed = daemon.authorized(HttpRequest::get("/health").header("Host", "localhost"));
    let response = raw_http_to(public, daemon.port, &spoofed).await.expect("an answer over the public address");
    assert_eq!(response.status, 403, "Host: localhost from {public}: {}", response.describe());
    let tools =
        daemon.authorized(initialize_with(json!({}), json!({"name": "t", "version": "1"})).header("Host", "localhost"));
    let response = raw_http_to(public, daemon.port, &tools).await.expect("an answer");
    assert_eq!(response.status, 403, "no session from {public}: {}", response.describe());
    let local = daemon.send(&HttpRequest::get("/health").header("Host", "localhost")).await.expect("local answer");
    assert_eq!(local.status, 200, "from this machine, localhost is fine: {}", local.describe());
    assert!(daemon.stderr().contains("listening on every interface without --external-url"));
}

/// The daemon's soft open-files limit, from /proc.
fn soft_fd_limit(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("read /proc/PID/limits");
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("open files line");
    line.split_whitespace().nth(3).and_then(|v| v.parse().ok()).expect("soft limit")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_silent_sockets_do_not_take_the_daemon_down() {
    if !std::path::Path::new("/usr/bin/prlimit").exists() {
        eprintln!("SKIPPED: prlimit (util-linux) is needed to start the daemon with a soft limit of 1024");
        return;
    }
    let fixture = env!("CARGO_BIN_EXE_fixture-server");
    let config = mcp_config([("alpha", fixture_backend(fixture, "alpha", &[]))]);
    // The soft limit many systems start services with; the hard one stays as it is.
    let daemon = Daemon::start_under(&["/usr/bin/prlimit", "--nofile=1024:", "--"], &config, &[], &[], &[]).await;
    daemon.wait_ready().await;
    let raised = soft_fd_limit(daemon.pid());
    if raised <= 2048 {
        eprintln!("SKIPPED: the hard open-files limit here is {raised}, so the soft one cannot be raised past it");
        return;
    }
    let mut silent = Vec::new();
    for _ in 0..1030 {
        match tokio::net::TcpStream::connect(("127.0.0.1", daemon.port)).await {
            Ok(stream) => silent.push(stream),
            Err(error) => panic!("connect #{} failed: {error}", silent.len()),
        }
    }
    let started = std::time::Instant::now();
    let (status, health) = daemon.get_json("/health").await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{health}");
    eprintln!("soft fd limit raised to {raised}; /health with 1030 silent sockets open: {took:?}");
    assert!(took < std::time::Duration::from_secs(2), "answered promptly: {took:?}");
    drop(silent);
}
