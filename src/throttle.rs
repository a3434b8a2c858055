//! Per-client rate limits: a token bucket per key (a bearer token's name,
//! a client address), so one busy or hostile client is slowed down without
//! touching the others.
//!
//! This module owns the arithmetic and the table of buckets (which refusals
//! count as failed authentication is the API's to say). It never sees a secret:
//! callers key it by a token's *name* or a client's address, never by the
//! token itself. It must never let its table grow with the
//! number of keys clients invent, nor make one request wait on (or scan) the
//! whole table: the table is a fixed number of slots, in shards with a lock
//! each, and a key only ever looks at the few slots its hash points to.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::Instant;

/// Shards of the table, each behind its own lock: requests for different
/// keys rarely wait on each other.
const SHARDS: usize = 64;
/// Sets per shard; a key belongs to one set of one shard.
const SETS: usize = 20;
/// Slots per set (the set's associativity): how many keys whose hashes
/// point at the same set are remembered at once.
const WAYS: usize = 8;
/// Buckets remembered at most, whatever number of distinct keys clients
/// invent (about 40 bytes each).
pub const CAPACITY: usize = SHARDS * SETS * WAYS;

/// A rate limit of `rate` events per second with bursts up to `burst`.
pub struct Throttle {
    rate: f64,
    burst: f64,
    /// Keyed with a random seed per process, so a client cannot choose keys
    /// that crowd one set to push someone else's bucket out.
    hasher: RandomState,
    shards: Box<[Mutex<Shard>]>,
}

struct Shard {
    /// `SETS * WAYS` slots, set by set.
    slots: Box<[Option<Bucket>]>,
}

#[derive(Clone, Copy)]
struct Bucket {
    /// The key's 64-bit hash. A new key whose hash equals that of one of
    /// the 8 keys in its set (one chance in about 2^61) shares its bucket:
    /// harmless.
    key: u64,
    /// Events that may happen now without waiting.
    tokens: f64,
    last: Instant,
}

impl Throttle {
    /// `rate` per second, bursts of `burst`; a `rate` of 0 allows everything.
    pub fn new(rate: u32, burst: u32) -> Self {
        let shards = if rate == 0 { 0 } else { SHARDS };
        Throttle {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            hasher: RandomState::new(),
            shards: (0..shards)
                .map(|_| {
                    Mutex::new(Shard {
                        slots: vec![None; SETS * WAYS].into_boxed_slice(),
                    })
                })
                .collect(),
        }
    }

    /// Takes one event for `key` at `now`; `Err(secs)` says how long until
    /// one is available again (at least 1, as `Retry-After` counts whole
    /// seconds).
    pub fn take(&self, key: &str, now: Instant) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let (shard, set, hash) = self.locate(key);
        // A poisoned shard (a panic elsewhere) must not lock everyone out.
        let mut shard = match self.shards[shard].lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let ways = &mut shard.slots[set * WAYS..(set + 1) * WAYS];
        let at = match ways.iter().position(|s| s.is_some_and(|b| b.key == hash)) {
            Some(i) => i,
            None => {
                let i = self.victim(ways, now);
                ways[i] = Some(Bucket {
                    key: hash,
                    tokens: self.burst,
                    last: now,
                });
                i
            }
        };
        let Some(b) = ways[at].as_mut() else {
            return Ok(());
        };
        b.tokens = b.refilled(now, self.rate, self.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(self.wait_secs(b.tokens))
        }
    }

    /// The shard, the set within it, and the hash of `key`.
    fn locate(&self, key: &str) -> (usize, usize, u64) {
        let hash = self.hasher.hash_one(key);
        let shard = (hash % SHARDS as u64) as usize;
        let set = ((hash / SHARDS as u64) % SETS as u64) as usize;
        (shard, set, hash)
    }

    /// The slot of a set a new key takes: an empty one, else the bucket
    /// that forgetting loses least — the fullest once refilled (a full one
    /// is the same as none), the least recently used among equals. A client
    /// being limited has an emptied bucket, so it is the last to be
    /// forgotten while others come and go.
    fn victim(&self, ways: &[Option<Bucket>], now: Instant) -> usize {
        let mut best = 0;
        let mut best_rank: Option<(f64, Instant)> = None;
        for (i, slot) in ways.iter().enumerate() {
            let Some(b) = slot else { return i };
            let rank = (b.refilled(now, self.rate, self.burst), b.last);
            let better = match best_rank {
                None => true,
                Some((tokens, last)) => rank.0 > tokens || (rank.0 == tokens && rank.1 < last),
            };
            if better {
                best = i;
                best_rank = Some(rank);
            }
        }
        best
    }

    /// Whole seconds (at least 1) until a bucket holding `tokens` has one.
    fn wait_secs(&self, tokens: f64) -> u64 {
        ((1.0 - tokens) / self.rate).ceil().max(1.0) as u64
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
        assert_eq!(slow.take("k", t0), Err(1));
        assert_eq!(slow.take("k", t0 + Duration::from_secs(1)), Ok(()));
        assert_eq!(slow.take("never seen", t0), Ok(()));
    }

    #[test]
    fn zero_rate_means_no_limit() {
        let t = Throttle::new(0, 0);
        let t0 = Instant::now();
        for _ in 0..10_000 {
            assert_eq!(t.take("a", t0), Ok(()));
        }
        assert!(t.shards.is_empty(), "no table is kept for no limit");
    }

    #[test]
    fn the_table_is_fixed_whatever_the_number_of_keys() {
        let t = Throttle::new(1, 1);
        let t0 = Instant::now();
        for i in 0..(CAPACITY * 3) {
            let _ = t.take(&i.to_string(), t0);
        }
        let slots: usize = t.shards.iter().map(|s| s.lock().unwrap().slots.len()).sum();
        assert_eq!(slots, CAPACITY);
    }

    /// A client being limited stays limited while a crowd of other keys
    /// (far more than the table holds) each fail once: the crowd's fuller
    /// buckets are forgotten before its empty one.
    #[test]
    fn a_limited_client_is_not_forgotten_in_a_crowd() {
        let t = Throttle::new(1, 10);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(t.take("10.0.0.1", t0), Ok(()));
        }
        assert!(t.take("10.0.0.1", t0).is_err());
        for i in 0..(CAPACITY * 4) {
            let _ = t.take(&format!("crowd-{i}"), t0);
        }
        assert!(t.take("10.0.0.1", t0).is_err());
    }

    #[test]
    fn threads_share_one_limit_per_key() {
        let t = std::sync::Arc::new(Throttle::new(1, 100));
        let t0 = Instant::now();
        let granted: usize = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || (0..100).filter(|_| t.take("k", t0).is_ok()).count())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(granted, 100);
    }
}
