//! [`Upload`]: a body written into the store as it arrives — one PUT
//! when it fits in one part, else a multipart upload whose parts go out as
//! they fill, each with its real Content-Length and its CRC32C.
//!
//! A part is sent while the next one is being received, so memory stays
//! at most two parts per upload: the one filling and the one in flight (a
//! full part waits, the buffer empty, until the one before it is stored).
//!
//! Must never: make anything visible under the key before `finish`
//! succeeds, or leave a multipart upload behind: `abort`, a failed
//! `finish` and dropping an unfinished `Upload` all abort it (the last in
//! a spawned task; without a runtime to spawn on, the cleaner's
//! `list_multipart_uploads` finds it later).

use tokio::task::JoinHandle;

use super::body::Body;
use super::client::Client;
use super::error::UpstreamError;
use super::model::{Integrity, Part};
use super::multipart::MAX_PARTS;
use super::parts::{PartBuffer, Step};

/// Default part size: 8 MiB, as the AWS CLI's.
pub const DEFAULT_PART_SIZE: usize = 8 << 20;
/// S3's smallest part (all but the last): 5 MiB.
pub const MIN_PART_SIZE: usize = 5 << 20;
/// S3's largest part: 5 GiB.
pub const MAX_PART_SIZE: usize = 5 << 30;

/// A body being written to `key` in the store.
pub struct Upload {
    client: Client,
    key: String,
    buffer: PartBuffer,
    /// The multipart upload, once the body outgrew one part.
    upload_id: Option<String>,
    /// Receipts of the parts stored, in order.
    parts: Vec<Part>,
    /// The part being sent, at most one.
    in_flight: Option<JoinHandle<Result<Part, UpstreamError>>>,
    /// Parts handed out so far (stored or in flight).
    cut: u32,
    /// Bytes written so far.
    written: u64,
    /// The error that ended this upload; every later call returns it.
    failed: Option<UpstreamError>,
    /// Finished or aborted: nothing left for `Drop` to clean.
    settled: bool,
}

impl Upload {
    /// Starts writing to `key` in parts of `part_size` bytes (kept within
    /// S3's 5 MiB..=5 GiB). Nothing is sent yet: a body that fits in one
    /// part costs one PUT, at [`Upload::finish`].
    pub fn begin(client: &Client, key: impl Into<String>, part_size: usize) -> Upload {
        Upload {
            client: client.clone(),
            key: key.into(),
            buffer: PartBuffer::new(part_size.clamp(MIN_PART_SIZE, MAX_PART_SIZE)),
            upload_id: None,
            parts: Vec::new(),
            in_flight: None,
            cut: 0,
            written: 0,
            failed: None,
            settled: false,
        }
    }

    /// The key being written.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends `data`, sending each part as it fills. After an error (or a
    /// write cancelled while it sent a part) the upload is dead: every
    /// later call returns that error, and dropping or aborting it cleans
    /// up.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), UpstreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut data = data;
        while !data.is_empty() {
            match self.buffer.take(data) {
                Step::Took(n) => {
                    data = &data[n..];
                    self.written += n as u64;
                }
                // The buffer is empty now: it refills only once the part
                // before this one is stored, so two parts at most.
                Step::Part(part) => {
                    // Marked failed while the part is handed over: a write
                    // cancelled here (its future dropped) has lost the part,
                    // and the upload must not complete without it.
                    self.failed = Some(UpstreamError::Body(
                        "an earlier write was cancelled while it sent a part".into(),
                    ));
                    match self.send_part(part).await {
                        Ok(()) => self.failed = None,
                        Err(e) => {
                            self.failed = Some(e.clone());
                            return Err(e);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Hands `bytes` out as the next part: waits for the part in flight
    /// (so at most one is), then sends this one in a task of its own.
    async fn send_part(&mut self, bytes: bytes::Bytes) -> Result<(), UpstreamError> {
        if self.cut >= MAX_PARTS {
            return Err(UpstreamError::Body(format!(
                "the body needs more than {MAX_PARTS} parts of {} bytes",
                bytes.len()
            )));
        }
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let id = self.client.create_multipart(&self.key).await?;
                self.upload_id = Some(id.clone());
                id
            }
        };
        self.settle_in_flight().await?;
        self.cut += 1;
        let (client, key, number) = (self.client.clone(), self.key.clone(), self.cut);
        self.in_flight = Some(tokio::spawn(async move {
            let len = bytes.len() as u64;
            let integrity = Integrity::crc32c_of(&bytes);
            client
                .upload_part(
                    &key,
                    &upload_id,
                    number,
                    Body::from_bytes(bytes),
                    len,
                    integrity,
                )
                .await
        }));
        Ok(())
    }

    /// Waits for the part in flight, if any, and keeps its receipt.
    async fn settle_in_flight(&mut self) -> Result<(), UpstreamError> {
        if let Some(task) = self.in_flight.take() {
            let part = task.await.map_err(|e| {
                UpstreamError::Body(format!("the task sending a part ended: {e}"))
            })??;
            self.parts.push(part);
        }
        Ok(())
    }

    /// Sends what is left and makes the object visible under the key: one
    /// PUT if no part was cut, else the last part and the completion. The
    /// stored size. On an error nothing is visible and the multipart
    /// upload, if any, is aborted.
    pub async fn finish(mut self) -> Result<u64, UpstreamError> {
        let result = self.finish_inner().await;
        if result.is_err() {
            // Cleaned here rather than by Drop, so the caller knows it is
            // done; a failed abort leaves it to the cleaner.
            let _ = self.abort_inner().await;
        }
        self.settled = true;
        result
    }

    async fn finish_inner(&mut self) -> Result<u64, UpstreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let rest = self.buffer.take_rest();
        let len = rest.len() as u64;
        let Some(upload_id) = self.upload_id.clone() else {
            let integrity = Integrity::crc32c_of(&rest);
            self.client
                .put_object(&self.key, Body::from_bytes(rest), len, integrity)
                .await?;
            return Ok(self.written);
        };
        // The last part: at least one byte (a part is cut only when a byte
        // beyond it arrives), sent while the one in flight finishes.
        self.send_part(rest).await?;
        self.settle_in_flight().await?;
        self.client
            .complete_multipart(&self.key, &upload_id, &self.parts)
            .await?;
        Ok(self.written)
    }

    /// Abandons the upload: the part in flight is cancelled and the
    /// multipart upload, if one was begun, aborted. Nothing was visible
    /// and nothing is left.
    pub async fn abort(mut self) -> Result<(), UpstreamError> {
        let r = self.abort_inner().await;
        self.settled = true;
        r
    }

    async fn abort_inner(&mut self) -> Result<(), UpstreamError> {
        if let Some(task) = self.in_flight.take() {
            task.abort();
            // Wait until it is gone, so no part lands after the abort.
            let _ = task.await;
        }
        match self.upload_id.take() {
            None => Ok(()),
            Some(id) => match self.client.abort_multipart(&self.key, &id).await {
                Ok(()) | Err(UpstreamError::NotFound) => Ok(()),
                Err(e) => Err(e),
            },
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Some(upload_id) = self.upload_id.take() else {
            // Nothing was sent: nothing to clean.
            return;
        };
        let in_flight = self.in_flight.take();
        let (client, key) = (self.client.clone(), self.key.clone());
        let abort = async move {
            if let Some(task) = in_flight {
                task.abort();
                let _ = task.await;
            }
            match client.abort_multipart(&key, &upload_id).await {
                Ok(()) | Err(UpstreamError::NotFound) => {}
                Err(e) => tracing::warn!(
                    key = %key,
                    error = %e,
                    "could not abort an abandoned upstream upload; the cleaner will"
                ),
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(abort);
            }
            Err(_) => tracing::warn!(
                key = %self.key,
                "an upstream upload was dropped outside a runtime; the cleaner will abort it"
            ),
        }
    }
}
