//! What the operator's tools and probes read: the counts of `/metrics`,
//! the liveness check of `/healthz`, and the blob rows `stowage verify`
//! and `stowage backup` walk.
//!
//! Reads only, but for [`Storage::forget_blob`], which is for a backup's
//! own copy of the index and must never be called on a live one.

use std::time::{Duration, Instant};

use crate::index::{BlobEntry, Dangling};
use crate::store::Digest;

use super::{Storage, StorageError};

/// How long a health verdict answers for.
pub const HEALTH_FRESH_FOR: Duration = Duration::from_secs(1);

/// The counts `/metrics` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Files of the upload API declared, their bytes not yet arrived.
    pub pending_files: u64,
    /// Files of the upload API with their bytes.
    pub stored_files: u64,
    /// S3 objects (the files' included).
    pub objects: u64,
    /// Bytes of the stored blobs.
    pub blob_bytes: u64,
}

impl Storage {
    /// The counts for `/metrics`.
    pub async fn stats(&self) -> Result<Stats, StorageError> {
        let (pending_files, stored_files, objects, blob_bytes) = self
            .index
            .read(|tx| Box::pin(async move { tx.stats().await }))
            .await?;
        Ok(Stats {
            pending_files,
            stored_files,
            objects,
            blob_bytes,
        })
    }

    /// Whether the index takes writes (a transaction that changes nothing
    /// commits, and in durable mode syncs) and the blob store does too (a
    /// file written and synced) — the verdict of `/healthz`.
    ///
    /// The check writes and anyone may ask, so it runs at most once per
    /// [`HEALTH_FRESH_FOR`]: callers in between, however many, share the
    /// last verdict (and wait for a check under way rather than start one).
    pub async fn healthy(&self) -> bool {
        let mut last = self.health.lock().await;
        match *last {
            Some((at, healthy)) if at.elapsed() < HEALTH_FRESH_FOR => healthy,
            _ => {
                let healthy = self.check_now().await;
                *last = Some((Instant::now(), healthy));
                healthy
            }
        }
    }

    async fn check_now(&self) -> bool {
        let index = self
            .index
            .write(|tx| Box::pin(async move { tx.check().await }))
            .await;
        let store = self.store.check().await;
        if index.is_ok() && store.is_ok() {
            return true;
        }
        // Detail for the operator's log; a probe only needs the verdict.
        tracing::error!(index = ?index.err(), store = ?store.err(), "health check failed");
        false
    }

    /// Every blob file of the store, one by one.
    pub fn list_blobs(&self) -> crate::store::BlobList {
        self.store.list()
    }

    /// Bytes free for new blobs, if the store can tell.
    pub fn free_space(&self) -> Result<Option<u64>, StorageError> {
        Ok(self.store.free_space()?)
    }

    /// Up to `limit` blob rows with digests after `after`, in digest order.
    pub async fn blob_page(
        &self,
        after: Option<Digest>,
        limit: usize,
    ) -> Result<Vec<BlobEntry>, StorageError> {
        Ok(self
            .index
            .read(move |tx| Box::pin(async move { tx.blob_page(after.as_ref(), limit).await }))
            .await?)
    }

    /// One blob row, if there is one.
    pub async fn blob_entry(&self, sha256: &Digest) -> Result<Option<BlobEntry>, StorageError> {
        let d = *sha256;
        let row = self
            .index
            .read(move |tx| Box::pin(async move { tx.get_blob(&d).await }))
            .await?;
        Ok(row.map(|r| BlobEntry {
            info: r.info,
            inline: r.inline,
        }))
    }

    /// The bytes of a blob kept inline in the index; `None` if it has none
    /// there.
    pub async fn inline_bytes(&self, sha256: &Digest) -> Result<Option<Vec<u8>>, StorageError> {
        let d = *sha256;
        Ok(self
            .index
            .read(move |tx| Box::pin(async move { tx.blob_data(&d).await }))
            .await?)
    }

    /// Rows (files with bytes, objects, parts) that refer to a blob the
    /// index has no row for.
    pub async fn dangling(&self) -> Result<Vec<Dangling>, StorageError> {
        Ok(self
            .index
            .read(|tx| Box::pin(async move { tx.dangling().await }))
            .await?)
    }

    /// Removes a blob row and every row that refers to it; how many
    /// referrers went. Only for a backup's copy of the index, whose blob
    /// was deleted live (after the copy's moment) before it was copied.
    pub async fn forget_blob(&self, sha256: &Digest) -> Result<usize, StorageError> {
        let d = *sha256;
        Ok(self
            .index
            .write(move |tx| Box::pin(async move { tx.forget_blob(&d).await }))
            .await?)
    }
}
