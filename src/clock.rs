//! The time source. Injected everywhere a decision depends on "now"
//! (expiry, skew, sweeps), so tests can move time instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

/// The real wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The wall clock shifted by an adjustable number of seconds, for tests that
/// need a URL to expire or a sweep to find old rows.
#[derive(Default)]
pub struct ShiftedClock {
    offset_secs: AtomicI64,
}

impl ShiftedClock {
    /// Moves this clock `secs` further into the future.
    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::seconds(self.offset_secs.load(Ordering::SeqCst))
    }
}
