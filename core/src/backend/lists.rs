//! The four lists a backend offers, and the bookkeeping of fetching them: at startup (the
//! backend serves once each is fetched) and again after a `list_changed` (one fetch per list
//! at a time, and once more if a change was announced while one ran).

use crate::registry::Catalog;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// The four lists a backend can offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ListKind {
    /// `tools/list`
    Tools,
    /// `prompts/list`
    Prompts,
    /// `resources/list`
    Resources,
    /// `resources/templates/list`
    Templates,
}

impl ListKind {
    /// Every kind, in listing order.
    pub(crate) const ALL: [ListKind; 4] =
        [ListKind::Tools, ListKind::Prompts, ListKind::Resources, ListKind::Templates];

    /// The JSON-RPC method that lists it.
    pub(crate) fn method(self) -> &'static str {
        match self {
            ListKind::Tools => "tools/list",
            ListKind::Prompts => "prompts/list",
            ListKind::Resources => "resources/list",
            ListKind::Templates => "resources/templates/list",
        }
    }

    /// The kind a list method asks for.
    pub(crate) fn of_method(method: &str) -> Option<ListKind> {
        ListKind::ALL.into_iter().find(|k| k.method() == method)
    }

    /// The member of the result holding the items.
    pub(crate) fn result_key(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Prompts => "prompts",
            ListKind::Resources => "resources",
            ListKind::Templates => "resourceTemplates",
        }
    }

    /// The server capability that announces it.
    pub(crate) fn capability(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Prompts => "prompts",
            ListKind::Resources | ListKind::Templates => "resources",
        }
    }

    /// The notification that tells clients it changed.
    pub(crate) fn changed_notification(self) -> &'static str {
        match self {
            ListKind::Tools => "notifications/tools/list_changed",
            ListKind::Prompts => "notifications/prompts/list_changed",
            ListKind::Resources | ListKind::Templates => "notifications/resources/list_changed",
        }
    }

    /// The catalog slot it fills.
    pub(crate) fn slot(self, catalog: &mut Catalog) -> &mut Vec<Map<String, Value>> {
        match self {
            ListKind::Tools => &mut catalog.tools,
            ListKind::Prompts => &mut catalog.prompts,
            ListKind::Resources => &mut catalog.resources,
            ListKind::Templates => &mut catalog.templates,
        }
    }
}

/// Which of a backend's lists are being fetched, and why.
#[derive(Debug, Default)]
pub(crate) struct ListRefresh {
    /// Lists still to fetch before a starting backend serves.
    outstanding: usize,
    /// Lists with a fetch running.
    in_flight: BTreeSet<ListKind>,
    /// Lists announced as changed while their fetch was running.
    stale: BTreeSet<ListKind>,
}

impl ListRefresh {
    /// A new incarnation: nothing is being fetched, and nothing is owed to startup.
    pub(crate) fn reset(&mut self) {
        *self = ListRefresh::default();
    }

    /// Startup fetches these lists before the backend serves.
    pub(crate) fn expect(&mut self, count: usize) {
        self.outstanding = count;
    }

    /// A fetch of `kind` starts.
    pub(crate) fn begin(&mut self, kind: ListKind) {
        self.in_flight.insert(kind);
    }

    /// A fetch of `kind` ended.
    pub(crate) fn end(&mut self, kind: ListKind) {
        self.in_flight.remove(&kind);
    }

    /// One startup list is in; true once all are.
    pub(crate) fn startup_fetched(&mut self) -> bool {
        self.outstanding = self.outstanding.saturating_sub(1);
        self.outstanding == 0
    }

    /// The backend announced `kind` changed: true to fetch it now; false when a fetch is
    /// running, which is then followed by another (its answer may predate the change).
    pub(crate) fn changed(&mut self, kind: ListKind) -> bool {
        if self.in_flight.contains(&kind) {
            self.stale.insert(kind);
            return false;
        }
        true
    }

    /// Whether a change was announced during the fetch that just ended (forgotten once asked).
    pub(crate) fn take_stale(&mut self, kind: ListKind) -> bool {
        self.stale.remove(&kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_during_a_fetch_asks_for_exactly_one_more() {
        let mut lists = ListRefresh::default();
        assert!(lists.changed(ListKind::Tools), "nothing running: fetch now");
        lists.begin(ListKind::Tools);
        assert!(!lists.changed(ListKind::Tools));
        assert!(!lists.changed(ListKind::Tools), "two changes during one fetch still ask for one more");
        assert!(lists.changed(ListKind::Prompts), "other lists are not held up");
        lists.end(ListKind::Tools);
        assert!(lists.take_stale(ListKind::Tools));
        assert!(!lists.take_stale(ListKind::Tools));
    }

    #[test]
    fn startup_is_over_when_every_expected_list_is_in() {
        let mut lists = ListRefresh::default();
        lists.expect(2);
        assert!(!lists.startup_fetched());
        assert!(lists.startup_fetched());
        assert_eq!(ListKind::of_method("resources/templates/list"), Some(ListKind::Templates));
        assert_eq!(ListKind::of_method("tools/call"), None);
    }
}
