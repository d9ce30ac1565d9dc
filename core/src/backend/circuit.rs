//! A backend's circuit breaker: after [`THRESHOLD`] forwarded calls in a row time out, calls
//! fail fast for [`COOLDOWN`] instead of each waiting out its timeout on a stuck server. Any
//! answer closes it again.

use crate::time::Instant;
use std::time::Duration;

/// Timeouts in a row after which the circuit opens.
pub(crate) const THRESHOLD: u32 = 3;
/// How long an open circuit fails calls fast before letting one through again.
pub(crate) const COOLDOWN: Duration = Duration::from_secs(30);

/// Whether calls to one backend go through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Circuit {
    timeouts_in_a_row: u32,
    open_until: Option<Instant>,
}

impl Circuit {
    /// The backend answered something: whatever stuck it is over.
    pub(crate) fn answered(&mut self) {
        *self = Circuit::default();
    }

    /// A forwarded call timed out at `now`. Returns the count of timeouts in a row when this
    /// one (re)opens the circuit.
    pub(crate) fn timed_out(&mut self, now: Instant) -> Option<u32> {
        self.timeouts_in_a_row += 1;
        (self.timeouts_in_a_row >= THRESHOLD).then(|| {
            self.open_until = Some(now.after(COOLDOWN));
            self.timeouts_in_a_row
        })
    }

    /// When the circuit closes again, if it is open at `now`.
    pub(crate) fn open_until(&self, now: Instant) -> Option<Instant> {
        self.open_until.filter(|until| *until > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_at_the_threshold_for_the_cooldown_and_an_answer_closes_it() {
        let mut circuit = Circuit::default();
        let now = Instant(1_000);
        for _ in 1..THRESHOLD {
            assert_eq!(circuit.timed_out(now), None);
            assert_eq!(circuit.open_until(now), None);
        }
        assert_eq!(circuit.timed_out(now), Some(THRESHOLD));
        assert_eq!(circuit.open_until(now), Some(now.after(COOLDOWN)));
        assert_eq!(circuit.open_until(now.after(COOLDOWN)), None, "closed once the cooldown is over");
        circuit.answered();
        assert_eq!(circuit.open_until(now), None);
        assert_eq!(circuit.timed_out(now), None, "the count starts over after an answer");
    }
}
