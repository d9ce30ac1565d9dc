//! A backend's in-flight table: every request 1mcp sent it and still awaits, by the id 1mcp
//! gave it. Ids are allocated here and never reused within a backend's life, so a late answer
//! can only ever match the request it was meant for, or nothing.

use super::ListKind;
use crate::ids::{ExchangeId, ProxyId};
use crate::jsonrpc::RequestId;
use crate::time::Instant;
use crate::timer::TimerKey;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A request the proxy sent to a backend and is waiting on.
#[derive(Debug)]
pub(crate) enum Pending {
    /// The handshake: `initialize`, or a stateless backend's `server/discover`.
    Initialize,
    /// `server/discover` sent to learn the era (`protocol: "auto"`), with its deadline.
    Probe {
        /// Its deadline: no answer by then means a session.
        timer: TimerKey,
    },
    /// One page of a list; `items` holds the pages fetched so far.
    List(ListFetch),
    /// A client's request, forwarded.
    Client(ClientCall),
    /// A liveness ping: a backend that lets it time out is hung, and is restarted.
    Ping {
        /// Its deadline.
        timer: TimerKey,
    },
    /// A request the proxy makes on its own behalf (`logging/setLevel`, a last unsubscribe);
    /// its answer only matters for the log.
    Internal {
        /// The method, for the log.
        method: String,
        /// Its deadline.
        timer: TimerKey,
    },
    /// The `subscriptions/listen` a stateless backend's list changes arrive on: answered only
    /// when the backend ends it, so it has no deadline.
    Listen {
        /// When it was opened.
        since: crate::time::Instant,
        /// The resource it follows (`resourceSubscriptions`); `None` for list changes.
        uri: Option<String>,
    },
}

impl Pending {
    /// The deadline attached to this request, if it has its own.
    pub(crate) fn timer(&self) -> Option<TimerKey> {
        match self {
            Pending::Initialize | Pending::Listen { .. } => None,
            Pending::List(fetch) => Some(fetch.timer),
            Pending::Client(call) => Some(call.timer),
            Pending::Ping { timer } | Pending::Internal { timer, .. } | Pending::Probe { timer } => Some(*timer),
        }
    }
}

/// A list being fetched page by page.
#[derive(Debug)]
pub(crate) struct ListFetch {
    /// Which list.
    pub(crate) kind: ListKind,
    /// Items gathered from earlier pages.
    pub(crate) items: Vec<Map<String, Value>>,
    /// Pages fetched so far (bounded against a backend that never stops paging).
    pub(crate) pages: u32,
    /// Deadline for the page in flight, so a silent backend cannot hold the fetch forever.
    pub(crate) timer: TimerKey,
}

/// A forwarded client request: who to answer and how.
#[derive(Debug)]
pub(crate) struct ClientCall {
    /// The HTTP exchange awaiting the answer.
    pub(crate) exchange: ExchangeId,
    /// The session it came from.
    pub(crate) session: crate::ids::SessionId,
    /// The id the client used.
    pub(crate) client_id: RequestId,
    /// The method (for error messages).
    pub(crate) method: String,
    /// Its timeout.
    pub(crate) timer: TimerKey,
    /// The client's `progressToken`, replaced by the backend-side id on the way out.
    pub(crate) progress_token: Option<Value>,
    /// Progress extends the timeout, but never past this.
    pub(crate) hard_deadline: Instant,
    /// For a stateless backend: the request as sent, to send again with a client's answers
    /// when the backend returns an `InputRequiredResult` to a session-based client.
    pub(crate) resend: Option<Box<Map<String, Value>>>,
    /// The backend's questions being put to a session-based client, if it asked any.
    pub(crate) relay: Option<Relay>,
}

/// A stateless backend's `InputRequiredResult` being answered by a session-based client: the
/// questions went to the client as requests; once every answer is in, the request is sent
/// again with them (`inputResponses`) and the backend's `requestState`, untouched.
#[derive(Debug, Default)]
pub(crate) struct Relay {
    /// The backend's `requestState`, echoed exactly.
    pub(crate) state: Option<Value>,
    /// The keys still unanswered.
    pub(crate) waiting: std::collections::BTreeSet<String>,
    /// The answers so far, by key.
    pub(crate) answers: Map<String, Value>,
}

/// The requests a backend owes answers to.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    requests: BTreeMap<ProxyId, Pending>,
    last_id: u64,
}

impl InFlight {
    /// A fresh id for the next request (its timer is made with it before it is recorded).
    pub(crate) fn next_id(&mut self) -> ProxyId {
        self.last_id += 1;
        ProxyId(self.last_id)
    }

    /// Record a request sent under `id` (from [`InFlight::next_id`]).
    pub(crate) fn insert(&mut self, id: ProxyId, pending: Pending) {
        debug_assert!(id.0 <= self.last_id, "ids come from next_id");
        let replaced = self.requests.insert(id, pending);
        debug_assert!(replaced.is_none(), "an id is used once");
    }

    /// The answer to `id` arrived (or it is given up): stop waiting for it.
    pub(crate) fn take(&mut self, id: ProxyId) -> Option<Pending> {
        self.requests.remove(&id)
    }

    /// Stop waiting for `id` if it is a forwarded client call; anything else stays.
    pub(crate) fn take_client(&mut self, id: ProxyId) -> Option<ClientCall> {
        match self.requests.get(&id) {
            Some(Pending::Client(_)) => match self.requests.remove(&id) {
                Some(Pending::Client(call)) => Some(call),
                _ => None,
            },
            _ => None,
        }
    }

    /// The forwarded client call sent under `id`.
    pub(crate) fn client(&self, id: ProxyId) -> Option<&ClientCall> {
        match self.requests.get(&id) {
            Some(Pending::Client(call)) => Some(call),
            _ => None,
        }
    }

    /// The forwarded client call sent under `id`, to extend its deadline or hand it to the
    /// exchange a stateless client resumes it on.
    pub(crate) fn client_mut(&mut self, id: ProxyId) -> Option<&mut ClientCall> {
        match self.requests.get_mut(&id) {
            Some(Pending::Client(call)) => Some(call),
            _ => None,
        }
    }

    /// Every forwarded client call, in id order.
    pub(crate) fn clients(&self) -> impl Iterator<Item = (ProxyId, &ClientCall)> {
        self.requests.iter().filter_map(|(id, p)| match p {
            Pending::Client(call) => Some((*id, call)),
            _ => None,
        })
    }

    /// Stop waiting for everything (the backend went away); returns what was owed.
    pub(crate) fn take_all(&mut self) -> impl Iterator<Item = Pending> + use<> {
        std::mem::take(&mut self.requests).into_values()
    }

    /// Requests awaiting an answer.
    pub(crate) fn len(&self) -> usize {
        self.requests.len()
    }

    /// Nothing is awaited.
    pub(crate) fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ping(timer: u64) -> Pending {
        let mut timers = crate::timer::TimerTable::default();
        let mut key = timers.insert(Instant(0), ());
        for _ in 0..timer {
            key = timers.insert(Instant(0), ());
        }
        Pending::Ping { timer: key }
    }

    #[test]
    fn ids_are_fresh_and_answers_match_only_their_request() {
        let mut table = InFlight::default();
        let a = table.next_id();
        table.insert(a, Pending::Initialize);
        let b = table.next_id();
        table.insert(b, ping(1));
        assert_ne!(a, b);
        assert!(table.take(a).is_some());
        assert!(table.take(a).is_none(), "an answer is taken once");
        let c = table.next_id();
        assert!(c > b, "an id is never handed out twice, even after its request ended");
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn take_client_leaves_other_requests_where_they_are() {
        let mut table = InFlight::default();
        let id = table.next_id();
        table.insert(id, ping(0));
        assert!(table.take_client(id).is_none());
        assert_eq!(table.len(), 1, "a ping is not a client call and stays awaited");
        assert!(table.client(id).is_none() && table.clients().next().is_none());
        assert_eq!(table.take_all().count(), 1);
        assert!(table.is_empty());
    }
}
