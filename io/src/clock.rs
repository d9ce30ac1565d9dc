//! The driver's clock: core instants are nanoseconds since the moment the driver started.

use onemcp_core::Instant;
use std::time::Duration;

/// Converts between the OS monotonic clock and the core's [`Instant`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    epoch: tokio::time::Instant,
}

impl Clock {
    /// A clock whose epoch is now.
    pub(crate) fn start() -> Clock {
        Clock { epoch: tokio::time::Instant::now() }
    }

    /// The current core instant.
    pub(crate) fn now(self) -> Instant {
        self.to_core(tokio::time::Instant::now())
    }

    /// A tokio instant as a core instant (saturating: before the epoch is the epoch).
    pub(crate) fn to_core(self, at: tokio::time::Instant) -> Instant {
        let nanos = at.saturating_duration_since(self.epoch).as_nanos();
        Instant(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// A core deadline as a tokio instant, for `sleep_until`.
    pub(crate) fn to_tokio(self, at: Instant) -> tokio::time::Instant {
        // A deadline centuries away would overflow `Instant + Duration`; cap it at a year,
        // the driver re-reads `poll_timeout` after every event anyway.
        let far = Duration::from_secs(365 * 24 * 3600);
        let offset = Duration::from_nanos(at.0).min(far);
        self.epoch + offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn round_trips_and_advances() {
        let clock = Clock::start();
        assert_eq!(clock.now(), Instant(0));
        tokio::time::advance(Duration::from_millis(1500)).await;
        let now = clock.now();
        assert_eq!(now, Instant(1_500_000_000));
        assert_eq!(clock.to_core(clock.to_tokio(now)), now);
        // Far deadlines are capped instead of overflowing.
        let far = clock.to_tokio(Instant(u64::MAX));
        assert!(far > tokio::time::Instant::now());
    }
}
