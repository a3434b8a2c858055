//! S3 multipart uploads: opening one, recording its parts (received, or
//! copied from an object), listing them, completing the upload — its parts
//! put together into one new blob ([`Storage::assemble`]), then the object
//! recorded and the upload forgotten in one transaction, or nothing — and
//! aborting it.
//!
//! Every part and every completed object is recorded through
//! [`Storage::commit`], except a part copied whole from an object, which
//! names the object's blob without writing a byte and is recorded under
//! that blob's lock. Must never: parse a request or word a refusal (the
//! outcomes say what happened; the S3 handlers render them).

use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::multipart_checksum::CompletionChecksums;
use super::objects::{check_condition, file_key, ConditionFailure, WriteCondition};
use super::recovery::forget_upload;
use super::{Payload, Recorded, Storage, StorageError};
use crate::index::{
    BlobInfo, MultipartUpload, ObjectMeta, ObjectRecord, PartRecord, Segment, Tx, TxFuture,
    TxResult,
};
use crate::sigv4::ChecksumAlgorithm;
use crate::store::{self, Digest};

/// S3's smallest part, except the last.
pub const MIN_PART: u64 = 5 * 1024 * 1024;
/// S3's largest part.
pub const MAX_PART: u64 = 5 * 1024 * 1024 * 1024;
/// S3's most parts in one upload.
pub const MAX_PARTS: u32 = 10_000;

/// The answer to opening a multipart upload.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateMultipartOutcome {
    Created,
    NoSuchBucket,
}

/// The answer to storing a part.
#[derive(Debug, PartialEq, Eq)]
pub enum PutPartOutcome {
    /// Recorded; the blob of a part it replaced was released.
    Stored,
    /// The upload was completed or aborted meanwhile: nothing recorded.
    NoSuchUpload,
}

/// The answer to copying a part from an object (UploadPartCopy).
#[derive(Debug, PartialEq, Eq)]
pub enum CopyPartOutcome {
    /// Recorded as this part.
    Copied(PartRecord),
    NoSuchUpload,
    /// The source object was replaced or deleted while it was copied.
    SourceChanged,
}

/// The answer to completing a multipart upload.
#[derive(Debug, PartialEq, Eq)]
pub enum CompleteMultipartOutcome {
    /// The object now exists, with this (multipart) ETag, as this version
    /// (`None` in an unversioned bucket).
    Completed {
        etag: String,
        version_id: Option<String>,
        /// The object's checksum, (algorithm, value), when its upload was
        /// created with one.
        checksum: Option<(String, String)>,
    },
    /// The upload asks for a retention or legal hold and the bucket has no
    /// Object Lock: nothing was recorded.
    NoObjectLock,
    NoSuchUpload,
    /// A listed part is not stored under that number with that ETag.
    InvalidPart {
        number: u32,
        etag: String,
    },
    /// A listed part other than the last is smaller than [`MIN_PART`].
    TooSmall {
        number: u32,
        size: u64,
    },
    /// A part was replaced while the object was assembled.
    PartsChanged,
    /// The checksums the request sent do not fit the parts (nothing was
    /// recorded, the upload stays open).
    Checksum(super::multipart_checksum::ChecksumRefusal),
    /// The completion's condition did not hold (the upload stays open).
    ConditionFailed(ConditionFailure),
    /// The key is a file's of the upload API, which is written once (see
    /// [`file_key`]): nothing was recorded, the upload stays open.
    WrittenOnce,
}

/// Pins a transaction body's signature: a closure made inside another one
/// (the record of [`Storage::commit`]) is not inferred as taking any
/// transaction's lifetime by itself.
fn body<T, F>(f: F) -> F
where
    F: for<'t> FnMut(&'t mut dyn Tx) -> TxFuture<'t, T>,
{
    f
}

/// Records `part` of an upload if it still exists, and its blob (the
/// bytes inline, if they are kept there); the blob of the part it replaced
/// is let go. `heal`: its bytes were just received (or copied from a
/// range), hashed and published, so a damage mark on the blob goes (a
/// part is a composite's segment once completed, and a lost segment is
/// healed by sending that part again); a part copied whole names its blob
/// without writing it, and leaves a mark as it is.
async fn record_part(
    tx: &mut dyn Tx,
    upload_id: &str,
    part: &PartRecord,
    blob: &BlobInfo,
    inline: Option<&[u8]>,
    heal: bool,
) -> TxResult<Recorded<PutPartOutcome>> {
    if tx.get_upload(upload_id).await?.is_none() {
        return Ok(Recorded::refused(PutPartOutcome::NoSuchUpload));
    }
    let previous = tx.get_part(upload_id, part.part_number).await?;
    tx.record_blob(blob, inline, part.last_modified, heal)
        .await?;
    tx.put_part(upload_id, part).await?;
    let replaced = previous.map(|p| p.sha256).filter(|d| *d != part.sha256);
    Ok(Recorded::kept(
        PutPartOutcome::Stored,
        replaced.into_iter().collect(),
    ))
}

/// The parts a completion lists, as stored: each must exist with its ETag
/// before sizes are judged, and every one but the last must be at least
/// [`MIN_PART`]. `stored` is in part-number order: a search per listed
/// part, so a list of 10,000 costs no more than reading it.
fn choose_parts(
    stored: &[PartRecord],
    wanted: &[(u32, String)],
) -> Result<Vec<PartRecord>, CompleteMultipartOutcome> {
    let mut chosen: Vec<PartRecord> = Vec::with_capacity(wanted.len());
    for (n, etag) in wanted {
        let part = stored
            .binary_search_by_key(n, |p| p.part_number)
            .ok()
            .map(|i| &stored[i])
            .filter(|p| hex::encode(p.md5) == *etag)
            .ok_or_else(|| CompleteMultipartOutcome::InvalidPart {
                number: *n,
                etag: etag.clone(),
            })?;
        chosen.push(part.clone());
    }
    let last = chosen.len().saturating_sub(1);
    if let Some(small) = chosen[..last].iter().find(|p| p.size < MIN_PART) {
        return Err(CompleteMultipartOutcome::TooSmall {
            number: small.part_number,
            size: small.size,
        });
    }
    Ok(chosen)
}

/// What a completion may become, decided in the transaction that records
/// it: the upload is still open for this bucket and key, the key is no
/// file's of the upload API, the write's condition holds, and the parts
/// are the ones assembled (a part uploaded again meanwhile would make the
/// object something never sent). Then the object is recorded as the
/// composite of `segments` (the parts' blobs, which its segment rows now
/// keep), the upload forgotten, and its completion remembered for a
/// retry; the parts' rows and the object's former blob are let go.
#[allow(clippy::too_many_arguments)]
pub(super) async fn complete(
    tx: &mut dyn Tx,
    upload_id: &str,
    assembled: &[(u32, Digest)],
    obj: &ObjectRecord,
    blob: &BlobInfo,
    segments: &[Segment],
    cond: &WriteCondition,
    files_bucket: &str,
) -> TxResult<Recorded<CompleteMultipartOutcome>> {
    use CompleteMultipartOutcome as O;
    match tx.get_upload(upload_id).await? {
        Some(u) if u.bucket == obj.bucket && u.key == obj.key => {}
        _ => return Ok(Recorded::refused(O::NoSuchUpload)),
    }
    if file_key(tx, files_bucket, &obj.bucket, &obj.key).await? {
        return Ok(Recorded::refused(O::WrittenOnce));
    }
    if let Err(f) = check_condition(tx, &obj.bucket, &obj.key, cond).await? {
        return Ok(Recorded::refused(O::ConditionFailed(f)));
    }
    for (number, sha256) in assembled {
        let now = tx.get_part(upload_id, *number).await?.map(|p| p.sha256);
        if now != Some(*sha256) {
            return Ok(Recorded::refused(O::PartsChanged));
        }
    }
    let Some(bucket) = tx.get_bucket(&obj.bucket).await? else {
        return Ok(Recorded::refused(O::NoSuchUpload));
    };
    let mut obj = obj.clone();
    if !super::object_lock::settle_new_version(&bucket, &mut obj)? {
        return Ok(Recorded::refused(O::NoObjectLock));
    }
    tx.record_composite(blob, segments, obj.last_modified)
        .await?;
    let placed = super::versions::make_current(tx, &mut obj, bucket.versioning).await?;
    let mut released = placed.released;
    released.extend(forget_upload(tx, upload_id).await?.unwrap_or_default());
    tx.put_completed(
        upload_id,
        &obj.bucket,
        &obj.key,
        &obj.etag,
        obj.last_modified,
    )
    .await?;
    Ok(Recorded::kept(
        O::Completed {
            etag: obj.etag.clone(),
            version_id: placed.version_id,
            checksum: obj.meta.checksums.first().cloned(),
        },
        released,
    ))
}

/// The MD5 of a single-part object, from its ETag (`None` for a multipart
/// object's, which is no MD5 of its bytes).
fn plain_md5(etag: &str) -> Option<[u8; 16]> {
    if etag.contains('-') {
        return None;
    }
    let mut m = [0u8; 16];
    hex::decode_to_slice(etag, &mut m).ok().map(|_| m)
}

impl Storage {
    /// The upload `upload_id`, if it is open and belongs to `bucket/key`.
    pub async fn find_upload(
        &self,
        upload_id: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Option<MultipartUpload>, StorageError> {
        let id = upload_id.to_string();
        let found = self
            .index
            .read(move |tx| {
                let id = id.clone();
                Box::pin(async move { tx.get_upload(&id).await })
            })
            .await?;
        Ok(found.filter(|u| u.bucket == bucket && u.key == key))
    }

    /// Opens `upload`, if its bucket exists.
    pub async fn create_multipart(
        &self,
        upload: MultipartUpload,
    ) -> Result<CreateMultipartOutcome, StorageError> {
        Ok(self
            .index
            .write(move |tx| {
                let u = upload.clone();
                Box::pin(async move {
                    if tx.get_bucket(&u.bucket).await?.is_none() {
                        return Ok(CreateMultipartOutcome::NoSuchBucket);
                    }
                    tx.insert_upload(&u).await?;
                    Ok(CreateMultipartOutcome::Created)
                })
            })
            .await?)
    }

    /// Commits a received, verified part (UploadPart) as part `number` of
    /// `upload_id`, releasing the blob of the part it replaces — or, if the
    /// upload ended meanwhile, the new blob.
    pub async fn put_part(
        &self,
        upload_id: &str,
        number: u32,
        payload: Payload,
        blob: BlobInfo,
        checksum: Option<String>,
    ) -> Result<PutPartOutcome, StorageError> {
        let part = PartRecord {
            part_number: number,
            sha256: blob.sha256,
            size: blob.size,
            md5: blob.md5.unwrap_or_default(),
            last_modified: self.now(),
            checksum,
        };
        let id = upload_id.to_string();
        self.commit(payload, blob, move |inline| {
            body(move |tx| {
                let (id, part, inline) = (id.clone(), part.clone(), inline.clone());
                Box::pin(async move {
                    record_part(tx, &id, &part, &blob, inline.as_deref(), true).await
                })
            })
        })
        .await
    }

    /// UploadPartCopy: part `number` of `upload_id` made of `len` bytes
    /// from `start` of `source` (a version, as [`Self::find`] found it),
    /// with its `checksum` of that algorithm computed on the way, if the
    /// upload asks for one.
    /// The whole of a single-part object is shared — the part names its
    /// blob, no byte is copied — under that blob's lock, so no delete of
    /// the source frees it meanwhile, and the transaction that records the
    /// part checks that the source is still that object. Anything else (a
    /// range, or a multipart object, whose ETag is no MD5 of its bytes)
    /// is streamed into a blob of its own and committed.
    pub async fn copy_part(
        &self,
        upload_id: &str,
        number: u32,
        source: &ObjectRecord,
        start: u64,
        len: u64,
        checksum: Option<ChecksumAlgorithm>,
    ) -> Result<CopyPartOutcome, StorageError> {
        // A part that needs a checksum is read through to compute it.
        let whole = (start == 0 && len == source.size && checksum.is_none())
            .then(|| plain_md5(&source.etag))
            .flatten();
        if let Some(md5) = whole {
            return self.share_part(upload_id, number, source, md5).await;
        }
        let src_lock = self.blob_lock(&source.sha256).await?;
        if !self.still_names(source).await? {
            return Ok(CopyPartOutcome::SourceChanged);
        }
        let mut reader = self
            .open_blob(&source.sha256, source.size, start, len)
            .await?
            .ok_or_else(|| StorageError::Damaged("copy source blob missing".into()))?;
        // An open file (or inline bytes read) stays readable without it.
        drop(src_lock);
        let mut staged = self.store.stage().await?;
        let (mut sha, mut md5) = (Sha256::new(), Md5::new());
        let mut sum = checksum.map(ChecksumAlgorithm::checksummer);
        store::pump(&mut reader, Some(&mut staged), |b| {
            sha.update(b);
            md5.update(b);
            if let Some(c) = sum.as_mut() {
                c.update(b);
            }
        })
        .await?;
        let blob = BlobInfo {
            sha256: Digest(sha.finalize().into()),
            size: len,
            md5: Some(md5.finalize().into()),
        };
        let part = PartRecord {
            part_number: number,
            sha256: blob.sha256,
            size: blob.size,
            md5: blob.md5.unwrap_or_default(),
            last_modified: self.now(),
            checksum: sum.map(|c| c.finish()),
        };
        let (id, p) = (upload_id.to_string(), part.clone());
        let stored = self
            .commit(Payload::Staged(staged), blob, move |_| {
                body(move |tx| {
                    let (id, p) = (id.clone(), p.clone());
                    Box::pin(async move { record_part(tx, &id, &p, &blob, None, true).await })
                })
            })
            .await?;
        Ok(match stored {
            PutPartOutcome::Stored => CopyPartOutcome::Copied(part),
            PutPartOutcome::NoSuchUpload => CopyPartOutcome::NoSuchUpload,
        })
    }

    /// The whole-object case of [`Self::copy_part`]: the part names the
    /// source's blob.
    async fn share_part(
        &self,
        upload_id: &str,
        number: u32,
        source: &ObjectRecord,
        md5: [u8; 16],
    ) -> Result<CopyPartOutcome, StorageError> {
        let blob = BlobInfo {
            sha256: source.sha256,
            size: source.size,
            md5: Some(md5),
        };
        let part = PartRecord {
            part_number: number,
            sha256: blob.sha256,
            size: blob.size,
            md5,
            last_modified: self.now(),
            checksum: None,
        };
        let (id, p, src) = (upload_id.to_string(), part.clone(), source.clone());
        let lock = self.blob_lock(&source.sha256).await?;
        let recorded = self
            .index
            .write(move |tx| {
                let (id, p, src) = (id.clone(), p.clone(), src.clone());
                Box::pin(async move {
                    if !super::versions::still_names(tx, &src).await? {
                        return Ok(None);
                    }
                    record_part(tx, &id, &p, &blob, None, false).await.map(Some)
                })
            })
            .await;
        // Released after the lock: blob locks are not re-entrant, and a
        // replaced part may share the source's stripe.
        drop(lock);
        let Some(recorded) = recorded? else {
            return Ok(CopyPartOutcome::SourceChanged);
        };
        for d in recorded.released {
            self.release_after_failure(d).await;
        }
        Ok(match recorded.answer {
            PutPartOutcome::Stored => CopyPartOutcome::Copied(part),
            PutPartOutcome::NoSuchUpload => CopyPartOutcome::NoSuchUpload,
        })
    }

    /// Up to `limit` parts of an upload numbered above `after`, ascending.
    pub async fn list_parts(
        &self,
        upload_id: &str,
        after: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>, StorageError> {
        let id = upload_id.to_string();
        Ok(self
            .index
            .read(move |tx| {
                let id = id.clone();
                Box::pin(async move { tx.list_parts(&id, after, limit).await })
            })
            .await?)
    }

    /// CompleteMultipartUpload of `upload` (as [`Self::find_upload`] found
    /// it) from the parts `wanted` (number, ETag hex; ascending), if `cond`
    /// holds when it commits: the object is the list of its parts' blobs
    /// (a composite blob), recorded in one index transaction under the
    /// composite's lock; no byte is read or written.
    pub async fn complete_multipart(
        &self,
        upload: MultipartUpload,
        wanted: &[(u32, String)],
        sent: &CompletionChecksums,
        cond: WriteCondition,
    ) -> Result<CompleteMultipartOutcome, StorageError> {
        let stored = self
            .list_parts(&upload.upload_id, 0, MAX_PARTS as usize)
            .await?;
        let chosen = match choose_parts(&stored, wanted) {
            Ok(c) => c,
            Err(refused) => return Ok(refused),
        };
        let mut meta = upload.meta;
        if let Err(refused) = super::multipart_checksum::complete(&mut meta, &chosen, sent) {
            return Ok(CompleteMultipartOutcome::Checksum(refused));
        }
        let segments = self.segments_of_parts(&chosen).await?;
        let blob = BlobInfo {
            sha256: super::composite_digest(&segments),
            size: chosen.iter().map(|p| p.size).sum(),
            md5: None,
        };
        let mut etag_md5 = Md5::new();
        for p in &chosen {
            etag_md5.update(p.md5);
        }
        let obj = ObjectRecord {
            version_id: crate::index::NULL_VERSION.into(),
            bucket: upload.bucket,
            key: upload.key,
            sha256: blob.sha256,
            size: blob.size,
            etag: format!("{}-{}", hex::encode(etag_md5.finalize()), chosen.len()),
            content_type: upload.content_type,
            meta: ObjectMeta {
                parts: Some(chosen.len() as u32),
                ..meta
            },
            last_modified: self.now(),
        };
        let assembled: Vec<(u32, Digest)> =
            chosen.iter().map(|p| (p.part_number, p.sha256)).collect();
        let id = upload.upload_id;
        let files_bucket = self.settings.upload_bucket.clone();
        let lock = self.blob_lock(&blob.sha256).await?;
        let recorded = self
            .index
            .write(move |tx| {
                let (id, assembled, obj) = (id.clone(), assembled.clone(), obj.clone());
                let (cond, files_bucket, segments) =
                    (cond.clone(), files_bucket.clone(), segments.clone());
                Box::pin(async move {
                    let s = &segments;
                    complete(tx, &id, &assembled, &obj, &blob, s, &cond, &files_bucket).await
                })
            })
            .await;
        drop(lock);
        let recorded = recorded?;
        if !recorded.keep {
            // Refused: the composite was not recorded, nothing to let go.
            return Ok(recorded.answer);
        }
        for d in recorded.released {
            self.release_after_failure(d).await;
        }
        Ok(recorded.answer)
    }

    /// The segments a composite of `parts` is made of, in order: each
    /// part's blob, or the segments of a part that is itself a composite
    /// (a multipart object copied whole as a part).
    pub(crate) async fn segments_of_parts(
        &self,
        parts: &[PartRecord],
    ) -> Result<Vec<Segment>, StorageError> {
        let parts: Vec<(Digest, u64)> = parts.iter().map(|p| (p.sha256, p.size)).collect();
        Ok(self
            .index
            .read(move |tx| {
                let parts = parts.clone();
                Box::pin(async move {
                    let mut out = Vec::with_capacity(parts.len());
                    for (sha256, size) in parts {
                        let inner = tx.segments(&sha256).await?;
                        if inner.is_empty() {
                            out.push(Segment { sha256, size });
                        } else {
                            out.extend(inner);
                        }
                    }
                    Ok(out)
                })
            })
            .await?)
    }

    /// The ETag of the object a completed upload of `bucket/key` made, while
    /// the completion is remembered and the key still holds that object: a
    /// retried CompleteMultipartUpload gets the same answer.
    pub async fn completed_upload(
        &self,
        upload_id: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Option<String>, StorageError> {
        let (id, b, k) = (upload_id.to_string(), bucket.to_string(), key.to_string());
        Ok(self
            .index
            .read(move |tx| {
                let (id, b, k) = (id.clone(), b.clone(), k.clone());
                Box::pin(async move {
                    match tx.get_completed(&id).await? {
                        Some((cb, ck, etag)) if cb == b && ck == k => {
                            let current = tx.get_object(&b, &k).await?.map(|o| o.etag);
                            Ok((current.as_deref() == Some(etag.as_str())).then_some(etag))
                        }
                        _ => Ok(None),
                    }
                })
            })
            .await?)
    }

    /// AbortMultipartUpload: forgets the upload, if it is open for
    /// `bucket/key`, and releases its parts' blobs; whether there was one.
    pub async fn abort_multipart(
        &self,
        upload_id: &str,
        bucket: &str,
        key: &str,
    ) -> Result<bool, StorageError> {
        let (id, b, k) = (upload_id.to_string(), bucket.to_string(), key.to_string());
        let blobs = self
            .index
            .write(move |tx| {
                let (id, b, k) = (id.clone(), b.clone(), k.clone());
                Box::pin(async move {
                    match tx.get_upload(&id).await? {
                        Some(u) if u.bucket == b && u.key == k => forget_upload(tx, &id).await,
                        _ => Ok(None),
                    }
                })
            })
            .await?;
        let Some(blobs) = blobs else {
            return Ok(false);
        };
        for d in blobs {
            self.release(d).await?;
        }
        Ok(true)
    }

    /// ListMultipartUploads: up to `limit` uploads of `bucket` with keys
    /// under `prefix`, after the (key, upload id) marker, by key then id;
    /// `None` if there is no such bucket.
    pub async fn list_multipart(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
        limit: usize,
    ) -> Result<Option<Vec<MultipartUpload>>, StorageError> {
        let args = [bucket, prefix, key_marker, upload_id_marker].map(str::to_string);
        Ok(self
            .index
            .read(move |tx| {
                let [b, p, k, i] = args.clone();
                Box::pin(async move {
                    if tx.get_bucket(&b).await?.is_none() {
                        return Ok(None);
                    }
                    Ok(Some(tx.list_uploads(&b, &p, &k, &i, limit).await?))
                })
            })
            .await?)
    }
}
