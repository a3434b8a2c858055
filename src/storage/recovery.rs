//! What runs beside the requests: the start-up recovery pass, which makes
//! the blob store and the index agree after a crash, and the periodic
//! sweep of what clients left behind.

use futures_util::StreamExt;
use md5::{Digest as _, Md5};
use uuid::Uuid;

use super::file_object::{file_object, occupied_by_other};
use super::{Storage, StorageError, PENDING_GRACE_SECS};

/// Expired rows whose locks are tried, and which are deleted, together.
const SWEEP_CHUNK: usize = 256;
use crate::index::{BlobInfo, Cursor, LockMode, LockName, LockSpace, Status, Tx, TxResult};
use crate::store::{BlobName, Digest};

/// Longest the start-up recovery pass may take before serving begins.
pub const RECOVERY_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

/// How far back the start-up pass checks blob rows against their files.
pub const RECENT_BLOBS_SECS: i64 = 24 * 3600;

/// What the start-up recovery pass found and did.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Blob files found in the store.
    pub files_total: usize,
    /// Of them, referenced by a row (or adopted).
    pub kept: usize,
    /// Pending rows completed by a blob published before a crash.
    pub relinked: usize,
    /// Blob files no row wanted, deleted.
    pub removed: usize,
    /// Recent blob rows whose file was checked.
    pub rows_checked: usize,
    /// Blob rows whose file is missing or of the wrong size (now marked).
    pub damaged: Vec<Digest>,
    /// Whether everything was checked within the budget.
    pub complete: bool,
}

/// What becomes of a blob file found in the store.
#[derive(Debug, PartialEq, Eq)]
enum Claim {
    /// A row with bytes refers to it.
    Referenced,
    /// No row had it, but these pending rows declared exactly these bytes
    /// and are now marked uploaded (the crash came between publish and
    /// commit).
    Relinked(usize),
    /// Nothing refers to it: its row (if any) is gone, its file goes.
    Unreferenced,
}

/// Decides, in one transaction, what becomes of a stored blob of `size`
/// bytes: referenced, adopted by the pending rows that declared it (unless
/// an S3 client's object holds such a row's key: adopting would replace
/// it, as a presigned PUT would have been refused), or unreferenced.
async fn claim(
    tx: &mut dyn Tx,
    sha256: Digest,
    size: u64,
    bucket: &str,
    now: i64,
) -> TxResult<Claim> {
    let info = BlobInfo {
        sha256,
        size,
        md5: None,
    };
    if tx.blob_in_use(&sha256).await? {
        tx.record_blob(&info, None, now, false).await?;
        return Ok(Claim::Referenced);
    }
    let mut pending: Vec<Uuid> = Vec::new();
    for id in tx.pending_files_of(&sha256, size).await? {
        if !occupied_by_other(tx, bucket, None, &id).await? {
            pending.push(id);
        }
    }
    if pending.is_empty() {
        tx.delete_blob(&sha256, now).await?;
        return Ok(Claim::Unreferenced);
    }
    tx.record_blob(&info, None, now, false).await?;
    tx.insert_bucket(bucket, None, now).await?;
    for id in &pending {
        if let Some(mut rec) = tx.get_file(id).await? {
            rec.status = Status::Uploaded;
            rec.uploaded_at = Some(now);
            tx.update_file(&rec).await?;
            tx.put_object(&file_object(bucket, &rec, &info, now))
                .await?;
        }
    }
    Ok(Claim::Relinked(pending.len()))
}

impl Storage {
    /// The start-up recovery pass, run before serving (so no upload races
    /// it). Leftover temp files were already removed when the store opened.
    /// Then, within [`RECOVERY_BUDGET`]:
    /// 1. every blob file is either referenced by a row, adopted by the
    ///    pending rows that declared exactly its bytes (a crash came between
    ///    publishing it and committing the row), or deleted as an orphan;
    /// 2. every blob row written in the [`RECENT_BLOBS_SECS`] before now
    ///    whose bytes live in the store is checked for its file and size;
    ///    one missing or of the wrong size is marked damaged in the index
    ///    and reported in the log. (Older rows are `stowage verify`'s: a
    ///    crash can only lose what was written just before it.)
    ///
    /// Whatever the budget leaves unchecked waits for the next start or for
    /// `stowage verify` (the log says so). What the pass did is logged.
    pub async fn recover(&self) -> Result<Recovery, StorageError> {
        // First, before looking at a blob: this gateway is the only one on
        // this index with blobs in its own data dir.
        self.claim_local_store().await?;
        let deadline = std::time::Instant::now() + RECOVERY_BUDGET;
        let mut r = Recovery {
            complete: true,
            ..Recovery::default()
        };
        let bucket = self.settings.upload_bucket.clone();
        let now = self.now();
        let b = bucket.clone();
        self.index
            .write(move |tx| {
                let b = b.clone();
                Box::pin(async move { tx.insert_bucket(&b, None, now).await })
            })
            .await?;
        // Step 1 is for a store that names blobs by content (local disk):
        // there a file is its digest, and an orphan can be adopted. In a
        // store of write-once ids an unrecorded id is only ever garbage,
        // which the collector deletes after its grace.
        let mut blobs = if self.store.names_by_content() {
            self.list_blobs()
        } else {
            Box::pin(futures_util::stream::empty())
        };
        while let Some(found) = blobs.next().await {
            let found = found?;
            let BlobName::Content(digest) = found.name else {
                continue;
            };
            let size = found.len;
            r.files_total += 1;
            if std::time::Instant::now() > deadline {
                r.complete = false;
                break;
            }
            let b = bucket.clone();
            let claimed = self
                .index
                .write(move |tx| {
                    let b = b.clone();
                    Box::pin(async move { claim(tx, digest, size, &b, now).await })
                })
                .await?;
            match claimed {
                Claim::Referenced => r.kept += 1,
                Claim::Relinked(n) => {
                    r.kept += 1;
                    r.relinked += n;
                }
                Claim::Unreferenced => {
                    self.store.remove(&BlobName::Content(digest)).await?;
                    r.removed += 1;
                }
            }
        }
        self.check_recent_blobs(&mut r, deadline, now).await?;
        // S3 ETags need the MD5 of blobs recorded before it was kept.
        let missing = self
            .index
            .read(|tx| Box::pin(async move { tx.blobs_missing_md5().await }))
            .await?;
        for digest in missing {
            let Some(name) = self.locate(&digest).await? else {
                continue;
            };
            let Some(mut blob) = self.store.open(&name).await? else {
                continue;
            };
            let mut md5 = Md5::new();
            crate::store::pump(&mut blob, None, |b| md5.update(b)).await?;
            let sum: [u8; 16] = md5.finalize().into();
            self.index
                .write(move |tx| Box::pin(async move { tx.set_blob_md5(&digest, &sum).await }))
                .await?;
        }
        log_recovery(&r);
        Ok(r)
    }

    /// Step 2 of [`Self::recover`]: rows written shortly before start-up
    /// are the ones a crash (or a disk that lied about a flush) could have
    /// left without their file.
    async fn check_recent_blobs(
        &self,
        r: &mut Recovery,
        deadline: std::time::Instant,
        now: i64,
    ) -> Result<(), StorageError> {
        let since = now - RECENT_BLOBS_SECS;
        let mut from: Option<Cursor> = None;
        'rows: while r.complete {
            let f = from;
            let page = self
                .index
                .read(move |tx| Box::pin(async move { tx.newest_blobs(f, 1000).await }))
                .await?;
            let Some(last) = page.last() else { break };
            from = Some(last.0);
            for (_, created, e) in page {
                if created < since {
                    break 'rows;
                }
                if std::time::Instant::now() > deadline {
                    r.complete = false;
                    break 'rows;
                }
                r.rows_checked += 1;
                let why = match self.stored_len(&e.info.sha256).await? {
                    None => "its file is missing".to_string(),
                    Some(len) if len != e.info.size => {
                        format!("its file has {len} bytes, not {}", e.info.size)
                    }
                    Some(_) => continue,
                };
                let d = e.info.sha256;
                tracing::error!(
                    blob = %d.hex(),
                    problem = %why,
                    "a stored blob is damaged; the files and objects using it cannot be read"
                );
                let stamped = format!("{why} (found at start-up, unix time {now})");
                self.index
                    .write(move |tx| {
                        let s = stamped.clone();
                        Box::pin(async move { tx.mark_damaged(&d, &s).await })
                    })
                    .await?;
                r.damaged.push(d);
            }
        }
        Ok(())
    }

    /// Deletes pending rows whose URL expired before `cutoff`, but for
    /// those whose bytes are arriving (in this gateway or another: their
    /// upload's lock is held). Each row's lock is tried, not waited for,
    /// and the row deleted only if it is still pending and expired when
    /// the delete commits (a presign may have renewed it meanwhile).
    async fn sweep_expired(&self, cutoff: i64) -> Result<usize, StorageError> {
        let expired = self
            .index
            .read(move |tx| Box::pin(async move { tx.expired_pending(cutoff).await }))
            .await?;
        let mut removed = 0;
        for chunk in expired.chunks(SWEEP_CHUNK) {
            let mut locks = Vec::with_capacity(chunk.len());
            let mut idle = Vec::with_capacity(chunk.len());
            for id in chunk {
                let name = LockName::new(LockSpace::Arriving, id.as_bytes());
                if let Some(l) = self.index.try_lock(name, LockMode::Exclusive).await? {
                    locks.push(l);
                    idle.push(*id);
                }
            }
            removed += self
                .index
                .write(move |tx| {
                    let idle = idle.clone();
                    Box::pin(async move {
                        let mut removed = 0;
                        for id in &idle {
                            let still = tx.get_file(id).await?.is_some_and(|r| {
                                r.status == Status::Pending && r.url_expires_at < cutoff
                            });
                            if still && tx.delete_pending_file(id).await? {
                                removed += 1;
                            }
                        }
                        Ok(removed)
                    })
                })
                .await?;
            drop(locks);
        }
        Ok(removed)
    }

    /// One pass of housekeeping: pending rows whose URL expired more than
    /// [`PENDING_GRACE_SECS`] ago (except those whose bytes are arriving),
    /// multipart uploads abandoned for `abandoned_multipart_secs`, and temp
    /// files no upload owns. Returns (rows, temp files) removed.
    ///
    /// The index's part runs on one gateway at a time (the housekeeping
    /// lock, tried: a gateway that finds it held skips that part); each
    /// gateway sweeps its own temp files.
    pub async fn sweep(&self) -> Result<(usize, usize), StorageError> {
        self.sweep_when(true).await
    }

    /// [`Self::sweep`] as the housekeeping timer runs it: the index's part
    /// only if no other gateway is sweeping it now.
    pub async fn sweep_round(&self) -> Result<(usize, usize), StorageError> {
        self.sweep_when(false).await
    }

    async fn sweep_when(&self, wait: bool) -> Result<(usize, usize), StorageError> {
        let (rows, uploads) = match self.housekeeping_lock(b"sweep", wait).await? {
            Some(_lock) => self.sweep_index().await?,
            None => (0, 0),
        };
        let temps = self.store.sweep_staging().await?;
        if rows + uploads + temps > 0 {
            tracing::info!(
                pending_rows = rows,
                uploads,
                temp_files = temps,
                "sweep removed stale data"
            );
        }
        Ok((rows, temps))
    }

    /// The index's part of [`Self::sweep`]: (pending rows, multipart
    /// uploads) removed.
    async fn sweep_index(&self) -> Result<(usize, usize), StorageError> {
        let cutoff = self.now() - PENDING_GRACE_SECS;
        let rows = self.sweep_expired(cutoff).await?;
        let cutoff = self.now() - self.settings.abandoned_multipart_secs as i64;
        let stale = self
            .index
            .write(move |tx| {
                Box::pin(async move {
                    tx.forget_completed_before(cutoff).await?;
                    tx.stale_uploads(cutoff).await
                })
            })
            .await?;
        let uploads = stale.len();
        for id in stale {
            // One failure must not stop the rest of the sweep.
            match self.abort_upload(&id).await {
                Ok(_) => {}
                Err(e) => tracing::warn!(error = ?e, "could not abort an abandoned upload"),
            }
        }
        Ok((rows, uploads))
    }

    /// Forgets a multipart upload and releases its parts' blobs; whether
    /// there was one.
    pub async fn abort_upload(&self, upload_id: &str) -> Result<bool, StorageError> {
        let id = upload_id.to_string();
        let blobs = self
            .index
            .write(move |tx| {
                let id = id.clone();
                Box::pin(async move { forget_upload(tx, &id).await })
            })
            .await?;
        let Some(blobs) = blobs else {
            return Ok(false);
        };
        for d in blobs {
            self.release_after_failure(d).await;
        }
        Ok(true)
    }
}

/// Deletes an upload and its parts; the blobs they named (maybe garbage
/// now), or `None` if there was no such upload.
pub(super) async fn forget_upload(
    tx: &mut dyn Tx,
    upload_id: &str,
) -> TxResult<Option<Vec<Digest>>> {
    if tx.get_upload(upload_id).await?.is_none() {
        return Ok(None);
    }
    let blobs = tx.part_blobs(upload_id).await?;
    tx.delete_upload(upload_id).await?;
    Ok(Some(blobs))
}

fn log_recovery(r: &Recovery) {
    tracing::info!(
        blob_files = r.files_total,
        blobs_kept = r.kept,
        rows_relinked = r.relinked,
        orphan_blobs_removed = r.removed,
        rows_checked = r.rows_checked,
        damaged = r.damaged.len(),
        "recovery pass done"
    );
    if r.relinked + r.removed > 0 {
        tracing::info!(
            rows_relinked = r.relinked,
            orphan_blobs_removed = r.removed,
            "recovery pass repaired the store"
        );
    }
    if !r.damaged.is_empty() {
        tracing::error!(
            damaged = r.damaged.len(),
            "blobs are missing or damaged (marked in the index); run `stowage verify` \
             and restore them from a backup"
        );
    }
    if !r.complete {
        tracing::warn!(
            budget_secs = RECOVERY_BUDGET.as_secs(),
            "recovery pass stopped at its time budget; the rest is checked at the next \
             start, or now by `stowage verify`"
        );
    }
}
