//! The garbage collector of a store of write-once ids (an upstream S3
//! cluster): it deletes bytes no index row refers to any more, once their
//! grace has passed, and bytes a gateway published but never recorded (it
//! died between the two), once they are old enough that no record can
//! still be on its way.
//!
//! It runs on one gateway at a time (the index's housekeeping lock, tried:
//! the others skip the round), in batches that yield, and each step is
//! safe to cut anywhere: bytes are deleted before their garbage row, so a
//! gateway killed in between leaves the row for the next round, and
//! deleting bytes already gone is no error. A store that names blobs by
//! content (local disk) has no garbage: its blobs are deleted when
//! released, under the blob's lock.
//!
//! It must never delete bytes a row names: an id is deleted only when the
//! garbage table holds it (its row let it go) or neither table knows it
//! and the store says it is older than [`ORPHAN_MIN_AGE_SECS`].

use futures_util::StreamExt;

use super::{Storage, StorageError};
use crate::store::BlobName;

/// Garbage rows deleted per index write.
const BATCH: usize = 64;
/// Garbage rows one round deletes at most; the rest wait for the next.
const ROUND: usize = 4096;
/// An id no row knows is deleted only this long after the store last
/// wrote it, and never before the grace: a gateway publishes bytes a
/// moment before it records them, and a record can wait out an index
/// outage in between. A day is far beyond both.
pub const ORPHAN_MIN_AGE_SECS: i64 = 24 * 3600;

/// What one round of the collector did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Collected {
    /// Whether this gateway ran the round (another held the lock if not).
    pub ran: bool,
    /// Garbage ids whose bytes were deleted.
    pub garbage: usize,
    /// Ids no row knew, old enough, deleted.
    pub orphans: usize,
}

impl Storage {
    /// One round of the collector (see the module docs). With `orphans`,
    /// also walks the whole store for ids no row knows (a listing of every
    /// blob: run it seldom).
    pub async fn collect_garbage(&self, orphans: bool) -> Result<Collected, StorageError> {
        self.collect_when(orphans, true).await
    }

    /// [`Self::collect_garbage`] as the housekeeping timer runs it: only if
    /// no other gateway is collecting now.
    pub async fn collect_garbage_round(&self, orphans: bool) -> Result<Collected, StorageError> {
        self.collect_when(orphans, false).await
    }

    async fn collect_when(&self, orphans: bool, wait: bool) -> Result<Collected, StorageError> {
        let mut done = Collected::default();
        if self.store.names_by_content() {
            return Ok(done);
        }
        let Some(_lock) = self.housekeeping_lock(b"garbage", wait).await? else {
            return Ok(done);
        };
        done.ran = true;
        let now = self.now();
        while done.garbage < ROUND {
            let due = self
                .index
                .read(move |tx| Box::pin(async move { tx.due_garbage(now, BATCH).await }))
                .await?;
            if due.is_empty() {
                break;
            }
            for id in &due {
                self.store.remove(&BlobName::Id(id.clone())).await?;
            }
            let n = due.len();
            self.index
                .write(move |tx| {
                    let due = due.clone();
                    Box::pin(async move {
                        for id in &due {
                            tx.drop_garbage(id).await?;
                        }
                        Ok(())
                    })
                })
                .await?;
            done.garbage += n;
            tokio::task::yield_now().await;
        }
        if orphans {
            done.orphans = self.collect_orphans(now).await?;
        }
        if done.garbage + done.orphans > 0 {
            tracing::info!(
                garbage = done.garbage,
                orphans = done.orphans,
                "deleted upstream bytes no row refers to"
            );
        }
        Ok(done)
    }

    /// Deletes ids the store holds that neither a blob row nor the garbage
    /// knows, last written before both the grace and a day ago.
    async fn collect_orphans(&self, now: i64) -> Result<usize, StorageError> {
        let grace = i64::try_from(self.settings.garbage_grace_secs).unwrap_or(i64::MAX);
        let cutoff = now.saturating_sub(grace.max(ORPHAN_MIN_AGE_SECS));
        let mut removed = 0;
        let mut listing = self.store.list();
        while let Some(found) = listing.next().await {
            let found = found?;
            let BlobName::Id(id) = &found.name else {
                continue;
            };
            if found.modified >= cutoff {
                continue;
            }
            let probe = id.clone();
            let known = self
                .index
                .read(move |tx| {
                    let probe = probe.clone();
                    Box::pin(async move { tx.location_known(&probe).await })
                })
                .await?;
            if !known {
                tracing::warn!(id = %id, "deleting upstream bytes no row ever recorded");
                self.store.remove(&found.name).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
