//! Bodies in both directions, streamed: [`Body`], what a caller sends (a
//! buffer or a stream, never required whole in memory), and
//! [`ObjectStream`], an object's bytes as they arrive. Both keep the idle
//! clock of their request ([`Activity`]) and check their length.
//!
//! Must never: buffer a stream, let a body longer or shorter than its
//! Content-Length pass as complete, or wait forever on a silent store.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full, StreamBody};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use super::error::UpstreamError;

/// Piece of an in-memory body handed to the connection at a time.
const PIECE: usize = 64 << 10;

/// A request body: bytes in memory or a stream of them.
pub struct Body(UnsyncBoxBody<Bytes, std::io::Error>);

impl Body {
    pub fn empty() -> Body {
        Body(Empty::new().map_err(|never| match never {}).boxed_unsync())
    }

    /// Bytes in memory, handed to the connection a piece at a time (no
    /// copy), so the idle clock sees a slow link move: given whole, an
    /// 8 MiB part would count as sent at once and then look idle while it
    /// crawls out.
    pub fn from_bytes(b: Bytes) -> Body {
        if b.len() <= PIECE {
            return Body(Full::new(b).map_err(|never| match never {}).boxed_unsync());
        }
        let len = b.len();
        let pieces = (0..len)
            .step_by(PIECE)
            .map(move |at| Ok(b.slice(at..(at + PIECE).min(len))));
        Body::from_stream(futures_util::stream::iter(pieces))
    }

    /// A streamed body: sent as its pieces come, never gathered.
    pub fn from_stream<S>(s: S) -> Body
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    {
        Body(StreamBody::new(s.map(|r| r.map(Frame::data))).boxed_unsync())
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Body {
        Body::from_bytes(b)
    }
}

impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Body {
        Body::from_bytes(Bytes::from(b))
    }
}

/// When a byte last moved on a request, for its idle timeout.
pub(super) struct Activity {
    start: Instant,
    /// Milliseconds after `start`.
    last: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            start: Instant::now(),
            last: AtomicU64::new(0),
        })
    }

    pub(super) fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(ms, Ordering::Relaxed);
    }

    /// How long nothing has moved.
    pub(super) fn idle(&self) -> Duration {
        self.start
            .elapsed()
            .saturating_sub(Duration::from_millis(self.last.load(Ordering::Relaxed)))
    }
}

/// Why our own request body failed, told apart from a transport failure
/// when hyper hands it back inside its error.
#[derive(Debug)]
pub(super) struct BodyFailed(pub(super) String);

impl std::fmt::Display for BodyFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BodyFailed {}

/// A [`Body`] hyper has not begun to send, held where the sender can take
/// it back: after a failed connect (nothing was sent) the same body goes
/// to the next endpoint, streamed bodies included.
pub(super) struct Unsent(Arc<Mutex<Option<BoxedBody>>>);

type BoxedBody = UnsyncBoxBody<Bytes, std::io::Error>;

impl Unsent {
    /// The body back, if no byte of it was asked for.
    pub(super) fn take_back(self) -> Option<Body> {
        take(&self.0).map(Body)
    }
}

/// The body in `slot`, taken out (a poisoned lock still holds it).
fn take(slot: &Mutex<Option<BoxedBody>>) -> Option<BoxedBody> {
    match slot.lock() {
        Ok(mut held) => held.take(),
        Err(poisoned) => poisoned.into_inner().take(),
    }
}

/// A [`Body`] as it is sent: counted against its Content-Length, each
/// piece resetting the request's idle clock. It takes its body out of the
/// [`Unsent`] slot at the first poll: until then the sender may take it
/// back.
pub(super) struct Sending {
    unsent: Arc<Mutex<Option<BoxedBody>>>,
    /// The body, once polled.
    inner: Option<BoxedBody>,
    left: u64,
    activity: Arc<Activity>,
}

impl Sending {
    pub(super) fn new(body: Body, length: u64, activity: Arc<Activity>) -> (Sending, Unsent) {
        let slot = Arc::new(Mutex::new(Some(body.0)));
        let sending = Sending {
            unsent: slot.clone(),
            inner: None,
            left: length,
            activity,
        };
        (sending, Unsent(slot))
    }
}

impl http_body::Body for Sending {
    type Data = Bytes;
    type Error = BodyFailed;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyFailed>>> {
        let this = &mut *self;
        if this.inner.is_none() {
            this.inner = take(&this.unsent);
        }
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(Some(Err(BodyFailed(
                "the body was taken back before it was sent".into(),
            ))));
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(BodyFailed(e.to_string())))),
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    if n > this.left {
                        this.left = 0;
                        return Poll::Ready(Some(Err(BodyFailed(
                            "the body is longer than its Content-Length".into(),
                        ))));
                    }
                    this.left -= n;
                    this.activity.touch();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) if this.left > 0 => Poll::Ready(Some(Err(BodyFailed(format!(
                "the body ended {} bytes short of its Content-Length",
                this.left
            ))))),
            Poll::Ready(None) => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        if self.left > 0 {
            return false;
        }
        match &self.inner {
            Some(inner) => inner.is_end_stream(),
            None => match self.unsent.lock() {
                Ok(held) => held.as_ref().is_none_or(|b| b.is_end_stream()),
                Err(_) => false,
            },
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// An object's bytes as the store sends them. Yields an error, and then
/// nothing, if the store goes quiet for the idle timeout, the connection
/// breaks, or the body is not the length announced.
pub struct ObjectStream {
    /// `None`: nothing to read (an empty range).
    body: Option<Incoming>,
    left: u64,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    origin: Arc<str>,
    done: bool,
}

impl ObjectStream {
    pub(super) fn new(body: Incoming, length: u64, idle: Duration, origin: Arc<str>) -> Self {
        ObjectStream {
            body: Some(body),
            left: length,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            origin,
            done: false,
        }
    }

    /// A stream of no bytes.
    pub(super) fn empty(idle: Duration, origin: Arc<str>) -> Self {
        ObjectStream {
            body: None,
            left: 0,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            origin,
            done: true,
        }
    }

    /// Bytes still to come.
    pub fn remaining(&self) -> u64 {
        self.left
    }

    fn fail(&mut self, e: UpstreamError) -> Poll<Option<Result<Bytes, UpstreamError>>> {
        self.done = true;
        Poll::Ready(Some(Err(e)))
    }
}

impl std::fmt::Debug for ObjectStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStream")
            .field("origin", &self.origin)
            .field("remaining", &self.left)
            .finish()
    }
}

impl Stream for ObjectStream {
    type Item = Result<Bytes, UpstreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let body = match &mut this.body {
            Some(b) if !this.done => b,
            _ => return Poll::Ready(None),
        };
        loop {
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers: nothing of the object
                    };
                    let n = data.len() as u64;
                    if n > this.left {
                        return this.fail(UpstreamError::Protocol(
                            "the object's body is longer than announced".into(),
                        ));
                    }
                    this.left -= n;
                    let deadline = Instant::now() + this.idle;
                    this.timer.as_mut().reset(deadline);
                    if data.is_empty() {
                        continue;
                    }
                    return Poll::Ready(Some(Ok(data)));
                }
                Poll::Ready(Some(Err(e))) => {
                    let detail = format!("the object's body broke off: {}", chain(&e));
                    let origin = this.origin.to_string();
                    return this.fail(UpstreamError::Unreachable {
                        endpoint: origin,
                        detail,
                    });
                }
                Poll::Ready(None) if this.left > 0 => {
                    let why = format!("the object's body ended {} bytes short", this.left);
                    return this.fail(UpstreamError::Protocol(why));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    if this.timer.as_mut().poll(cx).is_ready() {
                        let detail =
                            format!("no byte of the object's body for {} s", this.idle.as_secs());
                        let origin = this.origin.to_string();
                        return this.fail(UpstreamError::Unreachable {
                            endpoint: origin,
                            detail,
                        });
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

/// Reads a small answer whole (an XML document, an error), at most
/// `limit` bytes, giving up after `idle` without a byte.
pub(super) async fn read_small(
    body: Incoming,
    limit: usize,
    idle: Duration,
    origin: &Arc<str>,
) -> Result<Bytes, UpstreamError> {
    let mut body = body;
    let mut out = Vec::new();
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => {
                return Err(UpstreamError::Unreachable {
                    endpoint: origin.to_string(),
                    detail: format!("no byte of the answer for {} s", idle.as_secs()),
                })
            }
            Ok(None) => return Ok(Bytes::from(out)),
            Ok(Some(Err(e))) => {
                return Err(UpstreamError::Unreachable {
                    endpoint: origin.to_string(),
                    detail: format!("the answer broke off: {}", chain(&e)),
                })
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(UpstreamError::Protocol(format!(
                    "an answer longer than {limit} bytes"
                )));
            }
            out.extend_from_slice(&data);
        }
    }
}

/// An error with its causes, `: `-joined (hyper's own text is only
/// "client error (Connect)"; the cause says "Connection refused").
pub(super) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cause = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn drain(body: Body, length: u64) -> Result<u64, String> {
        let (mut s, _) = Sending::new(body, length, Activity::new());
        let mut n = 0;
        while let Some(frame) = s.frame().await {
            match frame {
                Ok(f) => n += f.into_data().map_or(0, |d| d.len() as u64),
                Err(e) => return Err(e.0),
            }
        }
        Ok(n)
    }

    fn pieces(p: &[&'static [u8]]) -> Body {
        let items: Vec<std::io::Result<Bytes>> =
            p.iter().map(|b| Ok(Bytes::from_static(b))).collect();
        Body::from_stream(futures_util::stream::iter(items))
    }

    #[tokio::test]
    async fn a_body_must_be_exactly_its_content_length() {
        assert_eq!(drain(pieces(&[b"ab", b"cd"]), 4).await, Ok(4));
        let short = drain(pieces(&[b"ab"]), 4).await.unwrap_err();
        assert!(short.contains("2 bytes short"), "{short}");
        let long = drain(pieces(&[b"ab", b"cde"]), 4).await.unwrap_err();
        assert!(long.contains("longer"), "{long}");
        let failing = Body::from_stream(futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"ab")),
            Err(std::io::Error::other("the client went away")),
        ]));
        assert_eq!(drain(failing, 4).await.unwrap_err(), "the client went away");
        assert_eq!(drain(Body::empty(), 0).await, Ok(0));
    }

    #[tokio::test]
    async fn bytes_go_out_in_pieces_without_a_copy() {
        let whole = Bytes::from(vec![7u8; (3 * PIECE) + 5]);
        let (mut s, _) = Sending::new(
            Body::from_bytes(whole.clone()),
            whole.len() as u64,
            Activity::new(),
        );
        let mut sizes = Vec::new();
        let mut again = Vec::new();
        while let Some(f) = s.frame().await {
            let d = f.unwrap().into_data().unwrap();
            sizes.push(d.len());
            again.extend_from_slice(&d);
        }
        assert_eq!(sizes, [PIECE, PIECE, PIECE, 5]);
        assert_eq!(again, whole);
        assert_eq!(
            drain(Body::from_bytes(Bytes::from_static(b"abc")), 3).await,
            Ok(3)
        );
    }

    /// A body not yet asked for comes back whole (a stream too), for the
    /// next endpoint; once a byte of it was asked for, it does not, and a
    /// sending whose body was taken back fails rather than send nothing.
    #[tokio::test]
    async fn an_unsent_body_is_taken_back_whole_and_a_sent_one_is_not() {
        let (sending, unsent) = Sending::new(pieces(&[b"ab", b"cd"]), 4, Activity::new());
        assert!(!http_body::Body::is_end_stream(&sending));
        let body = unsent.take_back().expect("nothing was sent");
        assert_eq!(drain(body, 4).await, Ok(4));
        let mut gone = sending;
        let e = gone.frame().await.unwrap().unwrap_err();
        assert!(e.0.contains("taken back"), "{e}");

        let (mut sending, unsent) = Sending::new(pieces(&[b"ab", b"cd"]), 4, Activity::new());
        assert!(sending.frame().await.unwrap().is_ok());
        assert!(unsent.take_back().is_none());

        let (sending, _) = Sending::new(Body::empty(), 0, Activity::new());
        assert!(http_body::Body::is_end_stream(&sending));
    }

    #[tokio::test(start_paused = true)]
    async fn activity_counts_idle_time_from_the_last_byte() {
        let a = Activity::new();
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(a.idle(), Duration::from_secs(5));
        a.touch();
        assert_eq!(a.idle(), Duration::ZERO);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(a.idle(), Duration::from_secs(2));
    }
}
