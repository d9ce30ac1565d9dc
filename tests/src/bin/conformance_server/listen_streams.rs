//! The open `subscriptions/listen` streams (2026-07-28), shared by every request the process
//! serves, so that a list change announced by one request reaches the streams other requests
//! opened. rmcp acknowledges each stream, applies its filter and tags each notification with
//! its subscription id; this only keeps the streams and fans announcements out to them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use rmcp::service::{SubscriptionContext, SubscriptionSendError, SubscriptionSink};

/// A change of one of the lists.
#[derive(Debug, Clone, Copy)]
pub enum ListChange {
    Tools,
    Prompts,
}

#[derive(Debug, Default)]
pub struct ListenStreams {
    next_id: AtomicU64,
    open: Mutex<BTreeMap<u64, SubscriptionSink>>,
}

/// Removes its stream from the set when the stream ends (or its handler is dropped).
struct OpenStream<'a> {
    streams: &'a ListenStreams,
    id: u64,
}

impl Drop for OpenStream<'_> {
    fn drop(&mut self) {
        self.streams.open.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.id);
    }
}

impl ListenStreams {
    /// Keeps `subscription`'s stream open until the client ends it.
    pub async fn serve(&self, subscription: SubscriptionContext) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.open.lock().unwrap_or_else(PoisonError::into_inner).insert(id, subscription.sink().clone());
        let _open = OpenStream { streams: self, id };
        subscription.cancelled().await;
    }

    /// Sends `change` to every stream that asked for it; returns how many did.
    pub async fn announce(&self, change: ListChange) -> usize {
        let sinks: Vec<(u64, SubscriptionSink)> = {
            let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            open.iter().map(|(id, sink)| (*id, sink.clone())).collect()
        };
        let mut delivered = 0;
        for (id, sink) in sinks {
            let sent = match change {
                ListChange::Tools => sink.notify_tool_list_changed().await,
                ListChange::Prompts => sink.notify_prompt_list_changed().await,
            };
            match sent {
                Ok(()) => delivered += 1,
                // The stream did not ask for this kind of change.
                Err(SubscriptionSendError::NotificationNotAccepted(_)) => {}
                Err(_) => {
                    self.open.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
                }
            }
        }
        delivered
    }
}
