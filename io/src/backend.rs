//! Backend child processes: spawn with an exact environment in their own process group, pump
//! stdin/stdout/stderr, report the exit, and stop them with an escalating ladder.
//!
//! Per backend incarnation there are three tasks: a stdin writer fed by the driver, a stderr
//! drain, and a monitor that owns the `Child`, runs the stdout reader and reports
//! `BackendExited` only after stdout is exhausted, so every line precedes the exit.

use crate::lines::{LineReader, LineStatus};
use onemcp_core::config::LaunchSpec;
use onemcp_core::{BackendKey, ExitInfo, Gen, Input};
use rustix::process::{Pid, Signal};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// How long a backend gets to exit on its own after stdin closes.
const GRACE_AFTER_STDIN_CLOSE: Duration = Duration::from_secs(1);
/// How long a backend gets to exit after SIGTERM before SIGKILL.
const GRACE_AFTER_SIGTERM: Duration = Duration::from_secs(2);
/// How long to wait for stdout EOF once the process is reaped: normally instant, but a
/// process that left the group could hold the pipe open forever.
const STDOUT_DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);
/// Lines queued for a backend's stdin before writes are refused.
const STDIN_QUEUE: usize = 1024;

/// Size limits for backend pipes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PipeLimits {
    /// Longest stdout line delivered to the core.
    pub(crate) max_line_bytes: usize,
    /// Longest stderr line logged (the rest is cut).
    pub(crate) max_stderr_line_bytes: usize,
}

/// Why a line could not be queued for a backend's stdin.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WriteRefused {
    /// The backend is not reading; its queue is full.
    QueueFull,
    /// Stdin is closed (stopping, or the backend closed it).
    Closed,
}

/// The driver's handle on one running backend incarnation: a child process, or an HTTP
/// connection (no pid; its lines are POSTed instead of written to stdin).
#[derive(Debug)]
pub(crate) struct BackendHandle {
    pid: Option<u32>,
    stdin: Option<mpsc::Sender<String>>,
    stop: Option<oneshot::Sender<()>>,
    monitor: JoinHandle<()>,
}

impl BackendHandle {
    /// A handle whose lines go to `lines`, stopped through `stop`, supervised by `monitor`
    /// (which reports the exit, and whose abort ends everything of this incarnation).
    pub(crate) fn from_parts(
        pid: Option<u32>,
        lines: mpsc::Sender<String>,
        stop: oneshot::Sender<()>,
        monitor: JoinHandle<()>,
    ) -> Self {
        BackendHandle { pid, stdin: Some(lines), stop: Some(stop), monitor }
    }

    /// OS process id (also the process group id).
    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Queues one line for stdin without waiting: the hub task must never block on a backend.
    pub(crate) fn write(&self, line: String) -> Result<(), WriteRefused> {
        let Some(stdin) = &self.stdin else { return Err(WriteRefused::Closed) };
        stdin.try_send(line).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => WriteRefused::QueueFull,
            mpsc::error::TrySendError::Closed(_) => WriteRefused::Closed,
        })
    }

    /// Starts the stop ladder: close stdin, then SIGTERM, then SIGKILL the group. Idempotent.
    pub(crate) fn stop(&mut self) {
        // Dropping the sender ends the writer task, which drops the pipe: the backend sees EOF.
        self.stdin = None;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Last resort at daemon exit: SIGKILL the whole group now and stop supervising.
    pub(crate) fn kill_now(self) {
        signal_group(self.pid, Signal::KILL);
        self.monitor.abort();
    }
}

/// Starts `spec` as backend `name`/`generation`; its events go to `events`. On failure returns
/// a message naming the command.
pub(crate) fn spawn(
    name: &BackendKey,
    generation: Gen,
    spec: &LaunchSpec,
    limits: PipeLimits,
    events: mpsc::Sender<Input>,
) -> Result<BackendHandle, String> {
    let mut command = Command::new(&spec.command);
    command
        .args(&spec.args)
        .env_clear()
        .envs(&spec.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so stopping it also stops whatever it started (npx -> node, ...).
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    die_with_parent(&mut command);

    let mut child = command.spawn().map_err(|e| format!("failed to start `{}`: {e}", spec.command))?;
    let pid = child.id();
    let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        // Unreachable with piped stdio; the child is killed when dropped.
        return Err(format!("failed to start `{}`: stdio pipes unavailable", spec.command));
    };

    let (stdin_tx, stdin_rx) = mpsc::channel(STDIN_QUEUE);
    let (stop_tx, stop_rx) = oneshot::channel();
    tokio::spawn(write_stdin(name.clone(), generation, stdin, stdin_rx));
    tokio::spawn(crate::stderr::drain(name.to_string(), generation, stderr, limits.max_stderr_line_bytes));
    let monitor = tokio::spawn(monitor(name.clone(), generation, child, pid, stdout, stop_rx, limits, events));
    Ok(BackendHandle::from_parts(pid, stdin_tx, stop_tx, monitor))
}

/// Asks the kernel to SIGKILL the child if the thread that forked it dies, so a crashed or
/// SIGKILLed daemon leaves no orphans. The hub task forks from a tokio worker thread, which
/// lives as long as the runtime.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed; it makes a single `prctl(PR_SET_PDEATHSIG)` syscall through rustix,
    // allocates nothing and touches no lock.
    unsafe {
        command.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL)).map_err(std::io::Error::from)
        });
    }
}

/// Sends `signal` to the process group led by `pid`, ignoring a group that is already gone.
fn signal_group(pid: Option<u32>, signal: Signal) {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()).and_then(Pid::from_raw) else { return };
    if let Err(error) = rustix::process::kill_process_group(pid, signal)
        && error != rustix::io::Errno::SRCH
    {
        tracing::debug!(%pid, %error, "signalling process group failed");
    }
}

async fn write_stdin(server: BackendKey, generation: Gen, mut stdin: ChildStdin, mut lines: mpsc::Receiver<String>) {
    while let Some(line) = lines.recv().await {
        let mut bytes = line.into_bytes();
        bytes.push(b'\n');
        if let Err(error) = stdin.write_all(&bytes).await {
            tracing::debug!(server = %server, %generation, %error, "backend stdin closed");
            return;
        }
    }
    // Falling out drops `stdin`: EOF asks the backend to exit.
}

#[allow(clippy::too_many_arguments)]
async fn monitor(
    server: BackendKey,
    generation: Gen,
    mut child: Child,
    pid: Option<u32>,
    stdout: ChildStdout,
    stop: oneshot::Receiver<()>,
    limits: PipeLimits,
    events: mpsc::Sender<Input>,
) {
    let reader = tokio::spawn(read_stdout(server.clone(), generation, stdout, limits.max_line_bytes, events.clone()));
    let status = wait_or_stop(&mut child, pid, stop).await;
    // The leader is reaped; helpers it left in its group must not outlive it.
    signal_group(pid, Signal::KILL);
    let status = exit_info_or_default(&server, generation, status);
    drain_stdout(&server, generation, reader).await;
    tracing::debug!(server = %server, %generation, %status, "backend exited");
    let _ = events.send(Input::BackendExited { backend: server, generation, status }).await;
}

/// Waits for the child to exit on its own, or runs the stop ladder once asked to stop.
async fn wait_or_stop(
    child: &mut Child,
    pid: Option<u32>,
    mut stop: oneshot::Receiver<()>,
) -> std::io::Result<ExitStatus> {
    tokio::select! {
        status = child.wait() => status,
        // A dropped handle means the same as an explicit stop.
        _ = &mut stop => terminate(child, pid).await,
    }
}

/// The exit as the core sees it; an exit that could not be waited for is logged and unknown.
fn exit_info_or_default(server: &BackendKey, generation: Gen, status: std::io::Result<ExitStatus>) -> ExitInfo {
    status.map(exit_info).unwrap_or_else(|error| {
        tracing::warn!(server = %server, %generation, %error, "waiting for backend failed");
        ExitInfo::default()
    })
}

/// Lets the stdout reader deliver what is left (so every line precedes the exit), but not
/// forever.
async fn drain_stdout(server: &BackendKey, generation: Gen, mut reader: JoinHandle<()>) {
    if timeout(STDOUT_DRAIN_AFTER_EXIT, &mut reader).await.is_err() {
        reader.abort();
        tracing::warn!(server = %server, %generation, "backend exited but its stdout stayed open; giving up on it");
    }
}

/// The stop ladder; stdin has already been closed by the driver.
async fn terminate(child: &mut Child, pid: Option<u32>) -> std::io::Result<ExitStatus> {
    if let Ok(status) = timeout(GRACE_AFTER_STDIN_CLOSE, child.wait()).await {
        return status;
    }
    signal_group(pid, Signal::TERM);
    if let Ok(status) = timeout(GRACE_AFTER_SIGTERM, child.wait()).await {
        return status;
    }
    signal_group(pid, Signal::KILL);
    // SIGKILL cannot be caught, so this wait is short; bail out anyway if the kernel is stuck.
    match timeout(GRACE_AFTER_SIGTERM, child.wait()).await {
        Ok(status) => status,
        Err(_) => Err(std::io::Error::other("process did not die after SIGKILL")),
    }
}

async fn read_stdout(
    server: BackendKey,
    generation: Gen,
    stdout: ChildStdout,
    max_line: usize,
    events: mpsc::Sender<Input>,
) {
    let mut reader = LineReader::new(BufReader::with_capacity(64 * 1024, stdout), max_line);
    let mut buf = Vec::new();
    loop {
        let input = match reader.next_line(&mut buf).await {
            Ok(Some(LineStatus::Complete)) => Input::BackendLine {
                backend: server.clone(),
                generation,
                line: String::from_utf8_lossy(&buf).into_owned(),
            },
            Ok(Some(LineStatus::Truncated { len })) => {
                tracing::warn!(server = %server, %generation, len, "backend stdout line too long; discarded");
                Input::BackendLineTooLong { backend: server.clone(), generation, len }
            }
            Ok(None) => return,
            Err(error) => {
                tracing::debug!(server = %server, %generation, %error, "backend stdout read failed");
                return;
            }
        };
        // A huge line should not pin its buffer for the life of the backend.
        if buf.capacity() > 1024 * 1024 {
            buf = Vec::new();
        }
        // Awaiting here is the back-pressure: a flooding backend waits for the hub.
        if events.send(input).await.is_err() {
            return;
        }
    }
}

fn exit_info(status: ExitStatus) -> ExitInfo {
    ExitInfo { code: status.code(), signal: status.signal(), reason: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const LIMITS: PipeLimits = PipeLimits { max_line_bytes: 64, max_stderr_line_bytes: 64 };

    fn sh(script: &str, env: &[(&str, &str)]) -> LaunchSpec {
        LaunchSpec {
            command: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<BTreeMap<_, _>>(),
            cwd: None,
        }
    }

    /// Collects events until the exit (bounded wait).
    async fn events_until_exit(rx: &mut mpsc::Receiver<Input>) -> Vec<Input> {
        let mut out = Vec::new();
        loop {
            match timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some(input)) => {
                    let done = matches!(input, Input::BackendExited { .. });
                    out.push(input);
                    if done {
                        return out;
                    }
                }
                Ok(None) | Err(_) => return out,
            }
        }
    }

    fn line(text: &str) -> Input {
        Input::BackendLine { backend: BackendKey::server("t"), generation: Gen(1), line: text.into() }
    }

    fn exited(code: Option<i32>, signal: Option<i32>) -> Input {
        Input::BackendExited {
            backend: BackendKey::server("t"),
            generation: Gen(1),
            status: ExitInfo { code, signal, reason: None },
        }
    }

    #[tokio::test]
    async fn lines_then_exit_with_exact_env_and_too_long_lines() {
        let (tx, mut rx) = mpsc::channel(4);
        let script =
            r#"echo "foo=$FOO home=${HOME:-unset}"; head -c 100 /dev/zero | tr '\0' x; echo; echo oops >&2; exit 3"#;
        let spec = sh(script, &[("FOO", "bar")]);
        let handle = spawn(&BackendKey::server("t"), Gen(1), &spec, LIMITS, tx);
        assert!(handle.as_ref().is_ok_and(|h| h.pid().is_some()));
        let events = events_until_exit(&mut rx).await;
        assert_eq!(
            events,
            vec![
                line("foo=bar home=unset"),
                Input::BackendLineTooLong { backend: BackendKey::server("t"), generation: Gen(1), len: 100 },
                exited(Some(3), None),
            ]
        );
    }

    #[tokio::test]
    async fn missing_command_names_it() {
        let (tx, _rx) = mpsc::channel(4);
        let spec = LaunchSpec { command: "/nonexistent/foo".into(), ..LaunchSpec::default() };
        let error = spawn(&BackendKey::server("t"), Gen(1), &spec, LIMITS, tx).err();
        assert_eq!(
            error.as_deref(),
            Some("failed to start `/nonexistent/foo`: No such file or directory (os error 2)")
        );
    }

    #[tokio::test]
    async fn stdin_lines_reach_the_backend_and_eof_stops_it() {
        let (tx, mut rx) = mpsc::channel(4);
        let spec = sh("while read -r l; do echo \"got $l\"; done", &[]);
        let Ok(mut handle) = spawn(&BackendKey::server("t"), Gen(1), &spec, LIMITS, tx) else { panic!("spawn failed") };
        assert_eq!(handle.write("one".into()), Ok(()));
        assert_eq!(timeout(Duration::from_secs(5), rx.recv()).await.ok().flatten(), Some(line("got one")));
        let started = tokio::time::Instant::now();
        handle.stop();
        assert_eq!(handle.write("late".into()), Err(WriteRefused::Closed));
        assert_eq!(events_until_exit(&mut rx).await, vec![exited(Some(0), None)]);
        // Closing stdin was enough: no signal ladder.
        assert!(started.elapsed() < GRACE_AFTER_STDIN_CLOSE);
    }

    #[tokio::test]
    async fn stop_escalates_to_sigkill_and_takes_the_whole_group() {
        let (tx, mut rx) = mpsc::channel(4);
        // Ignores stdin EOF and SIGTERM, and has a grandchild in its group.
        let spec = sh("trap '' TERM; sleep 300 & echo $!; while :; do sleep 1; done", &[]);
        let Ok(mut handle) = spawn(&BackendKey::server("t"), Gen(1), &spec, LIMITS, tx) else { panic!("spawn failed") };
        let grandchild = match timeout(Duration::from_secs(5), rx.recv()).await.ok().flatten() {
            Some(Input::BackendLine { line, .. }) => line.parse::<i32>().ok(),
            _ => None,
        };
        let grandchild = grandchild.and_then(Pid::from_raw);
        assert!(grandchild.is_some());
        let started = tokio::time::Instant::now();
        handle.stop();
        let events = events_until_exit(&mut rx).await;
        assert_eq!(events, vec![exited(None, Some(9))]);
        let took = started.elapsed();
        assert!(took >= GRACE_AFTER_STDIN_CLOSE + GRACE_AFTER_SIGTERM && took < Duration::from_secs(10), "{took:?}");
        // The grandchild went with the group (signal 0 probes existence).
        // The grandchild went with the group: gone, or a zombie waiting for init to reap it.
        if let Some(pid) = grandchild {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero())).unwrap_or_default();
            let state = stat.rsplit(") ").next().and_then(|rest| rest.chars().next());
            assert!(matches!(state, None | Some('Z') | Some('X')), "grandchild still alive: {stat}");
        }
    }
}
