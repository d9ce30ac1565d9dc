//! When a failed stdio backend is started again: exponential backoff with jitter, capped, and
//! a give-up point (1MCP's `restartOnExit`, `maxRestarts`, `restartDelay`).

use crate::config::RestartConfig;
use std::time::Duration;

/// Backoff doubles per consecutive restart up to this multiple of `restartDelay` (1MCP: 16x).
pub const MAX_BACKOFF_FACTOR: u32 = 16;

/// A backend that stayed ready this long has its restart count forgotten (1MCP: 5 minutes).
pub const STABLE_PERIOD: Duration = Duration::from_secs(5 * 60);

/// Jitter spreads restarts of backends that died together by up to this fraction either way.
const JITTER: f64 = 0.2;

/// What to do after a backend failed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RestartDecision {
    /// Not supervised (`restartOnExit: false`): stay failed.
    Stay,
    /// Start it again after this delay; this will be restart number `attempt`.
    Restart {
        /// Delay before the new incarnation is spawned.
        delay: Duration,
        /// 1 for the first restart in a row.
        attempt: u32,
    },
    /// `maxRestarts` consecutive restarts did not help: a crash loop.
    GiveUp,
}

/// Decide, given how many restarts in a row already happened; `jitter` is uniform in [0, 1).
pub fn decide(config: &RestartConfig, restarts_so_far: u32, jitter: f64) -> RestartDecision {
    if !config.restart_on_exit {
        return RestartDecision::Stay;
    }
    if config.max_restarts > 0 && restarts_so_far >= config.max_restarts {
        return RestartDecision::GiveUp;
    }
    let factor = 1u32.checked_shl(restarts_so_far).unwrap_or(u32::MAX).min(MAX_BACKOFF_FACTOR);
    let base = config.restart_delay.saturating_mul(factor);
    let spread = 1.0 + JITTER * (2.0 * jitter.clamp(0.0, 1.0) - 1.0);
    RestartDecision::Restart { delay: base.mul_f64(spread), attempt: restarts_so_far + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max: u32) -> RestartConfig {
        RestartConfig { restart_on_exit: true, max_restarts: max, restart_delay: Duration::from_millis(1000) }
    }

    fn delay(d: RestartDecision) -> Duration {
        match d {
            RestartDecision::Restart { delay, .. } => delay,
            other => panic!("expected a restart, got {other:?}"),
        }
    }

    #[test]
    fn backoff_doubles_to_the_cap() {
        let got: Vec<u128> = (0..7).map(|n| delay(decide(&config(0), n, 0.5)).as_millis()).collect();
        assert_eq!(got, [1000, 2000, 4000, 8000, 16000, 16000, 16000]);
        assert_eq!(delay(decide(&config(0), 40, 0.5)).as_millis(), 16000, "no overflow far past the cap");
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        assert_eq!(delay(decide(&config(0), 0, 0.0)).as_millis(), 800);
        assert_eq!(delay(decide(&config(0), 0, 0.999_999)).as_millis(), 1199);
        assert_eq!(delay(decide(&config(0), 0, 7.0)).as_millis(), 1200, "out-of-range jitter is clamped");
    }

    #[test]
    fn gives_up_after_max_restarts_and_never_when_unsupervised() {
        assert_eq!(decide(&config(3), 2, 0.5), RestartDecision::Restart { delay: Duration::from_secs(4), attempt: 3 });
        assert_eq!(decide(&config(3), 3, 0.5), RestartDecision::GiveUp);
        assert!(matches!(decide(&config(0), 1000, 0.5), RestartDecision::Restart { .. }), "0 means unlimited");
        let off = RestartConfig { restart_on_exit: false, ..config(3) };
        assert_eq!(decide(&off, 0, 0.5), RestartDecision::Stay);
    }
}
