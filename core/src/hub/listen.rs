//! `subscriptions/listen` (2026-07-28): a stateless client's long-lived stream of the
//! notifications it asked for: the merged lists changing, and updates of the resources it
//! names. The stream is a record like a stateless call's (it ends when the client closes the
//! stream), with the listen request's filter: list changes reach it through the same path as a
//! session's, resource updates through the same per-backend subscriptions, and everything on it
//! is tagged with its subscription id. Logs and progress never go on it: they belong to calls.

use super::Hub;
use super::stateless::Modern;
use crate::backend::ListKind;
use crate::event::Output;
use crate::front::ReplyMode;
use crate::ids::SessionId;
use crate::jsonrpc::{self, RequestId, code};
use crate::session::{Listen, Session};
use crate::time::Instant;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// Most resource URIs one listen request may name; the rest are not honoured (and so not
/// acknowledged).
pub const MAX_LISTEN_URIS: usize = 64;

/// The `_meta` key tagging a listen stream's notifications with their subscription.
const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

impl Hub {
    /// Open a listen stream: acknowledge what 1mcp honours, then keep the stream for it.
    pub(super) fn listen(&mut self, now: Instant, request: Modern, body: &Map<String, Value>) {
        let Modern { exchange, mode, sse_ok, id, view, principal, capabilities, .. } = request;
        if !sse_ok || !matches!(mode, ReplyMode::Json | ReplyMode::Sse) {
            let message =
                "Not Acceptable: subscriptions/listen answers with an event stream (Accept: text/event-stream)";
            return self.respond(exchange, 406, &jsonrpc::error(Some(&id), code::INVALID_REQUEST, message), vec![]);
        }
        let wanted = jsonrpc::params(body).and_then(|p| p.get("notifications")).and_then(Value::as_object);
        let flag = |key: &str| wanted.and_then(|w| w.get(key)).and_then(Value::as_bool) == Some(true);
        let mut kinds = BTreeSet::new();
        let mut honoured = Map::new();
        for (key, list) in [
            ("toolsListChanged", ListKind::Tools),
            ("promptsListChanged", ListKind::Prompts),
            ("resourcesListChanged", ListKind::Resources),
        ] {
            if flag(key) {
                kinds.insert(list);
                honoured.insert(key.into(), true.into());
            }
        }
        self.stateless_served += 1;
        let record = SessionId::stateless(self.stateless_served);
        let mut session = Session::stateless(record.clone(), capabilities, None, (view, principal), (now, 0));
        session.listen = Some(Listen { id: id.clone(), kinds });
        session.stream = Some(exchange);
        self.sessions.insert(record.clone(), session);
        self.stateless.insert(exchange, record.clone());
        self.exchanges.insert(exchange, super::Exchange::Stream { session: record.clone() });
        let uris = wanted.and_then(|w| w.get("resourceSubscriptions")).and_then(Value::as_array);
        let subscribed: Vec<Value> = uris
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .take(MAX_LISTEN_URIS)
            .filter(|uri| self.subscribe_listener(now, &record, uri))
            .map(|uri| Value::String(uri.to_owned()))
            .collect();
        if !subscribed.is_empty() {
            honoured.insert("resourceSubscriptions".into(), Value::Array(subscribed));
        }
        self.outputs.push_back(Output::OpenStream { exchange, headers: vec![] });
        let ack =
            jsonrpc::notification("notifications/subscriptions/acknowledged", Some(json!({"notifications": honoured})));
        self.push(exchange, &tagged(ack, &id));
    }

    /// Subscribe a listener to `uri` if a backend it sees owns it and supports subscriptions
    /// (per-session servers are not: their instances belong to sessions). True if honoured.
    fn subscribe_listener(&mut self, now: Instant, record: &SessionId, uri: &str) -> bool {
        let Some(backend) = self.resource_owner(record, uri) else { return false };
        let Some(b) = self.backends.get(&backend) else { return false };
        let supports = b.info.as_ref().is_some_and(|i| {
            i.capabilities.get("resources").and_then(|r| r.get("subscribe")).and_then(Value::as_bool) == Some(true)
        });
        if !supports || b.per_session().is_some() {
            return false;
        }
        let stateless = b.is_stateless();
        let key = (backend.server_name().to_owned(), uri.to_owned());
        let fresh = self.sessions.get_mut(record).is_some_and(|s| s.subscriptions.insert(key));
        if fresh && self.backends.get_mut(&backend).is_some_and(|b| b.subscribers.add(uri)) {
            if stateless {
                self.listen_to_resource(now, &backend, uri);
            } else {
                self.internal_request(now, &backend, "resources/subscribe", json!({"uri": uri}));
            }
        }
        true
    }

    /// A notification as `session` is to receive it: a listener's is tagged with its
    /// subscription, and only if it asked for that kind of notification.
    pub(super) fn for_listener(&self, session: &SessionId, message: Value) -> Option<Value> {
        let Some(listen) = self.sessions.get(session).and_then(|s| s.listen.as_ref()) else { return Some(message) };
        let method = message.get("method").and_then(Value::as_str).unwrap_or_default();
        let wanted = method == "notifications/resources/updated"
            || listen.kinds.iter().any(|kind| kind.changed_notification() == method);
        wanted.then(|| tagged(message, &listen.id))
    }

    /// The last word on a listen stream the server ends (shutdown, a revoked token): its
    /// result, as the spec asks, before the stream closes.
    pub(super) fn end_listen(&mut self, session: &Session) {
        let (Some(listen), Some(stream)) = (&session.listen, session.stream) else { return };
        let result = json!({"resultType": "complete", "_meta": {SUBSCRIPTION_ID: listen.id}});
        self.push(stream, &jsonrpc::result(&listen.id, result));
    }
}

/// `message` with its subscription's id in `params._meta`.
fn tagged(mut message: Value, id: &RequestId) -> Value {
    if let Some(body) = message.as_object_mut() {
        let params = body.entry("params").or_insert_with(|| json!({}));
        if let Some(params) = params.as_object_mut() {
            let meta = params.entry("_meta").or_insert_with(|| json!({}));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert(SUBSCRIPTION_ID.into(), id.clone());
            }
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_joins_whatever_meta_is_there() {
        let plain = tagged(jsonrpc::notification("notifications/tools/list_changed", None), &json!(7));
        assert_eq!(plain["params"]["_meta"][SUBSCRIPTION_ID], 7);
        let with_meta = json!({"jsonrpc": "2.0", "method": "m", "params": {"uri": "u", "_meta": {"k": 1}}});
        let with_meta = tagged(with_meta, &json!("s"));
        assert_eq!(with_meta["params"], json!({"uri": "u", "_meta": {"k": 1, SUBSCRIPTION_ID: "s"}}));
    }
}
