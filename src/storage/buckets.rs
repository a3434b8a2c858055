//! The rules of S3 buckets, decided inside index transactions: who a new
//! bucket belongs to, when a bucket may be deleted and what goes with it,
//! and its CORS configuration (kept as opaque text).
//!
//! Must never decide who may *use* a bucket (that is authorization's, from
//! owners and grants), nor parse a CORS configuration.

use super::object_lock::LockConfig;
use super::objects::file_id;
use super::recovery::forget_upload;
use super::{Storage, StorageError};
use crate::index::{BucketRecord, BucketRow, BucketText, Status, Tx, TxResult, Versioning};
use crate::store::Digest;

/// The answer to creating a bucket for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateBucketOutcome {
    Created,
    OwnedByYou,
    /// Another key's bucket.
    Taken,
}

/// The answer to deleting a bucket.
#[derive(Debug, PartialEq, Eq)]
pub enum DeleteBucketOutcome {
    /// Deleted; it held nothing.
    Deleted,
    /// Deleted, and with it the unfinished multipart uploads it held (as
    /// S3 does): `uploads` were aborted, and `released` are the blobs their
    /// parts referred to, each released (removed from disk once nothing
    /// refers to it any more) by the time the caller sees this.
    DeletedWithUploads {
        uploads: usize,
        released: Vec<Digest>,
    },
    NotFound,
    /// It holds objects, or a part-wise upload of the JSON API for a file
    /// that is still pending (a field client's progress, not an S3 client's
    /// leftover).
    NotEmpty,
}

/// Creates a bucket owned by `owner` (`None`: the configured key), unless
/// the name is taken: by the same owner, or another. With `object_lock`,
/// Object Lock is enabled on it (no default retention) and with it
/// versioning, in the same transaction, as S3's
/// `x-amz-bucket-object-lock-enabled` does.
pub(crate) async fn create_bucket_rule(
    tx: &mut dyn Tx,
    name: &str,
    owner: Option<&str>,
    now: i64,
    object_lock: bool,
) -> TxResult<CreateBucketOutcome> {
    match tx.get_bucket(name).await? {
        Some(b) if b.owner.as_deref() == owner => Ok(CreateBucketOutcome::OwnedByYou),
        Some(_) => Ok(CreateBucketOutcome::Taken),
        None => {
            tx.insert_bucket(name, owner, now).await?;
            if object_lock {
                tx.set_bucket_versioning(name, Versioning::Enabled).await?;
                tx.set_bucket_object_lock(name, &LockConfig::default().text())
                    .await?;
            }
            Ok(CreateBucketOutcome::Created)
        }
    }
}

/// Deletes a bucket unless it holds objects or a pending file's part-wise
/// upload; its other uploads are aborted with it, and the grants on it
/// dropped (they must not pass to whichever key creates the name next).
/// One transaction: no object or upload can arrive between the check and
/// the delete (their writes check the bucket in theirs).
pub(crate) async fn delete_bucket_rule(
    tx: &mut dyn Tx,
    name: &str,
) -> TxResult<DeleteBucketOutcome> {
    if tx.get_bucket(name).await?.is_none() {
        return Ok(DeleteBucketOutcome::NotFound);
    }
    if tx.bucket_has_objects(name).await? {
        return Ok(DeleteBucketOutcome::NotEmpty);
    }
    let uploads = tx.uploads_in(name).await?;
    // A part-wise upload of a file the JSON API still waits for (its key
    // is the file's id): a field client's progress is no leftover to sweep
    // away with the bucket.
    for u in &uploads {
        if let Some(id) = file_id(&u.key) {
            if tx
                .get_file(&id)
                .await?
                .is_some_and(|f| f.status == Status::Pending)
            {
                return Ok(DeleteBucketOutcome::NotEmpty);
            }
        }
    }
    let mut released = Vec::new();
    for u in &uploads {
        released.extend(forget_upload(tx, &u.upload_id).await?.unwrap_or_default());
    }
    released.sort_unstable_by_key(|d| d.0);
    released.dedup();
    tx.delete_bucket(name).await?;
    Ok(if uploads.is_empty() {
        DeleteBucketOutcome::Deleted
    } else {
        DeleteBucketOutcome::DeletedWithUploads {
            uploads: uploads.len(),
            released,
        }
    })
}

impl Storage {
    /// Creates a bucket of the configured key's if there is none with the
    /// name; whether it did.
    pub async fn create_bucket(&self, name: &str) -> Result<bool, StorageError> {
        let now = self.now();
        let n = name.to_string();
        Ok(self
            .index
            .write(move |tx| {
                let n = n.clone();
                Box::pin(async move { tx.insert_bucket(&n, None, now).await })
            })
            .await?)
    }

    /// Creates a bucket owned by `owner` (`None`: the configured key), with
    /// Object Lock enabled if `object_lock` (see [`create_bucket_rule`]).
    pub async fn create_bucket_for(
        &self,
        name: &str,
        owner: Option<&str>,
        object_lock: bool,
    ) -> Result<CreateBucketOutcome, StorageError> {
        let now = self.now();
        let (n, o) = (name.to_string(), owner.map(str::to_string));
        Ok(self
            .index
            .write(move |tx| {
                let (n, o) = (n.clone(), o.clone());
                Box::pin(
                    async move { create_bucket_rule(tx, &n, o.as_deref(), now, object_lock).await },
                )
            })
            .await?)
    }

    pub async fn bucket_exists(&self, name: &str) -> Result<bool, StorageError> {
        let n = name.to_string();
        Ok(self
            .index
            .read(move |tx| {
                let n = n.clone();
                Box::pin(async move { Ok(tx.get_bucket(&n).await?.is_some()) })
            })
            .await?)
    }

    /// Every bucket, by name.
    pub async fn list_buckets(&self) -> Result<Vec<BucketRecord>, StorageError> {
        Ok(self
            .index
            .read(|tx| Box::pin(async move { tx.list_buckets().await }))
            .await?)
    }

    /// The buckets `access_key_id` owns or was granted, by name.
    pub async fn buckets_of(&self, access_key_id: &str) -> Result<Vec<BucketRecord>, StorageError> {
        let k = access_key_id.to_string();
        Ok(self
            .index
            .read(move |tx| {
                let k = k.clone();
                Box::pin(async move { tx.buckets_of(&k).await })
            })
            .await?)
    }

    /// Sets (`Some`) or removes (`None`) a bucket's CORS configuration,
    /// kept as an opaque text; false if there is no such bucket.
    pub async fn set_bucket_cors(
        &self,
        name: &str,
        cors: Option<&str>,
    ) -> Result<bool, StorageError> {
        self.set_bucket_text(name, BucketText::Cors, cors.map(str::to_string))
            .await
    }

    /// Sets (`Some`) or removes (`None`) one of a bucket's settings kept as
    /// text (checked by the caller); false if there is no such bucket.
    pub(crate) async fn set_bucket_text(
        &self,
        name: &str,
        what: BucketText,
        text: Option<String>,
    ) -> Result<bool, StorageError> {
        let n = name.to_string();
        Ok(self
            .index
            .write(move |tx| {
                let (n, t) = (n.clone(), text.clone());
                Box::pin(async move { tx.set_bucket_text(&n, what, t.as_deref()).await })
            })
            .await?)
    }

    /// A bucket's CORS configuration: `None` if no such bucket, `Some(None)`
    /// if it has none.
    pub async fn bucket_cors(&self, name: &str) -> Result<Option<Option<String>>, StorageError> {
        let n = name.to_string();
        Ok(self
            .index
            .read(move |tx| {
                let n = n.clone();
                Box::pin(async move { Ok(tx.get_bucket(&n).await?.map(|b| b.cors)) })
            })
            .await?)
    }

    /// What `read` makes of a bucket's row (its settings: versioning, Object
    /// Lock, lifecycle, tags), read as settings are (at once, not waiting
    /// for writes in flight); `None` if there is no such bucket.
    pub(crate) async fn bucket_setting<T: Send + 'static>(
        &self,
        bucket: &str,
        read: fn(&BucketRow) -> TxResult<T>,
    ) -> Result<Option<T>, StorageError> {
        let b = bucket.to_string();
        Ok(self
            .index
            .read_settings(move |tx| {
                let b = b.clone();
                Box::pin(async move { tx.get_bucket(&b).await?.as_ref().map(read).transpose() })
            })
            .await?)
    }

    /// Sets (`Some`) or removes (`None`) a bucket's tag set (checked by the
    /// caller); false if there is no such bucket.
    pub async fn set_bucket_tags(
        &self,
        name: &str,
        tags: Option<Vec<(String, String)>>,
    ) -> Result<bool, StorageError> {
        let text = tags.map(|t| serde_json::to_string(&t).unwrap_or_else(|_| "[]".into()));
        self.set_bucket_text(name, BucketText::Tags, text).await
    }

    /// A bucket's tag set: `None` if no such bucket, `Some(None)` if it has
    /// none.
    #[allow(clippy::type_complexity)]
    pub async fn bucket_tags(
        &self,
        name: &str,
    ) -> Result<Option<Option<Vec<(String, String)>>>, StorageError> {
        self.bucket_setting(name, |row| {
            row.tags
                .as_deref()
                .map(|t| {
                    serde_json::from_str(t)
                        .map_err(|_| crate::index::IndexError::Corrupt("buckets.tags"))
                })
                .transpose()
        })
        .await
    }

    /// Deletes a bucket (see [`delete_bucket_rule`]), then releases the
    /// blobs of the parts of the uploads aborted with it. The bucket is
    /// gone once the delete commits: a blob that cannot be removed then is
    /// logged, not answered as a failure of the delete.
    pub async fn delete_bucket(&self, name: &str) -> Result<DeleteBucketOutcome, StorageError> {
        let n = name.to_string();
        let out = self
            .index
            .write(move |tx| {
                let n = n.clone();
                Box::pin(async move { delete_bucket_rule(tx, &n).await })
            })
            .await?;
        if let DeleteBucketOutcome::DeletedWithUploads { released, .. } = &out {
            for d in released {
                if let Err(e) = self.release(*d).await {
                    tracing::warn!(
                        error = ?e,
                        bucket = name,
                        "could not release a part of an aborted upload"
                    );
                }
            }
        }
        Ok(out)
    }
}
