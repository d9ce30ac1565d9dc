//! Server-sent events: framing, and the body of an open stream with keep-alive comments.

use crate::exchange::CloseGuard;
use axum::body::{Body, Bytes};
use onemcp_core::SseEvent;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::mpsc;

/// Sent after this much silence so proxies and clients do not time the stream out.
pub(crate) const KEEP_ALIVE_FRAME: &[u8] = b": keep-alive\n\n";

/// One event as wire text: `event:` line, one `data:` line per line of data, blank line.
pub(crate) fn frame(event: &SseEvent) -> String {
    let mut out = String::with_capacity(event.data.len() + 32);
    out.push_str("event: ");
    // A line break in the name would end the field early and inject a field of its own.
    let name = event.event.as_deref().unwrap_or("message");
    out.extend(name.chars().filter(|c| *c != '\n' && *c != '\r'));
    out.push('\n');
    // The SSE grammar ends a line at CRLF, LF or CR; each piece needs its own `data:` prefix.
    for line in event.data.split("\r\n").flat_map(|l| l.split(['\n', '\r'])) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out
}

/// The body of an open stream: frames from `events` until the driver drops the sender, with a
/// keep-alive comment after every `keep_alive` of silence. Dropping the body (client gone)
/// fires `guard`; ending because the driver closed the stream disarms it.
pub(crate) fn body(events: mpsc::Receiver<SseEvent>, guard: CloseGuard, keep_alive: Duration) -> Body {
    let stream = futures_util::stream::unfold((events, guard), move |(mut events, mut guard)| async move {
        let chunk = match tokio::time::timeout(keep_alive, events.recv()).await {
            Ok(Some(event)) => Bytes::from(frame(&event)),
            Ok(None) => {
                guard.disarm();
                return None;
            }
            Err(_) => Bytes::from_static(KEEP_ALIVE_FRAME),
        };
        Some((Ok::<_, Infallible>(chunk), (events, guard)))
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: Option<&str>, data: &str) -> SseEvent {
        SseEvent { event: name.map(str::to_owned), data: data.to_owned() }
    }

    #[test]
    fn default_event_name_is_message() {
        assert_eq!(frame(&event(None, r#"{"jsonrpc":"2.0"}"#)), "event: message\ndata: {\"jsonrpc\":\"2.0\"}\n\n");
    }

    #[test]
    fn named_event() {
        assert_eq!(
            frame(&event(Some("endpoint"), "/messages?sessionId=1")),
            "event: endpoint\ndata: /messages?sessionId=1\n\n"
        );
    }

    #[test]
    fn multi_line_data_gets_one_data_field_per_line() {
        assert_eq!(frame(&event(None, "a\nb\r\nc\rd")), "event: message\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
        assert_eq!(frame(&event(None, "")), "event: message\ndata: \n\n");
    }

    #[test]
    fn line_breaks_in_event_name_cannot_inject_fields() {
        assert_eq!(frame(&event(Some("x\ndata: evil"), "d")), "event: xdata: evil\ndata: d\n\n");
    }
}
