//! The `s3:` actions a bucket policy may name, and what each applies to: a
//! bucket (`arn:aws:s3:::bucket`), an object (`arn:aws:s3:::bucket/key`) or
//! neither (account-wide actions, which a bucket policy cannot grant).
//!
//! The list is AWS's, not only what this gateway serves: a policy written
//! for AWS (naming, say, `s3:PutReplicationConfiguration`) is accepted and
//! that statement simply never matches a request here. A name in neither
//! list is refused, as AWS refuses it ("Policy has invalid action").

/// What an action applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    Bucket,
    Object,
    /// Account-wide (`s3:ListAllMyBuckets`, `s3:CreateBucket`…).
    Account,
}

/// Actions on objects (resources `arn:aws:s3:::bucket/key`).
const OBJECT: &[&str] = &[
    "AbortMultipartUpload",
    "BypassGovernanceRetention",
    "DeleteObject",
    "DeleteObjectTagging",
    "DeleteObjectVersion",
    "DeleteObjectVersionTagging",
    "GetObject",
    "GetObjectAcl",
    "GetObjectAttributes",
    "GetObjectLegalHold",
    "GetObjectRetention",
    "GetObjectTagging",
    "GetObjectTorrent",
    "GetObjectVersion",
    "GetObjectVersionAcl",
    "GetObjectVersionAttributes",
    "GetObjectVersionForReplication",
    "GetObjectVersionTagging",
    "GetObjectVersionTorrent",
    "InitiateReplication",
    "ListMultipartUploadParts",
    "ObjectOwnerOverrideToBucketOwner",
    "PutObject",
    "PutObjectAcl",
    "PutObjectLegalHold",
    "PutObjectRetention",
    "PutObjectTagging",
    "PutObjectVersionAcl",
    "PutObjectVersionTagging",
    "ReplicateDelete",
    "ReplicateObject",
    "ReplicateTags",
    "RestoreObject",
];

/// Actions on buckets (resources `arn:aws:s3:::bucket`).
const BUCKET: &[&str] = &[
    "DeleteBucket",
    "DeleteBucketOwnershipControls",
    "DeleteBucketPolicy",
    "DeleteBucketWebsite",
    "GetAccelerateConfiguration",
    "GetAnalyticsConfiguration",
    "GetBucketAcl",
    "GetBucketCORS",
    "GetBucketLocation",
    "GetBucketLogging",
    "GetBucketNotification",
    "GetBucketObjectLockConfiguration",
    "GetBucketOwnershipControls",
    "GetBucketPolicy",
    "GetBucketPolicyStatus",
    "GetBucketPublicAccessBlock",
    "GetBucketRequestPayment",
    "GetBucketTagging",
    "GetBucketVersioning",
    "GetBucketWebsite",
    "GetEncryptionConfiguration",
    "GetIntelligentTieringConfiguration",
    "GetInventoryConfiguration",
    "GetLifecycleConfiguration",
    "GetMetricsConfiguration",
    "GetReplicationConfiguration",
    "ListBucket",
    "ListBucketMultipartUploads",
    "ListBucketVersions",
    "PutAccelerateConfiguration",
    "PutAnalyticsConfiguration",
    "PutBucketAcl",
    "PutBucketCORS",
    "PutBucketLogging",
    "PutBucketNotification",
    "PutBucketObjectLockConfiguration",
    "PutBucketOwnershipControls",
    "PutBucketPolicy",
    "PutBucketPublicAccessBlock",
    "PutBucketRequestPayment",
    "PutBucketTagging",
    "PutBucketVersioning",
    "PutBucketWebsite",
    "PutEncryptionConfiguration",
    "PutIntelligentTieringConfiguration",
    "PutInventoryConfiguration",
    "PutLifecycleConfiguration",
    "PutMetricsConfiguration",
    "PutReplicationConfiguration",
];

/// Account-wide actions: valid names, but no bucket resource applies.
const ACCOUNT: &[&str] = &[
    "CreateBucket",
    "GetAccountPublicAccessBlock",
    "ListAllMyBuckets",
    "PutAccountPublicAccessBlock",
];

/// Every known action's name (without `s3:`), with what it applies to.
fn all() -> impl Iterator<Item = (&'static str, Applies)> {
    let tag = |list: &'static [&'static str], a: Applies| list.iter().map(move |n| (*n, a));
    tag(OBJECT, Applies::Object)
        .chain(tag(BUCKET, Applies::Bucket))
        .chain(tag(ACCOUNT, Applies::Account))
}

/// What the actions a statement's pattern (`s3:…`) names apply to; empty if
/// it names none (an invalid action).
pub fn applies(pattern: &str) -> Vec<Applies> {
    let mut out = Vec::new();
    let rest = match pattern.get(..3) {
        Some(p) if p.eq_ignore_ascii_case("s3:") => &pattern[3..],
        // `*` alone, or a pattern whose `*` covers the service prefix.
        _ if pattern.starts_with('*') => pattern,
        _ => return out,
    };
    for (name, a) in all() {
        if super::pattern::matches_ignore_case(rest, name) && !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_name_the_actions_they_match() {
        assert_eq!(applies("s3:GetObject"), vec![Applies::Object]);
        assert_eq!(applies("s3:getobject"), vec![Applies::Object]);
        assert_eq!(applies("s3:ListBucket"), vec![Applies::Bucket]);
        assert_eq!(
            applies("s3:*"),
            vec![Applies::Object, Applies::Bucket, Applies::Account]
        );
        assert_eq!(
            applies("s3:Get*").len(),
            3,
            "GetAccountPublicAccessBlock too"
        );
        assert!(applies("s3:GetObjekt").is_empty());
        assert!(applies("ec2:RunInstances").is_empty());
        assert_eq!(applies("s3:ListAllMyBuckets"), vec![Applies::Account]);
    }
}
