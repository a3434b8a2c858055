//! The rules of S3 objects, decided inside index transactions: whether a
//! write may record an object (its bucket, its condition, the upload API's
//! written-once keys), what a copy records, what a delete lets go; and the
//! reads of objects and their bytes for GET, HEAD and listings.
//!
//! Every write of an object's bytes goes through [`Storage::commit`]; a
//! copy writes no byte and takes the source blob's lock itself. Must never
//! parse a request or render an answer, nor keep a blob nobody refers to.

use uuid::Uuid;

use super::lifecycle::LifecycleConfig;
use super::object_lock::{self, Hold};
use super::versions::{self, KeyDeleted, Removal};
use super::{inline_reader, Recorded, Storage, StorageError};
use crate::index::{BlobInfo, ObjectRecord, Tx, TxResult, Version};
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
    /// Stored as `version_id` (`None` in an unversioned bucket);
    /// `released` are the blobs no version names any more (the replaced
    /// object's, unless it is kept as an older version), released by the
    /// time the caller sees this.
    Stored {
        released: Vec<Digest>,
        version_id: Option<String>,
        /// When (and by which rule) the bucket's lifecycle expires it.
        expiry: Option<(i64, String)>,
    },
    NoSuchBucket,
    /// The write's condition did not hold when it came to commit.
    ConditionFailed(ConditionFailure),
    /// The key is a file's of the upload API, which is written once (see
    /// [`put_object_rule`]): nothing was recorded.
    WrittenOnce,
    /// It asks for a retention or legal hold in a bucket without Object
    /// Lock: nothing was recorded.
    NoObjectLock,
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
    /// An unversioned bucket's object, removed: the record that was there
    /// (its blob released if nothing else refers to it).
    Deleted(Box<ObjectRecord>),
    /// A versioned bucket's key now has a delete marker on top, with this
    /// version id.
    Marked(String),
    /// The version named was removed for good (a marker, or an object
    /// whose blob is released if nothing else refers to it).
    RemovedVersion(Version),
    /// The bucket has no such key, or no such version (a success in S3).
    Absent,
    /// The version named is held by Object Lock: nothing was removed.
    Locked(Hold),
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
/// transaction sees them — as its key's current version, by the bucket's
/// versioning ([`versions::make_current`]; `obj`'s version id is set
/// there). `blob.md5` given means the caller has just
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
    let Some(bucket) = tx.get_bucket(&obj.bucket).await? else {
        return Ok(PutObjectOutcome::NoSuchBucket);
    };
    if file_key(tx, files_bucket, &obj.bucket, &obj.key).await? {
        return Ok(PutObjectOutcome::WrittenOnce);
    }
    if let Err(f) = check_condition(tx, &obj.bucket, &obj.key, cond).await? {
        return Ok(PutObjectOutcome::ConditionFailed(f));
    }
    let mut obj = obj.clone();
    if !object_lock::settle_new_version(&bucket, &mut obj)? {
        return Ok(PutObjectOutcome::NoObjectLock);
    }
    tx.record_blob(blob, inline, obj.last_modified, blob.md5.is_some())
        .await?;
    let placed = versions::make_current(tx, &mut obj, bucket.versioning).await?;
    let expiry = match bucket.lifecycle.as_deref() {
        Some(text) => LifecycleConfig::from_text(text)?
            .expiry_of(&obj.key, &obj.meta, obj.size, obj.last_modified)
            .map(|(at, id)| (at, id.to_string())),
        None => None,
    };
    Ok(PutObjectOutcome::Stored {
        released: placed
            .released
            .into_iter()
            .filter(|d| *d != obj.sha256)
            .collect(),
        version_id: placed.version_id,
        expiry,
    })
}

/// Deletes `bucket/key` at `now` — the version `version_id` of it for
/// good if one is named and Object Lock lets it go (`bypass`: governance
/// retention may be bypassed), else the key as its bucket's versioning
/// says; whether the bucket exists decides the answer for a key that is
/// not there. Also says which blobs it let go.
pub(crate) async fn delete_object_rule(
    tx: &mut dyn Tx,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    now: i64,
    bypass: bool,
) -> TxResult<(DeleteObjectOutcome, Vec<Digest>)> {
    let Some(b) = tx.get_bucket(bucket).await? else {
        return Ok((DeleteObjectOutcome::NoSuchBucket, Vec::new()));
    };
    if let Some(v) = version_id {
        return Ok(
            match versions::remove_version(tx, bucket, key, v, now, bypass).await? {
                Removal::Removed(removed) => {
                    let released = removed.blob().into_iter().collect();
                    (DeleteObjectOutcome::RemovedVersion(removed), released)
                }
                Removal::Held(hold) => (DeleteObjectOutcome::Locked(hold), Vec::new()),
                Removal::Absent => (DeleteObjectOutcome::Absent, Vec::new()),
            },
        );
    }
    Ok(
        match versions::delete_key(tx, bucket, key, b.versioning, now).await? {
            KeyDeleted::Removed(old) => {
                let released = vec![old.sha256];
                (DeleteObjectOutcome::Deleted(old), released)
            }
            KeyDeleted::Absent => (DeleteObjectOutcome::Absent, Vec::new()),
            KeyDeleted::Marked {
                version_id,
                released,
            } => (DeleteObjectOutcome::Marked(version_id), released),
        },
    )
}

/// A recorded answer: the new blob kept if the object was stored (and the
/// blobs it let go released), refused otherwise.
fn recorded(out: PutObjectOutcome) -> Recorded<PutObjectOutcome> {
    match out {
        PutObjectOutcome::Stored {
            released,
            version_id,
            expiry,
        } => Recorded::kept(
            PutObjectOutcome::Stored {
                released: released.clone(),
                version_id,
                expiry,
            },
            released,
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

    /// Copies: records `obj`, naming the blob `source` names, unless the
    /// version `source` is (as [`Self::find`] found it) is gone or names
    /// another blob — checked in the same transaction, under the blob's
    /// lock, so no delete of the source can free the bytes between that
    /// check and the new reference. No byte is read or written.
    pub async fn copy_object(
        &self,
        source: &ObjectRecord,
        obj: ObjectRecord,
    ) -> Result<CopyOutcome, StorageError> {
        let src = source.clone();
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
                let (src, obj, fb) = (src.clone(), obj.clone(), files_bucket.clone());
                Box::pin(async move {
                    if !versions::still_names(tx, &src).await? || src.sha256 != obj.sha256 {
                        return Ok(CopyOutcome::SourceChanged);
                    }
                    let out = put_object_rule(tx, &obj, &blob, None, &WriteCondition::Always, &fb)
                        .await?;
                    Ok(CopyOutcome::Put(out))
                })
            })
            .await?;
        drop(lock);
        if let CopyOutcome::Put(PutObjectOutcome::Stored { released, .. }) = &out {
            for d in released {
                self.release(*d).await?;
            }
        }
        Ok(out)
    }

    /// Deletes `bucket/key` — the version `version_id` of it for good, if
    /// one is named and Object Lock lets it go — and releases what it let
    /// go (see [`delete_object_rule`]).
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<DeleteObjectOutcome, StorageError> {
        self.delete_object_bypassing(bucket, key, version_id, false)
            .await
    }

    /// [`Self::delete_object`]; `bypass`: the request asked to bypass
    /// governance retention, and may.
    pub async fn delete_object_bypassing(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        bypass: bool,
    ) -> Result<DeleteObjectOutcome, StorageError> {
        let (b, k, v) = (
            bucket.to_string(),
            key.to_string(),
            version_id.map(str::to_string),
        );
        let now = self.now();
        let (out, released) = self
            .index
            .write(move |tx| {
                let (b, k, v) = (b.clone(), k.clone(), v.clone());
                Box::pin(
                    async move { delete_object_rule(tx, &b, &k, v.as_deref(), now, bypass).await },
                )
            })
            .await?;
        for d in released {
            self.release(d).await?;
        }
        Ok(out)
    }

    /// Replaces the tags of the object at `bucket/key` (its version
    /// `version_id`, if one is named) and nothing else of it: its bytes,
    /// ETag and Last-Modified stay, and so does its blob's reference (the
    /// row names the same blob before and after). False if there is no
    /// such object (a delete marker has no tags).
    pub async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        tags: Vec<(String, String)>,
    ) -> Result<bool, StorageError> {
        let out = self
            .rewrite_meta(bucket, key, version_id, move |meta| {
                meta.tags = tags.clone()
            })
            .await?;
        Ok(matches!(out, versions::Rewritten::Done(_)))
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
