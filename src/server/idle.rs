//! A connection that gives up when nothing moves on it.
//!
//! [`IdleIo`] wraps a socket and fails a read or write that has waited
//! longer than the idle timeout since the last byte went either way. That
//! one rule covers a client that stops sending an upload's body (the upload
//! fails and its temp file is removed), a download nobody reads (its
//! buffers are freed), and a keep-alive connection left open. Time the
//! server spends working, with no read or write waiting, is never counted:
//! the clock is only looked at while an operation is pending.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How long a closing connection keeps reading (and dropping) what the
/// client still sends, and how much of it at most (see `poll_shutdown`).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_MAX: u64 = 64 << 20;

/// A socket with an idle timeout.
pub struct IdleIo<T> {
    inner: T,
    timeout: Duration,
    /// Set once the write side is shut: the lingering close in progress
    /// (its deadline, bytes dropped so far).
    lingering: Option<(Pin<Box<Sleep>>, u64)>,
    /// When a pending operation gives up.
    deadline: Pin<Box<Sleep>>,
    /// Whether `deadline` is running: set by the first operation that has
    /// to wait, cleared by any progress.
    armed: bool,
}

impl<T> IdleIo<T> {
    pub fn new(inner: T, timeout: Duration) -> Self {
        IdleIo {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            armed: false,
            lingering: None,
        }
    }

    /// Bytes moved (or an operation completed): the idle clock stops.
    fn progressed(&mut self) {
        self.armed = false;
    }

    /// An operation is waiting: the clock starts if it is not running, and
    /// the operation fails once it runs out; else it waits (woken by the
    /// socket or the deadline).
    fn waiting<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        if !self.armed {
            self.armed = true;
            let at = Instant::now() + self.timeout;
            self.deadline.as_mut().reset(at);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "nothing was sent or received for {} s",
                    self.timeout.as_secs()
                ),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.progressed();
                Poll::Ready(r)
            }
            Poll::Pending => this.waiting(cx),
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                this.progressed();
                Poll::Ready(r)
            }
            Poll::Pending => this.waiting(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                this.progressed();
                Poll::Ready(r)
            }
            Poll::Pending => this.waiting(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => this.waiting(cx),
        }
    }

    /// Shuts the write side (the client sees the answer end), then reads
    /// and drops what the client is still sending, for a moment, before the
    /// socket closes. A server that closes with unread bytes makes the
    /// kernel send a reset, and a client still sending a body it was
    /// refused early (a browser, or any client without `Expect:
    /// 100-continue`) would then see "connection reset" instead of the
    /// error that says what to fix.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.lingering.is_none() {
            match Pin::new(&mut this.inner).poll_shutdown(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
            this.lingering = Some((Box::pin(tokio::time::sleep(LINGER)), 0));
        }
        let Some((deadline, dropped)) = this.lingering.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let mut scratch = [0u8; 8192];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    *dropped += buf.filled().len() as u64;
                    if *dropped > LINGER_MAX {
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => {
                    return match deadline.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(Ok(())),
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out_and_a_talking_one_does_not() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut io = IdleIo::new(a, Duration::from_secs(10));
        let mut buf = [0u8; 8];
        // Bytes every 6 s keep it alive well past 10 s in total.
        let talker = tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_secs(6)).await;
                b.write_all(b"x").await.unwrap();
            }
            b
        });
        for _ in 0..3 {
            assert_eq!(io.read(&mut buf).await.unwrap(), 1);
        }
        let _b = talker.await.unwrap();
        // Then silence: the next read fails after the timeout.
        let started = Instant::now();
        let e = io.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn time_with_nothing_pending_is_not_counted() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut io = IdleIo::new(a, Duration::from_secs(10));
        let mut buf = [0u8; 8];
        b.write_all(b"one").await.unwrap();
        assert_eq!(io.read(&mut buf).await.unwrap(), 3);
        // The server then works for 30 s without reading; the client's next
        // bytes come 5 s into the read that follows, and it succeeds.
        tokio::time::sleep(Duration::from_secs(30)).await;
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            b.write_all(b"late").await.unwrap();
            b
        });
        assert_eq!(io.read(&mut buf).await.unwrap(), 4);
        let _b = late.await.unwrap();
    }
}
