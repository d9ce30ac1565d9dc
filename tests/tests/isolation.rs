//! Isolation end to end: a backend that dumps a 50 MB line, or freezes with its stdin pipe
//! filling up, neither stalls the daemon nor touches the other backends.

use onemcp_tests::{
    Daemon, bounded, call_args, children_of, fixture_backend, fixture_server_bin, mcp_config, tool_text,
};
use serde_json::json;
use std::time::Instant;

/// Peak resident memory of a process, in kB (`VmHWM`).
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_line_is_discarded_without_buffering_it() {
    let bin = fixture_server_bin!();
    let config = mcp_config([
        ("dumper", fixture_backend(bin, "dumper", &["--huge-line", "50"])),
        ("beta", fixture_backend(bin, "beta", &[])),
    ]);
    let daemon = Daemon::start(&config).await;
    daemon.wait_ready().await;
    let client = daemon.mcp_client().await.expect("connect");
    for server in ["dumper", "beta"] {
        let result =
            bounded(server, client.call_tool(call_args(&format!("{server}_1mcp_echo"), json!({"text": "ok"}))))
                .await
                .expect("both serve");
        assert_eq!(tool_text(&result), format!("{server}: ok"));
    }
    assert!(daemon.stderr().contains("over-long line"), "the discarded line is reported");
    let peak = peak_rss_kb(daemon.pid());
    assert!(peak > 0 && peak < 64 * 1024, "the daemon's peak RSS was {peak} kB: the line was buffered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_backend_with_a_full_stdin_pipe_stalls_nothing_else() {
    let bin = fixture_server_bin!();
    let mut frozen = fixture_backend(bin, "frozen", &[]);
    frozen["requestTimeout"] = json!(1000);
    frozen["restartOnExit"] = json!(false);
    let daemon = Daemon::start(&mcp_config([("frozen", frozen), ("beta", fixture_backend(bin, "beta", &[]))])).await;
    daemon.wait_ready().await;
    let client = daemon.mcp_client().await.expect("connect");
    let stopped_pid = children_of(daemon.pid());

    let freeze = bounded("freeze", client.call_tool(call_args("frozen_1mcp_freeze", json!({})))).await;
    let error = freeze.expect_err("a stopped process never answers");
    assert!(error.to_string().contains("frozen") && error.to_string().contains("1000 ms"), "{error}");

    // Fill its stdin pipe (64 KiB) and the gateway's queue behind it with big calls that
    // cannot be read (all sent at once, before any times out), while the other backend must
    // keep answering promptly.
    let client = std::sync::Arc::new(client);
    let big = "y".repeat(16 * 1024);
    let mut floods = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let (client, big) = (client.clone(), big.clone());
        floods
            .spawn(async move { client.call_tool(call_args("frozen_1mcp_echo", json!({"text": big}))).await.is_ok() });
    }
    // A separate client, as another user of the gateway would be.
    let other = daemon.mcp_client().await.expect("second client");
    let started = Instant::now();
    for i in 0..10 {
        let text = format!("probe {i}");
        let result = bounded("beta", other.call_tool(call_args("beta_1mcp_echo", json!({"text": text})))).await;
        assert_eq!(tool_text(&result.expect("beta serves while frozen is flooded")), format!("beta: {text}"));
    }
    println!("beta answered 10 probes in {:?} while frozen was flooded", started.elapsed());
    // By order, not by a clock window: if beta had to wait behind the frozen backend, it would
    // be answered only after the flood's calls gave up (1000 ms each), so none has ended yet.
    assert!(floods.try_join_next().is_none(), "beta answered only after calls to the frozen backend ended");
    let mut succeeded = 0;
    while let Some(done) = bounded("the flood", floods.join_next()).await {
        succeeded += usize::from(done.unwrap_or(false));
    }
    assert_eq!(succeeded, 0, "no call to the frozen backend succeeds");
    // The frozen server's health is not the point (it may be ready, or marked unhealthy after
    // its timeouts, so 200 or 503): the daemon answering at all is.
    let (status, body) = daemon.get_json("/health").await;
    assert!(status == 200 || status == 503, "the daemon still answers /health: {status} {body}");
    assert_eq!(body["servers"]["total"], 2, "with its usual document: {body}");
    for pid in stopped_pid {
        // Let the stopped process go so it can be reaped at shutdown.
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid as i32).expect("pid"),
            rustix::process::Signal::CONT,
        );
    }
}
