//! The session's GET stream (streamable HTTP): opened once the session is initialized, reopened
//! with bounded backoff when it ends or cannot be opened, resumed with `Last-Event-ID` when the
//! server numbers its events. Connects that keep failing mean the server is gone.
//!
//! The session's requests wait (bounded) for the stream's first GET to be answered: a server
//! may send a request that relates to none of ours (an elicitation during a call, from an SDK
//! that does not tie it to the call) on that stream only, and drop it if nobody listens yet.

use super::{Era, HttpLink, LinkEnd, MessageKind, SessionHeaders, is_success};
use crate::time::Instant;
use std::time::Duration;

/// Failed connects in a row to (re)open the server stream before the server counts as gone.
pub const STREAM_RETRIES: u32 = 6;
/// First pause before reopening the server stream; doubles per failed connect in a row up to
/// [`STREAM_BACKOFF_MAX`].
pub const STREAM_BACKOFF: Duration = Duration::from_millis(100);
/// Longest pause before reopening the server stream.
pub const STREAM_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Longest wait of a session's requests for its stream's first GET to be answered (streams
/// answer at once; a server that does not lets them go after this).
pub const STREAM_WAIT: Duration = Duration::from_secs(3);

/// Pause before reopening the server stream after `failures` failed connects in a row (none
/// after a stream that was open and ended).
fn stream_backoff(failures: u32) -> Duration {
    STREAM_BACKOFF.saturating_mul(1 << failures.min(6)).min(STREAM_BACKOFF_MAX)
}

/// The reconnect state of the server stream.
#[derive(Clone, Debug, Default)]
pub(super) struct ServerStream {
    /// It was asked for (it is opened once per link).
    started: bool,
    /// Failed connects in a row.
    failures: u32,
    /// The id of the last event that had one.
    last_event_id: Option<String>,
    /// Whether the session's requests wait for the stream.
    wait: Wait,
}

/// Whether the session's requests wait for its stream to open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Wait {
    /// `notifications/initialized` has not gone yet.
    #[default]
    NotYet,
    /// They wait until the stream's first GET is answered, or this instant.
    Until(Instant),
    /// The wait is over.
    Over,
}

impl ServerStream {
    /// True the first time: the stream is to be opened now.
    pub(super) fn start(&mut self) -> bool {
        !std::mem::replace(&mut self.started, true)
    }

    /// The stream is open, or will not be: requests stop waiting for it.
    pub(super) fn settle(&mut self) {
        if matches!(self.wait, Wait::Until(_)) {
            self.wait = Wait::Over;
        }
    }
}

/// What a GET of the server stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamRequest<'a> {
    /// The session's headers.
    pub session: &'a SessionHeaders,
    /// `Last-Event-ID`: resume after the last event the server numbered.
    pub last_event_id: Option<&'a str>,
}

/// What the answer to a GET of the server stream means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamOpen {
    /// It is the stream: deliver its events (and report each event id).
    Listen,
    /// The link is over (404 to our session: the server forgot it).
    Ended(LinkEnd),
    /// 405: the server offers no stream of its own. Stop listening.
    NotOffered,
    /// Another status or content type: not what the spec allows, but not fatal either (requests
    /// and their answers still work). Stop listening.
    Refused,
}

/// What to do after the server stream ended or could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamStep {
    /// Open it again at this instant.
    RetryAt(Instant),
    /// The link is over now (the server is unreachable): end the connection.
    Ended(LinkEnd),
    /// Stop listening: the link had already ended.
    Stop,
}

impl HttpLink {
    /// A POST of `kind` is handed to the transport at `now`. `notifications/initialized` makes
    /// the session's further POSTs wait for its stream ([`HttpLink::posts_held_until`]).
    pub fn handle_posting(&mut self, kind: MessageKind, now: Instant) {
        if kind == MessageKind::Initialized && self.era == Era::Streamable && self.stream.wait == Wait::NotYet {
            self.stream.wait = Wait::Until(now.after(STREAM_WAIT));
        }
    }

    /// Until when the session's further POSTs wait, at `now`: from `notifications/initialized`
    /// until the stream's first GET is answered or fails, the `notifications/initialized` is
    /// refused, the link ends, or [`STREAM_WAIT`] has passed. `None`: they go now.
    pub fn posts_held_until(&self, now: Instant) -> Option<Instant> {
        match self.stream.wait {
            Wait::Until(at) if now < at && self.end.is_none() => Some(at),
            _ => None,
        }
    }

    /// What the next GET of the server stream carries; `None` once the link is over.
    pub fn stream_request(&self) -> Option<StreamRequest<'_>> {
        if self.end.is_some() {
            return None;
        }
        Some(StreamRequest { session: &self.session, last_event_id: self.stream.last_event_id.as_deref() })
    }

    /// The GET of the server stream was answered with `status`, an event stream or not.
    pub fn handle_stream_answer(&mut self, status: u16, event_stream: bool) -> StreamOpen {
        self.stream.settle();
        if status == 404 && self.session.id.is_some() {
            return StreamOpen::Ended(self.finish(LinkEnd::SessionLost));
        }
        if status == 405 {
            return StreamOpen::NotOffered;
        }
        if !is_success(status) || !event_stream {
            return StreamOpen::Refused;
        }
        self.stream.failures = 0;
        StreamOpen::Listen
    }

    /// An event of the server stream carried `id`: a reopened stream resumes after it.
    pub fn handle_stream_event_id(&mut self, id: &str) {
        match &mut self.stream.last_event_id {
            // Reuses the allocation: most events of a numbering server carry an id.
            Some(last) => id.clone_into(last),
            None => self.stream.last_event_id = Some(id.to_owned()),
        }
    }

    /// The server stream, once open, ended (or broke off) at `now`.
    pub fn handle_stream_ended(&mut self, now: Instant) -> StreamStep {
        if self.end.is_some() {
            return StreamStep::Stop;
        }
        StreamStep::RetryAt(now.after(stream_backoff(self.stream.failures)))
    }

    /// The GET of the server stream failed at `now` for `why` (no connection, no answer in
    /// time): retry after a pause that doubles per failure, until [`STREAM_RETRIES`] failures
    /// in a row make the server unreachable.
    pub fn handle_stream_failed(&mut self, now: Instant, why: &str) -> StreamStep {
        self.stream.settle();
        if self.end.is_some() {
            return StreamStep::Stop;
        }
        self.stream.failures = self.stream.failures.saturating_add(1);
        if self.stream.failures >= STREAM_RETRIES {
            return StreamStep::Ended(self.finish(LinkEnd::Unreachable(why.to_owned())));
        }
        StreamStep::RetryAt(now.after(stream_backoff(self.stream.failures)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_minimum_to_the_cap() {
        let got: Vec<u128> = (0..9).map(|n| stream_backoff(n).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert_eq!(stream_backoff(u32::MAX), STREAM_BACKOFF_MAX, "no overflow far past the cap");
        for n in 0..100 {
            let pause = stream_backoff(n);
            assert!((STREAM_BACKOFF..=STREAM_BACKOFF_MAX).contains(&pause), "{n}: {pause:?}");
            assert!(stream_backoff(n + 1) >= pause, "never shorter than the one before");
        }
    }
}
