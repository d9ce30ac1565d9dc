//! Per-address rate limit of the authorization server's endpoints (metadata aside): a token
//! bucket per peer holding `--rate-limit-max` requests (100), refilled over
//! `--rate-limit-window` (15 min), as 1MCP counts them; every local client shares one address,
//! and a login takes about six requests, a bounded table of peers, and one log line
//! per peer each time it starts being limited.

use std::collections::HashMap;
use std::net::IpAddr;

/// Peers tracked; beyond, idle (full) buckets are forgotten, then everything.
const MAX_PEERS: usize = 4096;

#[derive(Debug)]
pub(super) struct Limiter {
    /// Requests a peer may make at once.
    burst: f64,
    /// Requests per millisecond refilled.
    refill_per_ms: f64,
    buckets: HashMap<Option<IpAddr>, Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at_ms: u64,
    limited: bool,
}

impl Limiter {
    /// `max` requests per `window_ms` per address (at least one of each).
    pub(super) fn new(max: u32, window_ms: u64) -> Limiter {
        let burst = f64::from(max.max(1));
        Limiter { burst, refill_per_ms: burst / window_ms.max(1) as f64, buckets: HashMap::new() }
    }

    /// Take one request for `peer` at `now_ms`; `Some(seconds)` to wait when over the limit.
    pub(super) fn check(&mut self, peer: Option<IpAddr>, now_ms: u64) -> Option<u64> {
        if self.buckets.len() >= MAX_PEERS && !self.buckets.contains_key(&peer) {
            let (burst, rate) = (self.burst, self.refill_per_ms);
            self.buckets.retain(|_, b| refilled(b, now_ms, burst, rate) < burst);
            if self.buckets.len() >= MAX_PEERS {
                tracing::warn!(peers = MAX_PEERS, "OAuth rate limit table full; forgetting every peer");
                self.buckets.clear();
            }
        }
        let (burst, rate) = (self.burst, self.refill_per_ms);
        let bucket = self.buckets.entry(peer).or_insert(Bucket { tokens: burst, at_ms: now_ms, limited: false });
        bucket.tokens = refilled(bucket, now_ms, burst, rate);
        bucket.at_ms = now_ms;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            bucket.limited = false;
            return None;
        }
        if !bucket.limited {
            bucket.limited = true;
            tracing::warn!(peer = ?peer, burst, "OAuth endpoints rate-limited for this address (--rate-limit-max, --rate-limit-window)");
        }
        Some(((1.0 - bucket.tokens) / rate / 1000.0).ceil().max(1.0) as u64)
    }
}

fn refilled(bucket: &Bucket, now_ms: u64, burst: f64, rate: f64) -> f64 {
    (bucket.tokens + now_ms.saturating_sub(bucket.at_ms) as f64 * rate).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_requests_wait_and_other_peers_are_unaffected() {
        // 30 per minute: one more every 2 s.
        let mut limiter = Limiter::new(30, 60_000);
        let a = Some(IpAddr::from([127, 0, 0, 1]));
        let b = Some(IpAddr::from([127, 0, 0, 2]));
        for _ in 0..30 {
            assert_eq!(limiter.check(a, 0), None);
        }
        assert_eq!(limiter.check(a, 0), Some(2));
        assert_eq!(limiter.check(b, 0), None, "per peer");
        assert_eq!(limiter.check(a, 2000), None, "refilled after two seconds");
        assert!(limiter.check(a, 2000).is_some());
    }

    #[test]
    fn the_table_is_bounded() {
        let mut limiter = Limiter::new(100, 900_000);
        for i in 0..(MAX_PEERS as u32 + 10) {
            limiter.check(Some(IpAddr::from(i.to_be_bytes())), 0);
        }
        assert!(limiter.buckets.len() <= MAX_PEERS);
    }
}
