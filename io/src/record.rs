//! `serve --record FILE`: every input the hub is fed, as JSON lines, so `onemcp-sim replay`
//! can run the same session through a fresh core and check its invariants.
//!
//! Line 1 is `{"header": {"hub_config": …, "seed": [32 bytes], "at_ns": …}}` (what `Hub::new`
//! was given); every other line is `{"at_ns": <ns since the driver's epoch>, "input": <Input>}`.
//! Timer firings are not recorded: a replay derives them from the hub's own deadlines.
//!
//! The file holds everything clients and servers said and every server's environment, so it
//! is created with mode 0600. Lines are serialized on the hub task and written by a thread of
//! their own, so a slow disk never stalls routing; the writer flushes whenever it has caught
//! up, and once more when the recorder is finished at shutdown.

use onemcp_core::{HubConfig, Input, Instant};
use serde_json::json;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Buffer of the writer thread; one `write(2)` per this many bytes while inputs pour in.
const BUFFER: usize = 64 * 1024;

/// Appends inputs to a recording; dropping it (or [`Recorder::finish`]) flushes the file.
#[derive(Debug)]
pub(crate) struct Recorder {
    lines: Option<mpsc::Sender<String>>,
    writer: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Create (or truncate) `path` with mode 0600 and write the header: the hub's starting
    /// configuration, its RNG seed and the instant it was created at.
    pub(crate) fn create(path: &Path, hub_config: &HubConfig, seed: [u8; 32], at: Instant) -> io::Result<Recorder> {
        let file = open_private(path)?;
        let mut out = BufWriter::with_capacity(BUFFER, file);
        let header = json!({"header": {"hub_config": hub_config, "seed": seed, "at_ns": at.0}});
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
        Ok(Recorder { lines: Some(tx), writer: Some(writer) })
    }

    /// Record that `input` is fed to the hub at `at`.
    pub(crate) fn record(&mut self, at: Instant, input: &Input) {
        let Some(lines) = &self.lines else { return };
        let line = json!({"at_ns": at.0, "input": input}).to_string();
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
    fn writes_a_private_file_with_a_header_and_one_line_per_input() {
        let dir = std::env::temp_dir().join(format!("onemcp-record-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("trace.jsonl");
        std::fs::write(&path, "old contents that must go\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut recorder = Recorder::create(&path, &HubConfig::default(), [7; 32], Instant(5)).unwrap();
        recorder.record(Instant(10), &Input::ExchangeClosed { exchange: ExchangeId(3) });
        recorder.record(Instant(20), &Input::Shutdown);
        recorder.finish();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0]["header"]["seed"], json!(vec![7; 32]));
        assert_eq!(lines[0]["header"]["at_ns"], 5);
        assert!(lines[0]["header"]["hub_config"]["mcp"].is_object());
        assert_eq!(lines[1], json!({"at_ns": 10, "input": {"type": "exchange_closed", "exchange": 3}}));
        assert_eq!(lines[2], json!({"at_ns": 20, "input": {"type": "shutdown"}}));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
