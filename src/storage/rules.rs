//! The rules every S3 write of an object shares (PutObject, form uploads,
//! CompleteMultipartUpload, CopyObject): a file of the upload API is
//! written once, and a conditional write's condition holds. Each is decided
//! inside the transaction that writes, where racing writers are told apart;
//! the same rule is also asked before a body is read, so that a refusal
//! costs the client no upload (the transaction decides again).
//!
//! Must never write a row: these only decide.

use uuid::Uuid;

use super::{Storage, StorageError};
use crate::index::{ConditionFailure, Tx, TxResult, WriteCondition};

/// Whether `bucket/key` is the key of a file of the upload API that has
/// verified bytes: written once, by the upload API, never by an S3 write
/// (which would put other bytes behind a record that says completed with
/// the hash of these, and hand them out through its download URL). The
/// object may have been deleted meanwhile: the key is still the file's (its
/// row stays, and presign makes the object again from its blob). A pending
/// file owns no key yet.
pub(super) async fn file_key(
    tx: &mut dyn Tx,
    files_bucket: &str,
    bucket: &str,
    key: &str,
) -> TxResult<bool> {
    if bucket != files_bucket {
        return Ok(false);
    }
    // Ids are stored in one spelling (lowercase, hyphenated), the one their
    // objects' keys have; another spelling is another key.
    let Some(id) = Uuid::try_parse(key).ok().filter(|id| id.to_string() == key) else {
        return Ok(false);
    };
    Ok(tx
        .get_file(&id)
        .await?
        .is_some_and(|f| f.status.has_bytes()))
}

/// Whether a conditional write's condition holds for the key's object as
/// this transaction sees it.
pub(super) async fn condition_holds(
    tx: &mut dyn Tx,
    bucket: &str,
    key: &str,
    cond: &WriteCondition,
) -> TxResult<Result<(), ConditionFailure>> {
    if *cond == WriteCondition::Always {
        return Ok(Ok(()));
    }
    let etag = tx.get_object(bucket, key).await?.map(|o| o.etag);
    Ok(cond.check(etag.as_deref()))
}

impl Storage {
    /// [`file_key`] in the upload bucket, asked before a body is read.
    pub async fn is_file_key(&self, bucket: &str, key: &str) -> Result<bool, StorageError> {
        let files_bucket = self.settings.upload_bucket.clone();
        let (b, k) = (bucket.to_string(), key.to_string());
        Ok(self
            .index
            .read(move |tx| {
                let (f, b, k) = (files_bucket.clone(), b.clone(), k.clone());
                Box::pin(async move { file_key(tx, &f, &b, &k).await })
            })
            .await?)
    }

    /// [`condition_holds`], asked before a body is read.
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
                Box::pin(async move { condition_holds(tx, &b, &k, &c).await })
            })
            .await?)
    }
}
