//! `serve --record FILE`: every call the hub task makes into the hub, at its instant, with
//! every output the hub gave back, as JSON lines, so `onemcp-sim replay` can make the same
//! calls on a fresh core and check it answers byte for byte the same.
//!
//! Line 1 is `{"header": {"hub_config": …, "seed": [32 bytes], "at_ns": …, "exact": true}}`
//! (what `Hub::new` was given; `exact`: every call below is recorded, with its outputs). Then
//! one line per call, `at_ns` in nanoseconds since the driver's epoch:
//!
//! * `{"at_ns": …, "start": true, "outputs": […]}`: what `Hub::new` asked for (once, first);
//! * `{"at_ns": …, "input": <Input>, "outputs": […]}`: `Hub::handle(at, input)`;
//! * `{"at_ns": …, "timeout": true, "outputs": […]}`: `Hub::handle_timeout(at)`, fired when
//!   the driver woke for a deadline (late by the scheduler's slack, which is why the instant is
//!   recorded rather than derived from the hub's deadlines).
//!
//! `outputs` are the [`Output`]s as serde serializes them, in order. They are written in full,
//! not as digests: they are mostly what the inputs already carry (requests forwarded, answers
//! relayed), so they at most double the file, and a replay that diverges can then show both
//! sides. Recordings written before `exact` (inputs only) still replay, on invariants alone.
//!
//! The file holds everything clients and servers said and every server's environment, so it
//! is created with mode 0600. Lines are serialized on the hub task and written by a thread of
//! their own, so a slow disk never stalls routing; the writer flushes whenever it has caught
//! up, and once more when the recorder is finished at shutdown.

use onemcp_core::{HubConfig, Input, Instant, Output};
use serde_json::json;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Buffer of the writer thread; one `write(2)` per this many bytes while inputs pour in.
const BUFFER: usize = 64 * 1024;

/// Appends calls to a recording; dropping it (or [`Recorder::finish`]) flushes the file.
#[derive(Debug)]
pub(crate) struct Recorder {
    lines: Option<mpsc::Sender<String>>,
    writer: Option<JoinHandle<()>>,
    /// The instant the hub was created at.
    start: Instant,
}

/// A `handle` call's line up to its outputs: the input, serialized before the hub took it.
#[derive(Debug)]
pub(crate) struct Recorded(String);

impl Recorder {
    /// Create (or truncate) `path` with mode 0600 and write the header: the hub's starting
    /// configuration, its RNG seed and the instant it was created at.
    pub(crate) fn create(path: &Path, hub_config: &HubConfig, seed: [u8; 32], at: Instant) -> io::Result<Recorder> {
        let file = open_private(path)?;
        let mut out = BufWriter::with_capacity(BUFFER, file);
        let header = json!({"header": {"hub_config": hub_config, "seed": seed, "at_ns": at.0, "exact": true}});
        writeln!(out, "{header}")?;
        // The header is on disk even if the daemon dies before recording anything else.
        out.flush()?;
        let (tx, rx) = mpsc::channel::<String>();
        let shown = path.display().to_string();
        let writer = std::thread::Builder::new().name("1mcp-record".into()).spawn(move || {
            if let Err(error) = write_lines(&mut out, &rx) {
                tracing::error!(path = %shown, %error, "recording stopped: cannot write the file");
            }
        })?;
        Ok(Recorder { lines: Some(tx), writer: Some(writer), start: at })
    }

    /// What `Hub::new` asked for, before any call.
    pub(crate) fn record_start(&mut self, outputs: &[Output]) {
        let line = format!("{{\"at_ns\":{},\"start\":true", self.start.0);
        self.send(line, outputs);
    }

    /// The first half of a `handle` call's line; [`Recorder::record`] completes it.
    pub(crate) fn input(&self, at: Instant, input: &Input) -> Recorded {
        let input =
            serde_json::to_string(input).unwrap_or_else(|e| json!({"unserializable": e.to_string()}).to_string());
        Recorded(format!("{{\"at_ns\":{},\"input\":{input}", at.0))
    }

    /// A `handle` call and the outputs it produced.
    pub(crate) fn record(&mut self, call: Recorded, outputs: &[Output]) {
        self.send(call.0, outputs);
    }

    /// A `handle_timeout(at)` call and the outputs it produced (none for a spurious wake-up).
    pub(crate) fn record_timeout(&mut self, at: Instant, outputs: &[Output]) {
        let line = format!("{{\"at_ns\":{},\"timeout\":true", at.0);
        self.send(line, outputs);
    }

    /// Close the line begun in `line` with `"outputs": [...]` and queue it for the writer.
    fn send(&mut self, mut line: String, outputs: &[Output]) {
        let Some(lines) = &self.lines else { return };
        line.push_str(",\"outputs\":[");
        for (i, output) in outputs.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            match serde_json::to_string(output) {
                Ok(text) => line.push_str(&text),
                Err(e) => line.push_str(&json!({"unserializable": e.to_string()}).to_string()),
            }
        }
        line.push_str("]}");
        if lines.send(line).is_err() {
            // The writer gave up (and said why); stop serializing for nothing.
            self.lines = None;
        }
    }

    /// Flush everything recorded and close the file (waits for the writer thread).
    pub(crate) fn finish(&mut self) {
        self.lines = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Write lines as they come; flush whenever the queue is empty, and at the end.
fn write_lines(out: &mut BufWriter<File>, lines: &mpsc::Receiver<String>) -> io::Result<()> {
    loop {
        let line = match lines.try_recv() {
            Ok(line) => line,
            Err(mpsc::TryRecvError::Empty) => {
                out.flush()?;
                match lines.recv() {
                    Ok(line) => line,
                    Err(mpsc::RecvError) => break,
                }
            }
            Err(mpsc::TryRecvError::Disconnected) => break,
        };
        writeln!(out, "{line}")?;
    }
    out.flush()
}

/// Open for writing, readable by the owner only, also when the file already existed.
fn open_private(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use onemcp_core::ExchangeId;
    use serde_json::Value;

    #[test]
    fn writes_a_private_file_with_a_header_and_one_line_per_call_with_its_outputs() {
        let dir = std::env::temp_dir().join(format!("onemcp-record-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("trace.jsonl");
        std::fs::write(&path, "old contents that must go\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut recorder = Recorder::create(&path, &HubConfig::default(), [7; 32], Instant(5)).unwrap();
        let spawn =
            Output::StopBackend { backend: onemcp_core::BackendKey::server("a"), generation: onemcp_core::Gen(1) };
        recorder.record_start(std::slice::from_ref(&spawn));
        let closed = recorder.input(Instant(10), &Input::ExchangeClosed { exchange: ExchangeId(3) });
        recorder.record(closed, &[]);
        recorder.record_timeout(Instant(15), &[spawn.clone(), spawn]);
        let shutdown = recorder.input(Instant(20), &Input::Shutdown);
        recorder.record(shutdown, &[]);
        recorder.finish();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert_eq!(lines[0]["header"]["seed"], json!(vec![7; 32]));
        assert_eq!(lines[0]["header"]["at_ns"], 5);
        assert_eq!(lines[0]["header"]["exact"], true);
        assert!(lines[0]["header"]["hub_config"]["mcp"].is_object());
        let stop = json!({"type": "stop_backend", "backend": "a", "generation": 1});
        assert_eq!(lines[1], json!({"at_ns": 5, "start": true, "outputs": [stop]}));
        assert_eq!(lines[2], json!({"at_ns": 10, "input": {"type": "exchange_closed", "exchange": 3}, "outputs": []}));
        assert_eq!(lines[3], json!({"at_ns": 15, "timeout": true, "outputs": [stop, stop]}));
        assert_eq!(lines[4], json!({"at_ns": 20, "input": {"type": "shutdown"}, "outputs": []}));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
