//! A bucket's policy and PublicAccessBlock as the index keeps them, and the
//! one read authorization makes of a bucket ([`Storage::bucket_gate`]): a
//! key's access, the bucket's canned ACL, its policy text and its
//! PublicAccessBlock together.
//!
//! Policies are checked and evaluated by `crate::policy` in the S3 layer;
//! here they are only text. Must never store a policy the caller has not
//! checked, nor take a right away from anyone by itself: what each setting
//! means for a request is decided in `api/s3/authz`.

use serde::{Deserialize, Serialize};

use super::keys::{access_to, BucketAccess};
use super::{Storage, StorageError};
use crate::index::{BucketText, CannedAcl};

/// S3's PublicAccessBlock settings of a bucket (all off when none is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// Refuse requests that set a public ACL.
    pub block_public_acls: bool,
    /// Let no public ACL open anything.
    pub ignore_public_acls: bool,
    /// Refuse a policy that grants public access.
    pub block_public_policy: bool,
    /// With a public policy, its Allows reach no one beyond the keys the
    /// bucket is already theirs or granted to.
    pub restrict_public_buckets: bool,
}

/// What authorization reads of a bucket, in one settings read.
#[derive(Debug, Clone, Default)]
pub struct BucketGate {
    /// What the asking key may do there by ownership or grant (nothing for
    /// an anonymous request).
    pub access: BucketAccess,
    pub acl: Option<CannedAcl>,
    /// The policy's JSON text, as given (checked when it was set).
    pub policy: Option<String>,
    pub public_access_block: PublicAccessBlock,
}

impl Storage {
    /// The gate of `bucket` for `key` (`None`: an anonymous request);
    /// `None` if there is no such bucket.
    pub async fn bucket_gate(
        &self,
        key: Option<&str>,
        bucket: &str,
    ) -> Result<Option<BucketGate>, StorageError> {
        let (key, b) = (key.map(str::to_string), bucket.to_string());
        Ok(self
            .index
            .read_settings(move |tx| {
                let (key, b) = (key.clone(), b.clone());
                Box::pin(async move {
                    let Some(row) = tx.get_bucket(&b).await? else {
                        return Ok(None);
                    };
                    let access = match &key {
                        Some(k) => access_to(tx, k, &row).await?,
                        None => BucketAccess {
                            exists: true,
                            ..BucketAccess::default()
                        },
                    };
                    Ok(Some(BucketGate {
                        access,
                        acl: row.acl.as_deref().and_then(CannedAcl::parse),
                        public_access_block: pab_from(row.public_access_block.as_deref()),
                        policy: row.policy,
                    }))
                })
            })
            .await?)
    }

    /// Sets (`Some`, checked by the caller) or removes a bucket's policy;
    /// false if there is no such bucket.
    pub async fn set_bucket_policy(
        &self,
        bucket: &str,
        policy: Option<String>,
    ) -> Result<bool, StorageError> {
        self.set_bucket_text(bucket, BucketText::Policy, policy)
            .await
    }

    /// A bucket's policy text: `None` if there is no such bucket,
    /// `Some(None)` if it has none.
    pub async fn bucket_policy(
        &self,
        bucket: &str,
    ) -> Result<Option<Option<String>>, StorageError> {
        self.bucket_setting(bucket, |row| Ok(row.policy.clone()))
            .await
    }

    /// Sets (`Some`) or removes a bucket's PublicAccessBlock; false if
    /// there is no such bucket.
    pub async fn set_public_access_block(
        &self,
        bucket: &str,
        pab: Option<PublicAccessBlock>,
    ) -> Result<bool, StorageError> {
        let text = pab.map(|p| serde_json::to_string(&p).unwrap_or_default());
        self.set_bucket_text(bucket, BucketText::PublicAccessBlock, text)
            .await
    }

    /// A bucket's PublicAccessBlock: `None` if there is no such bucket,
    /// `Some(None)` if none was set.
    pub async fn public_access_block(
        &self,
        bucket: &str,
    ) -> Result<Option<Option<PublicAccessBlock>>, StorageError> {
        self.bucket_setting(bucket, |row| {
            Ok(row
                .public_access_block
                .as_deref()
                .map(|t| pab_from(Some(t))))
        })
        .await
    }
}

/// The settings a stored text holds; text this binary cannot read blocks
/// everything (a setting meant to close must not open by being misread).
fn pab_from(text: Option<&str>) -> PublicAccessBlock {
    match text {
        None => PublicAccessBlock::default(),
        Some(t) => serde_json::from_str(t).unwrap_or(PublicAccessBlock {
            block_public_acls: true,
            ignore_public_acls: true,
            block_public_policy: true,
            restrict_public_buckets: true,
        }),
    }
}
