//! Requests backends sent to clients (sampling, elicitation, roots), forwarded and not yet
//! answered: one table seen from both ends, so the two can never disagree. A client answers
//! under the id 1mcp gave the request (only the session it was sent to may answer it); a
//! backend cancels under its own id; either side going away withdraws its entries.

use crate::ids::{BackendKey, Gen, SessionId};
use serde_json::Value;
use std::collections::BTreeMap;

/// Most unanswered requests one session may hold; beyond it the backend is refused, so a
/// backend cannot grow a session's share of the table without bound.
pub(crate) const MAX_PER_SESSION: usize = 64;

/// A backend's request forwarded to a client.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Asked {
    /// The session it was sent to.
    pub(crate) session: SessionId,
    /// The backend that asked.
    pub(crate) backend: BackendKey,
    /// Its incarnation (an answer for a dead one is dropped).
    pub(crate) generation: Gen,
    /// The id the backend used.
    pub(crate) backend_id: Value,
    /// What it asked (`roots/list`, `sampling/createMessage`, ...).
    pub(crate) method: String,
    /// Set when the question is one of a stateless backend's `inputRequests` (the backend
    /// asked in a result, not a request): the answer joins that call's other answers under
    /// this key instead of going to the backend.
    pub(crate) for_retry: Option<(crate::ids::ProxyId, String)>,
}

/// Why a request could not be recorded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The session already holds [`MAX_PER_SESSION`].
    Full(usize),
}

/// The table.
#[derive(Debug, Default)]
pub(crate) struct ServerRequests {
    /// By the id the client sees.
    by_front: BTreeMap<String, Asked>,
    /// The client-side id, by backend and the backend's id (as JSON text).
    by_backend: BTreeMap<(BackendKey, String), String>,
    /// Entries per session, to enforce [`MAX_PER_SESSION`] without a scan.
    per_session: BTreeMap<SessionId, usize>,
    /// Numbers the client-side ids (`1mcp-<n>`), never reused.
    last: u64,
}

impl ServerRequests {
    /// The id the next request will be sent to its client under, if it may be recorded.
    pub(crate) fn next_front_id(&self, session: &SessionId) -> Result<String, Refused> {
        let held = self.per_session.get(session).copied().unwrap_or(0);
        if held >= MAX_PER_SESSION {
            return Err(Refused::Full(held));
        }
        Ok(format!("1mcp-{}", self.last + 1))
    }

    /// Record a request that went to its client under the id [`ServerRequests::next_front_id`]
    /// gave.
    pub(crate) fn record(&mut self, asked: Asked) -> String {
        self.last += 1;
        let front_id = format!("1mcp-{}", self.last);
        *self.per_session.entry(asked.session.clone()).or_default() += 1;
        self.by_backend.insert((asked.backend.clone(), asked.backend_id.to_string()), front_id.clone());
        self.by_front.insert(front_id.clone(), asked);
        front_id
    }

    /// `session` answered `front_id`: the request, if that session was asked it.
    pub(crate) fn answered(&mut self, session: &SessionId, front_id: &str) -> Option<Asked> {
        if self.by_front.get(front_id).is_none_or(|a| a.session != *session) {
            return None;
        }
        self.remove(front_id)
    }

    /// The backend cancelled its request `backend_id`: where it went, so the client is told.
    pub(crate) fn cancelled(&mut self, backend: &BackendKey, backend_id: &Value) -> Option<(SessionId, String)> {
        let front_id = self.by_backend.get(&(backend.clone(), backend_id.to_string()))?.clone();
        let asked = self.remove(&front_id)?;
        Some((asked.session, front_id))
    }

    /// A session ended: what it still owed, for the backends to be answered.
    pub(crate) fn withdraw_session(&mut self, session: &SessionId) -> Vec<Asked> {
        let ids: Vec<String> =
            self.by_front.iter().filter(|(_, a)| a.session == *session).map(|(id, _)| id.clone()).collect();
        ids.iter().filter_map(|id| self.remove(id)).collect()
    }

    /// A backend went away: its questions, with the client-side ids to cancel them under.
    pub(crate) fn withdraw_backend(&mut self, backend: &BackendKey) -> Vec<(String, Asked)> {
        let ids: Vec<String> = self
            .by_backend
            .range((backend.clone(), String::new())..)
            .take_while(|((b, _), _)| b == backend)
            .map(|(_, id)| id.clone())
            .collect();
        ids.into_iter().filter_map(|id| self.remove(&id).map(|asked| (id, asked))).collect()
    }

    /// Requests `session` has not answered yet.
    #[cfg(test)]
    fn held_by(&self, session: &SessionId) -> usize {
        self.per_session.get(session).copied().unwrap_or(0)
    }

    /// Every unanswered request.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_front.len()
    }

    fn remove(&mut self, front_id: &str) -> Option<Asked> {
        let asked = self.by_front.remove(front_id)?;
        self.by_backend.remove(&(asked.backend.clone(), asked.backend_id.to_string()));
        if let Some(count) = self.per_session.get_mut(&asked.session) {
            *count -= 1;
            if *count == 0 {
                self.per_session.remove(&asked.session);
            }
        }
        Some(asked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn asked(session: &str, backend: &str, id: u64) -> Asked {
        Asked {
            session: SessionId::presented(session),
            backend: BackendKey::server(backend),
            generation: Gen(1),
            backend_id: json!(id),
            method: "sampling/createMessage".into(),
            for_retry: None,
        }
    }

    #[test]
    fn only_the_session_asked_may_answer_and_only_once() {
        let mut table = ServerRequests::default();
        let (a, b) = (SessionId::presented("a"), SessionId::presented("b"));
        let expected = table.next_front_id(&a).unwrap();
        let id = table.record(asked("a", "s", 7));
        assert_eq!(id, expected);
        assert_eq!(table.answered(&b, &id), None, "another session cannot answer it");
        assert_eq!(table.answered(&a, &id).map(|x| x.backend_id), Some(json!(7)));
        assert_eq!(table.answered(&a, &id), None);
        assert_eq!((table.len(), table.held_by(&a)), (0, 0));
    }

    #[test]
    fn both_ends_stay_in_step_whichever_side_ends_it() {
        let mut table = ServerRequests::default();
        let first = table.record(asked("a", "s", 1));
        table.record(asked("a", "t", 1));
        table.record(asked("b", "s", 2));
        assert_eq!(table.cancelled(&BackendKey::server("s"), &json!(1)), Some((SessionId::presented("a"), first)));
        let withdrawn = table.withdraw_backend(&BackendKey::server("s"));
        assert_eq!(withdrawn.len(), 1, "only s's remaining request");
        assert_eq!(withdrawn[0].1.session, SessionId::presented("b"));
        let owed = table.withdraw_session(&SessionId::presented("a"));
        assert_eq!(owed.len(), 1);
        assert_eq!(owed[0].backend, BackendKey::server("t"));
        assert_eq!(table.len(), 0);
        assert_eq!(table.held_by(&SessionId::presented("a")), 0);
    }

    #[test]
    fn a_session_holds_a_bounded_number() {
        let mut table = ServerRequests::default();
        let a = SessionId::presented("a");
        for n in 0..MAX_PER_SESSION as u64 {
            table.next_front_id(&a).unwrap();
            table.record(asked("a", "s", n));
        }
        assert_eq!(table.next_front_id(&a), Err(Refused::Full(MAX_PER_SESSION)));
        assert!(table.next_front_id(&SessionId::presented("b")).is_ok(), "other sessions are not affected");
    }
}
