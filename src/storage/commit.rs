//! The commit protocol, once for every write of bytes: the body was staged
//! (streamed to the blob store's staging area, or gathered in memory if it
//! is small) and verified by its caller; here it is **published** (made
//! durable under its digest; inline bytes ride in the index write) and
//! **recorded** (one index transaction that decides what the bytes become),
//! under the blob's lock, and on any failure or refusal **released** again
//! (deleted once nothing refers to it), with whatever the record let go.
//!
//! Every path that stores bytes ends here: the upload API's PUT and its
//! part-wise completion, S3's PutObject, form uploads, UploadPart and
//! CompleteMultipartUpload.

use bytes::Bytes;

use super::{Storage, StorageError};
use crate::index::{BlobInfo, Tx, TxFuture};
use crate::store::{BlobName, Digest, StagedBlob};

/// Where a received body waits for its verdict.
pub enum Payload {
    /// A small body, whole in memory: its bytes go into the index row.
    Inline(Bytes),
    /// A body streamed to the blob store's staging area.
    Staged(Box<dyn StagedBlob>),
}

impl Payload {
    /// Makes verified bytes durable where they belong: a staged blob is
    /// committed to the store (fsynced and published; the name it is under
    /// is returned); inline bytes are handed back for the index write,
    /// whose commit makes them durable.
    async fn publish(self, digest: &Digest) -> Result<Published, StorageError> {
        match self {
            Payload::Inline(b) => Ok(Published::Inline(b)),
            Payload::Staged(s) => {
                let name = s.commit(digest).await?;
                crate::failpoint::after_publish().await;
                Ok(Published::Stored(name))
            }
        }
    }
}

/// Where published bytes are.
enum Published {
    /// In memory, for the index write.
    Inline(Bytes),
    /// In the blob store, under this name.
    Stored(BlobName),
}

/// What a record body decided about the bytes just published.
pub struct Recorded<T> {
    /// The answer for the caller.
    pub answer: T,
    /// Whether a row now refers to the new blob; if not (the write was
    /// refused: a condition failed, the key is taken), it is released.
    pub keep: bool,
    /// Blobs the record stopped referring to (an object it replaced, the
    /// parts it assembled): each is released once the record is durable.
    pub released: Vec<Digest>,
}

impl<T> Recorded<T> {
    /// The blob is referenced now; `released` were let go.
    pub fn kept(answer: T, released: Vec<Digest>) -> Self {
        Recorded {
            answer,
            keep: true,
            released,
        }
    }

    /// The write was refused: nothing refers to the blob.
    pub fn refused(answer: T) -> Self {
        Recorded {
            answer,
            keep: false,
            released: Vec::new(),
        }
    }
}

impl Storage {
    /// Publishes verified `payload` (whose digest, size and MD5 are `blob`)
    /// and records it with the body `record` makes from its inline bytes
    /// (`Some` for a small body kept in the index), in one transaction,
    /// holding the blob's lock so that no release of the same content can
    /// delete the bytes between publish and record. Bytes a store put
    /// under a write-once id are recorded under it in that transaction
    /// (the id they were under before, if any, goes to the garbage). Then
    /// releases what the record let go, and the new blob itself if the
    /// record refused it or failed. Nothing partial is ever recorded.
    pub async fn commit<T, B>(
        &self,
        payload: Payload,
        blob: BlobInfo,
        record: impl FnOnce(Option<Bytes>) -> B,
    ) -> Result<T, StorageError>
    where
        T: Send + 'static,
        B: for<'t> FnMut(&'t mut dyn Tx) -> TxFuture<'t, Recorded<T>> + Clone + Send + 'static,
    {
        let digest = blob.sha256;
        let lock = self.blob_lock(&digest).await?;
        let (inline, id) = match payload.publish(&digest).await? {
            Published::Inline(b) => (Some(b), None),
            Published::Stored(BlobName::Content(_)) => (None, None),
            Published::Stored(BlobName::Id(id)) => (None, Some(id)),
        };
        let body = record(inline);
        let due = self.garbage_due();
        let located = id.clone();
        let outcome = self
            .index
            .write(move |tx| {
                // A fresh copy of the body per run (a run may be retried).
                let (mut body, located) = (body.clone(), located.clone());
                Box::pin(async move {
                    let r = body(&mut *tx).await?;
                    if let (true, Some(id)) = (r.keep, &located) {
                        tx.set_blob_location(&digest, id, due).await?;
                    }
                    Ok(r)
                })
            })
            .await;
        drop(lock);
        match outcome {
            Ok(r) => {
                if !r.keep {
                    // Never recorded: no reader can have the id.
                    if let Some(id) = id {
                        self.remove_unrecorded(BlobName::Id(id)).await;
                    }
                    self.release_after_failure(digest).await;
                }
                for d in r.released.into_iter().filter(|d| *d != digest) {
                    self.release_after_failure(d).await;
                }
                Ok(r.answer)
            }
            Err(e) => {
                // Bytes under an id are left for the collector: the index
                // may have committed the record though it answered an
                // error (a connection lost at COMMIT), and only it can say.
                self.release_after_failure(digest).await;
                Err(e.into())
            }
        }
    }

    /// Deletes bytes published under an id no row ever recorded; a failure
    /// is logged (the collector deletes them later).
    async fn remove_unrecorded(&self, name: BlobName) {
        if let Err(e) = self.store.remove(&name).await {
            tracing::warn!(error = %e, "could not delete refused bytes; the collector will");
        }
    }
}
