//! The MD5 of bytes as they stream, on a second core for large bodies
//! (S3's ETag needs it beside the SHA-256 every write is verified by).
//!
//! Must never hold more than a couple of buffers of a body.

use bytes::Bytes;
use md5::{Digest as _, Md5};

/// The MD5 thread of a body stopped before it was fed everything (it
/// panicked): the body's digests cannot be trusted.
#[derive(Debug, thiserror::Error)]
#[error("the MD5 worker of a body stopped")]
pub struct LaneStopped;

/// Bodies at least this large get their MD5 on a second core.
const MD5_THREAD_MIN: u64 = 1 << 20;

/// Where MD5 is computed. SHA-256 then MD5 on one core caps a PUT at about
/// 450 MB/s; for large bodies MD5 runs on a blocking thread beside the
/// request task, fed the same reference-counted buffers (no copy).
/// Buffers queued for the MD5 thread of one upload.
const MD5_QUEUE: usize = 2;

pub enum Md5Lane {
    Inline(Md5),
    Thread {
        tx: tokio::sync::mpsc::Sender<Bytes>,
        done: tokio::task::JoinHandle<[u8; 16]>,
    },
}

impl Md5Lane {
    pub fn for_length(length: u64) -> Self {
        if length < MD5_THREAD_MIN {
            return Md5Lane::Inline(Md5::new());
        }
        // Two buffers in flight at most: MD5 is the slower of the two
        // hashes, so a deeper queue only holds more memory (200 concurrent
        // uploads with 16 each peaked at 538 MiB).
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(MD5_QUEUE);
        let done = tokio::task::spawn_blocking(move || {
            let mut md5 = Md5::new();
            while let Some(b) = rx.blocking_recv() {
                md5.update(&b);
            }
            md5.finalize().into()
        });
        Md5Lane::Thread { tx, done }
    }

    pub async fn update(&mut self, data: Bytes) -> Result<(), LaneStopped> {
        match self {
            Md5Lane::Inline(md5) => md5.update(&data),
            Md5Lane::Thread { tx, .. } => tx.send(data).await.map_err(|_| LaneStopped)?,
        }
        Ok(())
    }

    pub async fn finish(self) -> Result<[u8; 16], LaneStopped> {
        match self {
            Md5Lane::Inline(md5) => Ok(md5.finalize().into()),
            Md5Lane::Thread { tx, done } => {
                drop(tx);
                done.await.map_err(|_| LaneStopped)
            }
        }
    }
}
