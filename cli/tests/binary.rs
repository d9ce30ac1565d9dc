//! The `1mcp` binary as a user runs it: exit codes, env/flag precedence, start and stop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("1mcp-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `1mcp` with a clean slate: none of the caller's ONE_MCP_* or LOG_LEVEL leaks in.
fn onemcp() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_1mcp"));
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("ONE_MCP_") || k == "LOG_LEVEL") {
            cmd.env_remove(key);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    match cmd.output() {
        Ok(output) => output,
        Err(e) => panic!("cannot run 1mcp: {e}"),
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn starts_with_authentication_on_by_default() {
    // Auth on is the default and no reason to refuse: it gets as far as the (broken) config.
    let dir = temp_dir("auth");
    assert!(std::fs::create_dir_all(&dir).is_ok());
    assert!(std::fs::write(dir.join("mcp.json"), "{\n  \"mcpServers\": [\n").is_ok());
    let output = run(onemcp().args(["-P", "0", "-d"]).arg(&dir));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("mcp.json:") && !text.contains("--no-auth"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn env_variables_apply_and_flags_beat_them() {
    let dir = temp_dir("env");
    assert!(std::fs::create_dir_all(&dir).is_ok());
    assert!(std::fs::write(dir.join("mcp.json"), "{\n  \"mcpServers\": [\n").is_ok());
    // Auth switched off by env, stdio by env overridden by the flag: it gets as far as the config.
    let output = run(onemcp()
        .env("ONE_MCP_ENABLE_AUTH", "false")
        .env("ONE_MCP_TRANSPORT", "stdio")
        .env("ONE_MCP_CONFIG_DIR", &dir)
        .args(["-t", "http", "-P", "0"]));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("mcp.json:"), "{text}");
    assert!(text.contains("invalid JSON"), "{text}");
    // Without the flag the env's stdio applies: stdin is closed at once, so it serves nobody,
    // says so on stderr only, and exits cleanly.
    assert!(std::fs::write(dir.join("mcp.json"), r#"{"mcpServers":{}}"#).is_ok());
    let output = run(onemcp().env("ONE_MCP_TRANSPORT", "stdio").env("ONE_MCP_CONFIG_DIR", &dir).arg("--no-auth"));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("serving one client on stdin/stdout"), "{}", stderr(&output));
    assert!(output.stdout.is_empty(), "stdout is the client's: {:?}", String::from_utf8_lossy(&output.stdout));
    assert!(!dir.join("server.pid").exists(), "no pid file for a stdio daemon");
    let _ = std::fs::remove_dir_all(&dir);
}

fn wait_for_pid_file(path: &Path) -> Option<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(value) = std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str(&t).ok()) {
            return Some(value);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn serves_on_a_free_port_and_stops_cleanly_on_sigterm() {
    let dir = temp_dir("serve");
    let child =
        onemcp().args(["--no-auth", "-H", "127.0.0.1", "-P", "0", "-d"]).arg(&dir).stderr(Stdio::piped()).spawn();
    let Ok(mut child) = child else { panic!("cannot start 1mcp") };
    let info = wait_for_pid_file(&dir.join("server.pid"));
    let Some(info) = info else {
        let _ = child.kill();
        panic!("no server.pid within 10 s");
    };
    assert_eq!(info["pid"].as_u64(), Some(u64::from(child.id())));
    let port = info["port"].as_u64().unwrap_or_default();
    assert_ne!(port, 0);
    assert_eq!(info["url"].as_str().map(str::to_owned), Some(format!("http://127.0.0.1:{port}/mcp")));
    assert_eq!(info["transport"], "http");
    assert!(dir.join("mcp.json").exists(), "default config created");
    assert!(std::net::TcpStream::connect(("127.0.0.1", u16::try_from(port).unwrap_or_default())).is_ok());

    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap_or(-1));
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                break None;
            }
        }
    };
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    assert!(!dir.join("server.pid").exists(), "pid file removed on clean shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}
