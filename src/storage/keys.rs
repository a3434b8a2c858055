//! Who may do what: API tokens (kept by their SHA-256), the S3 access keys
//! beside the configured one, and what a key may do with a bucket (it owns
//! it, or the operator granted it read or write).
//!
//! Lookups that authorize a request (a token, a key's secret, a key's
//! access to a bucket) are settings reads: answered at once, without
//! waiting for the writes in flight to become durable — no reply calls
//! them stored, and only the operator's CLI changes them.
//!
//! Must never see a token in clear, nor put a secret into a log line or an
//! error: the only secret that leaves here is the one asked for, to check
//! a signature with.

use crate::index::{AccessKey, BucketRow, TokenRecord, Tx, TxResult};
use crate::store::Digest;

use super::{Storage, StorageError};

/// What a key may do with a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BucketAccess {
    pub exists: bool,
    /// The key created the bucket: everything, its settings included.
    pub owner: bool,
    pub read: bool,
    pub write: bool,
}

/// The access of key `access_key_id` to `bucket`: its owner's, what it
/// was granted, or nothing (a bucket that does not exist grants nothing).
async fn bucket_access(
    tx: &mut dyn Tx,
    access_key_id: &str,
    bucket: &str,
) -> TxResult<BucketAccess> {
    match tx.get_bucket(bucket).await? {
        Some(row) => access_to(tx, access_key_id, &row).await,
        None => Ok(BucketAccess::default()),
    }
}

/// The access of key `access_key_id` to the bucket of `row`.
pub(super) async fn access_to(
    tx: &mut dyn Tx,
    access_key_id: &str,
    row: &BucketRow,
) -> TxResult<BucketAccess> {
    let bucket = row.name.as_str();
    if row.owner.as_deref() == Some(access_key_id) {
        return Ok(BucketAccess {
            exists: true,
            owner: true,
            read: true,
            write: true,
        });
    }
    let grant = tx.get_grant(access_key_id, bucket).await?;
    Ok(BucketAccess {
        exists: true,
        owner: false,
        read: grant.is_some(),
        write: grant == Some(true),
    })
}

/// Grants the live key named `name` read (and `write`) on `bucket`; false
/// if there is no such key. The bucket need not exist yet.
async fn grant_bucket(tx: &mut dyn Tx, name: &str, bucket: &str, write: bool) -> TxResult<bool> {
    let Some(id) = tx.access_key_named(name).await? else {
        return Ok(false);
    };
    tx.put_grant(&id, bucket, write).await?;
    Ok(true)
}

impl Storage {
    /// Stores a token by its hash; false if a token (live or revoked) has
    /// the name already.
    pub async fn create_token(
        &self,
        name: &str,
        token_hash: &Digest,
        scopes: &[String],
        now: i64,
    ) -> Result<bool, StorageError> {
        let (name, hash, scopes) = (name.to_string(), *token_hash, scopes.to_vec());
        Ok(self
            .index
            .write(move |tx| {
                let (name, scopes) = (name.clone(), scopes.clone());
                Box::pin(async move { tx.insert_token(&name, &hash, &scopes, now).await })
            })
            .await?)
    }

    /// The live (not revoked) token with this hash: a settings read.
    pub async fn find_token(
        &self,
        token_hash: &Digest,
    ) -> Result<Option<TokenRecord>, StorageError> {
        let hash = *token_hash;
        Ok(self
            .index
            .read_settings(move |tx| Box::pin(async move { tx.find_token(&hash).await }))
            .await?)
    }

    /// Every token, revoked ones too, oldest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StorageError> {
        Ok(self
            .index
            .read(|tx| Box::pin(async move { tx.list_tokens().await }))
            .await?)
    }

    /// Revokes a token by name; false if no live token has that name.
    pub async fn revoke_token(&self, name: &str, now: i64) -> Result<bool, StorageError> {
        let name = name.to_string();
        Ok(self
            .index
            .write(move |tx| {
                let name = name.clone();
                Box::pin(async move { tx.revoke_token(&name, now).await })
            })
            .await?)
    }

    /// Number of tokens ever created, revoked or not.
    pub async fn token_count(&self) -> Result<u64, StorageError> {
        Ok(self
            .index
            .read(|tx| Box::pin(async move { tx.token_count().await }))
            .await?)
    }

    /// Adds an access key; false if its name (or id) is taken.
    pub async fn create_access_key(&self, key: &AccessKey) -> Result<bool, StorageError> {
        let key = key.clone();
        Ok(self
            .index
            .write(move |tx| {
                let key = key.clone();
                Box::pin(async move { tx.insert_access_key(&key).await })
            })
            .await?)
    }

    /// Every access key, revoked ones too, by name.
    pub async fn list_access_keys(&self) -> Result<Vec<AccessKey>, StorageError> {
        Ok(self
            .index
            .read(|tx| Box::pin(async move { tx.list_access_keys().await }))
            .await?)
    }

    /// Revokes a key by name; false if no live key has that name.
    pub async fn revoke_access_key(&self, name: &str, now: i64) -> Result<bool, StorageError> {
        let name = name.to_string();
        Ok(self
            .index
            .write(move |tx| {
                let name = name.clone();
                Box::pin(async move { tx.revoke_access_key(&name, now).await })
            })
            .await?)
    }

    /// The secret of a live access key (`None`: unknown or revoked), to
    /// check a signature with: a settings read.
    pub async fn access_key_secret(
        &self,
        access_key_id: &str,
    ) -> Result<Option<String>, StorageError> {
        let id = access_key_id.to_string();
        Ok(self
            .index
            .read_settings(move |tx| {
                let id = id.clone();
                Box::pin(async move { tx.access_key_secret(&id).await })
            })
            .await?)
    }

    /// Whether `access_key_id` is a live key of the index.
    pub async fn access_key_exists(&self, access_key_id: &str) -> Result<bool, StorageError> {
        Ok(self.access_key_secret(access_key_id).await?.is_some())
    }

    /// Grants the live key named `name` read (and, with `write`, write) on
    /// `bucket`; false if there is no such key.
    pub async fn grant_bucket(
        &self,
        name: &str,
        bucket: &str,
        write: bool,
    ) -> Result<bool, StorageError> {
        let (name, bucket) = (name.to_string(), bucket.to_string());
        Ok(self
            .index
            .write(move |tx| {
                let (name, bucket) = (name.clone(), bucket.clone());
                Box::pin(async move { grant_bucket(tx, &name, &bucket, write).await })
            })
            .await?)
    }

    /// What key `access_key_id` may do with `bucket`: a settings read.
    pub async fn bucket_access(
        &self,
        access_key_id: &str,
        bucket: &str,
    ) -> Result<BucketAccess, StorageError> {
        let (id, bucket) = (access_key_id.to_string(), bucket.to_string());
        Ok(self
            .index
            .read_settings(move |tx| {
                let (id, bucket) = (id.clone(), bucket.clone());
                Box::pin(async move { bucket_access(tx, &id, &bucket).await })
            })
            .await?)
    }
}
