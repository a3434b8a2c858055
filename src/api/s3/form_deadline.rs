//! The deadline of a body read before its request is authenticated.
//!
//! A browser form upload (POST Object) carries its signature inside the
//! body, among the form fields that precede the file, so those fields are
//! read from a client nobody has authenticated yet. Without a deadline one
//! byte every few seconds holds a connection for ever, and a handful of
//! such clients use up `[limits] max_connections` for everyone.
//!
//! This module owns that deadline: [`BodyDeadline`], which wraps the body
//! of a form upload ([`BodyDeadline::until_signed`]) so reading it fails
//! once the fields have taken longer than `[limits]
//! form_fields_timeout_secs` in all, or (after
//! [`FORM_FIELDS_RATE_GRACE_SECS`]) arrive slower on average than
//! `form_fields_min_bytes_per_sec`; [`BodyDeadline::signed`], which lifts it
//! once the signature verifies; and [`BodyDeadline::refusal`], S3's 400
//! `RequestTimeout` that the form handler answers for a body it cut off.
//!
//! It must never limit a body whose request is authenticated (the file of a
//! verified form streams at the client's pace, under the connection's idle
//! timeout only), and the handler it interrupts must not have stored
//! anything: the deadline runs only up to the signature check, before which
//! nothing is written.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use crate::api::error::ApiError;
use crate::config::{LimitsConfig, FORM_FIELDS_RATE_GRACE_SECS};

const ARMED: u8 = 0;
const SIGNED: u8 = 1;
const EXPIRED: u8 = 2;

/// One request's deadline for the part of its body read before it is
/// authenticated. Cheap to clone (the clones share their state).
#[derive(Clone)]
pub struct BodyDeadline {
    state: Arc<AtomicU8>,
    total: Duration,
    min_rate: u64,
}

impl BodyDeadline {
    pub fn new(limits: &LimitsConfig) -> Self {
        BodyDeadline {
            state: Arc::new(AtomicU8::new(ARMED)),
            total: limits.form_fields_timeout,
            min_rate: limits.form_fields_min_bytes_per_sec,
        }
    }

    /// Whether the deadline passed before the signature was checked: the
    /// request then failed for it, whatever its handler answered.
    pub fn expired(&self) -> bool {
        self.state.load(Ordering::Acquire) == EXPIRED
    }

    /// Time allowed since the body began, having received `received`
    /// bytes: each byte buys `1 / min_rate` s, after the grace period, up to
    /// the total.
    fn allowance(&self, received: u64) -> Duration {
        if self.min_rate == 0 {
            return self.total;
        }
        let by_rate = Duration::from_secs_f64(received as f64 / self.min_rate as f64);
        by_rate
            .max(Duration::from_secs(FORM_FIELDS_RATE_GRACE_SECS))
            .min(self.total)
    }

    /// The refusal of a request whose deadline expired: S3's 400
    /// `RequestTimeout`, saying what was too slow and that nothing was
    /// stored.
    pub fn refusal(&self) -> ApiError {
        ApiError::RequestTimeout(format!(
            "Your socket connection to the server was not read from or written to within the \
             timeout period: the form fields before the file (the policy and its signature) \
             must all arrive within {} s, at {} bytes per second or more after the first {} s. \
             Nothing was stored; send the form again, without pausing before the file.",
            self.total.as_secs(),
            self.min_rate,
            FORM_FIELDS_RATE_GRACE_SECS,
        ))
    }

    /// `body`, failing once this deadline passes unless [`Self::signed`]
    /// lifts it first.
    pub fn until_signed<S>(&self, body: S) -> UntilSigned<S> {
        UntilSigned::new(body, Some(self.clone()))
    }

    /// The form's signature verified: its body is no longer held to the
    /// deadline.
    pub fn signed(&self) {
        // Only an armed deadline is lifted: one that expired stays so.
        let _ = self
            .state
            .compare_exchange(ARMED, SIGNED, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// A body stream held to a [`BodyDeadline`] while it is armed.
pub struct UntilSigned<S> {
    inner: S,
    deadline: Option<BodyDeadline>,
    started: Instant,
    received: u64,
    timer: Pin<Box<Sleep>>,
}

impl<S> UntilSigned<S> {
    fn new(inner: S, deadline: Option<BodyDeadline>) -> Self {
        let started = Instant::now();
        let first = deadline.as_ref().map_or(Duration::ZERO, |d| d.allowance(0));
        UntilSigned {
            inner,
            deadline,
            started,
            received: 0,
            timer: Box::pin(tokio::time::sleep_until(started + first)),
        }
    }
}

impl<S, E> Stream for UntilSigned<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = Result<Bytes, io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let state = this
            .deadline
            .as_ref()
            .map(|d| d.state.load(Ordering::Acquire));
        if state == Some(EXPIRED) {
            return Poll::Ready(Some(Err(timed_out())));
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.received += chunk.len() as u64;
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(io::Error::other(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                // Waiting on the client: that is the time the deadline counts.
                let Some(d) = this.deadline.as_ref().filter(|_| state == Some(ARMED)) else {
                    return Poll::Pending;
                };
                let at = this.started + d.allowance(this.received);
                if this.timer.deadline() != at {
                    this.timer.as_mut().reset(at);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => {
                        let expired = d
                            .state
                            .compare_exchange(ARMED, EXPIRED, Ordering::AcqRel, Ordering::Acquire)
                            .is_ok();
                        if expired {
                            tracing::info!(
                                received = this.received,
                                "a form upload's fields arrived too slowly; cut off"
                            );
                            Poll::Ready(Some(Err(timed_out())))
                        } else {
                            // Signed meanwhile (not on this task, in practice).
                            Poll::Pending
                        }
                    }
                }
            }
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the form fields before the signature arrived too slowly",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn deadline(total_secs: u64, min_rate: u64) -> BodyDeadline {
        let mut limits = crate::config::Config::from_toml("").unwrap().limits;
        limits.form_fields_timeout = Duration::from_secs(total_secs);
        limits.form_fields_min_bytes_per_sec = min_rate;
        BodyDeadline::new(&limits)
    }

    /// A body whose chunks of `size` bytes arrive every `every`, `count`
    /// of them, read through the deadline `d`: the bytes read, and whether
    /// it was cut off (the deadline then says it expired).
    async fn read(d: &BodyDeadline, size: usize, every: Duration, count: usize) -> (usize, bool) {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        tokio::spawn(async move {
            for _ in 0..count {
                tokio::time::sleep(every).await;
                if tx.send(Bytes::from(vec![b'x'; size])).await.is_err() {
                    return;
                }
            }
        });
        let chunks = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (Ok::<_, io::Error>(b), rx))
        }));
        let mut s = UntilSigned::new(chunks, Some(d.clone()));
        let mut got = 0;
        while let Some(r) = s.next().await {
            match r {
                Ok(b) => got += b.len(),
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
                    assert!(d.expired());
                    return (got, true);
                }
            }
        }
        assert!(!d.expired());
        (got, false)
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_is_cut_off_once_the_grace_is_over() {
        let d = deadline(20, 1024);
        let start = Instant::now();
        // A byte a second: 5 bytes in the 5 s of grace, far below the rate.
        let (got, cut) = read(&d, 1, Duration::from_secs(1), 100).await;
        assert!(cut);
        assert!(got < 10, "{got}");
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(FORM_FIELDS_RATE_GRACE_SECS)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn fields_at_the_rate_pass_and_the_total_still_holds() {
        // 2 KiB a second for 8 s: over the rate, within the total.
        let d = deadline(20, 1024);
        assert_eq!(
            read(&d, 2048, Duration::from_secs(1), 8).await,
            (16 * 1024, false)
        );
        // The same for 30 s: over the rate, but past the total of 20 s.
        let d = deadline(20, 1024);
        let start = Instant::now();
        let (_, cut) = read(&d, 2048, Duration::from_secs(1), 30).await;
        assert!(cut);
        assert_eq!(start.elapsed(), Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn no_minimum_rate_leaves_the_total() {
        let d = deadline(3, 0);
        assert_eq!(read(&d, 1, Duration::from_secs(1), 2).await, (2, false));
        let d = deadline(3, 0);
        let (got, cut) = read(&d, 1, Duration::from_secs(1), 10).await;
        assert!(cut && got < 4, "{got}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_signed_body_streams_at_the_clients_pace() {
        let d = deadline(2, 1024);
        d.signed();
        // A byte every 10 s for a minute: far slower than any limit here.
        assert_eq!(read(&d, 1, Duration::from_secs(10), 6).await, (6, false));
    }

    #[test]
    fn the_refusal_is_s3s_request_timeout() {
        let e = deadline(7, 512).refusal();
        assert_eq!(e.meta().s3_code, "RequestTimeout");
        assert_eq!(e.meta().status, http::StatusCode::BAD_REQUEST);
        assert!(
            e.to_string()
                .contains("within 7 s, at 512 bytes per second"),
            "{e}"
        );
    }
}
