//! What travels between HTTP handlers and the hub task for one exchange.

use onemcp_core::{ExchangeId, HttpRequest, HttpResponse, SseEvent};
use tokio::sync::{mpsc, oneshot};

/// A message from the HTTP front end to the hub task.
#[derive(Debug)]
pub(crate) enum FrontMsg {
    /// A new request; the hub task keeps `reply` until the core answers.
    Request {
        /// Id assigned by the front end.
        exchange: ExchangeId,
        /// The request as the core sees it (boxed: it dwarfs the other variant).
        request: Box<HttpRequest>,
        /// Where the answer goes.
        reply: oneshot::Sender<Head>,
    },
    /// The client went away before the exchange was over.
    Closed(ExchangeId),
}

/// The core's answer to a request: a whole response, or the start of a stream.
#[derive(Debug)]
pub(crate) enum Head {
    /// A complete response.
    Response(HttpResponse),
    /// A `text/event-stream` response; events arrive until the sender is dropped.
    Stream {
        /// Extra response headers.
        headers: Vec<(String, String)>,
        /// Events to send.
        events: mpsc::Receiver<SseEvent>,
    },
}

/// Reports `Closed` when dropped while armed: the handler future or the stream body was
/// dropped before the exchange was over, i.e. the client went away.
#[derive(Debug)]
pub(crate) struct CloseGuard {
    exchange: ExchangeId,
    front: Option<mpsc::UnboundedSender<FrontMsg>>,
}

impl CloseGuard {
    /// An armed guard for `exchange`.
    pub(crate) fn new(exchange: ExchangeId, front: mpsc::UnboundedSender<FrontMsg>) -> Self {
        CloseGuard { exchange, front: Some(front) }
    }

    /// The exchange ended normally; report nothing.
    pub(crate) fn disarm(&mut self) {
        self.front = None;
    }
}

impl Drop for CloseGuard {
    fn drop(&mut self) {
        if let Some(front) = self.front.take() {
            // Unbounded so this never blocks in `drop`; one message per exchange at most.
            let _ = front.send(FrontMsg::Closed(self.exchange));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_when_dropped_armed_and_never_when_disarmed() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        drop(CloseGuard::new(ExchangeId(1), tx.clone()));
        let mut quiet = CloseGuard::new(ExchangeId(2), tx);
        quiet.disarm();
        drop(quiet);
        assert!(matches!(rx.try_recv(), Ok(FrontMsg::Closed(ExchangeId(1)))));
        assert!(rx.try_recv().is_err());
    }
}
