//! Canned ACLs: what each grants to everyone (anonymous requests) and to
//! every key of this gateway (S3's AuthenticatedUsers), and setting them on
//! buckets and object versions.
//!
//! The bucket's owner, the configured key and keys granted the bucket need
//! no ACL; an ACL only adds readers (and, `public-read-write`, writers)
//! beyond them. Must never take a right away from them, or grant more than
//! the canned ACL names.

use super::versions::Rewritten;
use super::{Storage, StorageError};
use crate::index::{BucketText, CannedAcl};

/// Who is asking, when their keys and grants gave them nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outsider {
    /// A request with no credentials (S3's AllUsers).
    Anonymous,
    /// Any other key of this gateway (S3's AuthenticatedUsers).
    OtherKey,
}

/// Whether `acl` lets `who` read: list a bucket's objects (a bucket's
/// ACL), or read an object (an object's).
pub fn lets_read(acl: Option<CannedAcl>, who: Outsider) -> bool {
    match acl {
        Some(CannedAcl::PublicRead | CannedAcl::PublicReadWrite) => true,
        Some(CannedAcl::AuthenticatedRead) => who == Outsider::OtherKey,
        _ => false,
    }
}

/// Whether a bucket's `acl` lets `who` write objects into it.
pub fn lets_write(acl: Option<CannedAcl>) -> bool {
    acl == Some(CannedAcl::PublicReadWrite)
}

/// The answer to setting an object's ACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetAclOutcome {
    /// Done, on this version.
    Set { version_id: String },
    /// No such key, or no such version.
    Absent,
    /// The version is a delete marker, which has no ACL.
    Marker,
}

impl Storage {
    /// Sets a bucket's canned ACL (`private` is kept as none); false if
    /// there is no such bucket.
    pub async fn set_bucket_acl(&self, bucket: &str, acl: CannedAcl) -> Result<bool, StorageError> {
        let name = (acl != CannedAcl::Private).then(|| acl.as_str().to_string());
        self.set_bucket_text(bucket, BucketText::Acl, name).await
    }

    /// A bucket's canned ACL: `None` if there is no such bucket,
    /// `Some(None)` for a private one.
    pub async fn bucket_acl(
        &self,
        bucket: &str,
    ) -> Result<Option<Option<CannedAcl>>, StorageError> {
        self.bucket_setting(bucket, |row| {
            Ok(row.acl.as_deref().and_then(CannedAcl::parse))
        })
        .await
    }

    /// PutObjectAcl: the canned ACL of the version a request names (its
    /// current object if none); nothing else of it changes.
    pub async fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        acl: CannedAcl,
    ) -> Result<SetAclOutcome, StorageError> {
        let acl = (acl != CannedAcl::Private).then_some(acl);
        Ok(
            match self
                .rewrite_meta(bucket, key, version_id, move |meta| meta.acl = acl)
                .await?
            {
                Rewritten::Done(version_id) => SetAclOutcome::Set { version_id },
                Rewritten::Marker => SetAclOutcome::Marker,
                Rewritten::Absent => SetAclOutcome::Absent,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_canned_acl_grants_what_it_names() {
        use CannedAcl::*;
        use Outsider::*;
        for (acl, anonymous, other_key, write) in [
            (None, false, false, false),
            (Some(Private), false, false, false),
            (Some(PublicRead), true, true, false),
            (Some(PublicReadWrite), true, true, true),
            (Some(AuthenticatedRead), false, true, false),
            (Some(AwsExecRead), false, false, false),
            (Some(BucketOwnerRead), false, false, false),
            (Some(BucketOwnerFullControl), false, false, false),
        ] {
            assert_eq!(lets_read(acl, Anonymous), anonymous, "{acl:?}");
            assert_eq!(lets_read(acl, OtherKey), other_key, "{acl:?}");
            assert_eq!(lets_write(acl), write, "{acl:?}");
        }
    }
}
