//! What the operator's tools and probes read: the counts of `/metrics`,
//! the liveness check of `/healthz`, and the blob rows `stowage verify`
//! and `stowage backup` walk.
//!
//! Reads only, but for [`Storage::forget_blob`], which is for a backup's
//! own copy of the index and must never be called on a live one.

use crate::index::{BlobEntry, Dangling};
use crate::store::Digest;

use super::{Storage, StorageError};

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

    /// Proves the index answers and takes writes: a write transaction that
    /// changes nothing (its commit, and in durable mode its sync, must
    /// succeed).
    pub async fn check(&self) -> Result<(), StorageError> {
        Ok(self
            .index
            .write(|tx| Box::pin(async move { tx.check().await }))
            .await?)
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
