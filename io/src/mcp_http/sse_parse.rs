//! Incremental parser for `text/event-stream` bodies, following the WHATWG "event stream
//! interpretation" rules: CRLF, LF or CR line ends (also split across chunks), `:` comments,
//! one optional space after the colon, multi-line `data`, named events, a leading BOM, and an
//! unterminated event at end of input discarded. An event larger than the limit is skipped
//! (reported once, with its size) and parsing goes on with the next one.

use onemcp_core::SseEvent;

/// The body broke the event-stream rules we enforce.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SseError {
    /// One event grew past `max` bytes; `len` bytes of it were discarded.
    #[error("event stream event of {len} bytes exceeds {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
        /// Bytes of the event (fields and line ends not counted) that were discarded.
        len: usize,
    },
}

/// One complete event and the stream's last event id at its dispatch. A block that sets `id`
/// or `retry` without data (a server's priming event, SEP-1699) comes as an event with empty
/// data, so a reader learns where to resume; it carries no message.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ParsedEvent {
    pub(crate) event: SseEvent,
    /// `id:` in force for this event (what a reconnect sends as `Last-Event-ID`).
    pub(crate) id: Option<String>,
    /// `retry:` in force (ms): how long the server asks a client to wait before reconnecting.
    pub(crate) retry: Option<u64>,
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
    last_event_id: Option<String>,
    retry: Option<u64>,
    /// The current block set `id` or `retry`.
    primed: bool,
    /// Skipping an over-large event: bytes seen so far, and whether the current line had any.
    skipping: Option<Skip>,
    max_event_bytes: usize,
}

#[derive(Clone, Copy, Debug)]
struct Skip {
    len: usize,
    line_has_bytes: bool,
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
            retry: None,
            primed: false,
            skipping: None,
            max_event_bytes,
        }
    }

    /// Consumes one chunk; returns the events it completed (and the ones it skipped), in order.
    pub(crate) fn push(&mut self, mut chunk: &[u8]) -> Vec<Result<ParsedEvent, SseError>> {
        let mut out = Vec::new();
        if chunk.is_empty() {
            return out;
        }
        if self.after_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.after_cr = false;
        while !chunk.is_empty() {
            match chunk.iter().position(|b| *b == b'\n' || *b == b'\r') {
                Some(end) => {
                    self.extend_line(&chunk[..end]);
                    let was_cr = chunk[end] == b'\r';
                    chunk = &chunk[end + 1..];
                    if was_cr {
                        if chunk.first() == Some(&b'\n') {
                            chunk = &chunk[1..];
                        } else if chunk.is_empty() {
                            self.after_cr = true;
                        }
                    }
                    if let Some(item) = self.end_line() {
                        out.push(item);
                    }
                }
                None => {
                    self.extend_line(chunk);
                    break;
                }
            }
        }
        out
    }

    fn extend_line(&mut self, bytes: &[u8]) {
        if let Some(skip) = &mut self.skipping {
            skip.len += bytes.len();
            skip.line_has_bytes |= !bytes.is_empty();
            return;
        }
        let len = self.line.len() + bytes.len() + self.data.len();
        if len > self.max_event_bytes {
            // Drop what is buffered; the rest of the event is only counted.
            self.skipping = Some(Skip { len, line_has_bytes: true });
            self.line = Vec::new();
            self.data = String::new();
            self.has_data = false;
            self.event = None;
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    fn end_line(&mut self) -> Option<Result<ParsedEvent, SseError>> {
        if let Some(skip) = &mut self.skipping {
            if std::mem::take(&mut skip.line_has_bytes) {
                return None;
            }
            // A blank line ends the skipped event.
            let len = skip.len;
            self.skipping = None;
            return Some(Err(SseError::TooLarge { max: self.max_event_bytes, len }));
        }
        let line = std::mem::take(&mut self.line);
        self.take_line(&line).map(Ok)
    }

    /// Interprets one complete line; a blank line dispatches the pending event.
    fn take_line(&mut self, line: &[u8]) -> Option<ParsedEvent> {
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
            "id" if !value.contains('\0') => {
                self.last_event_id = Some(value.to_owned());
                self.primed = true;
            }
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok();
                self.primed = true;
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<ParsedEvent> {
        let event = self.event.take();
        let primed = std::mem::take(&mut self.primed);
        if !std::mem::take(&mut self.has_data) {
            // Not an event; but where to resume, and when, is news.
            let priming = SseEvent { event: None, data: String::new() };
            return primed.then(|| ParsedEvent { event: priming, id: self.last_event_id.clone(), retry: self.retry });
        }
        let event = SseEvent { event, data: std::mem::take(&mut self.data) };
        Some(ParsedEvent { event, id: self.last_event_id.clone(), retry: self.retry })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: Option<&str>, data: &str) -> SseEvent {
        SseEvent { event: name.map(str::to_owned), data: data.to_owned() }
    }

    fn events(items: Vec<Result<ParsedEvent, SseError>>) -> Vec<SseEvent> {
        items.into_iter().filter_map(|item| item.ok().map(|p| p.event)).collect()
    }

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::new(1024);
        chunks.iter().flat_map(|c| events(parser.push(c))).collect()
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
        let got = parser.push(b": keep-alive\n\nid: 7\nretry: 10\nfoo: bar\n\n: c\ndata: d\n\nid: 8\ndata: e\n\n");
        let want = [
            ParsedEvent { event: ev(None, ""), id: Some("7".into()), retry: Some(10) },
            ParsedEvent { event: ev(None, "d"), id: Some("7".into()), retry: Some(10) },
            ParsedEvent { event: ev(None, "e"), id: Some("8".into()), retry: Some(10) },
        ];
        assert_eq!(got, want.map(Ok));
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
    fn an_oversized_event_is_skipped_and_the_next_one_still_arrives() {
        let input = b"data: 0123456789\ndata: more\n\ndata: ok\n\n";
        for cut in 0..=input.len() {
            let mut parser = SseParser::new(8);
            let mut got = parser.push(&input[..cut]);
            got.extend(parser.push(&input[cut..]));
            let got: Vec<_> = got.into_iter().map(|r| r.map(|p| p.event)).collect();
            assert_eq!(got, [Err(SseError::TooLarge { max: 8, len: 26 }), Ok(ev(None, "ok"))], "split at {cut}");
        }
    }
}
