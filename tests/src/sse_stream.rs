//! Reading a long-lived `text/event-stream` response event by event.

use crate::error::HarnessError;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (`message` when absent).
    pub event: String,
    /// The `data:` lines, joined with newlines.
    pub data: String,
}

/// An open event stream from `GET path`.
#[derive(Debug)]
pub struct SseStream {
    socket: TcpStream,
    buffer: Vec<u8>,
}

impl SseStream {
    /// Opens `GET path` with `headers` and reads past the response head. HTTP/1.0 is used so the
    /// body arrives unchunked, as plain event text until the server closes it.
    pub async fn open(port: u16, path: &str, headers: &[(&str, &str)]) -> Result<(u16, SseStream), HarnessError> {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).await?;
        let mut head = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        socket.write_all(head.as_bytes()).await?;
        let mut stream = SseStream { socket, buffer: Vec::new() };
        let head_end = loop {
            if let Some(pos) = stream.buffer.windows(2).position(|w| w == b"\n\n") {
                break pos;
            }
            stream.fill(Duration::from_secs(10)).await?;
        };
        let head = String::from_utf8_lossy(&stream.buffer[..head_end]).into_owned();
        stream.buffer.drain(..head_end + 2);
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        Ok((status, stream))
    }

    async fn fill(&mut self, limit: Duration) -> Result<(), HarnessError> {
        let mut chunk = [0u8; 4096];
        let read = tokio::time::timeout(limit, self.socket.read(&mut chunk))
            .await
            .map_err(|_| HarnessError::Timeout { what: "an SSE event".into(), after: limit })??;
        if read == 0 {
            return Err(HarnessError::MalformedHttp("the event stream ended".into()));
        }
        // Line ends may be CRLF or LF; dropping CRs leaves one form to parse (JSON escapes its own).
        self.buffer.extend(chunk[..read].iter().filter(|b| **b != b'\r'));
        Ok(())
    }

    /// The next event (comments such as keep-alives are skipped), waiting at most `limit`.
    pub async fn next_event(&mut self, limit: Duration) -> Result<SseEvent, HarnessError> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
                self.buffer.drain(..end + 2);
                let mut event = SseEvent { event: "message".into(), data: String::new() };
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        event.event = value.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push(value.strip_prefix(' ').unwrap_or(value).to_owned());
                    }
                }
                if data.is_empty() && block.lines().all(|l| l.starts_with(':')) {
                    continue;
                }
                event.data = data.join("\n");
                return Ok(event);
            }
            self.fill(limit).await?;
        }
    }
}
