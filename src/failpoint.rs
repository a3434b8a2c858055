//! A test knob: a delay at one step of the commit sequence — after a blob's
//! file is published (fsynced and renamed into place) and before its row is
//! committed — so the crash test can `kill -9` the process in that window,
//! the one the start-up recovery pass exists for.
//!
//! Off unless the environment variable `STOWAGE_FAILPOINT_DELAY_MS` is set
//! when the process starts; a running gateway logs a warning if it is. It
//! slows uploads down and changes nothing else: never set it in production.

use std::sync::OnceLock;
use std::time::Duration;

/// The environment variable that turns the delay on.
pub const ENV: &str = "STOWAGE_FAILPOINT_DELAY_MS";

fn delay() -> Option<Duration> {
    static DELAY: OnceLock<Option<Duration>> = OnceLock::new();
    *DELAY.get_or_init(|| {
        let ms: u64 = std::env::var(ENV).ok()?.trim().parse().ok()?;
        (ms > 0).then(|| Duration::from_millis(ms))
    })
}

/// Whether the knob is set (for the start-up warning).
pub fn enabled() -> bool {
    delay().is_some()
}

/// Waits at the step between publishing a blob and committing its row.
pub async fn after_publish() {
    if let Some(d) = delay() {
        tokio::time::sleep(d).await;
    }
}
