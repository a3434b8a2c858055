//! The rules of S3 objects, decided inside index transactions: whether a
//! write may record an object (its bucket, its condition, the upload API's
//! written-once keys), what a copy records, what a delete lets go; and the
//! reads of objects and their bytes for GET, HEAD and listings.
//!
//! Every write of an object's bytes goes through [`Storage::commit`]; a
//! copy writes no byte and takes the source blob's lock itself. Must never
//! parse a request or render an answer, nor keep a blob nobody refers to.

use uuid::Uuid;

use super::{inline_reader, Recorded, Storage, StorageError};
use crate::index::{BlobInfo, ObjectRecord, Tx, TxResult};
use crate::store::{BlobReader, Digest};

use super::commit::Payload;

/// A conditional write's condition (`If-None-Match: *`, `If-Match`),
/// checked in the transaction that writes, so concurrent writers of one key
/// cannot both pass it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WriteCondition {
    /// Unconditional: the last completed write wins.
    #[default]
    Always,
    /// Only if the key has no object (`If-None-Match: *`).
    IfAbsent,
    /// Only if the key's object has this ETag (hex, no quotes).
    IfEtag(String),
}

/// Why a conditional write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionFailure {
    /// The key exists (IfAbsent) or has another ETag (IfEtag): 412.
    Precondition,
    /// IfEtag, and the key has no object: 404 NoSuchKey, as S3 answers.
    NoObject,
}

impl WriteCondition {
    /// Whether the condition holds for the key's current object (its ETag,
    /// if it has one).
    pub fn check(&self, current_etag: Option<&str>) -> Result<(), ConditionFailure> {
        match (self, current_etag) {
            (WriteCondition::Always, _) => Ok(()),
            (WriteCondition::IfAbsent, None) => Ok(()),
            (WriteCondition::IfAbsent, Some(_)) => Err(ConditionFailure::Precondition),
            (WriteCondition::IfEtag(_), None) => Err(ConditionFailure::NoObject),
            (WriteCondition::IfEtag(want), Some(have)) if want == have => Ok(()),
            (WriteCondition::IfEtag(_), Some(_)) => Err(ConditionFailure::Precondition),
        }
    }
}

/// The answer to putting (or copying onto) an object.
#[derive(Debug, PartialEq, Eq)]
pub enum PutObjectOutcome {
    /// Stored; `replaced` names the blob the key referred to before, if it
    /// differs (already released by the time the caller sees this).
    Stored {
        replaced: Option<Digest>,
    },
    NoSuchBucket,
    /// The write's condition did not hold when it came to commit.
    ConditionFailed(ConditionFailure),
    /// The key is a file's of the upload API, which is written once (see
    /// [`put_object_rule`]): nothing was recorded.
    WrittenOnce,
}

/// The answer to copying an object.
#[derive(Debug, PartialEq, Eq)]
pub enum CopyOutcome {
    /// The destination's answer (a copy is unconditional, so never
    /// `ConditionFailed`).
    Put(PutObjectOutcome),
    /// The source no longer names the blob it named when the copy began
    /// (overwritten or deleted meanwhile): nothing was recorded.
    SourceChanged,
}

/// The answer to deleting an object.
#[derive(Debug, PartialEq, Eq)]
pub enum DeleteObjectOutcome {
    /// The record that was there (its blob released if nothing else
    /// refers to it).
    Deleted(Box<ObjectRecord>),
    /// The bucket has no such key (a success in S3).
    Absent,
    NoSuchBucket,
}

/// The file id a key of the upload bucket names: only the id's own
/// spelling (lowercase, hyphenated, as ids are stored and their objects
/// are keyed); another spelling is another key.
pub(crate) fn file_id(key: &str) -> Option<Uuid> {
    Uuid::try_parse(key).ok().filter(|id| id.to_string() == key)
}

/// Whether `bucket/key` is the key of a file of the upload API that has
/// verified bytes: written once, by the upload API, never by an S3 write
/// (which would put other bytes behind a record that says completed with
/// the hash of these, and hand them out through its download URL). The
/// object may have been deleted meanwhile: the key is still the file's
/// (its row stays, and presign makes the object again from its blob). A
/// pending file owns no key yet.
pub(crate) async fn file_key(
    tx: &mut dyn Tx,
    files_bucket: &str,
    bucket: &str,
    key: &str,
) -> TxResult<bool> {
    if bucket != files_bucket {
        return Ok(false);
    }
    let Some(id) = file_id(key) else {
        return Ok(false);
    };
    Ok(tx
        .get_file(&id)
        .await?
        .is_some_and(|f| f.status.has_bytes()))
}

/// Checks a conditional write against the key's object as this
/// transaction sees it.
pub(crate) async fn check_condition(
    tx: &mut dyn Tx,
    bucket: &str,
    key: &str,
    cond: &WriteCondition,
) -> TxResult<Result<(), ConditionFailure>> {
    if *cond == WriteCondition::Always {
        return Ok(Ok(()));
    }
    let current = tx.get_object(bucket, key).await?;
    Ok(cond.check(current.as_ref().map(|o| o.etag.as_str())))
}

/// Records an object (and its blob), if its bucket exists, its key is no
/// upload-API file's ([`file_key`]) and `cond` holds — all as this
/// transaction sees them. `blob.md5` given means the caller has just
/// received, verified and published these bytes, which heals a blob
/// marked damaged (the mark is cleared); a copy, which writes no byte,
/// passes `None` and leaves a mark as it is.
///
/// The key of a pending file is not yet its: an object written there makes
/// the upload API refuse that file instead.
pub(crate) async fn put_object_rule(
    tx: &mut dyn Tx,
    obj: &ObjectRecord,
    blob: &BlobInfo,
    inline: Option<&[u8]>,
    cond: &WriteCondition,
    files_bucket: &str,
) -> TxResult<PutObjectOutcome> {
    if tx.get_bucket(&obj.bucket).await?.is_none() {
        return Ok(PutObjectOutcome::NoSuchBucket);
    }
    if file_key(tx, files_bucket, &obj.bucket, &obj.key).await? {
        return Ok(PutObjectOutcome::WrittenOnce);
    }
    if let Err(f) = check_condition(tx, &obj.bucket, &obj.key, cond).await? {
        return Ok(PutObjectOutcome::ConditionFailed(f));
    }
    tx.record_blob(blob, inline, obj.last_modified, blob.md5.is_some())
        .await?;
    let replaced = tx.put_object(obj).await?;
    Ok(PutObjectOutcome::Stored { replaced })
}

/// Removes `bucket/key`; whether the bucket exists decides the answer for
/// a key that is not there.
pub(crate) async fn delete_object_rule(
    tx: &mut dyn Tx,
    bucket: &str,
    key: &str,
) -> TxResult<DeleteObjectOutcome> {
    if let Some(old) = tx.delete_object(bucket, key).await? {
        return Ok(DeleteObjectOutcome::Deleted(Box::new(old)));
    }
    Ok(if tx.get_bucket(bucket).await?.is_some() {
        DeleteObjectOutcome::Absent
    } else {
        DeleteObjectOutcome::NoSuchBucket
    })
}

/// A recorded answer: the new blob kept if the object was stored (and the
/// blob it replaced let go), refused otherwise.
fn recorded(out: PutObjectOutcome) -> Recorded<PutObjectOutcome> {
    match out {
        PutObjectOutcome::Stored { replaced } => Recorded::kept(
            PutObjectOutcome::Stored { replaced },
            replaced.into_iter().collect(),
        ),
        refused => Recorded::refused(refused),
    }
}

impl Storage {
    /// Stores a received, verified body as the object `obj` (whose blob is
    /// `blob`) if `cond` holds at commit (see [`put_object_rule`]): the
    /// one commit of a whole object, for PutObject and form uploads. The
    /// blob the key named before is released; on a refusal or failure,
    /// the new one.
    pub async fn put_object(
        &self,
        payload: Payload,
        obj: ObjectRecord,
        blob: BlobInfo,
        cond: WriteCondition,
    ) -> Result<PutObjectOutcome, StorageError> {
        let files_bucket = self.settings.upload_bucket.clone();
        self.commit(payload, blob, move |inline| {
            move |tx: &mut dyn Tx| {
                let (obj, cond, inline, fb) = (
                    obj.clone(),
                    cond.clone(),
                    inline.clone(),
                    files_bucket.clone(),
                );
                Box::pin(async move {
                    let out =
                        put_object_rule(tx, &obj, &blob, inline.as_deref(), &cond, &fb).await?;
                    Ok(recorded(out))
                }) as crate::index::TxFuture<'_, _>
            }
        })
        .await
    }

    /// Copies: records `obj`, naming the blob `source` names, unless
    /// `source` (the copy source's bucket and key) no longer names that
    /// blob — checked in the same transaction, under the blob's lock, so
    /// no delete of the source can free the bytes between that check and
    /// the new reference. No byte is read or written.
    pub async fn copy_object(
        &self,
        source: (&str, &str),
        obj: ObjectRecord,
    ) -> Result<CopyOutcome, StorageError> {
        let (src_bucket, src_key) = (source.0.to_string(), source.1.to_string());
        let files_bucket = self.settings.upload_bucket.clone();
        let digest = obj.sha256;
        let blob = BlobInfo {
            sha256: obj.sha256,
            size: obj.size,
            md5: None,
        };
        let lock = self.blob_lock(&digest).await?;
        let out = self
            .index
            .write(move |tx| {
                let (sb, sk, obj, fb) = (
                    src_bucket.clone(),
                    src_key.clone(),
                    obj.clone(),
                    files_bucket.clone(),
                );
                Box::pin(async move {
                    let still = tx.get_object(&sb, &sk).await?;
                    if still.map(|o| o.sha256) != Some(obj.sha256) {
                        return Ok(CopyOutcome::SourceChanged);
                    }
                    let out = put_object_rule(tx, &obj, &blob, None, &WriteCondition::Always, &fb)
                        .await?;
                    Ok(CopyOutcome::Put(out))
                })
            })
            .await?;
        drop(lock);
        if let CopyOutcome::Put(PutObjectOutcome::Stored {
            replaced: Some(old),
        }) = &out
        {
            self.release(*old).await?;
        }
        Ok(out)
    }

    /// Deletes `bucket/key` and releases its blob.
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<DeleteObjectOutcome, StorageError> {
        let (b, k) = (bucket.to_string(), key.to_string());
        let out = self
            .index
            .write(move |tx| {
                let (b, k) = (b.clone(), k.clone());
                Box::pin(async move { delete_object_rule(tx, &b, &k).await })
            })
            .await?;
        if let DeleteObjectOutcome::Deleted(old) = &out {
            self.release(old.sha256).await?;
        }
        Ok(out)
    }

    /// Replaces the tags of the object at `bucket/key` and nothing else of
    /// it: its bytes, ETag and Last-Modified stay, and so does its blob's
    /// reference (the row names the same blob before and after). False if
    /// there is no such object.
    pub async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: Vec<(String, String)>,
    ) -> Result<bool, StorageError> {
        let (b, k) = (bucket.to_string(), key.to_string());
        Ok(self
            .index
            .write(move |tx| {
                let (b, k, tags) = (b.clone(), k.clone(), tags.clone());
                Box::pin(async move {
                    let Some(mut obj) = tx.get_object(&b, &k).await? else {
                        return Ok(false);
                    };
                    obj.meta.tags = tags;
                    tx.put_object(&obj).await?;
                    Ok(true)
                })
            })
            .await?)
    }

    /// The object at `bucket/key`.
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectRecord>, StorageError> {
        let (b, k) = (bucket.to_string(), key.to_string());
        Ok(self
            .index
            .read(move |tx| {
                let (b, k) = (b.clone(), k.clone());
                Box::pin(async move { tx.get_object(&b, &k).await })
            })
            .await?)
    }

    /// The object at `bucket/key` and, if its blob is small enough to be
    /// kept inline, its bytes — in one read transaction (the GET path: a
    /// small object costs one lookup).
    pub async fn get_object_inline(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(ObjectRecord, Option<Vec<u8>>)>, StorageError> {
        let (b, k) = (bucket.to_string(), key.to_string());
        Ok(self
            .index
            .read(move |tx| {
                let (b, k) = (b.clone(), k.clone());
                Box::pin(async move {
                    let Some(obj) = tx.get_object(&b, &k).await? else {
                        return Ok(None);
                    };
                    let data = tx.blob_data(&obj.sha256).await?;
                    Ok(Some((obj, data)))
                })
            })
            .await?)
    }

    /// The bytes of a blob kept inline; `None` if it is not (its bytes are
    /// in the blob store, or it is not recorded).
    pub async fn blob_data(&self, sha256: &Digest) -> Result<Option<Vec<u8>>, StorageError> {
        let d = *sha256;
        Ok(self
            .index
            .read(move |tx| Box::pin(async move { tx.blob_data(&d).await }))
            .await?)
    }

    /// Opens `len` bytes from `start` of an object found by
    /// [`Self::get_object_inline`]: from its inline bytes if it had them,
    /// else from the blob store. A blob that is missing, or not of the
    /// object's size, is [`StorageError::Damaged`].
    pub async fn open_object(
        &self,
        obj: &ObjectRecord,
        inline: Option<Vec<u8>>,
        start: u64,
        len: u64,
    ) -> Result<BlobReader, StorageError> {
        let b = match inline {
            Some(data) => Some(inline_reader(data.into(), start, len)),
            None => self.open_placed(&obj.sha256, start, len).await?,
        };
        let b = b.ok_or_else(|| {
            StorageError::Damaged(format!(
                "blob {} of {}/{} is missing",
                obj.sha256.hex(),
                obj.bucket,
                obj.key
            ))
        })?;
        if b.len != obj.size {
            return Err(StorageError::Damaged(format!(
                "blob {} has {} bytes, index says {}",
                obj.sha256.hex(),
                b.len,
                obj.size
            )));
        }
        Ok(b)
    }

    /// Objects of `bucket` whose key starts with `prefix` and sorts after
    /// `after`, in S3's order (UTF-8 bytes), at most `limit`.
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<ObjectRecord>, StorageError> {
        let (b, p, a) = (bucket.to_string(), prefix.to_string(), after.to_string());
        Ok(self
            .index
            .read(move |tx| {
                let (b, p, a) = (b.clone(), p.clone(), a.clone());
                Box::pin(async move { tx.list_objects(&b, &p, &a, limit).await })
            })
            .await?)
    }

    /// [`check_condition`], asked before a body is read (so a refused
    /// write costs the client no upload); the write asks again when it
    /// commits, where racing writers are decided.
    pub async fn precheck_condition(
        &self,
        bucket: &str,
        key: &str,
        cond: &WriteCondition,
    ) -> Result<Result<(), ConditionFailure>, StorageError> {
        if *cond == WriteCondition::Always {
            return Ok(Ok(()));
        }
        let (b, k, c) = (bucket.to_string(), key.to_string(), cond.clone());
        Ok(self
            .index
            .read(move |tx| {
                let (b, k, c) = (b.clone(), k.clone(), c.clone());
                Box::pin(async move { check_condition(tx, &b, &k, &c).await })
            })
            .await?)
    }

    /// Whether `bucket/key` is the key of an upload-API file with bytes,
    /// which no S3 write may replace ([`file_key`]); for refusing such a
    /// write before its body is read (its commit decides again).
    pub async fn is_file_key(&self, bucket: &str, key: &str) -> Result<bool, StorageError> {
        let files_bucket = self.settings.upload_bucket.clone();
        let (b, k) = (bucket.to_string(), key.to_string());
        Ok(self
            .index
            .read(move |tx| {
                let (fb, b, k) = (files_bucket.clone(), b.clone(), k.clone());
                Box::pin(async move { file_key(tx, &fb, &b, &k).await })
            })
            .await?)
    }
}
