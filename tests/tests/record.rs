//! `serve --record FILE`: a real session (two clients, a backend crash, a config reload, a
//! request timeout) is recorded, and `onemcp-sim replay` makes the same calls on a fresh core
//! and gets the recorded outputs back byte for byte; a copy with one backend line altered
//! fails, naming the first call whose outputs differ.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use onemcp_tests::{
    Daemon, bounded, call_args, fixture_backend, fixture_server_bin, json_rpc_error, mcp_config, tool_text,
    workspace_root,
};
use rustix::process::{Pid, Signal, kill_process};
use serde_json::{Value, json};

/// Set to a path to keep the recording there, with machine paths replaced by placeholders
/// (that is how `sim/tests/data/two_clients.jsonl` was made).
const KEEP: &str = "SIM_KEEP_RECORDING";

/// The config the session starts with: alpha restarts quickly after its crash, beta gives up
/// on a call after 300 ms.
fn config(bin: &str) -> Value {
    let mut alpha = fixture_backend(bin, "alpha", &[]);
    alpha["restartDelay"] = json!(200);
    let mut beta = fixture_backend(bin, "beta", &[]);
    beta["requestTimeout"] = json!(300);
    mcp_config([("alpha", alpha), ("beta", beta)])
}

/// The config after the reload: gamma joins, alpha and beta are left as they were.
fn reloaded(bin: &str) -> Value {
    let mut config = config(bin);
    config["mcpServers"]["gamma"] = fixture_backend(bin, "gamma", &[]);
    config
}

/// Polls tools/list (bounded) until `name` is listed.
async fn until_listed(client: &onemcp_tests::McpClient, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let tools = bounded("tools/list", client.list_all_tools()).await.expect("tools/list");
        if tools.iter().any(|t| t.name == name) {
            return;
        }
        assert!(Instant::now() < deadline, "{name} never listed after the reload");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The session; authentication is on (as `1mcp serve` starts). Returns the token the clients
/// presented.
async fn record_a_session(path: &Path) -> String {
    let bin = fixture_server_bin!();
    let path_arg = path.to_str().expect("a UTF-8 temporary path");
    let mut daemon = Daemon::start_with_args(&config(bin), &["--record", path_arg]).await;
    daemon.wait_ready().await;
    let first = daemon.mcp_client().await.expect("connect the first client");
    let second = daemon.mcp_client().await.expect("connect the second client");
    for (client, who) in [(&first, "one"), (&second, "two")] {
        for backend in ["alpha", "beta"] {
            let tool = format!("{backend}_1mcp_echo");
            let result =
                bounded(&tool, client.call_tool(call_args(&tool, json!({"text": who})))).await.expect("echo answers");
            assert_eq!(tool_text(&result), format!("{backend}: {who}"));
        }
    }
    let failed = bounded("fail", second.call_tool(call_args("beta_1mcp_fail", json!({})))).await;
    assert!(failed.is_err() || failed.as_ref().is_ok_and(|r| r.is_error == Some(true)), "{failed:?}");

    // A request timeout: beta's 300 ms run out long before its 1.5 s sleep.
    let slept = bounded("sleep", second.call_tool(call_args("beta_1mcp_sleep", json!({"ms": 1500})))).await;
    let error = json_rpc_error("beta's sleep", slept);
    assert!(error.message.contains("300 ms"), "not ended by beta's requestTimeout: {error:?}");

    // A crash: alpha is killed while a call waits on it; the call fails, alpha comes back.
    let pid = bounded("pid", first.call_tool(call_args("alpha_1mcp_pid", json!({})))).await.expect("alpha's pid");
    let pid: i32 = tool_text(&pid).parse().expect("a pid");
    let slow = first.call_tool(call_args("alpha_1mcp_sleep", json!({"ms": 5000})));
    let killer = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        kill_process(Pid::from_raw(pid).expect("pid"), Signal::KILL).expect("kill alpha");
    };
    let (crashed, ()) = tokio::join!(bounded("the killed call", slow), killer);
    let text = crashed.expect_err("the call in flight fails").to_string();
    assert!(text.contains("alpha") && text.contains("signal 9"), "failed because alpha died: {text}");
    daemon
        .wait_for_health("alpha back", |h| {
            h["servers"]["details"]
                .as_array()
                .is_some_and(|d| d.iter().any(|s| s["name"] == "alpha" && s["status"] == "ready"))
        })
        .await;
    let back = bounded("echo", first.call_tool(call_args("alpha_1mcp_echo", json!({"text": "back"})))).await;
    assert_eq!(tool_text(&back.expect("alpha answers after its restart")), "alpha: back");

    // A reload: gamma joins (write-and-rename, as editors do).
    let tmp = daemon.dir.path().join("mcp.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&reloaded(bin)).expect("json")).expect("write the config");
    std::fs::rename(&tmp, daemon.config_path()).expect("rename the config");
    until_listed(&second, "gamma_1mcp_echo").await;
    let gamma = bounded("gamma", second.call_tool(call_args("gamma_1mcp_echo", json!({"text": "new"})))).await;
    assert_eq!(tool_text(&gamma.expect("gamma answers")), "gamma: new");

    let tools = bounded("tools/list", first.list_all_tools()).await.expect("tools/list");
    assert!(tools.len() >= 3);
    let _ = first.cancel().await;
    let _ = second.cancel().await;
    daemon.signal(Signal::TERM);
    let status = daemon.wait_exit(Duration::from_secs(15)).await.expect("the daemon stops on SIGTERM");
    assert!(status.success(), "daemon exit: {status:?}\n{}", daemon.stderr());
    if let Ok(keep) = std::env::var(KEEP) {
        let text = std::fs::read_to_string(path).expect("read the recording");
        let text = text.replace(bin, "fixture-server").replace(&daemon.dir.path().display().to_string(), "$DIR");
        std::fs::write(&keep, text).expect("keep the recording");
    }
    daemon.token.clone().expect("a harness token")
}

/// `onemcp-sim replay FILE`, as a user runs it: (success, stdout).
fn sim_replay(file: &Path) -> (bool, String) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = Command::new(&cargo)
        .args(["build", "-p", "onemcp-sim", "--bin", "onemcp-sim"])
        .current_dir(workspace_root())
        .output()
        .expect("run cargo to build onemcp-sim");
    assert!(built.status.success(), "building onemcp-sim failed:\n{}", String::from_utf8_lossy(&built.stderr));
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(PathBuf::from(dir)),
        _ => workspace_root().join("target"),
    };
    let out = Command::new(target.join("debug").join("onemcp-sim"))
        .arg("replay")
        .arg(file)
        .output()
        .expect("run onemcp-sim replay");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The recording with `from` replaced by `to` in the input (never the outputs) of the first
/// backend line containing `from`; and that line's number (1-based).
fn alter_a_backend_line(text: &str, from: &str, to: &str) -> (String, usize) {
    let mut altered = None;
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let Some((input, outputs)) = line.split_once(",\"outputs\":[") else { return line.to_owned() };
            if altered.is_some() || !input.contains("\"type\":\"backend_line\"") || !input.contains(from) {
                return line.to_owned();
            }
            altered = Some(i + 1);
            format!("{},\"outputs\":[{outputs}", input.replacen(from, to, 1))
        })
        .collect();
    (lines.join("\n") + "\n", altered.unwrap_or_else(|| panic!("no backend line says {from:?}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_session_replays_byte_for_byte_and_an_altered_one_names_its_first_difference() {
    let dir = tempfile::Builder::new().prefix("onemcp-record-").tempdir().expect("a temporary directory");
    let path = dir.path().join("session.jsonl");
    let token = record_a_session(&path).await;

    let mode = std::fs::metadata(&path).expect("the recording exists").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the recording holds secrets: owner-only");
    let text = std::fs::read_to_string(&path).expect("read the recording");
    let lines: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let header = &lines[0]["header"];
    assert_eq!(header["seed"].as_array().map(Vec::len), Some(32), "{header}");
    assert!(header["hub_config"]["mcp"]["servers"]["alpha"].is_object(), "{header}");
    assert!(header["hub_config"]["wall_epoch_ms"].as_u64().is_some_and(|ms| ms > 0), "{header}");
    assert_eq!(header["exact"], true, "{header}");
    assert_eq!(lines[1]["start"], true, "Hub::new's outputs come first: {}", lines[1]);
    let calls = &lines[1..];
    assert!(calls.iter().all(|l| l["outputs"].is_array()), "every call is recorded with its outputs");
    let kinds: Vec<&str> = calls.iter().filter_map(|l| l["input"]["type"].as_str()).collect();
    for kind in ["backend_spawned", "backend_line", "http_request", "config_changed", "shutdown", "backend_exited"] {
        assert!(kinds.contains(&kind), "no {kind} recorded: {kinds:?}");
    }
    let crashed = calls.iter().any(|l| {
        l["input"]["type"] == "backend_exited"
            && l["input"]["backend"] == "alpha"
            && l["input"]["status"]["signal"] == 9
    });
    assert!(crashed, "alpha's crash is not recorded");
    // The timeout is a `handle_timeout` call whose outputs fail beta's call.
    let timed_out = calls.iter().any(|l| l["timeout"] == true && l["outputs"].to_string().contains("300 ms"));
    assert!(timed_out, "no handle_timeout call failing beta's sleep");
    // Requests are recorded with the credential io derived, never with the token itself.
    assert!(
        calls.iter().any(|l| l["input"]["request"]["credential"]["kind"] == "token"),
        "no request recorded with its token's credential"
    );
    assert!(!text.contains(&token), "the bearer token reached the recording");
    let outputs_bytes: usize = calls.iter().map(|l| l["outputs"].to_string().len()).sum();
    println!(
        "recording: {} calls, {} bytes ({} per call on average; outputs {} bytes, {}%)",
        calls.len(),
        text.len(),
        text.len() / calls.len(),
        outputs_bytes,
        outputs_bytes * 100 / text.len()
    );

    let report = onemcp_sim::replay(&path).unwrap_or_else(|violation| panic!("{violation}"));
    assert_eq!(report.compared, Some(calls.len() as u64), "every recorded call compared: {report:?}");
    assert!(!report.appended_shutdown, "the daemon recorded its own shutdown");
    // 2 initializes, 4 echoes, a failing call, a timeout, pid, the killed call, 2 more echoes,
    // and tools/list pages.
    assert!(report.rpc_requests >= 12, "{report:?}");
    let (ok, stdout) = sim_replay(&path);
    assert!(ok, "onemcp-sim replay failed:\n{stdout}");
    assert!(stdout.contains("byte for byte"), "{stdout}");

    // One backend line altered: the replay fails at that very call and shows both sides.
    let (altered, line) = alter_a_backend_line(&text, "alpha: one", "alpha: 0ne");
    let altered_path = dir.path().join("altered.jsonl");
    std::fs::write(&altered_path, altered).expect("write the altered copy");
    let violation = onemcp_sim::replay(&altered_path).expect_err("an altered recording does not replay");
    assert_eq!(violation.invariant, onemcp_sim::Invariant::SameOutputs, "{violation}");
    // Line 1 is the header and line 2 `Hub::new` (call 0).
    assert_eq!(violation.step, line as u64 - 2, "{violation}");
    assert!(violation.detail.contains(&format!("(line {line} of the file)")), "{violation}");
    assert!(violation.detail.contains("alpha: one") && violation.detail.contains("alpha: 0ne"), "{violation}");
    let (ok, stdout) = sim_replay(&altered_path);
    assert!(!ok, "onemcp-sim replay exits non-zero on a difference:\n{stdout}");
    assert!(stdout.contains(&format!("line {line} of the file")) && stdout.contains("expected"), "{stdout}");
}
