//! Incremental parser for `text/event-stream` bodies, following the WHATWG "event stream
//! interpretation" rules: CRLF, LF or CR line ends (also split across chunks), `:` comments,
//! one optional space after the colon, multi-line `data`, named events, a leading BOM, and an
//! unterminated event at end of input discarded.

use onemcp_core::SseEvent;

/// The body broke the event-stream rules we enforce.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SseError {
    /// One event (or one line) grew past the limit.
    #[error("event stream event exceeds {0} bytes")]
    TooLarge(usize),
}

/// Feeds on body chunks, yields complete events.
#[derive(Debug)]
pub(crate) struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended in CR: a LF at the start of the next one belongs to it.
    after_cr: bool,
    /// Still at the very start of the stream (a BOM may follow).
    at_start: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    /// Last `id:` seen (kept for completeness; MCP resumption is not used by the bridge).
    last_event_id: Option<String>,
    max_event_bytes: usize,
}

impl SseParser {
    /// A parser that refuses events (or lines) larger than `max_event_bytes`.
    pub(crate) fn new(max_event_bytes: usize) -> Self {
        SseParser {
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            event: None,
            data: String::new(),
            has_data: false,
            last_event_id: None,
            max_event_bytes,
        }
    }

    /// The last event id the server sent, if any.
    #[cfg(test)]
    pub(crate) fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// Consumes one chunk; returns the events it completed, in order.
    pub(crate) fn push(&mut self, mut chunk: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut out = Vec::new();
        if chunk.is_empty() {
            return Ok(out);
        }
        if self.after_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.after_cr = false;
        while !chunk.is_empty() {
            match chunk.iter().position(|b| *b == b'\n' || *b == b'\r') {
                Some(end) => {
                    self.extend_line(&chunk[..end])?;
                    let was_cr = chunk[end] == b'\r';
                    chunk = &chunk[end + 1..];
                    if was_cr {
                        if chunk.first() == Some(&b'\n') {
                            chunk = &chunk[1..];
                        } else if chunk.is_empty() {
                            self.after_cr = true;
                        }
                    }
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.take_line(&line) {
                        out.push(event);
                    }
                }
                None => {
                    self.extend_line(chunk)?;
                    break;
                }
            }
        }
        Ok(out)
    }

    fn extend_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() + self.data.len() > self.max_event_bytes {
            return Err(SseError::TooLarge(self.max_event_bytes));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// Interprets one complete line; a blank line dispatches the pending event.
    fn take_line(&mut self, line: &[u8]) -> Option<SseEvent> {
        let mut line = String::from_utf8_lossy(line).into_owned();
        if std::mem::take(&mut self.at_start) && line.starts_with('\u{feff}') {
            line.remove(0);
        }
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.last_event_id = Some(value.to_owned()),
            // `retry` only matters to a client that reconnects by itself with Last-Event-ID.
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        if !std::mem::take(&mut self.has_data) {
            return None;
        }
        Some(SseEvent { event, data: std::mem::take(&mut self.data) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: Option<&str>, data: &str) -> SseEvent {
        SseEvent { event: name.map(str::to_owned), data: data.to_owned() }
    }

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::new(1024);
        chunks.iter().flat_map(|c| parser.push(c).unwrap_or_default()).collect()
    }

    /// Every way of cutting `input` in two gives the same events as the whole.
    fn parse_every_split(input: &[u8]) -> Vec<SseEvent> {
        let whole = parse_chunks(&[input]);
        for cut in 0..=input.len() {
            assert_eq!(parse_chunks(&[&input[..cut], &input[cut..]]), whole, "split at {cut}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(parse_chunks(&bytes), whole, "byte by byte");
        whole
    }

    #[test]
    fn what_the_daemon_writes() {
        let input = b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";
        assert_eq!(parse_every_split(input), [ev(Some("message"), r#"{"jsonrpc":"2.0","id":1,"result":{}}"#)]);
    }

    #[test]
    fn multi_line_data_joins_with_newlines() {
        assert_eq!(parse_every_split(b"data: a\ndata:b\ndata:  c\n\n"), [ev(None, "a\nb\n c")]);
        assert_eq!(parse_every_split(b"data\ndata\n\n"), [ev(None, "\n")]);
    }

    #[test]
    fn crlf_cr_and_lf_all_end_lines() {
        let want = [ev(Some("message"), "x"), ev(None, "y"), ev(None, "z")];
        assert_eq!(parse_every_split(b"event: message\r\ndata: x\r\n\r\ndata: y\r\rdata: z\n\n"), want);
    }

    #[test]
    fn comments_ids_retry_and_unknown_fields_are_not_events() {
        let mut parser = SseParser::new(1024);
        let got = parser.push(b": keep-alive\n\nid: 7\nretry: 10\nfoo: bar\n\n: c\ndata: d\n\n").unwrap_or_default();
        assert_eq!(got, [ev(None, "d")]);
        assert_eq!(parser.last_event_id(), Some("7"));
    }

    #[test]
    fn event_name_without_data_is_reset_at_the_blank_line() {
        assert_eq!(parse_every_split(b"event: ping\n\ndata: 1\n\n"), [ev(None, "1")]);
    }

    #[test]
    fn leading_bom_is_skipped_and_unterminated_event_is_dropped() {
        assert_eq!(parse_every_split("\u{feff}data: 1\n\ndata: 2\n".as_bytes()), [ev(None, "1")]);
    }

    #[test]
    fn utf8_split_across_chunks_survives() {
        assert_eq!(parse_every_split("data: héllo ✓\n\n".as_bytes()), [ev(None, "héllo ✓")]);
    }

    #[test]
    fn oversized_event_is_an_error() {
        let mut parser = SseParser::new(8);
        assert_eq!(parser.push(b"data: 0123456789\n\n"), Err(SseError::TooLarge(8)));
        let mut parser = SseParser::new(16);
        assert!(parser.push(b"data: 0123\n").is_ok());
        assert_eq!(parser.push(b"data: 0123456789\n"), Err(SseError::TooLarge(16)));
    }
}
