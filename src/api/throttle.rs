//! Per-client rate limits: a token bucket per key (a bearer token's name,
//! a peer address), so one busy or hostile client is slowed down without
//! touching the others.
//!
//! This module owns only the arithmetic and the table of buckets. It never
//! sees a secret: callers key it by a token's *name* or a peer's address,
//! never by the token itself.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept before idle ones are dropped; bounds the table's memory
/// whatever number of distinct keys clients invent.
const MAX_KEYS: usize = 10_000;

/// A rate limit of `rate` events per second with bursts up to `burst`.
pub struct Throttle {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    /// Events that may happen now without waiting.
    tokens: f64,
    last: Instant,
}

impl Throttle {
    /// `rate` per second, bursts of `burst`; a `rate` of 0 allows everything.
    pub fn new(rate: u32, burst: u32) -> Self {
        Throttle {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one event for `key` at `now`; `Err(secs)` says how long until
    /// one is available again (at least 1, as `Retry-After` counts whole
    /// seconds).
    pub fn take(&self, key: &str, now: Instant) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        // A poisoned table (a panic elsewhere) must not lock everyone out.
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            Err(p) => p.into_inner(),
        };
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.refilled(now, rate, burst) < burst);
        }
        let b = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        b.tokens = b.refilled(now, self.rate, self.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(self.wait_secs(b.tokens))
        }
    }

    /// Whole seconds (at least 1) until a bucket holding `tokens` has one.
    fn wait_secs(&self, tokens: f64) -> u64 {
        ((1.0 - tokens) / self.rate).ceil().max(1.0) as u64
    }

    /// Whether `key` may go on, without drawing from its bucket: for
    /// buckets drawn only by failures (`take` on each failed attempt).
    pub fn check(&self, key: &str, now: Instant) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let buckets = match self.buckets.lock() {
            Ok(b) => b,
            Err(p) => p.into_inner(),
        };
        match buckets.get(key) {
            Some(b) => {
                let tokens = b.refilled(now, self.rate, self.burst);
                if tokens >= 1.0 {
                    Ok(())
                } else {
                    Err(self.wait_secs(tokens))
                }
            }
            None => Ok(()),
        }
    }
}

impl Bucket {
    fn refilled(&self, now: Instant, rate: f64, burst: f64) -> f64 {
        let secs = now.saturating_duration_since(self.last).as_secs_f64();
        (self.tokens + secs * rate).min(burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_is_allowed_then_the_rate() {
        let t = Throttle::new(10, 20);
        let t0 = Instant::now();
        for _ in 0..20 {
            assert_eq!(t.take("a", t0), Ok(()));
        }
        assert_eq!(t.take("a", t0), Err(1));
        // Another key has its own bucket.
        assert_eq!(t.take("b", t0), Ok(()));
        // A tenth of a second later, one more is allowed, and only one.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(t.take("a", t1), Ok(()));
        assert!(t.take("a", t1).is_err());
    }

    #[test]
    fn retry_after_counts_whole_seconds_until_a_token() {
        let t = Throttle::new(1, 1);
        let t0 = Instant::now();
        assert_eq!(t.take("a", t0), Ok(()));
        assert_eq!(t.take("a", t0), Err(1));
        let slow = Throttle::new(1, 3);
        for _ in 0..3 {
            assert_eq!(slow.take("k", t0), Ok(()));
        }
        assert_eq!(slow.check("k", t0), Err(1));
        assert_eq!(slow.check("k", t0 + Duration::from_secs(1)), Ok(()));
    }

    #[test]
    fn zero_rate_means_no_limit() {
        let t = Throttle::new(0, 0);
        let t0 = Instant::now();
        for _ in 0..10_000 {
            assert_eq!(t.take("a", t0), Ok(()));
        }
    }

    #[test]
    fn the_table_stays_bounded() {
        let t = Throttle::new(1000, 1);
        let t0 = Instant::now();
        for i in 0..(MAX_KEYS * 3) {
            // Each key is used up at once, then refills a millisecond later.
            let _ = t.take(&i.to_string(), t0 + Duration::from_millis(i as u64));
        }
        assert!(t.buckets.lock().unwrap().len() <= MAX_KEYS);
    }
}
