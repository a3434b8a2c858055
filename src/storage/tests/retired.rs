//! The calls of the retired index interface that tests of rules spanning
//! several domains still make, answered by the storage service's rules in
//! transaction bodies (`crate::storage::objects`, `buckets`): synchronous,
//! on a runtime of their own, for use where a test runs blocking code (in
//! `Storage::legacy` closures and plain `#[test]`s).

use crate::index::{
    BlobInfo, BucketRecord, DbError, Index, IndexError, MultipartUpload, ObjectRecord, PartRecord,
};
use crate::storage::buckets::{create_bucket_rule, CreateBucketOutcome};
use crate::storage::objects::WriteCondition;
use crate::storage::objects::{put_object_rule, PutObjectOutcome};

/// Runs a future to its end on a runtime of its own.
fn block_on<R>(f: impl std::future::Future<Output = R>) -> R {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime")
        .block_on(f)
}

fn to_db<R>(r: Result<R, IndexError>) -> Result<R, DbError> {
    r.map_err(DbError::Index)
}

/// The retired calls, on any index.
pub(crate) trait Retired {
    fn put_object(
        &self,
        obj: &ObjectRecord,
        blob: &BlobInfo,
        inline: Option<&[u8]>,
        cond: &WriteCondition,
        files_bucket: &str,
    ) -> Result<PutObjectOutcome, DbError>;
    fn delete_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, DbError>;
    fn create_bucket_for(
        &self,
        name: &str,
        owner: Option<&str>,
        now: i64,
    ) -> Result<CreateBucketOutcome, DbError>;
    fn list_buckets(&self) -> Result<Vec<BucketRecord>, DbError>;
    fn bucket_exists(&self, name: &str) -> Result<bool, DbError>;
    /// A bucket of the configured key, unless one has the name; whether
    /// it made one.
    fn create_bucket(&self, name: &str, now: i64) -> Result<bool, DbError>;
    /// An upload row (its bucket must exist); whether it made one.
    fn create_multipart(&self, upload: &MultipartUpload) -> Result<bool, DbError>;
    /// A part row naming `blob` (recorded, no damage mark cleared).
    fn put_part(
        &self,
        upload_id: &str,
        part: &PartRecord,
        blob: &BlobInfo,
        inline: Option<&[u8]>,
    ) -> Result<(), DbError>;
}

impl Retired for dyn Index {
    fn put_object(
        &self,
        obj: &ObjectRecord,
        blob: &BlobInfo,
        inline: Option<&[u8]>,
        cond: &WriteCondition,
        files_bucket: &str,
    ) -> Result<PutObjectOutcome, DbError> {
        let (obj, blob, cond) = (obj.clone(), *blob, cond.clone());
        let (inline, fb) = (inline.map(<[u8]>::to_vec), files_bucket.to_string());
        to_db(block_on(self.write(move |tx| {
            let (obj, cond, inline, fb) = (obj.clone(), cond.clone(), inline.clone(), fb.clone());
            Box::pin(async move {
                put_object_rule(tx, &obj, &blob, inline.as_deref(), &cond, &fb).await
            })
        })))
    }

    fn delete_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, DbError> {
        let (b, k) = (bucket.to_string(), key.to_string());
        to_db(block_on(self.write(move |tx| {
            let (b, k) = (b.clone(), k.clone());
            Box::pin(async move { tx.delete_object(&b, &k).await })
        })))
    }

    fn create_bucket_for(
        &self,
        name: &str,
        owner: Option<&str>,
        now: i64,
    ) -> Result<CreateBucketOutcome, DbError> {
        let (n, o) = (name.to_string(), owner.map(str::to_string));
        to_db(block_on(self.write(move |tx| {
            let (n, o) = (n.clone(), o.clone());
            Box::pin(async move { create_bucket_rule(tx, &n, o.as_deref(), now, false).await })
        })))
    }

    fn list_buckets(&self) -> Result<Vec<BucketRecord>, DbError> {
        to_db(block_on(
            self.read(|tx| Box::pin(async move { tx.list_buckets().await })),
        ))
    }

    fn bucket_exists(&self, name: &str) -> Result<bool, DbError> {
        let n = name.to_string();
        to_db(block_on(self.read(move |tx| {
            let n = n.clone();
            Box::pin(async move { Ok(tx.get_bucket(&n).await?.is_some()) })
        })))
    }

    fn create_bucket(&self, name: &str, now: i64) -> Result<bool, DbError> {
        let n = name.to_string();
        to_db(block_on(self.write(move |tx| {
            let n = n.clone();
            Box::pin(async move { tx.insert_bucket(&n, None, now).await })
        })))
    }

    fn create_multipart(&self, upload: &MultipartUpload) -> Result<bool, DbError> {
        let u = upload.clone();
        to_db(block_on(self.write(move |tx| {
            let u = u.clone();
            Box::pin(async move {
                if tx.get_bucket(&u.bucket).await?.is_none() {
                    return Ok(false);
                }
                tx.insert_upload(&u).await?;
                Ok(true)
            })
        })))
    }

    fn put_part(
        &self,
        upload_id: &str,
        part: &PartRecord,
        blob: &BlobInfo,
        inline: Option<&[u8]>,
    ) -> Result<(), DbError> {
        let (id, part, blob) = (upload_id.to_string(), part.clone(), *blob);
        let inline = inline.map(<[u8]>::to_vec);
        to_db(block_on(self.write(move |tx| {
            let (id, part, inline) = (id.clone(), part.clone(), inline.clone());
            Box::pin(async move {
                tx.record_blob(&blob, inline.as_deref(), part.last_modified, false)
                    .await?;
                tx.put_part(&id, &part).await
            })
        })))
    }
}

impl<T: Index> Retired for T {
    fn put_object(
        &self,
        obj: &ObjectRecord,
        blob: &BlobInfo,
        inline: Option<&[u8]>,
        cond: &WriteCondition,
        files_bucket: &str,
    ) -> Result<PutObjectOutcome, DbError> {
        (self as &dyn Index).put_object(obj, blob, inline, cond, files_bucket)
    }
    fn delete_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, DbError> {
        (self as &dyn Index).delete_object(bucket, key)
    }
    fn create_bucket_for(
        &self,
        name: &str,
        owner: Option<&str>,
        now: i64,
    ) -> Result<CreateBucketOutcome, DbError> {
        (self as &dyn Index).create_bucket_for(name, owner, now)
    }
    fn list_buckets(&self) -> Result<Vec<BucketRecord>, DbError> {
        (self as &dyn Index).list_buckets()
    }
    fn bucket_exists(&self, name: &str) -> Result<bool, DbError> {
        (self as &dyn Index).bucket_exists(name)
    }
    fn create_bucket(&self, name: &str, now: i64) -> Result<bool, DbError> {
        (self as &dyn Index).create_bucket(name, now)
    }
    fn create_multipart(&self, upload: &MultipartUpload) -> Result<bool, DbError> {
        (self as &dyn Index).create_multipart(upload)
    }
    fn put_part(
        &self,
        upload_id: &str,
        part: &PartRecord,
        blob: &BlobInfo,
        inline: Option<&[u8]>,
    ) -> Result<(), DbError> {
        (self as &dyn Index).put_part(upload_id, part, blob, inline)
    }
}
