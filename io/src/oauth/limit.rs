//! Per-address rate limit of the authorization server's endpoints (metadata aside): a token
//! bucket per peer (60 requests, refilled at one per two seconds; every local client shares
//! one address, and a login takes about six), a bounded table of peers, and one log line
//! per peer each time it starts being limited.

use std::collections::HashMap;
use std::net::IpAddr;

/// Requests a peer may make at once.
const BURST: f64 = 60.0;
/// Requests per millisecond refilled.
const REFILL_PER_MS: f64 = 0.5 / 1000.0;
/// Peers tracked; beyond, idle (full) buckets are forgotten, then everything.
const MAX_PEERS: usize = 4096;

#[derive(Debug, Default)]
pub(super) struct Limiter {
    buckets: HashMap<Option<IpAddr>, Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at_ms: u64,
    limited: bool,
}

impl Limiter {
    /// Take one request for `peer` at `now_ms`; `Some(seconds)` to wait when over the limit.
    pub(super) fn check(&mut self, peer: Option<IpAddr>, now_ms: u64) -> Option<u64> {
        if self.buckets.len() >= MAX_PEERS && !self.buckets.contains_key(&peer) {
            self.buckets.retain(|_, b| refilled(b, now_ms) < BURST);
            if self.buckets.len() >= MAX_PEERS {
                tracing::warn!(peers = MAX_PEERS, "OAuth rate limit table full; forgetting every peer");
                self.buckets.clear();
            }
        }
        let bucket = self.buckets.entry(peer).or_insert(Bucket { tokens: BURST, at_ms: now_ms, limited: false });
        bucket.tokens = refilled(bucket, now_ms);
        bucket.at_ms = now_ms;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            bucket.limited = false;
            return None;
        }
        if !bucket.limited {
            bucket.limited = true;
            tracing::warn!(peer = ?peer, "OAuth endpoints rate-limited for this address ({BURST} requests, then 1 per 2 s)");
        }
        Some(((1.0 - bucket.tokens) / REFILL_PER_MS / 1000.0).ceil() as u64)
    }
}

fn refilled(bucket: &Bucket, now_ms: u64) -> f64 {
    (bucket.tokens + now_ms.saturating_sub(bucket.at_ms) as f64 * REFILL_PER_MS).min(BURST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_requests_wait_and_other_peers_are_unaffected() {
        let mut limiter = Limiter::default();
        let a = Some(IpAddr::from([127, 0, 0, 1]));
        let b = Some(IpAddr::from([127, 0, 0, 2]));
        for _ in 0..BURST as usize {
            assert_eq!(limiter.check(a, 0), None);
        }
        assert_eq!(limiter.check(a, 0), Some(2));
        assert_eq!(limiter.check(b, 0), None, "per peer");
        assert_eq!(limiter.check(a, 2000), None, "refilled after two seconds");
        assert!(limiter.check(a, 2000).is_some());
    }

    #[test]
    fn the_table_is_bounded() {
        let mut limiter = Limiter::default();
        for i in 0..(MAX_PEERS as u32 + 10) {
            limiter.check(Some(IpAddr::from(i.to_be_bytes())), 0);
        }
        assert!(limiter.buckets.len() <= MAX_PEERS);
    }
}
