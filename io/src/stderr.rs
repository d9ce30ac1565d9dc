//! Backend stderr: always drained (a full pipe would block the backend), re-logged at INFO
//! under the server's name, and rate-limited so a chatty backend cannot flood our log.
//!
//! stderr is a server's own log channel: start-up banners, its INFO lines, progress bars. Most
//! of it is not a problem, and 1mcp cannot tell which line is, so it is logged at INFO, where
//! a default run shows it, and WARN and above stay for what 1mcp itself finds wrong.

use crate::lines::{LineReader, LineStatus};
use onemcp_core::Gen;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, BufReader};

/// Lines logged per window before suppression starts.
const LINES_PER_WINDOW: u32 = 20;
/// Length of a rate-limit window.
const WINDOW: Duration = Duration::from_secs(10);

/// What to do with one stderr line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Log this line.
    pub(crate) log: bool,
    /// Lines suppressed in the window that just ended, to report before this one.
    pub(crate) suppressed_before: Option<u64>,
    /// This is the first line suppressed in its window: say so now, not only when it ends.
    pub(crate) suppression_started: bool,
}

/// Fixed-window limiter: `max` lines per `window`, then a count of what was dropped.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    max: u32,
    window: Duration,
    window_start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl RateLimiter {
    /// A limiter admitting `max` lines per `window`.
    pub(crate) fn new(max: u32, window: Duration) -> Self {
        RateLimiter { max, window, window_start: None, logged: 0, suppressed: 0 }
    }

    /// Decides about a line that arrived at `now`.
    pub(crate) fn admit(&mut self, now: Instant) -> Verdict {
        let mut suppressed_before = None;
        let in_window = self.window_start.is_some_and(|start| now.saturating_duration_since(start) < self.window);
        if !in_window {
            suppressed_before = self.take_suppressed();
            self.window_start = Some(now);
            self.logged = 0;
        }
        let log = self.logged < self.max;
        let suppression_started = !log && self.suppressed == 0;
        if log {
            self.logged += 1;
        } else {
            self.suppressed += 1;
        }
        Verdict { log, suppressed_before, suppression_started }
    }

    /// Lines suppressed and not yet reported (call at end of input).
    pub(crate) fn take_suppressed(&mut self) -> Option<u64> {
        let n = std::mem::take(&mut self.suppressed);
        (n > 0).then_some(n)
    }
}

/// Reads `stderr` to its end, logging each line (capped at `max_line` bytes) with `server=`.
pub(crate) async fn drain<R: AsyncRead + Unpin>(server: String, generation: Gen, stderr: R, max_line: usize) {
    let mut reader = LineReader::new(BufReader::new(stderr), max_line);
    let mut limiter = RateLimiter::new(LINES_PER_WINDOW, WINDOW);
    let mut buf = Vec::new();
    while let Some(status) = next_line(&mut reader, &mut buf, &server, generation).await {
        let verdict = limiter.admit(Instant::now());
        log_suppression(&server, generation, &verdict);
        if verdict.log {
            log_line(&server, generation, &buf, status);
        }
    }
    if let Some(n) = limiter.take_suppressed() {
        tracing::info!(server = %server, %generation, "{n} stderr lines suppressed");
    }
}

/// The next line into `buf`; `None` at the end of the stream or once it cannot be read.
async fn next_line<R: AsyncRead + Unpin>(
    reader: &mut LineReader<BufReader<R>>,
    buf: &mut Vec<u8>,
    server: &str,
    generation: Gen,
) -> Option<LineStatus> {
    reader.next_line(buf).await.unwrap_or_else(|error| {
        tracing::debug!(server = %server, %generation, %error, "stderr read failed");
        None
    })
}

/// Reports what the rate limiter decided beyond the line itself: the count a window dropped,
/// and the start of suppression.
fn log_suppression(server: &str, generation: Gen, verdict: &Verdict) {
    if let Some(n) = verdict.suppressed_before {
        tracing::info!(server = %server, %generation, "{n} stderr lines suppressed");
    }
    if verdict.suppression_started {
        tracing::warn!(
            server = %server,
            %generation,
            "stderr rate limit reached ({LINES_PER_WINDOW} lines per {} s): counting further lines instead of logging them",
            WINDOW.as_secs()
        );
    }
}

/// Logs one stderr line, saying so if it was cut.
fn log_line(server: &str, generation: Gen, line: &[u8], status: LineStatus) {
    let text = String::from_utf8_lossy(line);
    match status {
        LineStatus::Complete => tracing::info!(server = %server, %generation, "stderr: {text}"),
        LineStatus::Truncated { len } => {
            tracing::info!(server = %server, %generation, "stderr: {text}... (truncated, {len} bytes)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_max_per_window_then_reports_the_rest() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(3, Duration::from_secs(10));
        let verdicts: Vec<(bool, bool)> = (0..5)
            .map(|i| limiter.admit(t0 + Duration::from_millis(i)))
            .map(|v| (v.log, v.suppression_started))
            .collect();
        // The first suppressed line announces the suppression; later ones are only counted.
        assert_eq!(verdicts, [(true, false), (true, false), (true, false), (false, true), (false, false)]);

        // The first line of the next window carries the count of the previous one.
        let next = limiter.admit(t0 + Duration::from_secs(10));
        assert_eq!(next, Verdict { log: true, suppressed_before: Some(2), suppression_started: false });
        assert_eq!(limiter.take_suppressed(), None);
    }

    #[test]
    fn end_of_input_reports_pending_suppressions() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(1, Duration::from_secs(10));
        assert!(limiter.admit(t0).log);
        assert!(!limiter.admit(t0).log);
        assert_eq!(limiter.take_suppressed(), Some(1));
        assert_eq!(limiter.take_suppressed(), None);
    }

    #[test]
    fn quiet_windows_report_nothing() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(1, Duration::from_secs(1));
        for i in 0..5 {
            let v = limiter.admit(t0 + Duration::from_secs(i * 2));
            assert_eq!(v, Verdict { log: true, suppressed_before: None, suppression_started: false });
        }
    }
}
