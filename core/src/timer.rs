//! A table of deadlines, fired in (deadline, insertion) order.

use crate::time::Instant;
use std::collections::BTreeMap;

/// Handle to remove a timer before it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimerKey(Instant, u64);

impl TimerKey {
    /// When the timer fires.
    pub fn deadline(self) -> Instant {
        self.0
    }
}

/// Deadlines with payloads; deterministic order, no allocation per poll.
#[derive(Debug)]
pub struct TimerTable<T> {
    entries: BTreeMap<TimerKey, T>,
    seq: u64,
}

impl<T> Default for TimerTable<T> {
    fn default() -> Self {
        TimerTable { entries: BTreeMap::new(), seq: 0 }
    }
}

impl<T> TimerTable<T> {
    /// Schedule `timer` at `at`.
    pub fn insert(&mut self, at: Instant, timer: T) -> TimerKey {
        self.seq += 1;
        let key = TimerKey(at, self.seq);
        self.entries.insert(key, timer);
        key
    }

    /// Cancel a timer; harmless if it already fired.
    pub fn remove(&mut self, key: TimerKey) -> Option<T> {
        self.entries.remove(&key)
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries.keys().next().map(|k| k.0)
    }

    /// Remove and return the earliest timer due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        let key = *self.entries.keys().next()?;
        if key.0 > now {
            return None;
        }
        self.entries.remove(&key)
    }

    /// Number of scheduled timers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_deadline_then_insertion_order_and_honours_removal() {
        let mut t = TimerTable::default();
        t.insert(Instant(20), "b");
        let gone = t.insert(Instant(10), "x");
        t.insert(Instant(10), "a");
        t.insert(Instant(20), "c");
        assert_eq!(t.remove(gone), Some("x"));
        assert_eq!(t.next_deadline(), Some(Instant(10)));
        assert_eq!(t.pop_due(Instant(9)), None);
        let fired: Vec<_> = std::iter::from_fn(|| t.pop_due(Instant(20))).collect();
        assert_eq!(fired, ["a", "b", "c"]);
        assert_eq!(t.len(), 0);
    }
}
