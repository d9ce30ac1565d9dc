//! Running the `1mcp` binary as a one-shot command with a time bound.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::daemon::remove_onemcp_env;
use crate::onemcp_binary;

/// The outcome of one bounded `1mcp` run.
#[derive(Debug)]
pub struct CliRun {
    /// The exit code; `None` if killed by a signal (including on timeout).
    pub code: Option<i32>,
    /// Whether the run had to be killed because it exceeded its time bound.
    pub timed_out: bool,
    /// How long the process ran.
    pub elapsed: Duration,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

impl CliRun {
    /// A multi-line summary for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "exit code {:?} (timed out: {}) after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.timed_out, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Runs `1mcp args…` with stdin closed, killing it after `limit`.
pub fn run_onemcp(args: &[&str], limit: Duration) -> CliRun {
    let mut command = Command::new(onemcp_binary());
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    remove_onemcp_env(&mut command);
    let started = Instant::now();
    let mut child = command.spawn().expect("spawn 1mcp");
    let stdout = child.stdout.take().map(drain_in_background);
    let stderr = child.stderr.take().map(drain_in_background);
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() >= limit => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    let elapsed = started.elapsed();
    // A grandchild that inherited a pipe could keep it open; do not wait for it forever.
    let collect = |reader: Option<Receiver<String>>| {
        reader.and_then(|r| r.recv_timeout(Duration::from_secs(2)).ok()).unwrap_or_default()
    };
    CliRun { code: status.and_then(|s| s.code()), timed_out, elapsed, stdout: collect(stdout), stderr: collect(stderr) }
}

fn drain_in_background(mut pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    receiver
}
