//! The part-wise upload of a file of the upload API: the multipart upload
//! the storage service opens for a declared file (resumed, never
//! duplicated), and its completion — which parts make the file, putting
//! them together, checking the result against the declared hash, and
//! recording the file, its object and the end of the upload in one
//! transaction through [`Storage::commit`].
//!
//! Must never: trust a part list a client sends (the parts are read from
//! the index and must cover the declared size), use a multipart upload it
//! did not open itself (an S3 client's on the same key is not the file's;
//! its ids lack [`FILE_UPLOAD_PREFIX`]), or record assembled bytes that
//! are not the declared file.

use uuid::Uuid;

use super::file_object::{file_object, intact, occupied_by_other};
use super::{Assembled, Payload, Recorded, Storage, StorageError};
use crate::index::{
    BlobInfo, BlobRow, FileRecord, MultipartUpload, ObjectMeta, PartRecord, Segment, Status, Tx,
    TxResult,
};
use crate::store::Digest;

/// How the ids of the file uploads begin. S3's CreateMultipartUpload
/// makes bare hex ids and no client chooses one, so an upload with this
/// prefix was opened here, for the file of its key.
pub const FILE_UPLOAD_PREFIX: &str = "file-";

/// Most parts read for one file (S3's most parts in one upload).
const MAX_PARTS: usize = 10_000;

/// A file's open part-wise upload, as [`Storage::begin_file_parts`] left it.
#[derive(Debug)]
pub struct FilePartsUpload {
    pub upload_id: String,
    /// The parts the server holds, by number.
    pub parts: Vec<PartRecord>,
}

/// What completing a file from its parts came to.
#[derive(Debug)]
pub enum FileParts {
    /// The file has no part-wise upload (or, stored and intact, no need of
    /// one: its parts were discarded).
    NoUpload,
    /// Stored and completed from its parts.
    Completed(FileRecord),
    Refused(PartsRefusal),
}

/// Why a file's parts did not complete it. Nothing was recorded for the
/// file (the parts of a mismatch were discarded).
#[derive(Debug, PartialEq, Eq)]
pub enum PartsRefusal {
    /// The file is not pending with this declaration any more (its row was
    /// withdrawn, or its bytes arrived otherwise).
    Withdrawn,
    /// The part-wise upload ended while this completion waited its turn.
    Ended,
    /// An object the upload API did not write (an S3 client's) holds the
    /// file's key. The parts stay: should that object go, a complete goes
    /// through.
    Occupied,
    /// Parts 1 to `n - 1` are there, part `n` is not.
    MissingPart(u32),
    /// The `parts` there hold `total` bytes, not the file's `size`.
    Short { parts: usize, total: u64, size: u64 },
    /// A part other than the last is below S3's minimum.
    TooSmall { part: u32, size: u64 },
    /// The parts put together are not the declared file (`got` is their
    /// SHA-256): they were discarded.
    Mismatch { got: Digest, declared: Digest },
    /// The parts or the file changed while they were put together.
    Changed(PartsChange),
}

/// What changed under a completion from parts.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum PartsChange {
    /// A part was sent again.
    PartSentAgain,
    /// The upload ended (completed or aborted).
    UploadEnded,
    /// The file is no longer pending.
    NotPending,
}

/// What the record transaction of a completion from parts decided.
enum PartsRecorded {
    Completed(FileRecord),
    Occupied,
    Lost(PartsChange),
}

/// The newest open part-wise upload of file `key` (only one opened here:
/// see [`FILE_UPLOAD_PREFIX`]).
async fn open_upload(
    tx: &mut dyn Tx,
    bucket: &str,
    key: &str,
) -> TxResult<Option<MultipartUpload>> {
    let uploads = tx.list_uploads(bucket, key, "", "", 1000).await?;
    Ok(uploads
        .into_iter()
        .filter(|u| u.key == key && u.upload_id.starts_with(FILE_UPLOAD_PREFIX))
        .max_by_key(|u| u.created_at))
}

/// The parts that make the file: 1, 2, … with no gap, every one but the
/// last at least S3's minimum, together exactly the declared size. Parts
/// numbered beyond that are left out (a client that asked again with
/// another part size has fewer, larger parts; the old tail is dropped with
/// the upload).
fn covering<'a>(
    rec: &FileRecord,
    stored: &'a [PartRecord],
) -> Result<&'a [PartRecord], PartsRefusal> {
    let mut total = 0u64;
    let mut count = 0;
    for (i, p) in stored.iter().enumerate() {
        if total == rec.size && i > 0 {
            break;
        }
        if p.part_number as usize != i + 1 {
            return Err(PartsRefusal::MissingPart(i as u32 + 1));
        }
        total += p.size;
        count = i + 1;
        if total > rec.size {
            break;
        }
    }
    if total != rec.size {
        return Err(PartsRefusal::Short {
            parts: count,
            total,
            size: rec.size,
        });
    }
    let parts = &stored[..count];
    if let Some(small) = parts
        .iter()
        .take(count.saturating_sub(1))
        .find(|p| p.size < crate::storage::multipart::MIN_PART)
    {
        return Err(PartsRefusal::TooSmall {
            part: small.part_number,
            size: small.size,
        });
    }
    Ok(parts)
}

/// What a completion finds once it holds the file's completion lock.
enum Found {
    /// Completed meanwhile (by a concurrent complete): its answer is ours.
    Done(FileRecord),
    /// The parts that make the file, or why there are none; for a stored
    /// file (being healed), also its blob row, to tell whether its bytes
    /// are intact after all (then the parts are not needed).
    Parts {
        stored: Option<Option<BlobRow>>,
        parts: Result<Vec<PartRecord>, PartsRefusal>,
    },
}

/// Reads what a completion of `rec` from upload `upload_id` goes by, in one
/// snapshot: the file's row now, the upload, the file's key, the parts.
async fn look(tx: &mut dyn Tx, rec: &FileRecord, upload_id: &str, bucket: &str) -> TxResult<Found> {
    let healing = rec.status.has_bytes();
    let refused = |why| {
        Ok(Found::Parts {
            stored: None,
            parts: Err(why),
        })
    };
    let stored = match tx.get_file(&rec.id).await? {
        Some(r) if healing && r.status.has_bytes() && r.sha256 == rec.sha256 => {
            Some(tx.get_blob(&r.sha256).await?)
        }
        Some(r) if !healing && r.status == Status::Completed && r.sha256 == rec.sha256 => {
            return Ok(Found::Done(r))
        }
        Some(r) if !healing && r.status == Status::Pending => None,
        _ => return refused(PartsRefusal::Withdrawn),
    };
    let parts = |parts| {
        Ok(Found::Parts {
            stored: stored.clone(),
            parts,
        })
    };
    let key = rec.id.to_string();
    let open = open_upload(tx, bucket, &key).await?;
    if open.is_none_or(|u| u.upload_id != upload_id) {
        return parts(Err(PartsRefusal::Ended));
    }
    // An S3 client's object under a pending file's key refuses the file at
    // commit; say so before the whole file is copied together. (The commit
    // decides.)
    if !healing && tx.get_object(bucket, &key).await?.is_some() {
        return parts(Err(PartsRefusal::Occupied));
    }
    let all = tx.list_parts(upload_id, 0, MAX_PARTS).await?;
    parts(covering(rec, &all).map(<[PartRecord]>::to_vec))
}

/// Records the assembled blob as file `id` (its object in `bucket`, its
/// row completed) and forgets the upload and its parts — only if the row
/// declared exactly this blob's hash and size, the parts assembled are
/// still the upload's and, while the file is pending, no object the upload
/// API did not write holds its key. A row that already had bytes (damaged
/// ones, sent again in parts) keeps its times and its object; the blob is
/// healed (damage mark cleared). The upload's parts and an object the file
/// replaced are let go.
///
/// With `segments` the file is the composite of its parts (their blobs,
/// kept by its segment rows; a blob of these bytes already recorded is
/// used instead); without, `blob` is a copy of them just published.
#[allow(clippy::too_many_arguments)]
async fn record_parts_rule(
    tx: &mut dyn Tx,
    upload_id: &str,
    assembled: &[(u32, Digest)],
    id: &Uuid,
    blob: &BlobInfo,
    segments: Option<&[Segment]>,
    bucket: &str,
    now: i64,
) -> TxResult<Recorded<PartsRecorded>> {
    let lost = |why| Ok(Recorded::refused(PartsRecorded::Lost(why)));
    if tx.get_upload(upload_id).await?.is_none() {
        return lost(PartsChange::UploadEnded);
    }
    let Some(mut rec) = tx
        .get_file(id)
        .await?
        .filter(|r| r.sha256 == blob.sha256 && r.size == blob.size)
    else {
        return lost(PartsChange::NotPending);
    };
    // A stored file's own object is kept as it is (made again if deleted);
    // a pending file never takes an S3 client's key.
    if !rec.status.has_bytes() && occupied_by_other(tx, bucket, Some(&rec), id).await? {
        return Ok(Recorded::refused(PartsRecorded::Occupied));
    }
    // A part sent again meanwhile would make the file something never sent.
    for (number, sha) in assembled {
        let part = tx.get_part(upload_id, *number).await?;
        if part.is_none_or(|p| p.sha256 != *sha) {
            return lost(PartsChange::PartSentAgain);
        }
    }
    let mut released = tx.part_blobs(upload_id).await?;
    match segments {
        Some(segments) => {
            tx.record_composite(blob, segments, now).await?;
        }
        None => {
            // The whole file was just published: a composite of these
            // bytes (a part of it lost) becomes an ordinary blob, and its
            // segments are let go.
            released.extend(tx.dissolve_composite(&blob.sha256).await?);
            tx.record_blob(blob, None, now, true).await?;
        }
    }
    tx.insert_bucket(bucket, None, now).await?;
    if !rec.status.has_bytes() || tx.get_object(bucket, &id.to_string()).await?.is_none() {
        if let Some(old) = tx.put_object(&file_object(bucket, &rec, blob, now)).await? {
            released.push(old);
        }
    }
    // A file stored before keeps when it was first uploaded and completed:
    // these parts only healed its blob.
    rec.status = Status::Completed;
    rec.uploaded_at = rec.uploaded_at.or(Some(now));
    rec.completed_at = rec.completed_at.or(Some(now));
    tx.update_file(&rec).await?;
    tx.delete_upload(upload_id).await?;
    released.retain(|d| *d != blob.sha256);
    Ok(Recorded::kept(PartsRecorded::Completed(rec), released))
}

impl Storage {
    /// Opens the part-wise upload of declared file `d`, or resumes the one
    /// it has (its age starts again: the sweep of abandoned uploads goes by
    /// it, and a client resuming over days keeps its parts as long as it
    /// keeps asking); the parts the server holds of it.
    pub async fn begin_file_parts(
        &self,
        d: &crate::index::Declared,
    ) -> Result<FilePartsUpload, StorageError> {
        let (bucket, now) = (self.settings.upload_bucket.clone(), self.now());
        let fresh = MultipartUpload {
            upload_id: format!("{FILE_UPLOAD_PREFIX}{}", crate::random::hex(16)),
            bucket: bucket.clone(),
            key: d.id.to_string(),
            content_type: d.content_type.clone(),
            meta: ObjectMeta::default(),
            created_at: now,
        };
        Ok(self
            .index
            .write(move |tx| {
                let fresh = fresh.clone();
                Box::pin(async move {
                    let upload_id = match open_upload(tx, &fresh.bucket, &fresh.key).await? {
                        Some(u) => {
                            tx.touch_upload(&u.upload_id, now).await?;
                            u.upload_id
                        }
                        None => {
                            // The upload bucket is made at start-up, but an
                            // S3 client may have deleted it while empty.
                            tx.insert_bucket(&fresh.bucket, None, now).await?;
                            tx.insert_upload(&fresh).await?;
                            fresh.upload_id
                        }
                    };
                    let parts = tx.list_parts(&upload_id, 0, MAX_PARTS).await?;
                    Ok(FilePartsUpload { upload_id, parts })
                })
            })
            .await?)
    }

    /// Completes file `rec` from its part-wise upload, if it has one. A
    /// pending file gets its bytes; a stored one whose blob is damaged or
    /// missing (presign asked for the bytes again) gets its blob healed.
    /// The parts of a stored file whose blob is intact are not needed:
    /// they go.
    pub async fn finish_file_parts(&self, rec: FileRecord) -> Result<FileParts, StorageError> {
        let bucket = self.settings.upload_bucket.clone();
        let (b, key) = (bucket.clone(), rec.id.to_string());
        let upload = self
            .index
            .read(move |tx| {
                let (b, key) = (b.clone(), key.clone());
                Box::pin(async move { open_upload(tx, &b, &key).await })
            })
            .await?;
        let Some(upload) = upload else {
            return Ok(FileParts::NoUpload);
        };
        let upload_id = upload.upload_id;
        // One completion of this file at a time (a retried complete, or two
        // clients of the same folder, would each copy the whole file; the
        // loser would then find its parts gone). The next one finds it done.
        let _completing = self.completion_lock(&rec.id).await?;
        // Registered, so the sweep of expired pending rows leaves this one
        // be while its parts are put together.
        let _in_flight = self.begin_upload(rec.id).await?;
        let healing = rec.status.has_bytes();
        // A stored file's blob counts as intact only with its store file
        // there (unless inline): looked at before the snapshot, as presign
        // does.
        let store_len = if healing {
            self.stored_len(&rec.sha256).await?
        } else {
            None
        };
        let (r, u, b) = (rec.clone(), upload_id.clone(), bucket.clone());
        let found = self
            .index
            .read(move |tx| {
                let (r, u, b) = (r.clone(), u.clone(), b.clone());
                Box::pin(async move { look(tx, &r, &u, &b).await })
            })
            .await?;
        let (stored, parts) = match found {
            Found::Done(r) => return Ok(FileParts::Completed(r)),
            Found::Parts { stored, parts } => (stored, parts),
        };
        // Stored, and intact after all: the parts are not needed.
        if let Some(row) = stored {
            if intact(row, rec.size, store_len).is_some() {
                self.discard_upload(&upload_id).await;
                return Ok(FileParts::NoUpload);
            }
        }
        let stored = match parts {
            Ok(parts) => parts,
            Err(why) => return Ok(FileParts::Refused(why)),
        };

        // A file stored before, or bytes of this digest recorded but not
        // intact, are healed by a copy written whole; otherwise the file is
        // the composite of its parts, and nothing is written.
        let d = rec.sha256;
        let recorded_before = self
            .index
            .read(move |tx| Box::pin(async move { tx.get_blob(&d).await }))
            .await?
            .is_some();
        let copy = healing || (recorded_before && !self.blob_intact(d, rec.size).await?);
        let (blob, staged) = if copy {
            let Assembled { staged, blob, .. } = self.assemble(&stored).await?;
            (blob, Some(staged))
        } else {
            (self.hash_parts(&stored).await?, None)
        };
        if blob.sha256 != rec.sha256 {
            // Every part matched what its sender declared, yet together they
            // are not the declared file: the client is confused (or the
            // file changed). Keeping the parts would only make it skip them
            // again.
            drop(staged);
            self.discard_upload(&upload_id).await;
            return Ok(FileParts::Refused(PartsRefusal::Mismatch {
                got: blob.sha256,
                declared: rec.sha256,
            }));
        }
        let assembled: Vec<(u32, Digest)> =
            stored.iter().map(|p| (p.part_number, p.sha256)).collect();
        let (id, now) = (rec.id, self.now());
        let recorded = match staged {
            Some(staged) => {
                self.commit(Payload::Staged(staged), blob, move |_| {
                    move |tx| {
                        let (u, a, b) = (upload_id.clone(), assembled.clone(), bucket.clone());
                        Box::pin(async move {
                            record_parts_rule(tx, &u, &a, &id, &blob, None, &b, now).await
                        })
                    }
                })
                .await?
            }
            None => {
                let segments = self.segments_of_parts(&stored).await?;
                let lock = self.blob_lock(&blob.sha256).await?;
                let recorded = self
                    .index
                    .write(move |tx| {
                        let (u, a, b) = (upload_id.clone(), assembled.clone(), bucket.clone());
                        let segments = segments.clone();
                        Box::pin(async move {
                            let s = Some(&segments[..]);
                            record_parts_rule(tx, &u, &a, &id, &blob, s, &b, now).await
                        })
                    })
                    .await;
                drop(lock);
                let recorded = recorded?;
                for d in recorded.released.into_iter().filter(|d| *d != blob.sha256) {
                    self.release_after_failure(d).await;
                }
                recorded.answer
            }
        };
        Ok(match recorded {
            PartsRecorded::Completed(r) => FileParts::Completed(r),
            PartsRecorded::Occupied => FileParts::Refused(PartsRefusal::Occupied),
            PartsRecorded::Lost(why) => {
                // A concurrent complete may have won: then its answer is ours.
                match self.file(id).await? {
                    Some(r) if r.status == Status::Completed && r.sha256 == rec.sha256 => {
                        FileParts::Completed(r)
                    }
                    _ => FileParts::Refused(PartsRefusal::Changed(why)),
                }
            }
        })
    }

    /// Ends a file's upload whose parts are not needed or cannot make the
    /// file, freeing their blobs. (Best effort: the sweep of abandoned
    /// uploads ends it otherwise.)
    async fn discard_upload(&self, upload_id: &str) {
        if let Err(e) = self.abort_upload(upload_id).await {
            tracing::warn!(error = ?e, "could not discard the parts of a file upload");
        }
    }
}
