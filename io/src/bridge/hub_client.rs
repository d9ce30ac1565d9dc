//! The in-process carrier: requests go to the hub task over the same channel the HTTP front end
//! uses, as the `HttpRequest` a local HTTP client would have produced, so the core cannot tell
//! a stdio client from any other.

use super::{BridgeRequest, EventStream, Reply, ReplyBody, Transport, TransportError, Verb};
use crate::exchange::{CloseGuard, FrontMsg, Head};
use onemcp_core::{ExchangeId, HttpMethod, HttpRequest};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

/// Sends bridge requests to the hub task.
#[derive(Clone, Debug)]
pub(crate) struct HubTransport {
    front: mpsc::UnboundedSender<FrontMsg>,
    next_exchange: Arc<AtomicU64>,
}

impl HubTransport {
    /// A carrier feeding `front`.
    pub(crate) fn new(front: mpsc::UnboundedSender<FrontMsg>) -> Self {
        HubTransport { front, next_exchange: Arc::new(AtomicU64::new(1)) }
    }
}

impl Transport for HubTransport {
    fn send(&self, request: BridgeRequest) -> impl Future<Output = Result<Reply, TransportError>> + Send + 'static {
        let exchange = ExchangeId(self.next_exchange.fetch_add(1, Ordering::Relaxed));
        let core = Box::new(to_core(request));
        let (reply, answer) = oneshot::channel();
        // Armed from here: an abandoned exchange (its task aborted) is reported to the hub.
        let mut guard = CloseGuard::new(exchange, self.front.clone());
        let sent = self.front.send(FrontMsg::Request { exchange, request: core, reply }).is_ok();
        if !sent {
            guard.disarm();
        }
        async move {
            if !sent {
                return Err(TransportError::Unreachable("the hub has stopped".into()));
            }
            match answer.await {
                Ok(Head::Response(response)) => {
                    guard.disarm();
                    let session_id = session_header(&response.headers);
                    Ok(Reply { status: response.status, session_id, body: ReplyBody::Complete(response.body.into()) })
                }
                Ok(Head::Stream { headers, events }) => {
                    let session_id = session_header(&headers);
                    Ok(Reply { status: 200, session_id, body: ReplyBody::Events(event_stream(events, guard)) })
                }
                Err(_) => {
                    guard.disarm();
                    Err(TransportError::Unreachable("1mcp is shutting down".into()))
                }
            }
        }
    }
}

/// The request a local HTTP client would send.
fn to_core(request: BridgeRequest) -> HttpRequest {
    let method = match request.verb {
        Verb::Post => HttpMethod::Post,
        Verb::Get => HttpMethod::Get,
        Verb::Delete => HttpMethod::Delete,
    };
    HttpRequest {
        method: Some(method),
        path: "/mcp".into(),
        accept: request.accept().map(str::to_owned),
        content_type: request.content_type().map(str::to_owned),
        query: request.query,
        host: Some("127.0.0.1".into()),
        origin: None,
        session_id: request.session_id,
        protocol_version: request.protocol_version,
        // In-process: this machine by construction.
        peer: Some("127.0.0.1".into()),
        credential: onemcp_core::auth::Credential::None,
        mcp_headers: onemcp_core::mcp_headers::McpHeaders::from_headers(request.mcp_headers),
        body: request.body,
    }
}

fn session_header(headers: &[(String, String)]) -> Option<String> {
    headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("mcp-session-id")).map(|(_, value)| value.clone())
}

/// Events until the hub closes the stream; dropping the stream early tells the hub.
fn event_stream(events: mpsc::Receiver<onemcp_core::SseEvent>, guard: CloseGuard) -> EventStream {
    Box::pin(futures_util::stream::unfold((events, guard), |(mut events, mut guard)| async move {
        match events.recv().await {
            Some(event) => Some((Ok(event), (events, guard))),
            None => {
                guard.disarm();
                None
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(verb: Verb) -> BridgeRequest {
        BridgeRequest {
            verb,
            query: "tag-filter=a%2Bb".into(),
            session_id: Some("s1".into()),
            protocol_version: Some("2025-06-18".into()),
            mcp_headers: vec![("Mcp-Method".into(), "tools/list".into())],
            body: b"{}".to_vec(),
        }
    }

    #[test]
    fn looks_like_a_local_http_client() {
        let post = to_core(request(Verb::Post));
        assert_eq!(
            (post.method, post.path.as_str(), post.query.as_str()),
            (Some(HttpMethod::Post), "/mcp", "tag-filter=a%2Bb")
        );
        assert_eq!(post.host.as_deref(), Some("127.0.0.1"));
        assert_eq!(post.accept.as_deref(), Some("application/json, text/event-stream"));
        assert_eq!(post.content_type.as_deref(), Some("application/json"));
        assert_eq!((post.session_id.as_deref(), post.protocol_version.as_deref()), (Some("s1"), Some("2025-06-18")));
        let get = to_core(request(Verb::Get));
        assert_eq!(
            (get.method, get.accept.as_deref(), get.content_type),
            (Some(HttpMethod::Get), Some("text/event-stream"), None)
        );
    }

    #[tokio::test]
    async fn a_stopped_hub_is_unreachable() {
        let (tx, rx) = mpsc::unbounded_channel();
        drop(rx);
        let result = HubTransport::new(tx).send(request(Verb::Post)).await;
        assert!(matches!(result, Err(TransportError::Unreachable(_))));
    }
}
