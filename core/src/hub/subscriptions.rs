//! Resource subscriptions: counted per backend and URI, so a shared backend is subscribed once
//! however many sessions subscribe, and released with the last of them.

use super::Hub;
use super::clients::Incoming;
use crate::ids::{BackendKey, SessionId};
use crate::jsonrpc::{self, code};
use crate::time::Instant;
use serde_json::{Map, Value, json};

impl Hub {
    /// `resources/subscribe`: reference-counted per backend and URI, so the backend is asked
    /// once however many sessions subscribe, and each session is told only of its own URIs.
    pub(super) fn subscribe(&mut self, now: Instant, req: Incoming, body: Map<String, Value>) {
        let Some(uri) = jsonrpc::param_str(&body, "uri").map(str::to_owned) else {
            return self.answer(&req, &jsonrpc::error(Some(&req.id), code::INVALID_PARAMS, "missing resource uri"));
        };
        let Some(backend) = self.resource_owner(&req.session, &uri) else {
            let e = jsonrpc::error_with_data(
                Some(&req.id),
                code::INVALID_PARAMS,
                format!("Resource not found: {uri}"),
                Some(json!({"uri": uri})),
            );
            return self.answer(&req, &e);
        };
        let supports = self.backends.get(&backend).and_then(|b| b.info.as_ref()).is_some_and(|i| {
            i.capabilities.get("resources").and_then(|r| r.get("subscribe")).and_then(Value::as_bool) == Some(true)
        });
        if !supports {
            let text = format!("server '{backend}' does not support resource subscriptions");
            return self.answer(&req, &jsonrpc::error(Some(&req.id), code::METHOD_NOT_FOUND, text));
        }
        let key = (backend.server_name().to_owned(), uri.clone());
        let fresh = self.sessions.get_mut(&req.session).is_some_and(|s| s.subscriptions.insert(key));
        if self.backends.get(&backend).is_some_and(crate::backend::Backend::is_stateless) {
            // Its revision follows a resource on a listen stream, one per resource here.
            if fresh && self.backends.get_mut(&backend).is_some_and(|b| b.subscribers.add(&uri)) {
                self.listen_to_resource(now, &backend, &uri);
            }
            return self.answer(&req, &jsonrpc::result(&req.id, json!({})));
        }
        if self.backends.get(&backend).is_some_and(|b| b.per_session().is_some()) {
            // Each session's own instance holds its own subscriptions: nothing to share.
            return self.forward(now, req, &backend, body);
        }
        let first = fresh && self.backends.get_mut(&backend).is_some_and(|b| b.subscribers.add(&uri));
        if first {
            self.forward(now, req, &backend, body);
        } else {
            self.answer(&req, &jsonrpc::result(&req.id, json!({})));
        }
    }

    /// `resources/unsubscribe`: the backend is told only when the last subscriber leaves.
    pub(super) fn unsubscribe(&mut self, now: Instant, req: Incoming, body: Map<String, Value>) {
        let uri = jsonrpc::param_str(&body, "uri").map(str::to_owned).unwrap_or_default();
        let owned =
            self.sessions.get(&req.session).and_then(|s| s.subscriptions.iter().find(|(_, u)| *u == uri).cloned());
        let Some((server, uri)) = owned else {
            // Unsubscribing from something never subscribed is harmless.
            return self.answer(&req, &jsonrpc::result(&req.id, json!({})));
        };
        if let Some(s) = self.sessions.get_mut(&req.session) {
            s.subscriptions.remove(&(server.clone(), uri.clone()));
        }
        let backend = BackendKey::server(server);
        if self.backends.get(&backend).is_some_and(crate::backend::Backend::is_stateless) {
            if self.decrement_subscribers(&backend, &uri) {
                self.stop_listening_to_resource(&backend, &uri);
            }
            return self.answer(&req, &jsonrpc::result(&req.id, json!({})));
        }
        let per_session = self.backends.get(&backend).is_some_and(|b| b.per_session().is_some());
        if per_session || self.decrement_subscribers(&backend, &uri) {
            self.forward(now, req, &backend, body);
        } else {
            self.answer(&req, &jsonrpc::result(&req.id, json!({})));
        }
    }

    /// A session leaves without unsubscribing: drop its share, and the backend's subscription
    /// with the last one.
    pub(super) fn release_subscription(&mut self, now: Instant, session: &SessionId, backend: &BackendKey, uri: &str) {
        if let Some(s) = self.sessions.get_mut(session) {
            s.subscriptions.remove(&(backend.server_name().to_owned(), uri.to_owned()));
        }
        if !self.decrement_subscribers(backend, uri) {
            return;
        }
        if self.backends.get(backend).is_some_and(crate::backend::Backend::is_stateless) {
            self.stop_listening_to_resource(backend, uri);
        } else {
            self.internal_request(now, backend, "resources/unsubscribe", json!({"uri": uri}));
        }
    }

    /// One subscriber fewer; true when it was the last.
    fn decrement_subscribers(&mut self, backend: &BackendKey, uri: &str) -> bool {
        self.backends.get_mut(backend).is_some_and(|b| b.subscribers.remove(uri))
    }
}
