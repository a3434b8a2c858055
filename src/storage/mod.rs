//! The storage service: everything between the HTTP handlers and the two
//! stores — the index (rows) and the blob store (bytes).
//!
//! It owns the commit protocol ([`commit`]: stage → verify → publish →
//! record → release on failure, written once), the decision whether a
//! body's bytes live inline in the index or in the blob store, the rules of
//! the upload API and of S3 (dedupe, conflicts, conditional writes, what a
//! completion means), multipart assembly, recovery and the sweep. Handlers
//! of both surfaces call it; none of them touches a lock, the index or the
//! blob store. Its locks (a blob's content, a file's completion, a file
//! whose bytes are arriving) are the index's, so they hold across every
//! gateway on one index.
//!
//! It must never parse a request or render a response: it takes values and
//! answers with outcomes, and its errors are [`StorageError`].

pub mod acl;
mod assemble;
pub mod buckets;
mod commit;
mod composite;
mod file_object;
pub mod file_parts;
pub mod files;
mod garbage;
pub mod holds;
mod keys;
pub mod lifecycle;
mod maintenance;
pub mod multipart;
pub mod multipart_checksum;
pub mod object_lock;
pub mod objects;
pub mod policy;
mod recovery;
#[cfg(test)]
pub(crate) mod tests;
pub mod versions;

use std::sync::Arc;

use uuid::Uuid;

use crate::clock::Clock;
use crate::index::{Index, IndexError, IndexLock, LockMode, LockName, LockSpace};
use crate::store::{BlobName, BlobReader, BlobStore, Digest, StoreError};

pub use assemble::Assembled;
pub use commit::{Payload, Recorded};
pub use composite::{composite_digest, PartPlace};
pub use garbage::{Collected, ORPHAN_MIN_AGE_SECS};
pub use keys::BucketAccess;
pub use maintenance::Stats;
pub use recovery::{Recovery, RECENT_BLOBS_SECS, RECOVERY_BUDGET};

/// Blobs up to this size are kept inline in the index: their bytes are
/// committed in the same transaction as the row that references them, so
/// a small upload costs a share of one group-committed WAL fsync instead of
/// a file, two fsyncs and a rename. Bodies this small are gathered in
/// memory (64 KiB per connection at most).
pub const INLINE_BLOB_MAX: u64 = 64 * 1024;

/// Pending rows are swept this long after their URL expired, so a client
/// whose URL just expired still gets a precise answer for a while.
pub const PENDING_GRACE_SECS: i64 = 3600;

/// Why the storage service could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Storing `bytes` more would eat into `[storage] reserve_bytes` (0:
    /// the disk filled while a body arrived).
    #[error("the disk is short of space for {bytes} more bytes")]
    NoSpace { bytes: u64 },
    /// A stored blob is missing or not what the index says.
    #[error("{0}")]
    Damaged(String),
    #[error(transparent)]
    Hashing(#[from] crate::md5_lane::LaneStopped),
    /// A part being assembled is gone (replaced, or its upload aborted).
    #[error("part {0} changed while the upload was being completed")]
    PartGone(u32),
    /// Another gateway on this index keeps its blobs in its own data dir.
    #[error(
        "another gateway on this index keeps its blobs in its own data dir: gateways that share \
         an index must keep their blobs in an S3 cluster ([storage] backend = \"s3\", see \
         \"Several machines\" in the README), or each have an index of its own"
    )]
    LocalStoreShared,
}

/// What the storage service is set up with, from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The bucket the upload API's files are the objects of.
    pub upload_bucket: String,
    /// Free space never to be used (`[storage] reserve_bytes`).
    pub reserve_bytes: u64,
    /// Abandoned multipart uploads are aborted after this long.
    pub abandoned_multipart_secs: u64,
    /// In a store of write-once ids, bytes no row refers to any more are
    /// deleted this long after (`[storage] s3_gc_grace_secs`): a reader
    /// may still be streaming them, and an index restored from a backup
    /// taken meanwhile still finds them.
    pub garbage_grace_secs: u64,
}

/// The storage service (see the module docs).
pub struct Storage {
    pub index: Arc<dyn Index>,
    pub store: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    /// The last health verdict and when it was reached (see
    /// [`Storage::healthy`]).
    health: tokio::sync::Mutex<Option<(std::time::Instant, bool)>>,
    /// On a local store, this gateway's claim to the index's blobs, held
    /// from [`Storage::recover`] on (see [`LockSpace::LocalStore`]).
    local_claim: std::sync::Mutex<Option<IndexLock>>,
}

impl Storage {
    pub fn new(
        index: Arc<dyn Index>,
        store: Arc<dyn BlobStore>,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Self {
        Storage {
            index,
            store,
            clock,
            settings,
            health: tokio::sync::Mutex::new(None),
            local_claim: std::sync::Mutex::new(None),
        }
    }

    /// On a store that keeps blobs in this gateway's data dir, takes the
    /// index's claim to them for as long as this service lives; refused
    /// while another gateway on the same index holds it. A store of
    /// write-once ids in a cluster is shared by design: no claim.
    pub(crate) async fn claim_local_store(&self) -> Result<(), StorageError> {
        if !self.store.names_by_content() {
            return Ok(());
        }
        let name = LockName::new(LockSpace::LocalStore, b"blobs");
        let claim = self
            .index
            .try_lock(name, LockMode::Exclusive)
            .await?
            .ok_or(StorageError::LocalStoreShared)?;
        if let Ok(mut held) = self.local_claim.lock() {
            *held = Some(claim);
        }
        Ok(())
    }

    /// Now, in unix seconds (the injected clock).
    pub fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    /// The lock of one blob's content: publishing it and recording a
    /// reference to it is one step, deleting it unreferenced another, and
    /// the two must never interleave for the same content — in this
    /// gateway or any other on the same index. Taken one at a time (never
    /// a second blob's while holding one).
    pub async fn blob_lock(&self, digest: &Digest) -> Result<IndexLock, StorageError> {
        let name = LockName::new(LockSpace::Blob, &digest.0);
        Ok(self.index.lock(name, LockMode::Exclusive).await?)
    }

    /// The lock of completing file `id` from its parts: one completion at
    /// a time (each copies the whole file; a second would find its parts
    /// gone). Blob locks are taken inside it, never around it.
    pub async fn completion_lock(&self, id: &Uuid) -> Result<IndexLock, StorageError> {
        let name = LockName::new(LockSpace::Completion, id.as_bytes());
        Ok(self.index.lock(name, LockMode::Exclusive).await?)
    }

    /// The housekeeping lock of `work` (the sweep, the collector): one
    /// gateway at a time does it. `wait`: until it is free (an operator's
    /// or a test's call); else only if it is free now (the timer's round:
    /// another gateway is doing the work). `None`: not free now.
    pub(crate) async fn housekeeping_lock(
        &self,
        work: &[u8],
        wait: bool,
    ) -> Result<Option<IndexLock>, StorageError> {
        let name = LockName::new(LockSpace::Housekeeping, work);
        Ok(if wait {
            Some(self.index.lock(name, LockMode::Exclusive).await?)
        } else {
            self.index.try_lock(name, LockMode::Exclusive).await?
        })
    }

    /// Marks `id` as receiving bytes until the returned guard drops: the
    /// sweep of expired pending rows, in any gateway, leaves its row be
    /// meanwhile (a slow upload that began while its URL was valid).
    pub async fn begin_upload(&self, id: Uuid) -> Result<IndexLock, StorageError> {
        let name = LockName::new(LockSpace::Arriving, id.as_bytes());
        Ok(self.index.lock(name, LockMode::Shared).await?)
    }

    /// When bytes let go now may be deleted from a store of ids.
    pub(crate) fn garbage_due(&self) -> i64 {
        self.now()
            .saturating_add(i64::try_from(self.settings.garbage_grace_secs).unwrap_or(i64::MAX))
    }

    /// Whether a body of `length` bytes is kept inline in the index (and
    /// gathered in memory while it arrives) rather than in the blob store.
    pub fn keeps_inline(&self, length: u64) -> bool {
        length <= INLINE_BLOB_MAX
    }

    /// A new staging area in the blob store, for a body too large to keep
    /// inline; dropping it without a commit removes what was written.
    pub async fn stage(&self) -> Result<Box<dyn crate::store::StagedBlob>, StorageError> {
        Ok(self.store.stage().await?)
    }

    /// Refuses a write of `bytes` that would leave less free space than
    /// `[storage] reserve_bytes`; `bytes` = 0 checks that the reserve is
    /// intact (the mid-stream check of a body).
    pub fn check_space(&self, bytes: u64) -> Result<(), StorageError> {
        let Some(free) = self.store.free_space()? else {
            return Ok(());
        };
        let reserve = self.settings.reserve_bytes;
        if free >= bytes.saturating_add(reserve) {
            return Ok(());
        }
        tracing::warn!(
            free,
            reserve,
            needed = bytes,
            "write refused: it would eat into the free-space reserve"
        );
        Err(StorageError::NoSpace { bytes })
    }

    /// Deletes a blob (row and bytes) if nothing refers to it any more;
    /// whether it did. Under the blob's lock, so no upload records a
    /// reference to it in between. Bytes under a write-once id are not
    /// deleted here: the row's delete puts the id in the garbage, in the
    /// same transaction, and the collector deletes it after the grace.
    ///
    /// A composite's segments are released after it, each the same way.
    pub async fn release(&self, digest: Digest) -> Result<bool, StorageError> {
        let freed = self.release_one(digest).await?;
        let Some(segments) = freed else {
            return Ok(false);
        };
        for d in segments {
            // A segment is a blob of bytes: it has no segments of its own.
            self.release_one(d).await?;
        }
        Ok(true)
    }

    /// [`Self::release`] of one row: the segments it let go, if it was
    /// free.
    async fn release_one(&self, digest: Digest) -> Result<Option<Vec<Digest>>, StorageError> {
        let _lock = self.blob_lock(&digest).await?;
        let due = self.garbage_due();
        let freed = self
            .index
            .write(move |tx| {
                Box::pin(async move {
                    if tx.blob_in_use(&digest).await? {
                        return Ok(None);
                    }
                    Ok(Some(tx.delete_blob(&digest, due).await?))
                })
            })
            .await?;
        let Some(freed) = freed else {
            return Ok(None);
        };
        if self.store.names_by_content() {
            self.store.remove(&BlobName::Content(digest)).await?;
        }
        Ok(Some(freed.segments))
    }

    /// [`Self::release`] on a failure path: the request already failed, so
    /// a second error is logged rather than returned.
    pub async fn release_after_failure(&self, digest: Digest) {
        if let Err(e) = self.release(digest).await {
            tracing::warn!(error = ?e, "could not release a blob after a failed write");
        }
    }
}

/// A reader over `len` bytes from `start` of inline blob bytes (clamped to
/// what is there); `len` of the reader is the whole blob's size, as for
/// store readers.
pub fn inline_reader(data: bytes::Bytes, start: u64, len: u64) -> BlobReader {
    let total = data.len() as u64;
    let from = start.min(total) as usize;
    let to = start.saturating_add(len).min(total) as usize;
    let part = data.slice(from..to);
    BlobReader {
        len: total,
        chunks: Box::pin(futures_util::stream::iter(
            (!part.is_empty()).then_some(Ok(part)),
        )),
    }
}
